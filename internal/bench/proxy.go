package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// ProxyConfig is the comparison of keyplane's gateway with nginx: both
// proxy GET /hello/helloworld to the same mutual TLS backend, driven by the
// same load generator, in the same run.
type ProxyConfig struct {
	// Backend runs the mTLS backend, such as ["keyplane-bench",
	// "backend"] (see RunBackend), plus BackendEnv. Without it the
	// comparison is skipped.
	Backend, BackendEnv []string
	// Gateway runs the gateway, such as ["/tmp/x/keyplane", "gateway"],
	// configured by the environment `keyplane gateway` reads, plus
	// GatewayEnv. Without it, the gateway half is skipped.
	Gateway, GatewayEnv []string
	// Nginx is the nginx binary; empty means nginx on PATH, else Debian's,
	// else, when InstallNginx is set and the benchmark runs as root,
	// Debian's package installed with apt-get. Without nginx, the nginx
	// half is skipped.
	Nginx        string
	InstallNginx bool
	// Connections is how many keep-alive connections the load generator
	// holds to each proxy (default 64).
	Connections int
	// Duration is how long each proxy is measured in all, split evenly
	// over Rounds rounds (default 10 s and 2); each round measures both
	// proxies, in turn, each after a Warmup of its own (default 2 s).
	Duration, Warmup time.Duration
	Rounds           int
	// IdleConnections is how many idle keep-alive client connections each
	// proxy is made to hold for the memory comparison (default 10,000;
	// negative skips it).
	IdleConnections int
}

func (c *ProxyConfig) defaults() {
	if c.Connections == 0 {
		c.Connections = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = 2
	}
	if c.IdleConnections == 0 {
		c.IdleConnections = 10000
	}
}

func (c *ProxyConfig) check() error {
	if c.Connections < 1 || c.Rounds < 1 || c.Duration < 0 || c.Warmup < 0 {
		return errors.New("proxy comparison: connections and rounds must be at least 1, durations positive")
	}
	return nil
}

// The statuses of one half of the comparison.
const (
	ProxyMeasured = "measured"
	ProxySkipped  = "skipped"
	ProxyFailed   = "failed"
)

// ProxyComparison is the report's "gateway vs nginx" section.
type ProxyComparison struct {
	// Machine is the report's machine, repeated so that the section read
	// alone (after a run of it alone) says where it was measured.
	Machine         string  `json:"machine"`
	Connections     int     `json:"connections"`
	Rounds          int     `json:"rounds"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Request         string  `json:"request"`
	// Skipped says why the whole comparison was not run, if it was not.
	Skipped string      `json:"skipped,omitempty"`
	Nginx   ProxyResult `json:"nginx"`
	Gateway ProxyResult `json:"gateway"`
	// RPSRatio is the gateway's req/s ÷ nginx's, P99Ratio its p99 ÷
	// nginx's; nil unless both were measured.
	RPSRatio *float64 `json:"rps_ratio"`
	P99Ratio *float64 `json:"p99_ratio"`
	// Scenarios are the same comparison with new client connections per
	// request, and without upstream keep-alive.
	Scenarios []*ProxyScenario `json:"scenarios,omitempty"`
	// Idle is the memory of idle keep-alive client connections.
	Idle    *IdleComparison `json:"idle_connections,omitempty"`
	Targets []Target        `json:"targets"`
	Notes   []string        `json:"notes"`
}

// ProxyResult is one proxy's half of the comparison.
type ProxyResult struct {
	// Status is ProxyMeasured, ProxySkipped or ProxyFailed; Reason says
	// why for the last two.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Version is nginx's version, or the gateway's command.
	Version string  `json:"version,omitempty"`
	N       int     `json:"n"`
	RPS     float64 `json:"rps"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	// Errors counts the measured requests that failed (not answered
	// 200), WarmupErrors those of the warm-ups; ErrorKinds counts both by
	// kind.
	Errors       int            `json:"errors"`
	WarmupErrors int            `json:"warmup_errors"`
	ErrorKinds   map[string]int `json:"error_kinds,omitempty"`
	// Reconnects counts connections the load generator had to open again.
	Reconnects int `json:"reconnects"`
	// CPU is the CPU time per measured request of the proxy's processes,
	// the backend and the load generator, in microseconds.
	CPU ProxyCPU `json:"cpu_us_per_request"`
}

// ProxyCPU is the CPU time of one proxied request, by who spent it.
type ProxyCPU struct {
	ProxyUs   float64 `json:"proxy"`
	BackendUs float64 `json:"backend"`
	ClientUs  float64 `json:"client"`
}

// Failure is why the comparison failed, or nil: a half that could not be
// measured for another reason than a missing program, or any failed
// request. A skipped half is not a failure.
func (p *ProxyComparison) Failure() error {
	if p == nil {
		return nil
	}
	var errs []error
	type half struct {
		name string
		r    ProxyResult
	}
	halves := []half{{"nginx", p.Nginx}, {"gateway", p.Gateway}}
	for _, s := range p.Scenarios {
		halves = append(halves, half{"nginx (" + s.Name + ")", s.Nginx}, half{"gateway (" + s.Name + ")", s.Gateway})
	}
	if p.Idle != nil {
		for _, h := range []struct {
			name string
			r    IdleResult
		}{{"nginx", p.Idle.Nginx}, {"gateway", p.Idle.Gateway}} {
			if h.r.Status == ProxyFailed {
				errs = append(errs, fmt.Errorf("gateway vs nginx: %s failed to hold %d idle connections: %s", h.name, p.Idle.Connections, h.r.Reason))
			}
		}
	}
	for _, h := range halves {
		switch {
		case h.r.Status == ProxyFailed:
			errs = append(errs, fmt.Errorf("gateway vs nginx: %s failed: %s", h.name, h.r.Reason))
		case h.r.Errors+h.r.WarmupErrors > 0:
			errs = append(errs, fmt.Errorf("gateway vs nginx: %d of %s's requests failed (%d in warm-ups): %s",
				h.r.Errors+h.r.WarmupErrors, h.name, h.r.WarmupErrors, summarizeKinds(h.r.ErrorKinds)))
		}
	}
	return errors.Join(errs...)
}

// proxyTarget is one proxy under load.
type proxyTarget struct {
	name string
	addr string
	pid  int
	res  *ProxyResult
	runs []loadResult
}

// The scenarios of the comparison besides the first (client and upstream
// keep-alive), as bench.json names them.
const (
	ScenarioNewClientConnections = "new_client_connections"
	ScenarioNoUpstreamKeepAlive  = "no_upstream_keepalive"
)

// ProxyScenario is one more way of driving both proxies: new client
// connections for every request, or no upstream keep-alive.
type ProxyScenario struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Nginx       ProxyResult `json:"nginx"`
	Gateway     ProxyResult `json:"gateway"`
	RPSRatio    *float64    `json:"rps_ratio"`
	P99Ratio    *float64    `json:"p99_ratio"`
}

// compareProxies runs the gateway vs nginx comparison and records it in
// the report. The keyplane server (through admin) must be up: the gateway's
// configuration is made through its API. A proxy that cannot be had is
// skipped, saying why; one that fails, or fails requests, is recorded as
// such (see Failure). The error is for what stops the comparison itself.
//
// It measures, in this order: both proxies with client and upstream
// keep-alive; the same processes with a new client connection per request;
// the memory each holds for IdleConnections idle client connections; then
// a second nginx and gateway without upstream keep-alive (a new mutual TLS
// connection to the backend per request), driven over kept-alive client
// connections.
func (r *runner) compareProxies(ctx context.Context, admin *client) error {
	cfg := r.cfg.Proxy
	loadStart := loadAverage()
	cmp := &ProxyComparison{
		Machine:     r.rep.Machine,
		Connections: cfg.Connections, Rounds: cfg.Rounds,
		WarmupSeconds: cfg.Warmup.Seconds(), DurationSeconds: cfg.Duration.Seconds(),
		Request: "GET " + helloPath + " with Host: " + gwHost,
		Nginx:   ProxyResult{Status: ProxySkipped}, Gateway: ProxyResult{Status: ProxySkipped},
	}
	r.rep.GatewayVsNginx = cmp
	if len(cfg.Backend) == 0 {
		cmp.Skipped = "no backend command was configured"
		r.logf("gateway vs nginx: skipped: %s", cmp.Skipped)
		return nil
	}
	dir := filepath.Join(r.dir, "proxies")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	be, err := startBackend(ctx, cfg.Backend, cfg.BackendEnv, dir)
	if err != nil {
		return err
	}
	defer func() { _ = be.proc.stop() }()
	if err := be.check(ctx); err != nil {
		return fmt.Errorf("backend: %w\n%s", err, be.proc.logTail(20))
	}
	r.logf("mTLS backend on %s (pid %d)", be.Addr, be.proc.cmd.Process.Pid)
	start := time.Now()
	if err := setupGateway(ctx, admin, be.TLS, be.Port); err != nil {
		return fmt.Errorf("configure the gateway through the API: %w", err)
	}
	r.logf("deployed proxy hello (%s → https://localhost:%d, mutual TLS through references) to %s/%s in %s", gwBasePath, be.Port, gwOrg, gwEnv, since(start))

	newConns := &ProxyScenario{Name: ScenarioNewClientConnections,
		Description: "a new client connection per request (Connection: close, then a reset from the client), upstream keep-alive on"}
	noUpstream := &ProxyScenario{Name: ScenarioNoUpstreamKeepAlive,
		Description: "kept-alive client connections, upstream keep-alive off on both: a new mutual TLS connection to the backend per request (TLS session resumption allowed on both)"}
	err = r.withProxies(ctx, be, filepath.Join(dir, "keepalive"), true, &cmp.Nginx, &cmp.Gateway, func(targets []*proxyTarget) error {
		if err := r.measureProxies(ctx, "keep-alive", be, targets, false); err != nil {
			return err
		}
		if err := r.measureProxies(ctx, ScenarioNewClientConnections, be, retarget(targets, &newConns.Nginx, &newConns.Gateway), true); err != nil {
			return err
		}
		if cfg.IdleConnections > 0 {
			idle, err := r.measureIdle(ctx, targets, cfg.IdleConnections)
			if err != nil {
				return err
			}
			cmp.Idle = idle
		}
		return nil
	})
	if err != nil {
		return err
	}
	cmp.Scenarios = append(cmp.Scenarios, newConns)
	noUpstream.Nginx, noUpstream.Gateway = ProxyResult{Status: ProxySkipped}, ProxyResult{Status: ProxySkipped}
	err = r.withProxies(ctx, be, filepath.Join(dir, "no-upstream-keepalive"), false, &noUpstream.Nginx, &noUpstream.Gateway, func(targets []*proxyTarget) error {
		return r.measureProxies(ctx, ScenarioNoUpstreamKeepAlive, be, targets, false)
	})
	if err != nil {
		return err
	}
	cmp.Scenarios = append(cmp.Scenarios, noUpstream)
	cmp.compare()
	cmp.Notes = append(proxyNotes(cfg, cmp),
		fmt.Sprintf("1-minute load average: %.2f when the comparison began, %.2f at its end; the machine's other work, if any, lowers every figure", loadStart, loadAverage()))
	return nil
}

// retarget is targets with their results recorded into nginx and gw.
func retarget(targets []*proxyTarget, nginx, gw *ProxyResult) []*proxyTarget {
	out := make([]*proxyTarget, len(targets))
	for i, t := range targets {
		c := *t
		c.runs = nil
		c.res = gw
		if t.name == "nginx" {
			c.res = nginx
		}
		*c.res = ProxyResult{Status: ProxySkipped, Version: t.res.Version}
		out[i] = &c
	}
	return out
}

// withProxies runs nginx and the gateway in front of be, with upstream
// keep-alive or without, records what cannot be had in nginxRes and gwRes,
// calls fn with the proxies that run, and stops them.
func (r *runner) withProxies(ctx context.Context, be *backend, dir string, keepAlive bool, nginxRes, gwRes *ProxyResult, fn func([]*proxyTarget) error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var targets []*proxyTarget
	stopNginx, err := r.startNginx(ctx, be, dir, keepAlive, nginxRes, &targets)
	if err != nil {
		return err
	}
	defer stopNginx()
	stopGateway, err := r.startGateway(ctx, dir, keepAlive, gwRes, &targets)
	if err != nil {
		return err
	}
	defer stopGateway()
	return fn(targets)
}

// measureProxies drives each of targets in turn, round after round, and
// records each one's merged figures.
func (r *runner) measureProxies(ctx context.Context, scenario string, be *backend, targets []*proxyTarget, newConnections bool) error {
	cfg := r.cfg.Proxy
	stretch := cfg.Duration / time.Duration(cfg.Rounds)
	for round := range cfg.Rounds {
		order := slices.Clone(targets)
		if round%2 == 1 {
			// Each proxy goes first as often as the other, so that drift
			// in the machine's other work weighs on both alike.
			slices.Reverse(order)
		}
		for _, t := range order {
			l := load{Addr: t.addr, Host: gwHost, Path: helloPath, Expect: helloBody,
				Connections: cfg.Connections, Warmup: cfg.Warmup, Duration: stretch, NewConnections: newConnections}
			res, err := l.run(ctx, &proxyProbe{proxyPID: t.pid, backendPID: be.proc.cmd.Process.Pid})
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.runs = append(t.runs, res)
			r.logf("%-8s %-22s round %d/%d: %9.1f req/s  p50 %6.2f ms  p99 %6.2f ms  (n=%d, errors %d, warm-up errors %d; CPU µs/req proxy %.0f)",
				t.name, scenario, round+1, cfg.Rounds, res.Stats.RPS(), ms(res.Stats.P50), ms(res.Stats.P99), res.Stats.N, res.Errors, res.WarmupErrors,
				float64(res.CPU.proxy)/float64(time.Microsecond))
			if res.Errors+res.WarmupErrors > 0 {
				r.logf("%s: FAILED REQUESTS: %s", t.name, res.ErrorSummary())
			}
		}
	}
	for _, t := range targets {
		t.res.record(mergeLoads(t.runs))
	}
	return nil
}

// startNginx finds nginx and runs it in front of the backend, adding it to
// targets. Without nginx, the nginx half is skipped; an nginx that does not
// answer is a failed half. The returned function stops it.
func (r *runner) startNginx(ctx context.Context, be *backend, dir string, keepAlive bool, res *ProxyResult, targets *[]*proxyTarget) (stop func(), err error) {
	path, err := findNginx(ctx, r.cfg.Proxy.Nginx, r.cfg.Proxy.InstallNginx, r.cfg.Log)
	if errors.Is(err, errNginxUnavailable) {
		res.Status, res.Reason = ProxySkipped, err.Error()
		r.logf("gateway vs nginx: NO NGINX, its half is skipped: %v", err)
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	res.Version = nginxVersion(ctx, path)
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := nginxConf{Dir: filepath.Join(dir, "nginx"), Listen: listen, Upstream: be.Addr, BasePath: gwBasePath,
		Files: be.Files, MaxConnections: 4096}
	if keepAlive {
		conf.Connections = r.cfg.Proxy.Connections
	}
	if n := r.cfg.Proxy.IdleConnections; n > 0 {
		// The idle connections may all go to one worker.
		conf.MaxConnections = max(conf.MaxConnections, n+2*r.cfg.Proxy.Connections+1024)
	}
	conf.NoFile = openFileLimit(2 * conf.MaxConnections)
	if os.Geteuid() == 0 {
		conf.User = "root"
	}
	if err := os.MkdirAll(conf.Dir, 0o700); err != nil {
		return nil, err
	}
	p, err := startNginx(path, conf)
	if err != nil {
		return nil, err
	}
	if err := waitAnswer(ctx, p, "http://"+listen+helloPath, gwHost, 15*time.Second); err != nil {
		_ = p.stop()
		res.Status, res.Reason = ProxyFailed, fmt.Sprintf("%v\n%s", err, p.logTail(20))
		r.logf("gateway vs nginx: NGINX FAILED: %s", res.Reason)
		return func() {}, nil
	}
	r.logf("%s (%s) on %s (pid %d, configuration %s)", path, res.Version, listen, p.cmd.Process.Pid, filepath.Join(conf.Dir, "nginx.conf"))
	*targets = append(*targets, &proxyTarget{name: "nginx", addr: listen, pid: p.cmd.Process.Pid, res: res})
	return func() { _ = p.stop() }, nil
}

// openFileLimit is want, or the process's hard limit on open files when
// that is lower: what nginx's workers may ask for.
func openFileLimit(want int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Max < uint64(want) {
		return int(lim.Max)
	}
	return want
}

// startGateway runs the gateway on the configuration setupGateway made,
// with upstream keep-alive or without, adding it to targets. A keyplane
// without a gateway command is a skipped half, as is a run configured
// without one; a gateway that does not serve the proxy is a failed half.
// The returned function stops it.
func (r *runner) startGateway(ctx context.Context, dir string, keepAlive bool, res *ProxyResult, targets *[]*proxyTarget) (stop func(), err error) {
	gw := r.cfg.Proxy.Gateway
	if len(gw) == 0 {
		res.Status, res.Reason = ProxySkipped, "no gateway command was configured"
		r.logf("gateway vs nginx: gateway skipped: %s", res.Reason)
		return func() {}, nil
	}
	res.Version = strings.Join(gw, " ")
	env := r.cfg.Proxy.GatewayEnv
	if !keepAlive {
		env = append(slices.Clone(env), "KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE=off")
	}
	p, err := startGateway(ctx, gw, env, r.dbURL, r.masterKey, dir)
	switch {
	case errors.Is(err, errGatewayMissing):
		res.Status, res.Reason = ProxySkipped, fmt.Sprintf("the gateway is not available: %v", err)
		r.logf("gateway vs nginx: GATEWAY NOT AVAILABLE, its half is skipped: %v", err)
		return func() {}, nil
	case err != nil:
		res.Status, res.Reason = ProxyFailed, err.Error()
		r.logf("gateway vs nginx: GATEWAY FAILED: %v", err)
		return func() {}, nil
	}
	r.logf("%s on %s (pid %d) serves %s for Host %s", res.Version, p.URL, p.cmd.Process.Pid, helloPath, gwHost)
	*targets = append(*targets, &proxyTarget{name: "gateway", addr: strings.TrimPrefix(p.URL, "http://"), pid: p.cmd.Process.Pid, res: res})
	return func() { _ = p.stop() }, nil
}

// check asks the backend directly, with the proxies' client certificate,
// and expects its answer: the material is right before any proxy uses it.
func (b *backend) check(ctx context.Context) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: b.clientTLS()}}
	defer hc.CloseIdleConnections()
	got, err := (&client{http: hc}).do(ctx, "GET", "https://"+b.Addr+"/helloworld", "", nil)
	if err != nil {
		return err
	}
	if string(got) != string(helloBody) {
		return fmt.Errorf("answered %q, not %q", got, helloBody)
	}
	return nil
}

// mergeLoads adds up the rounds of one proxy: the latencies of every
// measured request, the requests over the measured time, the errors.
func mergeLoads(runs []loadResult) loadResult {
	var m loadResult
	m.ErrorKinds = map[string]int{}
	var lat [][]time.Duration
	var elapsed time.Duration
	var sum proxyCPU
	for _, r := range runs {
		lat = append(lat, r.lat)
		elapsed += r.Stats.Elapsed
		m.Errors += r.Errors
		m.WarmupErrors += r.WarmupErrors
		m.Reconnects += r.Reconnects
		for k, n := range r.ErrorKinds {
			m.ErrorKinds[k] += n
		}
		n := time.Duration(r.Stats.N)
		sum.proxy += r.CPU.proxy * n
		sum.backend += r.CPU.backend * n
		sum.client += r.CPU.client * n
	}
	m.Stats = summarize(lat, elapsed)
	m.CPU = sum.perRequest(proxyCPU{}, m.Stats.N)
	return m
}

// record sets the figures of a measured proxy.
func (p *ProxyResult) record(r loadResult) {
	us := func(d time.Duration) float64 { return round(float64(d)/float64(time.Microsecond), 0) }
	p.Status = ProxyMeasured
	p.N, p.RPS, p.P50Ms, p.P99Ms = r.Stats.N, round(r.Stats.RPS(), 1), ms(r.Stats.P50), ms(r.Stats.P99)
	p.Errors, p.WarmupErrors, p.Reconnects = r.Errors, r.WarmupErrors, r.Reconnects
	if len(r.ErrorKinds) > 0 {
		p.ErrorKinds = r.ErrorKinds
	}
	p.CPU = ProxyCPU{ProxyUs: us(r.CPU.proxy), BackendUs: us(r.CPU.backend), ClientUs: us(r.CPU.client)}
}

// compare sets the ratios and checks the targets, for what both
// proxies were measured in: with keep-alive, the gateway's req/s at least
// nginx's, its p99 at most nginx's and its CPU per request at most nginx's;
// with new client connections and without upstream keep-alive, its req/s
// at least nginx's; and the memory of idle connections at most twice
// nginx's. A run with failed requests misses them.
func (p *ProxyComparison) compare() {
	p.RPSRatio, p.P99Ratio = nil, nil
	p.Targets = nil
	if bothMeasured(p.Nginx, p.Gateway) {
		rps, p99 := p.Gateway.RPS/p.Nginx.RPS, p.Gateway.P99Ms/p.Nginx.P99Ms
		p.RPSRatio, p.P99Ratio = ptr(round(rps, 3)), ptr(round(p99, 3))
		clean := p.Nginx.Errors+p.Nginx.WarmupErrors+p.Gateway.Errors+p.Gateway.WarmupErrors == 0
		rpsT := atLeast(fmt.Sprintf("gateway req/s ÷ nginx req/s at %d connections", p.Connections), rps, 1.0)
		p99T := atMost(fmt.Sprintf("gateway p99 ÷ nginx p99 at %d connections", p.Connections), p99, 1.0)
		cpuT := atMost(fmt.Sprintf("gateway CPU µs per request ÷ nginx's at %d connections", p.Connections), p.Gateway.CPU.ProxyUs/max(p.Nginx.CPU.ProxyUs, 1), 1.0)
		rpsT.OK, p99T.OK, cpuT.OK = rpsT.OK && clean, p99T.OK && clean, cpuT.OK && clean
		p.Targets = []Target{rpsT, p99T, cpuT}
	}
	for _, s := range p.Scenarios {
		s.RPSRatio, s.P99Ratio = nil, nil
		if !bothMeasured(s.Nginx, s.Gateway) {
			continue
		}
		rps := s.Gateway.RPS / s.Nginx.RPS
		s.RPSRatio, s.P99Ratio = ptr(round(rps, 3)), ptr(round(s.Gateway.P99Ms/s.Nginx.P99Ms, 3))
		t := atLeast(fmt.Sprintf("gateway req/s ÷ nginx req/s, %s, %d connections", s.Name, p.Connections), rps, 1.0)
		t.OK = t.OK && s.Nginx.Errors+s.Nginx.WarmupErrors+s.Gateway.Errors+s.Gateway.WarmupErrors == 0
		p.Targets = append(p.Targets, t)
	}
	if p.Idle != nil && p.Idle.GrowthRatio != nil {
		p.Targets = append(p.Targets, atMost(fmt.Sprintf("gateway RSS growth ÷ nginx's holding %d idle keep-alive client connections", p.Idle.Connections), *p.Idle.GrowthRatio, 2.0))
	}
}

// bothMeasured reports whether both halves were measured, with figures to
// divide by.
func bothMeasured(nginx, gw ProxyResult) bool {
	return nginx.Status == ProxyMeasured && gw.Status == ProxyMeasured && nginx.RPS > 0 && nginx.P99Ms > 0
}

// proxyNotes describes how the comparison was made.
func proxyNotes(cfg ProxyConfig, p *ProxyComparison) []string {
	return []string{
		fmt.Sprintf("load: %d connections, each a loop of keep-alive HTTP/1.1 requests (%s), the next sent when the previous answer is read; %d round(s), each measuring both proxies in turn (the order alternating) for %s after a %s warm-up on fresh connections; every latency is kept, p50 and p99 are over all measured requests, req/s is measured requests ÷ measured time",
			p.Connections, p.Request, cfg.Rounds, cfg.Duration/time.Duration(cfg.Rounds), cfg.Warmup),
		"a request is an error unless answered 200 with the backend's body; any error is reported, and fails the run",
		"upstream: one backend process (Go net/http) shared by both proxies, HTTPS on 127.0.0.1 with an EC P-256 certificate for localhost under its own CA, requiring a client certificate under a second CA; it offers HTTP/1.1 only (ALPN http/1.1), as nginx speaks HTTP/1.1 to upstreams, and answers {\"message\":\"Hello world!\"}",
		fmt.Sprintf("nginx: Debian's package, its own process with a generated configuration (worker_processes auto, access_log off, location %s/ → proxy_pass https://backend/ with proxy_ssl_certificate, proxy_ssl_certificate_key, proxy_ssl_trusted_certificate, proxy_ssl_verify on, proxy_ssl_name localhost, proxy_ssl_server_name on, proxy_ssl_session_reuse on; upstream keepalive %d, proxy_http_version 1.1, Connection \"\"); keepalive_requests raised for clients and upstream so that neither closes connections every 1,000 requests", gwBasePath, p.Connections),
		fmt.Sprintf("%s: the same processes, each request on a new client connection: the load generator sends Connection: close, reads the answer and resets the connection (SO_LINGER 0), so that no port waits in TIME_WAIT", ScenarioNewClientConnections),
		fmt.Sprintf("%s: a second nginx without the upstream keepalive pool (nginx's default Connection: close towards the backend, proxy_ssl_session_reuse on) and a second gateway with KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE=off (Connection: close, TLS session resumption on): each request makes a new mutual TLS connection to the backend; clients keep their connections", ScenarioNoUpstreamKeepAlive),
		fmt.Sprintf("idle connections: %d client connections to each proxy in turn, from %d loopback source addresses (under the gateway's connections-per-address limit), each carrying one request and then left idle; memory is the RSS of the proxy's processes (nginx's master and workers) 2 s after the last answer, less their RSS 12 s after the previous comparison's last request (long enough for a gateway to give back a busy spell's memory, which it does once quiet, at most every 10 s); nginx's worker_connections is raised to hold them all (its connection array is allocated at start, so it is in the 'before')", cfg.IdleConnections, idleSources),
		fmt.Sprintf("gateway: `keyplane gateway` as its own process on the benchmark's database, serving the live deployment of %s/%s: proxy hello (base path %s, operation GET /helloworld) → target server %s (localhost, sSLInfo enabled, clientAuthEnabled, keyStore and trustStore through ref://), made through the API", gwOrg, gwEnv, gwBasePath, gwTargetServer),
		"CPU µs/request: CPU time used during the measured time by the proxy's processes (nginx's master and workers), the backend and the load generator, ÷ measured requests; all three share the machine's CPUs, so a proxy's CPU per request bounds its rate",
	}
}

// summarizeKinds lists error kinds, most frequent first.
func summarizeKinds(kinds map[string]int) string {
	return loadResult{ErrorKinds: kinds}.ErrorSummary()
}

// writeTable prints the section.
func (p *ProxyComparison) writeTable(out io.Writer) error {
	fmt.Fprintf(out, "\ngateway vs nginx (%d connections, mTLS upstream)\n", p.Connections)
	if p.Skipped != "" {
		fmt.Fprintf(out, "  not run: %s\n", p.Skipped)
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "proxy\tscenario\treq/s\tp50 ms\tp99 ms\terrors\tCPU µs/req proxy/backend/client\t")
	type half struct {
		name, scenario string
		r              ProxyResult
	}
	halves := []half{{"nginx", "keep-alive", p.Nginx}, {"gateway", "keep-alive", p.Gateway}}
	for _, s := range p.Scenarios {
		halves = append(halves, half{"nginx", s.Name, s.Nginx}, half{"gateway", s.Name, s.Gateway})
	}
	for _, h := range halves {
		if h.r.Status != ProxyMeasured {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\t%s\t\n", h.name, h.scenario, strings.ToUpper(h.r.Status))
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%.2f\t%.2f\t%d\t%.0f/%.0f/%.0f\t\n", h.name, h.scenario, h.r.RPS, h.r.P50Ms, h.r.P99Ms,
			h.r.Errors+h.r.WarmupErrors, h.r.CPU.ProxyUs, h.r.CPU.BackendUs, h.r.CPU.ClientUs)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if p.Idle != nil {
		fmt.Fprintf(out, "  %d idle keep-alive client connections:", p.Idle.Connections)
		for _, h := range []struct {
			name string
			r    IdleResult
		}{{"nginx", p.Idle.Nginx}, {"gateway", p.Idle.Gateway}} {
			if h.r.Status != ProxyMeasured {
				fmt.Fprintf(out, " %s %s;", h.name, strings.ToUpper(h.r.Status))
				continue
			}
			fmt.Fprintf(out, " %s RSS %.1f → %.1f MiB (%.2f KiB/connection);", h.name, h.r.RSSBeforeMiB, h.r.RSSIdleMiB, h.r.PerConnKiB)
		}
		fmt.Fprintln(out)
	}
	for _, h := range halves {
		if h.r.Version != "" && h.scenario == "keep-alive" {
			fmt.Fprintf(out, "  %s: %s\n", h.name, h.r.Version)
		}
		if h.r.Status != ProxyMeasured {
			fmt.Fprintf(out, "  %s %s (%s): %s\n", strings.ToUpper(h.r.Status), h.name, h.scenario, h.r.Reason)
		}
		if n := h.r.Errors + h.r.WarmupErrors; n > 0 {
			fmt.Fprintf(out, "  ERRORS: %d of %s's requests failed (%s, %d in warm-ups): %s\n", n, h.name, h.scenario, h.r.WarmupErrors, summarizeKinds(h.r.ErrorKinds))
		}
	}
	if p.RPSRatio == nil {
		fmt.Fprintln(out, "  gateway ÷ nginx: not compared (both must be measured)")
	} else {
		for _, t := range p.Targets {
			verdict := "met"
			if !t.OK {
				verdict = "MISSED"
			}
			fmt.Fprintf(out, "  %s: %.3f (target %s %.1f: %s)\n", t.Target, t.Value, t.Cmp, t.Limit, verdict)
		}
	}
	return nil
}

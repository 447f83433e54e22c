package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/egress"
)

// RuntimeConfig sizes the gateway runtime at scale: Environments
// environments, each with an archive of ProxiesPerEnv proxies deployed,
// measured first at a tenth of them, then at all of them.
type RuntimeConfig struct {
	// Environments is the number of environments at the last step
	// (default 1,000; negative skips the part). They are spread over
	// organizations of at most 100 environments, so that no organization
	// runs into its daily deployment quota.
	Environments int
	// ProxiesPerEnv is the proxies of each environment's archive
	// (default 10).
	ProxiesPerEnv int
	// Samples is how many environment changes are timed from their
	// notification to being served, at each step (default 30).
	Samples int
	// Resync is the gateway's full-resync period while it is measured
	// (default 5 s): short enough to see two full reloads in a moment,
	// long enough that most changes are not timed behind one.
	Resync time.Duration
}

func (c *RuntimeConfig) defaults() {
	if c.Environments == 0 {
		c.Environments = 1000
	}
	if c.ProxiesPerEnv == 0 {
		c.ProxiesPerEnv = 10
	}
	if c.Samples == 0 {
		c.Samples = 30
	}
	if c.Resync == 0 {
		c.Resync = 5 * time.Second
	}
}

// RuntimeScale is the report's section on the gateway runtime at scale.
type RuntimeScale struct {
	ProxiesPerEnv int           `json:"proxies_per_environment"`
	Steps         []RuntimeStep `json:"steps"`
	// RSSPerProxyKiB is the gateway's RSS growth per live proxy from the
	// first step to the last.
	RSSPerProxyKiB *float64 `json:"rss_per_proxy_kib"`
	Targets        []Target `json:"targets"`
	Notes          []string `json:"notes"`
}

// RuntimeStep is the gateway measured with a number of live environments.
type RuntimeStep struct {
	Environments int `json:"environments"`
	LiveProxies  int `json:"live_proxies"`
	// DeploySeconds is how long creating and deploying the environments
	// added at this step took, through the API.
	DeploySeconds float64 `json:"deploy_seconds"`
	// ColdStartMs is from starting the gateway process to its /readyz
	// answering 200 (everything loaded).
	ColdStartMs float64 `json:"cold_start_to_ready_ms"`
	// FullResyncMs is the median duration of the full reloads the
	// gateway logged (FullResyncs of them).
	FullResyncMs float64 `json:"full_resync_ms"`
	FullResyncs  int     `json:"full_resyncs"`
	// NotifyToServed is from a change's last notification, as a listener
	// on the same database receives it, to the gateway serving the
	// change.
	NotifyToServedP50Ms float64 `json:"notify_to_served_p50_ms"`
	NotifyToServedP99Ms float64 `json:"notify_to_served_p99_ms"`
	Samples             int     `json:"samples"`
	// ListenerLate counts the changes left out because the benchmark's
	// listener heard of them only after the gateway served them.
	ListenerLate int `json:"listener_late,omitempty"`
	// RSSMiB is the gateway's resident memory once ready and settled.
	RSSMiB float64 `json:"gateway_rss_mib"`
}

// rtEnvsPerOrg bounds the environments of one organization.
const rtEnvsPerOrg = 100

// rtName is the organization and environment of the i-th environment.
func rtName(i int) (org, env string) {
	return fmt.Sprintf("rt%d", i/rtEnvsPerOrg), fmt.Sprintf("e%03d", i%rtEnvsPerOrg)
}

// runtimeScale measures the gateway with no environment of its own, with a
// tenth of the environments, then with all of them.
func (r *runner) runtimeScale(ctx context.Context, admin *client) error {
	cfg := r.cfg.Runtime
	rep := &RuntimeScale{ProxiesPerEnv: cfg.ProxiesPerEnv}
	r.rep.Runtime = rep
	backend, stopBackend, err := plainBackend()
	if err != nil {
		return err
	}
	defer stopBackend()
	r.rtBackend = backend
	dir := filepath.Join(r.dir, "runtime")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var base RuntimeStep
	if err := r.measureRuntime(ctx, dir, 0, nil, &base); err != nil {
		return err
	}
	r.logf("runtime: gateway with none of the scale's environments: ready in %.0f ms, RSS %.1f MiB", base.ColdStartMs, base.RSSMiB)
	steps := []int{max(1, cfg.Environments/10), cfg.Environments}
	made := 0
	for _, n := range steps {
		step := RuntimeStep{Environments: n, LiveProxies: n * cfg.ProxiesPerEnv}
		start := time.Now()
		if err := r.makeEnvironments(ctx, admin, made, n, backend); err != nil {
			return err
		}
		made = n
		step.DeploySeconds = round(time.Since(start).Seconds(), 1)
		if err := r.measureRuntime(ctx, dir, n, admin, &step); err != nil {
			return err
		}
		r.logf("runtime: %d environments × %d proxies: deployed in %.1fs; gateway ready in %.0f ms, full resync %.1f ms (median of %d), NOTIFY → served p50 %.1f ms p99 %.1f ms (%d changes), RSS %.1f MiB",
			n, cfg.ProxiesPerEnv, step.DeploySeconds, step.ColdStartMs, step.FullResyncMs, step.FullResyncs, step.NotifyToServedP50Ms, step.NotifyToServedP99Ms, step.Samples, step.RSSMiB)
		rep.Steps = append(rep.Steps, step)
	}
	rep.compare(base)
	rep.Notes = []string{
		fmt.Sprintf("environments rt{o}/e{nnn}, at most %d per organization (the daily deployment quota is per organization), each with one live archive of %d configurable proxies (base paths /p0 … /p%d, one operation each) whose target server is a plain-HTTP backend on loopback; made through the API, deployments 16 at a time", rtEnvsPerOrg, cfg.ProxiesPerEnv, cfg.ProxiesPerEnv-1),
		"each step starts a new `keyplane gateway` process on the benchmark's database, which also holds the rest of the run's deployments; cold start is from starting the process to /readyz answering 200 (the gateway is ready once everything is loaded)",
		fmt.Sprintf("full resync: the gateway runs with KEYPLANE_GATEWAY_RESYNC=%s and logs the duration of each full reload; the median of those logged after it was ready", cfg.Resync),
		fmt.Sprintf("NOTIFY → served: %d times, a random environment gets a new archive whose proxies have new base paths; a listener on the gateway channel of the same database records when each notification for that environment arrives, the benchmark asks the gateway for the new path every millisecond, and the time is from the last notification before the first 200 to that 200 (a change the listener hears of only after the gateway served it is left out, and counted as listener_late)", cfg.Samples),
		"RSS: VmRSS of the gateway 2 s after it was ready; per proxy: the growth from the first step to the last ÷ the proxies added",
		"a change that arrives while the gateway runs a full resync waits for it: the tail of NOTIFY → served includes such waits when a full resync takes long",
	}
	return nil
}

// compare checks the targets: a reload of one environment does not grow
// with the number of environments, and the gateway's memory grows no
// faster than what is live.
func (s *RuntimeScale) compare(base RuntimeStep) {
	if len(s.Steps) < 2 {
		return
	}
	small, big := s.Steps[0], s.Steps[len(s.Steps)-1]
	if big.LiveProxies > small.LiveProxies {
		s.RSSPerProxyKiB = ptr(round((big.RSSMiB-small.RSSMiB)*1024/float64(big.LiveProxies-small.LiveProxies), 2))
	}
	if small.NotifyToServedP50Ms > 0 {
		s.Targets = append(s.Targets, atMost(fmt.Sprintf("NOTIFY → served p50 with %d environments ÷ with %d", big.Environments, small.Environments),
			big.NotifyToServedP50Ms/small.NotifyToServedP50Ms, 1.5))
	}
	if grow := small.RSSMiB - base.RSSMiB; grow > 0 {
		// Linear in what is live: the memory per proxy at the last step
		// is no more than at the first (with room for the noise of a
		// garbage-collected heap).
		perSmall := grow / float64(small.LiveProxies)
		perBig := (big.RSSMiB - base.RSSMiB) / float64(big.LiveProxies)
		s.Targets = append(s.Targets, atMost(fmt.Sprintf("gateway RSS per live proxy with %d environments ÷ with %d", big.Environments, small.Environments), perBig/perSmall, 1.25))
	}
}

// makeEnvironments creates environments from..to-1 and deploys an archive
// to each, 16 at a time.
func (r *runner) makeEnvironments(ctx context.Context, admin *client, from, to int, backend int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				org, env := rtName(i)
				err := admin.json(ctx, "POST", "/v1/organizations/"+org+"/environments", api.Environment{
					Name: env, DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeConfigurable,
				}, nil)
				var zip []byte
				if err == nil {
					zip, err = scaleArchive(r.cfg.Runtime.ProxiesPerEnv, env, "p", backend)
				}
				if err == nil {
					d := &deployer{c: admin, poll: admin, env: "/v1/organizations/" + org + "/environments/" + env, archive: zip}
					err = d.deploy(ctx, nil)
				}
				if err != nil {
					cancel(fmt.Errorf("environment %s/%s: %w", org, env, err))
					return
				}
			}
		})
	}
	// Each organization is created before its environments: its first
	// environment goes alone.
	for i := from; i < to && ctx.Err() == nil; i++ {
		if i%rtEnvsPerOrg == 0 {
			if err := func() error {
				org, _ := rtName(i)
				if err := admin.json(ctx, "POST", "/v1/organizations", api.Organization{Name: org}, nil); err != nil {
					return fmt.Errorf("organization %s: %w", org, err)
				}
				return nil
			}(); err != nil {
				cancel(err)
				break
			}
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// scaleArchive is the archive, for environment env, of n configurable
// proxies at base paths /{prefix}0 … answering GET /helloworld from the
// plain-HTTP backend on port.
func scaleArchive(n int, env, prefix string, port int) ([]byte, error) {
	servers, err := json.Marshal([]api.TargetServer{{Name: "backend", Host: "localhost", Port: int64(port), Protocol: "HTTP"}})
	if err != nil {
		return nil, err
	}
	files := []archiveFile{{"src/main/apigee/environments/" + env + "/targetservers.json", string(servers)}}
	var proxies []string
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		proxies = append(proxies, `{"name":"`+name+`"}`)
		files = append(files, archiveFile{"src/main/apigee/apiproxies/" + name + "/config.yaml",
			"basepath: /" + name + "\noperations:\n  - name: hello\n    http_match: [{path_template: \"/helloworld\", method: GET}]\n    target:\n      target_server_id: backend\n"})
	}
	files = append(files, archiveFile{"src/main/apigee/environments/" + env + "/deployments.json", `{"proxies":[` + strings.Join(proxies, ",") + `],"sharedflows":[]}`})
	return zipFiles(files)
}

// plainBackend serves 200 to anything on a loopback port, in this process.
func plainBackend() (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(helloBody) }),
		ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().(*net.TCPAddr).Port, func() { _ = srv.Close() }, nil
}

// measureRuntime starts a gateway with n of the scale's environments live,
// and measures its cold start, full resyncs, memory and, when admin is set,
// changes from notification to served.
func (r *runner) measureRuntime(ctx context.Context, dir string, n int, admin *client, step *RuntimeStep) error {
	cfg := r.cfg.Runtime
	gw := r.cfg.Proxy.Gateway
	if len(gw) == 0 {
		return errors.New("runtime: no gateway command was configured")
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("gateway-%d.log", n))
	start := time.Now()
	p, err := startProcess(gw, append(slices.Clone(r.cfg.Proxy.GatewayEnv),
		"DATABASE_URL="+r.dbURL,
		"KEYPLANE_MASTER_KEY="+r.masterKey,
		"KEYPLANE_GATEWAY_ADDR="+addr,
		"KEYPLANE_GATEWAY_DOMAIN=localhost",
		"KEYPLANE_GATEWAY_TARGETS_ALLOW="+egress.Loopback,
		"KEYPLANE_GATEWAY_RESYNC="+cfg.Resync.String(),
		"KEYPLANE_LOG_FORMAT=json",
	), logPath, nil)
	if err != nil {
		return err
	}
	defer func() { _ = p.stop() }()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	get := func(host, path string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
		req.Host = host
		res, err := hc.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for get("localhost", "/readyz") != http.StatusOK {
		select {
		case <-p.exited:
			return fmt.Errorf("runtime: gateway exited before it was ready (%v)\n%s", p.waitErr, p.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("runtime: gateway not ready after 5 minutes\n%s", p.logTail(20))
		}
	}
	step.ColdStartMs = round(float64(time.Since(start).Microseconds())/1000, 1)
	ready := time.Now()
	if n > 0 {
		org, env := rtName(n - 1)
		if got := get(org+"-"+env+".localhost", "/p0/helloworld"); got != http.StatusOK {
			return fmt.Errorf("runtime: the gateway, ready, answers %d for the last environment %s/%s", got, org, env)
		}
	}
	time.Sleep(2 * time.Second)
	rss, err := procRSS(p.cmd.Process.Pid)
	if err != nil {
		return err
	}
	step.RSSMiB = round(rss/1024, 1)
	if admin != nil && n > 0 {
		lat, err := r.notifyToServed(ctx, admin, n, get, &step.ListenerLate)
		if err != nil {
			return err
		}
		st := summarize([][]time.Duration{lat}, 0)
		step.Samples, step.NotifyToServedP50Ms, step.NotifyToServedP99Ms = st.N, ms(st.P50), ms(st.P99)
	}
	// At least two full reloads after the one that made it ready.
	deadline := time.Now().Add(2*cfg.Resync + 30*time.Second)
	for {
		durations, err := fullReloads(logPath, ready)
		if err != nil {
			return err
		}
		if len(durations) >= 2 || time.Now().After(deadline) {
			if len(durations) > 0 {
				slices.Sort(durations)
				step.FullResyncMs, step.FullResyncs = round(durations[len(durations)/2], 1), len(durations)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fullReloads are the durations, in milliseconds, of the full reloads the
// gateway logged at or after since.
func fullReloads(logPath string, since time.Time) ([]float64, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Time       time.Time `json:"time"`
			Msg        string    `json:"msg"`
			DurationMs float64   `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "gateway reloaded every environment" {
			continue
		}
		if !rec.Time.Before(since) {
			out = append(out, rec.DurationMs)
		}
	}
	return out, sc.Err()
}

// notifyToServed changes random environments among the first n, one at a
// time, and returns for each the time from its last notification to the
// gateway serving the change.
func (r *runner) notifyToServed(ctx context.Context, admin *client, n int, get func(host, path string) int, listenerLate *int) ([]time.Duration, error) {
	cfg := r.cfg.Runtime
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN keyplane_gateway`); err != nil {
		return nil, err
	}
	type note struct {
		scope string
		at    time.Time
	}
	notes := make(chan note, 1024)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nf, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			notes <- note{nf.Payload, time.Now()}
		}
	})
	defer func() { stop(); wg.Wait() }()

	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var lat []time.Duration
	for k := range cfg.Samples {
		i := rng.IntN(n)
		org, env := rtName(i)
		prefix := fmt.Sprintf("g%dp", k)
		zip, err := scaleArchive(cfg.ProxiesPerEnv, env, prefix, r.rtBackend)
		if err != nil {
			return nil, err
		}
		// Notifications from before this change are not its own.
		for len(notes) > 0 {
			<-notes
		}
		done := make(chan error, 1)
		go func() {
			d := &deployer{c: admin, poll: admin, env: "/v1/organizations/" + org + "/environments/" + env, archive: zip}
			done <- d.deploy(ctx, nil)
		}()
		host, path := org+"-"+env+".localhost", "/"+prefix+"0/helloworld"
		deadline := time.Now().Add(time.Minute)
		var served time.Time
		for {
			if get(host, path) == http.StatusOK {
				served = time.Now()
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("runtime: %s/%s: the change was not served within a minute", org, env)
			}
			time.Sleep(time.Millisecond)
		}
		if err := <-done; err != nil {
			return nil, err
		}
		// The change's notifications, including any this listener gets
		// only after the gateway served it.
		var last, late time.Time
		wait := time.After(5 * time.Second)
	drain:
		for {
			select {
			case nt := <-notes:
				if nt.scope != org+"/"+env {
					continue
				}
				if !nt.at.After(served) {
					last = nt.at
				} else if late.IsZero() {
					late = nt.at
				}
			case <-wait:
				break drain
			case <-time.After(100 * time.Millisecond):
				if !last.IsZero() || !late.IsZero() {
					break drain
				}
			}
		}
		switch {
		case !last.IsZero():
			lat = append(lat, served.Sub(last))
		case !late.IsZero():
			// This listener heard of the change after the gateway had
			// served it: no time to measure from.
			*listenerLate++
		default:
			return nil, fmt.Errorf("runtime: %s/%s: served, but no notification for it reached a listener", org, env)
		}
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("runtime: the listener heard of every change after the gateway served it")
	}
	return lat, nil
}

// writeTable prints the section.
func (s *RuntimeScale) writeTable(out io.Writer) {
	fmt.Fprintf(out, "\ngateway runtime at scale (%d proxies per environment)\n", s.ProxiesPerEnv)
	fmt.Fprintf(out, "  %12s %8s %10s %14s %14s %12s %12s %9s\n", "environments", "proxies", "deploy s", "cold start ms", "full resync ms", "notify p50", "notify p99", "RSS MiB")
	for _, st := range s.Steps {
		fmt.Fprintf(out, "  %12d %8d %10.1f %14.0f %14.1f %12.1f %12.1f %9.1f\n", st.Environments, st.LiveProxies, st.DeploySeconds,
			st.ColdStartMs, st.FullResyncMs, st.NotifyToServedP50Ms, st.NotifyToServedP99Ms, st.RSSMiB)
	}
	if s.RSSPerProxyKiB != nil {
		fmt.Fprintf(out, "  RSS per live proxy: %.2f KiB\n", *s.RSSPerProxyKiB)
	}
	for _, t := range s.Targets {
		verdict := "met"
		if !t.OK {
			verdict = "MISSED"
		}
		fmt.Fprintf(out, "  %s: %.3f (target %s %.2f: %s)\n", t.Target, t.Value, t.Cmp, t.Limit, verdict)
	}
}

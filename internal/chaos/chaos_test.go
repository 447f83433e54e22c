package chaos_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

const (
	token     = "chaos-token"
	masterKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	org       = "chaos"
	// servers is how many keyplane servers share the database.
	servers = 3
	// storm is how many deployments are in flight at once: each worker
	// submits one and waits for it to be done.
	storm = 6
)

// duration is how long the storm and the faults last:
// KEYPLANE_CHAOS_DURATION, or 40 s (what `make test` runs).
func duration(t *testing.T) time.Duration {
	v := os.Getenv("KEYPLANE_CHAOS_DURATION")
	if v == "" {
		return 40 * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "KEYPLANE_CHAOS_DURATION")
	require.LessOrEqual(t, d, 15*time.Minute, "KEYPLANE_CHAOS_DURATION is bounded to 15m")
	return d
}

// fleet is the keyplane server processes, restarted after kill -9.
type fleet struct {
	t    *testing.T
	bin  string
	env  []string
	mu   sync.Mutex
	urls []string
	cmds []*exec.Cmd
}

func (f *fleet) start(i int) {
	f.t.Helper()
	cmd := exec.Command(f.bin, "serve")
	cmd.Env = f.env
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	require.NoError(f.t, err)
	require.NoError(f.t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(f.t, err)
	f.mu.Lock()
	f.urls[i] = strings.TrimSpace(strings.TrimPrefix(line, "keyplane serving on "))
	f.cmds[i] = cmd
	f.mu.Unlock()
}

// kill kills server i with SIGKILL, as a crash would.
func (f *fleet) kill(i int) {
	f.mu.Lock()
	cmd := f.cmds[i]
	f.urls[i] = ""
	f.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// client returns a client of a random running server.
func (f *fleet) client() *api.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	var up []string
	for _, u := range f.urls {
		if u != "" {
			up = append(up, u)
		}
	}
	return &api.Client{BaseURL: up[rand.IntN(len(up))], Token: token, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// op is a deployment the storm submitted.
type op struct {
	name     string
	valid    bool
	accepted time.Time
	done     time.Time
	failed   bool // finished with an error
}

// ledger tracks every operation submitted until it is done.
type ledger struct {
	mu  sync.Mutex
	ops map[string]*op
}

func (l *ledger) add(o *op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops[o.name] = o
}

func (l *ledger) pending() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n, o := range l.ops {
		if o.done.IsZero() {
			out = append(out, n)
		}
	}
	return out
}

// doneBy returns when the last of names finished, false while one has not.
func (l *ledger) doneBy(names []string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, n := range names {
		o := l.ops[n]
		if o.done.IsZero() {
			return time.Time{}, false
		}
		if o.done.After(last) {
			last = o.done
		}
	}
	return last, true
}

// fault is one fault injected and how long the system took to recover.
type fault struct {
	what      string
	start     time.Time
	end       time.Time // when the fault was lifted
	inFlight  []string  // operations unfinished when it struck
	recovered time.Duration
	// serving is how long after the fault was lifted the first deployment
	// accepted after it was done.
	serving time.Duration
}

// window is a time span during which the gateway may fail requests.
type window struct{ from, to time.Time }

// TestChaos runs the storm. See the package documentation.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for KEYPLANE_CHAOS_DURATION")
	}
	d := duration(t)
	cluster := pgtest.NewCluster(t)
	bin := filepath.Join(t.TempDir(), "keyplane")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/keyplane").CombinedOutput()
	require.NoError(t, err, string(out))
	f := &fleet{t: t, bin: bin, urls: make([]string, servers), cmds: make([]*exec.Cmd, servers),
		env: append(os.Environ(), "DATABASE_URL="+cluster.URL(), "KEYPLANE_BOOTSTRAP_TOKEN="+token,
			"KEYPLANE_MASTER_KEY="+masterKey, "KEYPLANE_ADDR=127.0.0.1:0", "KEYPLANE_LOG_LEVEL=warn",
			"KEYPLANE_DEPLOY_DELAY=200ms", "KEYPLANE_JOB_TIMEOUT=5s", "KEYPLANE_RESCUE_AFTER=8s",
			// The backend whose certificates rotate listens on loopback.
			"KEYPLANE_GATEWAY_TARGETS_ALLOW="+egress.Loopback)}
	for i := range servers {
		f.start(i)
	}
	t.Cleanup(func() {
		for i := range servers {
			f.mu.Lock()
			cmd := f.cmds[i]
			f.mu.Unlock()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ctx := t.Context()
	c := f.client()
	_, err = c.CreateOrganization(ctx, api.Organization{Name: org})
	require.NoError(t, err)
	for _, env := range []string{"prod", "storm"} {
		_, err = c.CreateEnvironment(ctx, org, api.Environment{Name: env, DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeConfigurable})
		require.NoError(t, err)
	}

	// The backend the gateway reaches over mutual TLS, and its CA.
	ca := testcerts.New(t, testcerts.Options{CommonName: "chaos-ca", IsCA: true})
	backendCert := testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}, Parent: ca})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{backendCert.TLS(ca)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	backend.StartTLS()
	t.Cleanup(backend.Close)
	backendPort := backend.Listener.Addr().(*net.TCPAddr).Port
	_, err = c.CreateKeystore(ctx, org, "prod", "ts")
	require.NoError(t, err)
	_, err = c.CreateAliasFromKeyCert(ctx, org, "prod", "ts", "ca", api.KeyCertFile{Cert: ca.CertPEM()}, api.AliasOptions{})
	require.NoError(t, err)

	// rotate gives the gateway a new client certificate the way
	// configurable environments do it: a keystore of its own, and a
	// deployment that uses it. It retries through faults.
	rotations := 0
	rotate := func() error {
		rotations++
		ks := "client-" + strconv.Itoa(rotations)
		leaf := testcerts.New(t, testcerts.Options{CommonName: ks, Parent: ca})
		zip := testzip.Files(t, map[string]string{
			"src/main/apigee/apiproxies/mtls/config.yaml":        "basepath: /mtls\noperations:\n  - id: get\n    http_match:\n      - path_template: \"/*\"\n        method: GET\n    target:\n      target_server_id: backend\n",
			"src/main/apigee/environments/prod/deployments.json": `{"proxies":["mtls"]}`,
			"src/main/apigee/environments/prod/targetservers.json": fmt.Sprintf(`[{"name":"backend","host":"localhost","port":%d,"protocol":"HTTP",
				"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":%q,"keyAlias":"client","trustStore":"ts"}}]`, backendPort, ks),
		})
		deadline := time.Now().Add(2 * time.Minute)
		for step := 0; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			c := f.client()
			var err error
			switch step {
			case 0:
				_, err = c.CreateKeystore(ctx, org, "prod", ks)
			case 1:
				_, err = c.CreateAliasFromKeyCert(ctx, org, "prod", ks, "client", api.KeyCertFile{Cert: leaf.CertPEM(), Key: leaf.KeyPEM(t)}, api.AliasOptions{})
			case 2:
				var uri string
				if uri, err = c.GenerateUploadURL(ctx, org, "prod"); err == nil {
					if err = c.UploadArchive(ctx, uri, strings.NewReader(string(zip))); err == nil {
						var o *api.Operation
						if o, err = c.CreateArchiveDeployment(ctx, org, "prod", uri, nil); err == nil {
							for !o.Done && time.Now().Before(deadline) {
								time.Sleep(100 * time.Millisecond)
								if next, e := f.client().GetOperation(ctx, org, o.Name[strings.LastIndex(o.Name, "/")+1:]); e == nil {
									o = next
								}
							}
							if o.Error != nil {
								return fmt.Errorf("rotation %s failed: %s", ks, o.Error.Message)
							}
							return nil
						}
					}
				}
			}
			var apiErr *api.Error
			if err == nil || (step < 2 && errors.As(err, &apiErr) && apiErr.HTTPStatus == http.StatusConflict) {
				step++
			}
		}
		return fmt.Errorf("rotation %s did not finish", ks)
	}
	require.NoError(t, rotate())
	loopback, err := egress.Parse(egress.Loopback, "")
	require.NoError(t, err)
	gw := servertest.StartGateway(t, &servertest.Server{DatabaseURL: cluster.URL(), MasterKey: masterKey},
		servertest.GatewayOptions{Resync: 2 * time.Second, Targets: loopback})

	// Gateway load: a request every 20 ms, each answer noted.
	type result struct {
		at time.Time
		ok bool
	}
	var (
		loadMu  sync.Mutex
		results []result
	)
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		hc := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stopLoad:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequest("GET", gw.URL+"/mtls/hello", nil)
			req.Host = org + "-prod.localhost"
			res, err := hc.Do(req)
			ok := err == nil && res.StatusCode == http.StatusOK
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			loadMu.Lock()
			results = append(results, result{time.Now(), ok})
			loadMu.Unlock()
		}
	}()
	require.Eventually(t, func() bool {
		loadMu.Lock()
		defer loadMu.Unlock()
		return len(results) > 0 && results[len(results)-1].ok
	}, 30*time.Second, 50*time.Millisecond, "the gateway does not serve the proxy: %s", gatewayAnswer(gw.URL))

	// The storm.
	l := &ledger{ops: map[string]*op{}}
	start := time.Now()
	stormEnd := start.Add(d)
	var submitErrors sync.Map
	var unanswered atomic.Int64
	var wg sync.WaitGroup
	for w := range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stormEnd) {
				// Seven in ten are valid; the others name a keystore that
				// does not exist, and must fail.
				valid := rand.IntN(10) < 7
				// A proxy per worker: deployments of one proxy wait for
				// each other's revision lock.
				proxy := "p" + strconv.Itoa(w)
				ssl := `{"enabled":false}`
				if !valid {
					ssl = `{"enabled":true,"clientAuthEnabled":true,"keyStore":"missing","keyAlias":"a"}`
				}
				zip := testzip.Files(t, map[string]string{
					"src/main/apigee/apiproxies/" + proxy + "/config.yaml":  "basepath: /" + proxy + "\noperations:\n  - id: get\n    target:\n      target_server_id: plain\n",
					"src/main/apigee/environments/storm/deployments.json":   `{"proxies":["` + proxy + `"]}`,
					"src/main/apigee/environments/storm/targetservers.json": `[{"name":"plain","host":"backend.invalid","port":443,"sSLInfo":` + ssl + `}]`,
				})
				c := f.client()
				uri, err := c.GenerateUploadURL(ctx, org, "storm")
				if err == nil {
					err = c.UploadArchive(ctx, uri, strings.NewReader(string(zip)))
				}
				var o *api.Operation
				if err == nil {
					o, err = c.CreateArchiveDeployment(ctx, org, "storm", uri, nil)
					var refusal *api.Error
					if err != nil && !errors.As(err, &refusal) {
						// No answer: the server may have been killed
						// after it accepted the deployment.
						unanswered.Add(1)
					}
				}
				if err != nil {
					v, _ := submitErrors.LoadOrStore(err.Error(), new(int))
					*v.(*int)++
					time.Sleep(100 * time.Millisecond)
					continue
				}
				l.add(&op{name: o.Name, valid: valid, accepted: time.Now()})
				// Each worker has one deployment in flight at a time, so
				// that accept->done measures the faults, not a backlog.
				for wait := time.Now().Add(3 * time.Minute); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
					if _, done := l.doneBy([]string{o.Name}); done {
						break
					}
				}
			}
		}()
	}
	// The poller notes when each operation is done.
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, name := range l.pending() {
				got, err := f.client().GetOperation(ctx, org, name[strings.LastIndex(name, "/")+1:])
				if err != nil || !got.Done {
					continue
				}
				l.mu.Lock()
				o := l.ops[name]
				o.done, o.failed = time.Now(), got.Error != nil
				l.mu.Unlock()
			}
		}
	}()

	// The faults, at fixed points of the storm, and rotations between them.
	var faults []*fault
	var outages []window
	at := func(frac float64) { time.Sleep(time.Until(start.Add(time.Duration(frac * float64(d))))) }
	kill := func() {
		i := rand.IntN(servers)
		fl := &fault{what: fmt.Sprintf("kill -9 of server %d", i+1), start: time.Now(), inFlight: l.pending()}
		f.kill(i)
		fl.end = time.Now()
		faults = append(faults, fl)
		time.Sleep(time.Second)
		f.start(i)
	}
	restartDB := func(n int) {
		fl := &fault{what: fmt.Sprintf("PostgreSQL restart %d (3 s down)", n), start: time.Now(), inFlight: l.pending()}
		cluster.Stop()
		time.Sleep(3 * time.Second)
		cluster.Start()
		fl.end = time.Now()
		faults = append(faults, fl)
		outages = append(outages, window{fl.start.Add(-time.Second), fl.end.Add(5 * time.Second)})
	}
	at(0.1)
	kill()
	at(0.25)
	restartDB(1)
	at(0.4)
	require.NoError(t, rotate())
	at(0.5)
	kill()
	at(0.6)
	require.NoError(t, rotate())
	at(0.7)
	restartDB(2)
	at(0.85)
	require.NoError(t, rotate())
	wg.Wait()

	// Every operation must finish; give the queue a bound to do it.
	if !assert.Eventually(t, func() bool { return len(l.pending()) == 0 }, 2*time.Minute, 200*time.Millisecond,
		"operations never finished") {
		conn, err := pgx.Connect(ctx, cluster.URL())
		require.NoError(t, err)
		defer conn.Close(ctx)
		for _, q := range []string{
			`SELECT state || ' ' || count(*) FROM operations GROUP BY state`,
			`SELECT state::text || ' ' || kind || ' attempt ' || attempt || ' ' || coalesce(errors::text, '') FROM river_job WHERE state NOT IN ('completed')`,
			`SELECT leader_id || ' expires ' || expires_at::text || ' now ' || now()::text FROM river_leader`,
		} {
			rows, err := conn.Query(ctx, q)
			require.NoError(t, err)
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				t.Log(line)
			}
			rows.Close()
		}
		t.Log("pending:", l.pending())
		t.FailNow()
	}
	close(stopPoll)
	<-pollDone
	close(stopLoad)
	<-loadDone
	for _, fl := range faults {
		last, ok := l.doneBy(fl.inFlight)
		require.True(t, ok)
		fl.recovered = max(last.Sub(fl.end), 0)
		fl.serving = -1
		for _, o := range l.ops {
			if o.accepted.After(fl.end) && (fl.serving < 0 || o.done.Sub(fl.end) < fl.serving) {
				fl.serving = o.done.Sub(fl.end)
			}
		}
	}

	// Run twice: each successful deployment of a storm proxy took one
	// revision of it.
	conn, err := pgx.Connect(ctx, cluster.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var revisions int
	require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(sum(revision), 0) FROM proxy_revisions WHERE org = $1 AND proxy LIKE 'p%'`, org).Scan(&revisions))
	// A deployment whose creation went unanswered (its server killed as it
	// answered) may have been accepted all the same, and then succeed
	// unseen by the workers: the database says how many succeeded.
	var recorded int
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT count(*) FROM operations
		WHERE org = $1 AND target LIKE $2 AND state = 'FINISHED' AND error_code IS NULL`,
		org, "organizations/"+org+"/environments/storm/%").Scan(&recorded))

	var submitted, succeeded, failedValid, succeededInvalid int
	var longest time.Duration
	for _, o := range l.ops {
		submitted++
		longest = max(longest, o.done.Sub(o.accepted))
		switch {
		case o.valid && !o.failed:
			succeeded++
		case o.valid:
			failedValid++
		case !o.failed:
			succeededInvalid++
		}
	}
	gwFailed, gwFailedOutside := 0, 0
	for _, r := range results {
		if r.ok {
			continue
		}
		gwFailed++
		if !slices.ContainsFunc(outages, func(w window) bool { return !r.at.Before(w.from) && !r.at.After(w.to) }) {
			gwFailedOutside++
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %d servers, 1 gateway, %s of storm (%d workers)\n", servers, d, storm)
	fmt.Fprintf(&b, "  operations submitted       %d (valid %d succeeded, %d failed; invalid %d)\n", submitted, succeeded, failedValid, submitted-succeeded-failedValid)
	fmt.Fprintf(&b, "  operations finished        %d\n", submitted-len(l.pending()))
	fmt.Fprintf(&b, "  operations lost            %d\n", len(l.pending()))
	fmt.Fprintf(&b, "  operations run twice       %d (revisions of the storm's proxies: %d, successful deployments: %d, of which %d unanswered at submission)\n",
		abs(revisions-recorded), revisions, recorded, recorded-succeeded)
	fmt.Fprintf(&b, "  longest accept->done       %s\n", longest.Round(10*time.Millisecond))
	for _, fl := range faults {
		fmt.Fprintf(&b, "  after %-33s the %d operations in flight done in %s; a new deployment done %s after\n",
			fl.what+":", len(fl.inFlight), fl.recovered.Round(10*time.Millisecond), fl.serving.Round(10*time.Millisecond))
	}
	fmt.Fprintf(&b, "  certificate rotations      %d under gateway load\n", rotations)
	fmt.Fprintf(&b, "  gateway requests           %d, failed %d, failed outside outages %d\n", len(results), gwFailed, gwFailedOutside)
	submitErrors.Range(func(k, v any) bool {
		fmt.Fprintf(&b, "  submissions refused        %d x %s\n", *v.(*int), k)
		return true
	})
	fmt.Print(b.String())
	t.Log("\n" + b.String())

	require.Empty(t, l.pending(), "operations lost")
	require.Equal(t, recorded, revisions, "operations run twice (or a success without its revision)")
	require.GreaterOrEqual(t, recorded, succeeded, "successes the database does not record")
	require.LessOrEqual(t, recorded-succeeded, int(unanswered.Load()), "successes that no submission accounts for")
	require.Zero(t, failedValid, "valid deployments failed")
	require.Zero(t, succeededInvalid, "invalid deployments succeeded")
	require.Zero(t, gwFailedOutside, "gateway requests failed outside outages")
	require.Greater(t, submitted, 0)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// gatewayAnswer is what the gateway answers the load's request, for a
// failure message.
func gatewayAnswer(url string) string {
	req, _ := http.NewRequest("GET", url+"/mtls/hello", nil)
	req.Host = org + "-prod.localhost"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.Status + " " + string(b)
}

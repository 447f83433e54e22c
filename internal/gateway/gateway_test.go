package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/testcerts"
)

const seedFailurePrefix = "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: "

func TestGateway_ConfigurableProxyReachesTargetOverMutualTLS(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	b.deploy(t, configurableArchive(b.env, be.port, ""))
	g := b.startGateway(t)

	status, body, h := g.get(t, "myorg-dev.localhost", "/mtls/helloworld?x=1")
	require.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `{ "message": "Hello world!" }`, body)
	assert.Equal(t, "gateway client", h.Get("X-Client-Cert"), "the gateway presents the key alias's certificate")
	assert.Equal(t, "/helloworld?x=1", h.Get("X-Backend-Path"))

	// The host decides the environment; the port and case do not matter.
	status, _, _ = g.get(t, "MyOrg-Dev.localhost:8443", "/mtls/helloworld")
	assert.Equal(t, http.StatusOK, status)

	for _, c := range []struct{ host, path string }{
		{"myorg-prod.localhost", "/mtls/helloworld"}, // no such environment
		{"myorg-dev.example.com", "/mtls/helloworld"},
		{"myorg-dev.localhost", "/other/helloworld"}, // no proxy at that base path
		{"myorg-dev.localhost", "/mtls/goodbye"},     // no operation matches
		{"myorg-dev.localhost", "/mtlsx/helloworld"},
	} {
		status, body, h := g.get(t, c.host, c.path)
		assert.Equal(t, http.StatusNotFound, status, "%s%s", c.host, c.path)
		assert.Equal(t, "application/json", h.Get("Content-Type"))
		var fault struct {
			Fault struct {
				Faultstring string `json:"faultstring"`
				Detail      struct {
					Errorcode string `json:"errorcode"`
				} `json:"detail"`
			} `json:"fault"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &fault), body)
		assert.Equal(t, "Unable to identify proxy for host: "+c.host+" and url: "+c.path, fault.Fault.Faultstring)
		assert.Equal(t, "messaging.adaptors.http.flow.ApplicationNotFound", fault.Fault.Detail.Errorcode)
	}
	status, _, _ = g.get(t, "anything", "/healthz")
	assert.Equal(t, http.StatusOK, status)
}

func TestGateway_ProgrammableProxyReachesLoadBalancedTargetServer(t *testing.T) {
	t.Parallel()
	b := deployedProgrammable(t)
	g := b.startGateway(t)

	status, body, h := g.get(t, "myorg-dev.localhost", "/legacy/v1/things")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "/api/v1/things", h.Get("X-Backend-Path"), "the target's Path prefixes the path suffix")
	assert.Equal(t, "gateway client", h.Get("X-Client-Cert"))
}

// TestGateway_TLSFailuresAnswerInTheSeedsWords points the target at
// backends whose certificates the truststore must refuse: each answers
// 503 with the seed's body and a log line naming proxy, target and the
// certificate problem.
func TestGateway_TLSFailuresAnswerInTheSeedsWords(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	otherCA := testcerts.New(t, testcerts.Options{CommonName: "some other CA", IsCA: true})
	cases := map[string]*testcerts.Cert{
		"wrong CA": testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}, Parent: otherCA}),
		"expired": testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}, Parent: b.serverCA,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}),
		"host name mismatch": testcerts.New(t, testcerts.Options{CommonName: "elsewhere.example.com", DNSNames: []string{"elsewhere.example.com"}, Parent: b.serverCA}),
	}
	for name, cert := range cases {
		be := b.backend(t, cert)
		b.deploy(t, configurableArchive(b.env, be.port, ""))
		g := b.startGateway(t)
		status, body, _ := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
		assert.Equal(t, http.StatusServiceUnavailable, status, name)
		assert.True(t, strings.HasPrefix(body, seedFailurePrefix), "%s: %q", name, body)
		assert.Contains(t, body, ":CERTIFICATE_VERIFY_FAILED", name)
		lines := g.logLines(t, "gateway upstream connection failed")
		require.NotEmpty(t, lines, name)
		assert.Equal(t, "mtls", lines[0]["proxy"], name)
		assert.Equal(t, "mtlstarget-docs", lines[0]["target"], name)
		assert.NotEmpty(t, lines[0]["tls_error"], name)
		assert.Zero(t, be.requestsFrom("gateway client"), "%s: no request may reach an untrusted backend", name)
	}
}

// TestGateway_NewDeploymentIsServedWithinASecond deploys a second archive
// while a gateway runs; its resync is an hour away, so the database's
// notification is what makes it switch.
func TestGateway_NewDeploymentIsServedWithinASecond(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	g := b.startGateway(t)
	status, _, _ := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
	require.Equal(t, http.StatusNotFound, status, "nothing is deployed yet")

	b.deploy(t, configurableArchive(b.env, be.port, ""))
	deployed := time.Now()
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
		return status == http.StatusOK
	}, time.Second, 10*time.Millisecond)
	t.Logf("served %v after the operation finished", time.Since(deployed))

	// Deleting the environment's live deployment takes it down.
	list, err := b.api.ListArchiveDeployments(context.Background(), b.org, b.env, 0, "")
	require.NoError(t, err)
	require.Len(t, list.ArchiveDeployments, 1)
	name := list.ArchiveDeployments[0].Name
	_, err = b.api.DeleteArchiveDeployment(context.Background(), b.org, b.env, name[strings.LastIndex(name, "/")+1:])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
		return status == http.StatusNotFound
	}, time.Second, 10*time.Millisecond)
}

// load sends requests to the gateway from several clients until stop is
// closed, counting answers that are not the backend's 200.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, g *runningGateway, host, path string, clients int) *load {
	l := &load{stop: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				// GETs and POSTs with a body, which no retry may hide.
				req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
				if n := l.ok.Load() + l.failed.Load(); n%2 == 1 {
					req, _ = http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(`{"n":`+fmt.Sprint(n)+`}`))
				}
				req.Host = host
				resp, err := client.Do(req)
				if err == nil {
					var body strings.Builder
					_, _ = fmt.Fprint(&body, resp.Status)
					buf := make([]byte, 512)
					n, _ := resp.Body.Read(buf)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						l.ok.Add(1)
						continue
					}
					err = fmt.Errorf("%s: %s", resp.Status, buf[:n])
				}
				l.failed.Add(1)
				l.mu.Lock()
				if len(l.failures) < 5 {
					l.failures = append(l.failures, err.Error())
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// TestGateway_RotationUnderLoadFailsNoRequest rotates the client
// certificate twice under constant load, in a programmable environment
// where both are allowed: a new certificate for the alias (same key), then
// the reference re-pointed at another keystore with another key. Every
// request must succeed, and the backend must see the new certificates.
func TestGateway_RotationUnderLoadFailsNoRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeProgrammable)
	first := b.clientCert(t, "client v1")
	b.keystore(t, "mtls-keystore", first)
	b.truststore(t, "mtls-truststore", b.serverCA)
	b.reference(t, "mtls-keystore-ref", "KeyStore", "mtls-keystore")
	b.reference(t, "mtls-truststore-ref", "TrustStore", "mtls-truststore")
	be := b.backend(t, nil)
	b.deploy(t, programmableArchive(b.env, be.port))
	g := b.startGateway(t)
	l := startLoad(t, g, "myorg-dev.localhost", "/legacy/hello", 4)
	require.Eventually(t, func() bool { return be.requestsFrom("client v1") > 20 }, 5*time.Second, 10*time.Millisecond)

	// A new certificate for the same key.
	second := testcerts.WithKey(t, testcerts.Options{CommonName: "client v2", Parent: b.clientCA}, first.Key)
	ctx := context.Background()
	_, err := b.api.UpdateAliasCertificate(ctx, b.org, b.env, "mtls-keystore", "my_alias", testcerts.Chain(second, b.clientCA), api.AliasOptions{})
	require.NoError(t, err)
	changed := time.Now()
	require.Eventually(t, func() bool { return be.requestsFrom("client v2") > 20 }, time.Second, 5*time.Millisecond)
	t.Logf("new certificate presented %v after the update", time.Since(changed))

	// Another keystore, another key, and the reference re-pointed.
	b.keystore(t, "mtls-keystore-2", b.clientCert(t, "client v3"))
	_, err = b.api.UpdateReference(ctx, b.org, b.env, api.Reference{Name: "mtls-keystore-ref", ResourceType: "KeyStore", Refers: "mtls-keystore-2"})
	require.NoError(t, err)
	changed = time.Now()
	require.Eventually(t, func() bool { return be.requestsFrom("client v3") > 20 }, time.Second, 5*time.Millisecond)
	t.Logf("re-pointed reference followed %v after the update", time.Since(changed))

	l.end()
	assert.Zero(t, l.failed.Load(), "failed requests: %v", l.failures)
	assert.Greater(t, l.ok.Load(), int64(60))
}

// TestGateway_SeveralGatewaysServeOneDatabase runs two gateways on one
// database: both serve, and both follow a change.
func TestGateway_SeveralGatewaysServeOneDatabase(t *testing.T) {
	t.Parallel()
	b := deployedProgrammable(t)
	g1, g2 := b.startGateway(t), b.startGateway(t)
	for _, g := range []*runningGateway{g1, g2} {
		status, _, h := g.get(t, "myorg-dev.localhost", "/legacy/x")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "gateway client", h.Get("X-Client-Cert"))
	}
	b.keystore(t, "mtls-keystore-2", b.clientCert(t, "second client"))
	_, err := b.api.UpdateReference(context.Background(), b.org, b.env, api.Reference{Name: "mtls-keystore-ref", ResourceType: "KeyStore", Refers: "mtls-keystore-2"})
	require.NoError(t, err)
	for _, g := range []*runningGateway{g1, g2} {
		require.Eventually(t, func() bool {
			_, _, h := g.get(t, "myorg-dev.localhost", "/legacy/x")
			return h.Get("X-Client-Cert") == "second client"
		}, time.Second, 10*time.Millisecond)
	}
}

// TestGateway_KeepsServingWhenTheDatabaseIsUnreachable cuts the gateway
// off its database (connections terminated, new ones refused) and forces
// reloads: it keeps serving what it had, then follows changes again once
// the database is back.
func TestGateway_KeepsServingWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	b := deployedProgrammable(t)
	g := b.startGateway(t)
	status, _, _ := g.get(t, "myorg-dev.localhost", "/legacy/x")
	require.Equal(t, http.StatusOK, status)

	ctx := context.Background()
	restore := pgtest.CutOff(t, b.srv.DatabaseURL)

	require.Error(t, g.ReloadAll(ctx), "the database is unreachable")
	require.Error(t, g.ReloadEnvironment(ctx, b.org, b.env))
	for range 20 {
		status, body, _ := g.get(t, "myorg-dev.localhost", "/legacy/x")
		require.Equal(t, http.StatusOK, status, body)
	}

	restore()
	require.Eventually(t, func() bool {
		resp, err := http.Get(b.srv.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "the API server recovers")
	b.keystore(t, "mtls-keystore-2", b.clientCert(t, "after the outage"))
	_, err := b.api.UpdateReference(ctx, b.org, b.env, api.Reference{Name: "mtls-keystore-ref", ResourceType: "KeyStore", Refers: "mtls-keystore-2"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, _, h := g.get(t, "myorg-dev.localhost", "/legacy/x")
		return h.Get("X-Client-Cert") == "after the outage"
	}, 10*time.Second, 20*time.Millisecond, "the gateway reconnects, resynchronises and follows changes again")
}

// TestGateway_NotReadyUntilItHasLoaded starts a gateway while its database
// refuses connections: it answers 503 and /readyz fails (no 404 that a
// load balancer would pass on as the proxy's answer), then serves once the
// database lets it load.
func TestGateway_NotReadyUntilItHasLoaded(t *testing.T) {
	t.Parallel()
	b := deployedProgrammable(t)
	restore := pgtest.CutOff(t, b.srv.DatabaseURL)

	ctx, cancel := context.WithCancel(context.Background())
	db, err := postgres.Open(ctx, b.srv.DatabaseURL)
	require.NoError(t, err)
	keys, err := seal.ParseKeyring(b.srv.MasterKey)
	require.NoError(t, err)
	// The backend listens on loopback, which the default fence refuses.
	g := gateway.New(db, gateway.Config{Keys: keys, Resync: time.Hour, Log: slog.New(slog.DiscardHandler), Targets: b.srv.Targets})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.Run(ctx) })
	wg.Go(func() { _ = g.Serve(ctx, ln, nil, time.Second) })
	t.Cleanup(func() { cancel(); wg.Wait(); db.Close() })
	rg := &runningGateway{url: "http://" + ln.Addr().String()}

	status, body, _ := rg.get(t, "myorg-dev.localhost", "/legacy/x")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "no healthy upstream", body)
	status, _, _ = rg.get(t, "any", "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)
	status, _, _ = rg.get(t, "any", "/healthz")
	require.Equal(t, http.StatusOK, status, "the process is alive")

	restore()
	require.Eventually(t, func() bool {
		status, _, _ := rg.get(t, "myorg-dev.localhost", "/legacy/x")
		return status == http.StatusOK
	}, 15*time.Second, 50*time.Millisecond)
	status, _, _ = rg.get(t, "any", "/readyz")
	require.Equal(t, http.StatusOK, status)
}

// TestGateway_ConfigurableProxyWithoutBasepathIsServedAtItsName deploys
// the seed's helloworld shape, a config.yaml without basepath, and calls
// it at /{proxy name}: a deployment that succeeds serves something.
func TestGateway_ConfigurableProxyWithoutBasepathIsServedAtItsName(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	files := configurableArchive(b.env, be.port, "")
	const config = "src/main/apigee/apiproxies/mtls/config.yaml"
	require.Contains(t, files[config], "basepath: /mtls\n")
	files[config] = strings.Replace(files[config], "basepath: /mtls\n", "", 1)
	b.deploy(t, files)
	g := b.startGateway(t)

	status, body, h := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
	require.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `{ "message": "Hello world!" }`, body)
	assert.Equal(t, "/helloworld", h.Get("X-Backend-Path"))
}

// TestGateway_ClientAuthDisabledPresentsNoCertificate names a keystore and
// key alias with clientAuthEnabled false: ClientAuthEnabled is what enables
// two-way TLS, so the gateway presents no certificate, and the backend,
// which demands one, fails the request with the seed's 503 text.
func TestGateway_ClientAuthDisabledPresentsNoCertificate(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	b.deploy(t, configurableArchive(b.env, be.port, `{"enabled": true, "clientAuthEnabled": false,
		"keyStore": "ref://mtls-keystore-ref", "keyAlias": "my_alias", "trustStore": "ref://mtls-truststore-ref"}`))
	g := b.startGateway(t)

	status, body, _ := g.get(t, "myorg-dev.localhost", "/mtls/helloworld")
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.True(t, strings.HasPrefix(body, seedFailurePrefix), body)
	assert.Zero(t, be.requestsFrom("gateway client"), "no client certificate may be presented")
}

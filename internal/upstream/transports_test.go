package upstream_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/upstream"
)

// rebuilt is m made again from the DER, as a reload that loads the same
// material from the database would make it.
func rebuilt(t *testing.T, m upstream.Material) upstream.Material {
	t.Helper()
	var out upstream.Material
	if m.Certificate != nil {
		c := tls.Certificate{PrivateKey: m.Certificate.PrivateKey}
		for _, der := range m.Certificate.Certificate {
			c.Certificate = append(c.Certificate, append([]byte(nil), der...))
		}
		out.Certificate = &c
	}
	for _, r := range m.Roots {
		parsed, err := x509.ParseCertificate(r.Raw)
		require.NoError(t, err)
		out.Roots = append(out.Roots, parsed)
	}
	return out
}

func TestTransports_Get_SharesPerAddressAndConfiguration(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	other := newPKI(t)
	pool := upstream.NewTransports(upstream.Options{})
	mutual := &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client", TrustStore: "ts"}
	target := upstream.Target{Addr: "127.0.0.1:8443", TLS: mutual, Host: backendHost, Material: p.clientMaterial()}
	get := func(tg upstream.Target) *upstream.Transport {
		t.Helper()
		tr, err := pool.Get(tg)
		require.NoError(t, err)
		return tr
	}
	first := get(target)

	same := target
	same.Material = rebuilt(t, target.Material)
	same.TLS = &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client", TrustStore: "ts"}
	require.Same(t, first, get(same), "the same settings and material share a transport")

	changes := map[string]func(*upstream.Target){
		"address": func(tg *upstream.Target) { tg.Addr = "127.0.0.1:9443" },
		"host":    func(tg *upstream.Target) { tg.Host = "other.test" },
		"settings": func(tg *upstream.Target) {
			tg.TLS = &keyplane.SSLInfo{ClientAuthEnabled: true, Enforce: true, KeyStore: "ks", KeyAlias: "client"}
		},
		"certificate": func(tg *upstream.Target) { tg.Material.Certificate = other.clientMaterial().Certificate },
		"roots":       func(tg *upstream.Target) { tg.Material.Roots = []*x509.Certificate{other.root.Cert} },
		"plain HTTP":  func(tg *upstream.Target) { tg.TLS = nil },
	}
	for name, change := range changes {
		tg := target
		change(&tg)
		tr := get(tg)
		require.NotSame(t, first, tr, name)
		require.NotEqual(t, first.Key(), tr.Key(), name)
	}
	require.Equal(t, 1+len(changes), pool.Len())

	plain := get(upstream.Target{Addr: "127.0.0.1:8080"})
	require.Equal(t, upstream.Key{Addr: "127.0.0.1:8080"}, plain.Key(), "plain HTTP has no fingerprint")

	_, err := pool.Get(upstream.Target{Addr: "127.0.0.1:8443", TLS: &keyplane.SSLInfo{Protocols: []string{"SSLv3"}}})
	require.Error(t, err, "invalid settings make no transport")
	require.Equal(t, 2+len(changes), pool.Len())
}

func TestTransports_Get_HostDefaultsToAddress(t *testing.T) {
	t.Parallel()
	pool := upstream.NewTransports(upstream.Options{})
	implicit, err := pool.Get(upstream.Target{Addr: "backend.test:443", TLS: &keyplane.SSLInfo{}})
	require.NoError(t, err)
	explicit, err := pool.Get(upstream.Target{Addr: "backend.test:443", TLS: &keyplane.SSLInfo{}, Host: "backend.test"})
	require.NoError(t, err)
	require.Same(t, implicit, explicit)
}

// many sends n requests to b through rt, from workers goroutines at once.
func many(t *testing.T, rt http.RoundTripper, b *backend, n, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	for range workers {
		wg.Go(func() {
			for range jobs {
				req, _ := http.NewRequest(http.MethodGet, b.URL+"/", nil)
				resp, err := rt.RoundTrip(req)
				if err != nil {
					errs <- err
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestTransports_ReuseConnections(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, tc := range []struct {
		name     string
		h2       bool
		maxConns int64
	}{
		// A request that finds no idle connection dials one, and waits
		// for no other: never more connections than requests at once.
		{"HTTP/1.1", false, 8},
		// One connection carries every stream.
		{"HTTP/2", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, tc.h2, nil)
			tr, err := upstream.NewTransports(upstream.Options{}).Get(upstream.Target{Addr: b.Addr, TLS: &keyplane.SSLInfo{}, Host: backendHost, Material: trusting(p.root)})
			require.NoError(t, err)
			// One request at a time needs one connection.
			many(t, tr, b, 50, 1)
			require.Equal(t, int64(1), b.opened.Load())
			many(t, tr, b, 200, 8)
			opened := b.opened.Load()
			require.LessOrEqual(t, opened, tc.maxConns)
			many(t, tr, b, 50, 1)
			require.Equal(t, opened, b.opened.Load(), "idle connections are reused")
		})
	}
}

// TestTransports_Retain_RetiresGracefully retires a transport while a slow
// request is in flight on it: the request finishes, then every connection
// of the transport is closed.
func TestTransports_Retain_RetiresGracefully(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		h2   bool
	}{
		{"HTTP/1.1", false},
		{"HTTP/2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			entered, release := make(chan struct{}), make(chan struct{})
			b := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, tc.h2, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					close(entered)
					<-release
				}
				hello(w, r)
			})
			pool := upstream.NewTransports(upstream.Options{})
			target := upstream.Target{Addr: b.Addr, TLS: &keyplane.SSLInfo{}, Host: backendHost, Material: trusting(p.root)}
			old, err := pool.Get(target)
			require.NoError(t, err)

			slow := make(chan response, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, b.URL+"/slow", nil)
				resp, err := old.RoundTrip(req)
				if err != nil {
					status, body := upstream.Failure(err)
					slow <- response{Status: status, Body: body}
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				slow <- response{Status: resp.StatusCode, Body: string(body)}
			}()
			<-entered
			// A second request leaves an idle connection behind (HTTP/1.1),
			// or shares the busy one (HTTP/2).
			require.Equal(t, http.StatusOK, roundTrip(t, old, b).Status)

			pool.Retain(nil)
			require.Equal(t, 0, pool.Len())
			require.Eventually(t, func() bool { return b.open.Load() == 1 }, 5*time.Second, 10*time.Millisecond,
				"the idle connection is closed at once, the busy one stays")
			fresh, err := pool.Get(target)
			require.NoError(t, err)
			require.NotSame(t, old, fresh, "new requests get a new transport")

			close(release)
			require.Equal(t, response{Status: http.StatusOK, Body: helloBody}, <-slow, "the request in flight finishes")
			require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
				"the retired transport closes its last connection once idle")

			require.Equal(t, http.StatusOK, roundTrip(t, fresh, b).Status)
		})
	}
}

// TestTransports_Retain_KeepsWarmPools rebuilds a configuration in which one
// target is unchanged and another is gone.
func TestTransports_Retain_KeepsWarmPools(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	kept := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, false, nil)
	gone := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, false, nil)
	pool := upstream.NewTransports(upstream.Options{})
	target := func(b *backend) upstream.Target {
		return upstream.Target{Addr: b.Addr, TLS: &keyplane.SSLInfo{TrustStore: "ts"}, Host: backendHost, Material: rebuilt(t, trusting(p.root))}
	}
	for _, b := range []*backend{kept, gone} {
		tr, err := pool.Get(target(b))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status)
	}

	// The reload: the configuration is built again from scratch.
	tr, err := pool.Get(target(kept))
	require.NoError(t, err)
	pool.Retain([]upstream.Key{tr.Key()})

	require.Equal(t, 1, pool.Len())
	require.Eventually(t, func() bool { return gone.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusOK, roundTrip(t, tr, kept).Status)
	require.Equal(t, int64(1), kept.opened.Load(), "the unchanged target kept its connection")
	require.Equal(t, int64(1), kept.open.Load())
}

func TestTransports_Close(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, nil)
	pool := upstream.NewTransports(upstream.Options{})
	tr, err := pool.Get(upstream.Target{Addr: b.Addr})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status)
	pool.Close()
	require.Equal(t, 0, pool.Len())
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// BenchmarkTransport_MutualTLS measures a pooled request over mutual TLS
// (HTTP/1.1 keep-alive) through a Transport, beside a bare net/http
// transport with the same TLS configuration: the difference is what the
// pool's bookkeeping costs.
func BenchmarkTransport_MutualTLS(b *testing.B) {
	p := newPKI(b)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.clientRoot.Cert)
	srv := startBackend(b, &tls.Config{
		Certificates: []tls.Certificate{p.serverCert(p.leaf)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}, false, nil)
	settings := &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client", TrustStore: "ts"}
	pooled, err := upstream.NewTransports(upstream.Options{}).Get(upstream.Target{Addr: srv.Addr, TLS: settings, Host: backendHost, Material: p.clientMaterial()})
	require.NoError(b, err)
	cfg, err := upstream.Config(settings, backendHost, p.clientMaterial())
	require.NoError(b, err)
	bare := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(bare.CloseIdleConnections)

	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"upstream", pooled}, {"net/http", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
					resp, err := bc.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

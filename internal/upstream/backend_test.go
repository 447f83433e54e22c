package upstream_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/upstream"
)

// backendHost is the name the test backends' certificates are issued for;
// the backends listen on 127.0.0.1 and the client checks this name.
const backendHost = "backend.test"

// pki is the certificates of one test: a server chain (root, intermediate,
// leaf for backendHost) and a client chain, each with its own root.
type pki struct {
	root, inter, leaf             *testcerts.Cert
	clientRoot, clientInter, user *testcerts.Cert
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{}
	p.root = testcerts.New(t, testcerts.Options{CommonName: "Test Root CA", IsCA: true})
	p.inter = testcerts.New(t, testcerts.Options{CommonName: "Test Intermediate CA", IsCA: true, Parent: p.root})
	p.leaf = p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}})
	p.clientRoot = testcerts.New(t, testcerts.Options{CommonName: "Client Root CA", IsCA: true})
	p.clientInter = testcerts.New(t, testcerts.Options{CommonName: "Client Intermediate CA", IsCA: true, Parent: p.clientRoot})
	p.user = testcerts.New(t, testcerts.Options{CommonName: "gateway-client", Parent: p.clientInter})
	return p
}

// serverLeaf is a server certificate issued by the intermediate.
func (p *pki) serverLeaf(t testing.TB, o testcerts.Options) *testcerts.Cert {
	t.Helper()
	o.Parent = p.inter
	return testcerts.New(t, o)
}

// serverCert is leaf as the server presents it, with the intermediate.
func (p *pki) serverCert(leaf *testcerts.Cert) tls.Certificate { return leaf.TLS(p.inter) }

// clientMaterial is the material of a key alias holding the client chain
// and a truststore holding the server root.
func (p *pki) clientMaterial() upstream.Material {
	c := p.user.TLS(p.clientInter)
	return upstream.Material{Certificate: &c, Roots: []*x509.Certificate{p.root.Cert}}
}

// trusting is a material whose truststore holds certs.
func trusting(certs ...*testcerts.Cert) upstream.Material {
	var m upstream.Material
	for _, c := range certs {
		m.Roots = append(m.Roots, c.Cert)
	}
	return m
}

// backend is a TLS (or plain) HTTP server started by a test, counting the
// connections made to it.
type backend struct {
	srv *httptest.Server
	// Addr is the host:port it listens on.
	Addr string
	// URL is its base URL.
	URL string
	// opened counts connections ever accepted, open those not closed yet.
	opened, open atomic.Int64
}

// hello answers the seeds' backend answer and reports, in headers, how the
// request arrived.
func hello(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil {
		w.Header().Set("X-TLS-Version", tls.VersionName(r.TLS.Version))
		w.Header().Set("X-Cipher", tls.CipherSuiteName(r.TLS.CipherSuite))
		if len(r.TLS.PeerCertificates) > 0 {
			w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	}
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{ "message": "Hello world!" }`)
}

// startBackend starts a backend with handler (hello when nil); a nil cfg
// serves plain HTTP. With h2 the backend offers HTTP/2 by ALPN.
func startBackend(t testing.TB, cfg *tls.Config, h2 bool, handler http.HandlerFunc) *backend {
	t.Helper()
	if handler == nil {
		handler = hello
	}
	b := &backend{srv: httptest.NewUnstartedServer(handler)}
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			b.opened.Add(1)
			b.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			b.open.Add(-1)
		}
	}
	if cfg == nil {
		b.srv.Start()
	} else {
		b.srv.TLS = cfg
		b.srv.EnableHTTP2 = h2
		b.srv.StartTLS()
	}
	t.Cleanup(b.srv.Close)
	b.URL = b.srv.URL
	b.Addr = b.srv.Listener.Addr().String()
	return b
}

// tlsBackend starts a TLS backend presenting cert, with cfg's other settings.
func tlsBackend(t *testing.T, cert tls.Certificate, cfg *tls.Config) *backend {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.Certificates = []tls.Certificate{cert}
	return startBackend(t, cfg, false, nil)
}

// response is what a request through a transport gave.
type response struct {
	Status int
	Header http.Header
	Body   string
	Proto  string
}

// call sends GET / to b through a new pool's transport for the settings,
// and returns the response, or the status and body upstream.Failure gives
// for the error.
func call(t *testing.T, b *backend, s *keyplane.SSLInfo, m upstream.Material) response {
	t.Helper()
	tr, err := upstream.NewTransports(upstream.Options{}).Get(upstream.Target{Addr: b.Addr, TLS: s, Host: backendHost, Material: m})
	require.NoError(t, err)
	return roundTrip(t, tr, b)
}

// roundTrip sends GET / to b through rt.
func roundTrip(t *testing.T, rt http.RoundTripper, b *backend) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.URL+"/", nil)
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		status, body := upstream.Failure(err)
		return response{Status: status, Body: body}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Proto: resp.Proto}
}

// tlsFailure is the body of a TLS failure with reason.
func tlsFailure(reason string) string {
	return "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: " + reason
}

const helloBody = `{ "message": "Hello world!" }`

// past and future are validity bounds for expired and not yet valid
// certificates.
var (
	past   = time.Now().Add(-48 * time.Hour)
	future = time.Now().Add(48 * time.Hour)
)

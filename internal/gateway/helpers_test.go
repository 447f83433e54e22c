package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// testBundle is a keyplane API server with an organization, and the
// certificate authorities of a backend world: one that signs backends'
// server certificates and one that signs the clients backends accept.
type testBundle struct {
	srv      *servertest.Server
	api      *api.Client
	org, env string
	serverCA *testcerts.Cert
	clientCA *testcerts.Cert
}

func setup(t *testing.T, proxyType string) *testBundle {
	t.Helper()
	return setupEnvironment(t, api.Environment{Name: "dev", DeploymentType: "ARCHIVE", APIProxyType: proxyType})
}

// setupEnvironment is setup with environment env of organization myorg.
func setupEnvironment(t *testing.T, env api.Environment) *testBundle {
	t.Helper()
	srv := servertest.Start(t)
	b := &testBundle{
		srv:      srv,
		api:      &api.Client{BaseURL: srv.URL, Token: srv.Token},
		org:      "myorg",
		env:      env.Name,
		serverCA: testcerts.New(t, testcerts.Options{CommonName: "backend CA", IsCA: true}),
		clientCA: testcerts.New(t, testcerts.Options{CommonName: "client CA", IsCA: true}),
	}
	srv.CreateEnvironments(t, b.org, env)
	return b
}

// clientCert is a client certificate the backends accept.
func (b *testBundle) clientCert(t *testing.T, cn string) *testcerts.Cert {
	return testcerts.New(t, testcerts.Options{CommonName: cn, Parent: b.clientCA})
}

// keystore creates a keystore holding alias my_alias with cert and its key.
func (b *testBundle) keystore(t *testing.T, name string, cert *testcerts.Cert) {
	t.Helper()
	ctx := context.Background()
	_, err := b.api.CreateKeystore(ctx, b.org, b.env, name)
	require.NoError(t, err)
	_, err = b.api.CreateAliasFromKeyCert(ctx, b.org, b.env, name, "my_alias",
		api.KeyCertFile{Cert: testcerts.Chain(cert, b.clientCA), Key: cert.KeyPEM(t)}, api.AliasOptions{})
	require.NoError(t, err)
}

// truststore creates a truststore trusting the given CAs.
func (b *testBundle) truststore(t *testing.T, name string, cas ...*testcerts.Cert) {
	t.Helper()
	ctx := context.Background()
	_, err := b.api.CreateKeystore(ctx, b.org, b.env, name)
	require.NoError(t, err)
	for i, ca := range cas {
		_, err = b.api.CreateAliasFromKeyCert(ctx, b.org, b.env, name, fmt.Sprintf("ca%d", i),
			api.KeyCertFile{Cert: ca.CertPEM()}, api.AliasOptions{})
		require.NoError(t, err)
	}
}

func (b *testBundle) reference(t *testing.T, name, kind, refers string) {
	t.Helper()
	_, err := b.api.CreateReference(context.Background(), b.org, b.env, api.Reference{Name: name, ResourceType: kind, Refers: refers})
	require.NoError(t, err)
}

// mtlsWorld creates the seeds' material: keystore mtls-keystore with alias
// my_alias, truststore mtls-truststore with the backends' CA, and the
// references mtls-keystore-ref and mtls-truststore-ref to them.
func (b *testBundle) mtlsWorld(t *testing.T) {
	b.keystore(t, "mtls-keystore", b.clientCert(t, "gateway client"))
	b.truststore(t, "mtls-truststore", b.serverCA)
	b.reference(t, "mtls-keystore-ref", "KeyStore", "mtls-keystore")
	b.reference(t, "mtls-truststore-ref", "TrustStore", "mtls-truststore")
}

// deploy deploys an archive of files and waits for its operation, which
// must succeed.
func (b *testBundle) deploy(t *testing.T, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	uri, err := b.api.GenerateUploadURL(ctx, b.org, b.env)
	require.NoError(t, err)
	require.NoError(t, b.api.UploadArchive(ctx, uri, bytes.NewReader(testzip.Files(t, files))))
	op, err := b.api.CreateArchiveDeployment(ctx, b.org, b.env, uri, nil)
	require.NoError(t, err)
	id := op.Name[strings.LastIndex(op.Name, "/")+1:]
	require.Eventually(t, func() bool {
		op, err = b.api.GetOperation(ctx, b.org, id)
		require.NoError(t, err)
		return op.Done
	}, 20*time.Second, 20*time.Millisecond)
	require.Nil(t, op.Error, "deployment failed: %+v", op.Error)
}

// configurableArchive is the seeds' configurable proxy: basepath /mtls,
// operation GET /helloworld to target server mtlstarget-docs at
// localhost:port over mutual TLS through the two references.
func configurableArchive(env string, port int, sslInfo string) map[string]string {
	if sslInfo == "" {
		sslInfo = `{"enabled": true, "clientAuthEnabled": true, "keyStore": "ref://mtls-keystore-ref",
			"keyAlias": "my_alias", "trustStore": "ref://mtls-truststore-ref"}`
	}
	return map[string]string{
		"src/main/apigee/apiproxies/mtls/config.yaml": `apiVersion: apigee/v1
kind: ConfigurableProxy
basepath: /mtls
operations:
  - id: hello
    http_match:
      - path_template: "/helloworld"
        method: GET
    target:
      target_server_id: mtlstarget-docs
`,
		"src/main/apigee/environments/" + env + "/deployments.json": `{"proxies": [{"name": "mtls"}]}`,
		"src/main/apigee/environments/" + env + "/targetservers.json": fmt.Sprintf(`[{
			"name": "mtlstarget-docs", "host": "localhost", "port": %d, "protocol": "HTTP",
			"sSLInfo": %s}]`, port, sslInfo),
	}
}

// programmableArchive is a programmable proxy with base path /legacy whose
// target endpoint reaches target server backend over mutual TLS.
func programmableArchive(env string, port int) map[string]string {
	return map[string]string{
		"src/main/apigee/apiproxies/legacy/apiproxy/legacy.xml": `<APIProxy name="legacy"><Basepaths>/legacy</Basepaths></APIProxy>`,
		"src/main/apigee/apiproxies/legacy/apiproxy/proxies/default.xml": `<ProxyEndpoint name="default">
  <HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection>
  <RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule>
</ProxyEndpoint>`,
		"src/main/apigee/apiproxies/legacy/apiproxy/targets/default.xml": `<TargetEndpoint name="default">
  <HTTPTargetConnection>
    <SSLInfo>
      <Enabled>true</Enabled>
      <ClientAuthEnabled>true</ClientAuthEnabled>
      <KeyStore>ref://mtls-keystore-ref</KeyStore>
      <KeyAlias>my_alias</KeyAlias>
      <TrustStore>ref://mtls-truststore-ref</TrustStore>
    </SSLInfo>
    <LoadBalancer><Server name="backend"/></LoadBalancer>
    <Path>/api</Path>
  </HTTPTargetConnection>
</TargetEndpoint>`,
		"src/main/apigee/environments/" + env + "/deployments.json": `["legacy"]`,
		"src/main/apigee/environments/" + env + "/targetservers.json": fmt.Sprintf(`[{
			"name": "backend", "host": "localhost", "port": %d, "protocol": "HTTP",
			"sSLInfo": {"enabled": true, "clientAuthEnabled": true, "keyStore": "ref://mtls-keystore-ref",
			"keyAlias": "my_alias", "trustStore": "ref://mtls-truststore-ref"}}]`, port),
	}
}

// deployedProgrammable is a programmable environment with the seeds'
// material, a backend, and programmableArchive deployed to reach it.
func deployedProgrammable(t *testing.T) *testBundle {
	t.Helper()
	b := setup(t, api.ProxyTypeProgrammable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	b.deploy(t, programmableArchive(b.env, be.port))
	return b
}

// backend is a TLS server that requires a client certificate from
// clientCA, answers the seeds' hello world, and remembers the client
// certificates it saw.
type backend struct {
	*httptest.Server
	port int
	mu   sync.Mutex
	seen map[string]int // client certificate common name -> requests
}

func (b *testBundle) backend(t *testing.T, serverCert *testcerts.Cert) *backend {
	t.Helper()
	if serverCert == nil {
		serverCert = testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}, Parent: b.serverCA})
	}
	be := &backend{seen: map[string]int{}}
	be.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_, _ = io.Copy(io.Discard, r.Body)
		be.mu.Lock()
		be.seen[cn]++
		be.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend-Path", r.URL.RequestURI())
		w.Header().Set("X-Client-Cert", cn)
		_, _ = io.WriteString(w, `{ "message": "Hello world!" }`)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(b.clientCA.Cert)
	be.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Cert.Raw, b.serverCA.Cert.Raw}, PrivateKey: serverCert.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	// Refused handshakes are what some tests are about; not log noise.
	be.Config.ErrorLog = log.New(io.Discard, "", 0)
	be.StartTLS()
	t.Cleanup(be.Close)
	be.port = be.Listener.Addr().(*net.TCPAddr).Port
	return be
}

func (be *backend) requestsFrom(cn string) int {
	be.mu.Lock()
	defer be.mu.Unlock()
	return be.seen[cn]
}

// runningGateway is a gateway serving the test's database on loopback.
type runningGateway struct {
	*servertest.Gateway
	url string
	log *servertest.LogBuffer
}

// startGateway starts a gateway on b's database. Its periodic resync is
// an hour away, so what it sees quickly it learnt from notifications.
func (b *testBundle) startGateway(t *testing.T) *runningGateway {
	t.Helper()
	logs := &servertest.LogBuffer{}
	g := servertest.StartGateway(t, b.srv, servertest.GatewayOptions{Log: logs})
	return &runningGateway{Gateway: g, url: g.URL, log: logs}
}

// get sends a request for host to the gateway.
func (g *runningGateway) get(t *testing.T, host, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
	require.NoError(t, err)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

// logLines are the gateway's log records with the given message.
func (g *runningGateway) logLines(t *testing.T, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(g.log.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

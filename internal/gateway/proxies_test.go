package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// helloBundle is an apiproxy/ bundle with base path basePath whose
// TargetEndpoint reaches https://localhost:port over mutual TLS through the
// references, with the SSLInfo in the endpoint itself.
func helloBundle(t *testing.T, basePath string, port int) []byte {
	t.Helper()
	return testzip.Files(t, map[string]string{
		"apiproxy/hello.xml": `<APIProxy name="hello"/>`,
		"apiproxy/proxies/default.xml": `<ProxyEndpoint name="default">
  <HTTPProxyConnection><BasePath>` + basePath + `</BasePath></HTTPProxyConnection>
  <RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule>
</ProxyEndpoint>`,
		"apiproxy/targets/default.xml": `<TargetEndpoint name="default">
  <HTTPTargetConnection>
    <SSLInfo>
      <Enabled>true</Enabled>
      <ClientAuthEnabled>true</ClientAuthEnabled>
      <KeyStore>ref://mtls-keystore-ref</KeyStore>
      <KeyAlias>my_alias</KeyAlias>
      <TrustStore>ref://mtls-truststore-ref</TrustStore>
    </SSLInfo>
    <URL>https://localhost:` + strconv.Itoa(port) + `/api</URL>
  </HTTPTargetConnection>
</TargetEndpoint>`,
	})
}

// deployProxy imports bundle as API proxy name and deploys the revision to
// the environment, waiting until it is READY.
func (b *testBundle) deployProxy(t *testing.T, name string, bundle []byte, opts api.DeployOptions) int {
	t.Helper()
	ctx := context.Background()
	rev, err := b.api.ImportApiProxy(ctx, b.org, name, bundle)
	require.NoError(t, err)
	n, err := strconv.Atoi(rev.Revision)
	require.NoError(t, err)
	_, err = b.api.DeployApiProxy(ctx, b.org, b.env, name, n, opts)
	require.NoError(t, err)
	var d *api.Deployment
	require.Eventually(t, func() bool {
		d, err = b.api.GetApiProxyDeployment(ctx, b.org, b.env, name, n)
		require.NoError(t, err)
		return d.State != api.DeploymentStateProgressing
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, api.DeploymentStateReady, d.State, "%+v", d.Errors)
	return n
}

// A PROXY environment's READY deployments are served like an archive's:
// routing, mutual TLS through references, rotation by re-pointing the
// reference or replacing the certificate without a redeploy, Apigee's
// 503 text, and undeploying takes the proxy down.
func TestGateway_ProxyEnvironmentServesDeployedRevisions(t *testing.T) {
	t.Parallel()
	b := setupEnvironment(t, api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeProxy, APIProxyType: api.ProxyTypeProgrammable})
	first := b.clientCert(t, "client v1")
	b.keystore(t, "mtls-keystore", first)
	b.truststore(t, "mtls-truststore", b.serverCA)
	b.reference(t, "mtls-keystore-ref", "KeyStore", "mtls-keystore")
	b.reference(t, "mtls-truststore-ref", "TrustStore", "mtls-truststore")
	be := b.backend(t, nil)
	g := b.startGateway(t)

	rev := b.deployProxy(t, "hello", helloBundle(t, "/hello", be.port), api.DeployOptions{})
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/hello/things")
		return status == http.StatusOK
	}, 2*time.Second, 10*time.Millisecond, "the READY deployment is served without a restart")
	status, body, h := g.get(t, "myorg-dev.localhost", "/hello/things?x=1")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "client v1", h.Get("X-Client-Cert"), "the key alias's certificate is presented")
	assert.Equal(t, "/api/things?x=1", h.Get("X-Backend-Path"))
	status, _, _ = g.get(t, "myorg-dev.localhost", "/other")
	assert.Equal(t, http.StatusNotFound, status)

	// A new certificate for the same key, then another keystore behind
	// the reference: both are presented with no redeploy.
	ctx := context.Background()
	second := testcerts.WithKey(t, testcerts.Options{CommonName: "client v2", Parent: b.clientCA}, first.Key)
	_, err := b.api.UpdateAliasCertificate(ctx, b.org, b.env, "mtls-keystore", "my_alias", testcerts.Chain(second, b.clientCA), api.AliasOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, _, h := g.get(t, "myorg-dev.localhost", "/hello/things")
		return h.Get("X-Client-Cert") == "client v2"
	}, 2*time.Second, 10*time.Millisecond)
	b.keystore(t, "mtls-keystore-2", b.clientCert(t, "client v3"))
	_, err = b.api.UpdateReference(ctx, b.org, b.env, api.Reference{Name: "mtls-keystore-ref", ResourceType: "KeyStore", Refers: "mtls-keystore-2"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, _, h := g.get(t, "myorg-dev.localhost", "/hello/things")
		return h.Get("X-Client-Cert") == "client v3"
	}, 2*time.Second, 10*time.Millisecond)

	// The truststore re-pointed at a store that does not trust the
	// backend: Apigee's 503 text.
	b.truststore(t, "wrong-truststore", testcerts.New(t, testcerts.Options{CommonName: "some other CA", IsCA: true}))
	_, err = b.api.UpdateReference(ctx, b.org, b.env, api.Reference{Name: "mtls-truststore-ref", ResourceType: "TrustStore", Refers: "wrong-truststore"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, body, _ := g.get(t, "myorg-dev.localhost", "/hello/things")
		return status == http.StatusServiceUnavailable && strings.HasPrefix(body, seedFailurePrefix) && strings.Contains(body, ":CERTIFICATE_VERIFY_FAILED")
	}, 2*time.Second, 10*time.Millisecond)
	_, err = b.api.UpdateReference(ctx, b.org, b.env, api.Reference{Name: "mtls-truststore-ref", ResourceType: "TrustStore", Refers: "mtls-truststore"})
	require.NoError(t, err)

	// A second proxy is served next to the first; undeploying takes only
	// it down.
	other := b.deployProxy(t, "other", helloBundle(t, "/other", be.port), api.DeployOptions{})
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/other/x")
		return status == http.StatusOK
	}, 2*time.Second, 10*time.Millisecond)
	require.NoError(t, b.api.UndeployApiProxy(ctx, b.org, b.env, "other", other))
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/other/x")
		return status == http.StatusNotFound
	}, 2*time.Second, 10*time.Millisecond)
	status, _, _ = g.get(t, "myorg-dev.localhost", "/hello/things")
	assert.Equal(t, http.StatusOK, status)
	require.NoError(t, b.api.UndeployApiProxy(ctx, b.org, b.env, "hello", rev))
	require.Eventually(t, func() bool {
		status, _, _ := g.get(t, "myorg-dev.localhost", "/hello/things")
		return status == http.StatusNotFound
	}, 2*time.Second, 10*time.Millisecond)
}

package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// prod is the console address of the PROXY environment of proxyFixture.
const prod = "/console/organizations/myorg/environments/prod"

// brokenProxyFailure is the deployment error of proxy broken, whose
// TargetEndpoint names a keystore that does not exist.
const brokenProxyFailure = `generic::invalid_argument: proxy "organizations/myorg/apis/broken/revisions/1" contains invalid TLS settings in target endpoint "default": ` +
	`missing required private key for "alias \"organizations/myorg/environments/prod/keystores/does-not-exist/aliases/gateway\""; ` +
	`missing required certificate(s) for "alias \"organizations/myorg/environments/prod/keystores/does-not-exist/aliases/gateway\""`

// proxyFixture is a running server with a PROXY environment prod where
// the example bundle is deployed twice: as mtls-proxy, READY, and as
// broken, at its own base path and with a keystore that does not exist,
// in state ERROR.
func proxyFixture(t *testing.T) *servertest.Server {
	t.Helper()
	srv := servertest.Start(t)
	ctx := context.Background()
	c := srv.CreateEnvironments(t, "myorg", api.Environment{Name: "prod", DeploymentType: api.DeploymentTypeProxy, APIProxyType: api.ProxyTypeProgrammable})
	ca := testcerts.New(t, testcerts.Options{CommonName: "Test CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: ca})
	_, err := c.CreateKeystore(ctx, "myorg", "prod", "gateway-keystore")
	require.NoError(t, err)
	_, err = c.CreateAliasFromKeyCert(ctx, "myorg", "prod", "gateway-keystore", "gateway", api.KeyCertFile{Cert: testcerts.Chain(leaf, ca), Key: leaf.KeyPEM(t)}, api.AliasOptions{})
	require.NoError(t, err)
	_, err = c.CreateKeystore(ctx, "myorg", "prod", "backend-truststore")
	require.NoError(t, err)
	_, err = c.CreateAliasFromKeyCert(ctx, "myorg", "prod", "backend-truststore", "ca", api.KeyCertFile{Cert: ca.CertPEM()}, api.AliasOptions{})
	require.NoError(t, err)
	_, err = c.CreateReference(ctx, "myorg", "prod", api.Reference{Name: "gateway-keystore-ref", ResourceType: api.ResourceTypeKeyStore, Refers: "gateway-keystore"})
	require.NoError(t, err)
	_, err = c.CreateReference(ctx, "myorg", "prod", api.Reference{Name: "backend-truststore-ref", ResourceType: api.ResourceTypeTrustStore, Refers: "backend-truststore"})
	require.NoError(t, err)

	deploy := func(name string, oldNew ...string) *api.Deployment {
		files := testzip.Tree(t, "../../examples/mtls-programmable-proxy")
		for p, content := range files {
			files[p] = strings.NewReplacer(oldNew...).Replace(content)
		}
		rev, err := c.ImportApiProxy(ctx, "myorg", name, testzip.Files(t, files))
		require.NoError(t, err)
		d, err := c.DeployApiProxy(ctx, "myorg", "prod", name, 1, api.DeployOptions{})
		require.NoError(t, err)
		require.Equal(t, "1", rev.Revision)
		deadline := time.Now().Add(30 * time.Second)
		for d.State == api.DeploymentStateProgressing {
			require.True(t, time.Now().Before(deadline), "deployment of %s still PROGRESSING", name)
			time.Sleep(50 * time.Millisecond)
			d, err = c.GetApiProxyDeployment(ctx, "myorg", "prod", name, 1)
			require.NoError(t, err)
		}
		return d
	}
	require.Equal(t, api.DeploymentStateReady, deploy("mtls-proxy").State)
	require.Equal(t, api.DeploymentStateError, deploy("broken", "/mtls-proxy", "/broken", "ref://gateway-keystore-ref", "does-not-exist").State)
	return srv
}

// TestConsole_ProxyEnvironmentShowsItsProxyDeployments: the deployments
// page of a PROXY environment lists its API proxy deployments, the READY
// one live and the failed one with its error word for word, and offers no
// archive upload, which such an environment refuses.
func TestConsole_ProxyEnvironmentShowsItsProxyDeployments(t *testing.T) {
	t.Parallel()
	srv := proxyFixture(t)
	b := newBrowser(t, srv.URL)
	b.signIn(srv.Token)

	p := b.get(prod + "/archiveDeployments")

	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "<h1>API proxy deployments</h1>")
	require.Contains(t, p.Body, `aria-current="page">Deployments</a>`)
	require.Regexp(t, `<tr data-proxy="mtls-proxy" data-revision="1" class="live-row">\s*<td class="mono">mtls-proxy <span class="tag live">live</span></td>\s*<td>1</td>\s*<td class="mono">/mtls-proxy</td>`, p.Body)
	require.Regexp(t, `<tr data-proxy="broken" data-revision="1">\s*<td class="mono">broken</td>\s*<td>1</td>\s*<td class="mono">/broken</td>`, p.Body)
	require.Contains(t, p.text(), `<span class="status expired">Failed</span> <pre class="message">`+brokenProxyFailure+`</pre>`)
	require.NotContains(t, p.Body, `id="deploy-form"`)
	require.NotContains(t, p.Body, `http-equiv="refresh"`, "nothing is PROGRESSING")
}

// TestBrowser_ProxyDeploymentsPage reads the PROXY environment's
// deployments in chromium: the failed deployment's message as a person
// sees it, and every field labelled.
func TestBrowser_ProxyDeploymentsPage(t *testing.T) {
	t.Parallel()
	srv := proxyFixture(t)
	b := newTab(t)
	b.do(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), srv.Token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/environments/prod/keystores"]`)))

	b.do(chromedp.Navigate(srv.URL+prod+"/archiveDeployments"), chromedp.WaitVisible(chromedp.CSS(`table.proxy-deployments pre.message`)))

	require.Equal(t, "API proxy deployments", b.text(`main h1`))
	require.Equal(t, brokenProxyFailure, b.text(`tr[data-proxy="broken"] pre.message`))
	require.Equal(t, "Ready", b.text(`tr[data-proxy="mtls-proxy"] .status`))
	require.Equal(t, 2, b.count(`table.proxy-deployments tbody tr`))
	require.Empty(t, b.unlabelled())
}

package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

const (
	orgPath = "/v1/organizations/myorg"
	// proxyEnvPath is envPath: environment dev, of deploymentType PROXY in
	// these tests.
	proxyEnvPath = envPath
)

// proxySetup starts a server with organization myorg, its PROXY
// environment dev holding mtlsSetup's TLS material, and its ARCHIVE
// environment arc.
func proxySetup(t *testing.T) *testBundle {
	t.Helper()
	b := setup(t)
	b.srv.CreateEnvironments(t, "myorg",
		api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeProxy, APIProxyType: api.ProxyTypeProgrammable},
		api.Environment{Name: "arc", DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeProgrammable})
	mtlsMaterial(t, b)
	return b
}

// proxyBundle is the zip of an apiproxy/ folder whose proxy endpoint
// serves basePath and routes to target endpoint "default", which reaches
// target (a URL or "server:NAME" for a target server) with the SSLInfo
// elements ssl (none when empty).
func proxyBundle(t *testing.T, basePath, target, ssl string) []byte {
	t.Helper()
	conn := "<URL>" + target + "</URL>"
	if name, ok := strings.CutPrefix(target, "server:"); ok {
		conn = `<LoadBalancer><Server name="` + name + `"/></LoadBalancer><Path>/</Path>`
	}
	if ssl != "" {
		conn = "<SSLInfo>" + ssl + "</SSLInfo>" + conn
	}
	return testzip.ProxyBundle(t, basePath, conn)
}

// mtlsSSL is SSLInfo that presents my_alias through the keystore reference
// and trusts the CA through the truststore reference.
const mtlsSSL = `<Enabled>true</Enabled><ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>ref://mtls-keystore-ref</KeyStore><KeyAlias>my_alias</KeyAlias><TrustStore>ref://mtls-truststore-ref</TrustStore>`

// importBundle imports zipBytes as API proxy name, as the multipart part
// "file", and returns the revision.
func (b *testBundle) importBundle(t *testing.T, name string, zipBytes []byte) api.ApiProxyRevision {
	t.Helper()
	ct, body := zipPart(t, "file", zipBytes)
	r := b.c.send("POST", orgPath+"/apis?name="+name+"&action=import", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	return decode[api.ApiProxyRevision](t, r.Body)
}

func zipPart(t *testing.T, part string, zipBytes []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile(part, "bundle.zip")
	require.NoError(t, err)
	_, err = fw.Write(zipBytes)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

// deployProxy deploys a revision to environment dev and waits until it is
// READY or ERROR.
func (b *testBundle) deployProxy(t *testing.T, name, rev, query string) api.Deployment {
	t.Helper()
	path := proxyEnvPath + "/apis/" + name + "/revisions/" + rev + "/deployments"
	d := decode[api.Deployment](t, b.c.ok("POST", path+query, ""))
	require.Equal(t, api.DeploymentStateProgressing, d.State)
	return b.waitProxy(t, name, rev)
}

// waitProxy polls a deployment until it is no longer PROGRESSING.
func (b *testBundle) waitProxy(t *testing.T, name, rev string) api.Deployment {
	t.Helper()
	path := proxyEnvPath + "/apis/" + name + "/revisions/" + rev + "/deployments"
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := decode[api.Deployment](t, b.c.ok("GET", path, ""))
		if d.State != api.DeploymentStateProgressing {
			return d
		}
		require.True(t, time.Now().Before(deadline), "deployment of %s revision %s did not settle", name, rev)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProxies_ImportListDescribeDownloadDelete(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	bundle := proxyBundle(t, "/hello", "https://backend.example.com", "")

	rev := b.importBundle(t, "hello", bundle)
	require.Equal(t, "hello", rev.Name)
	require.Equal(t, "1", rev.Revision)
	require.Equal(t, []string{"/hello"}, rev.Basepaths)
	require.Equal(t, []string{"default"}, rev.ProxyEndpoints)
	require.Equal(t, []string{"default"}, rev.TargetEndpoints)
	require.Equal(t, []string{"AM-hello"}, rev.Policies)
	require.Equal(t, []string{"jsc://hello.js"}, rev.Resources)
	require.Equal(t, "Application", rev.Type)
	require.NotZero(t, rev.CreatedAt)

	// apigeecli's part name, the raw zip, and the official client's
	// google.api.HttpBody all import the next revision.
	ct, body := zipPart(t, "proxy", bundle)
	r := b.c.send("POST", orgPath+"/apis?name=hello&action=import", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "2", decode[api.ApiProxyRevision](t, r.Body).Revision)
	r = b.c.send("POST", orgPath+"/apis?action=import&name=hello", "application/octet-stream", bundle)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "3", decode[api.ApiProxyRevision](t, r.Body).Revision)
	wrapped, err := json.Marshal(map[string]string{"contentType": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(bundle)})
	require.NoError(t, err)
	r = b.c.send("POST", orgPath+"/apis?action=import&name=hello", "application/json", wrapped)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "4", decode[api.ApiProxyRevision](t, r.Body).Revision)

	// action=validate checks and stores nothing.
	r = b.c.send("POST", orgPath+"/apis?action=validate&name=other", "application/octet-stream", bundle)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Empty(t, decode[api.ApiProxyRevision](t, r.Body).Revision)
	b.c.fails("GET", orgPath+"/apis/other", "", 404, "NOT_FOUND", `API proxy "organizations/myorg/apis/other" not found`)

	list := decode[map[string]any](t, b.c.ok("GET", orgPath+"/apis", ""))
	require.Equal(t, map[string]any{"proxies": []any{map[string]any{"name": "hello", "latestRevisionId": "4", "apiProxyType": "PROGRAMMABLE"}}}, list)
	withRevs := decode[api.ListApiProxiesResponse](t, b.c.ok("GET", orgPath+"/apis?includeRevisions=true", ""))
	require.Equal(t, []string{"1", "2", "3", "4"}, withRevs.Proxies[0].Revision)

	p := decode[api.ApiProxy](t, b.c.ok("GET", orgPath+"/apis/hello", ""))
	require.Equal(t, []string{"1", "2", "3", "4"}, p.Revision)
	require.Equal(t, "4", p.LatestRevisionID)
	require.NotZero(t, p.MetaData.CreatedAt)
	require.Equal(t, []string{"1", "2", "3", "4"}, decode[[]string](t, b.c.ok("GET", orgPath+"/apis/hello/revisions", "")))

	got := decode[api.ApiProxyRevision](t, b.c.ok("GET", orgPath+"/apis/hello/revisions/2", ""))
	require.Equal(t, "2", got.Revision)
	require.Equal(t, []string{"/hello"}, got.Basepaths)
	r = b.c.send("GET", orgPath+"/apis/hello/revisions/2?format=bundle", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "application/zip", r.Header.Get("Content-Type"))
	require.Equal(t, bundle, r.Body, "the bundle downloads as it was imported")
	wrappedDownload := decode[map[string]string](t, b.c.ok("GET", orgPath+"/apis/hello/revisions/2?format=bundle&alt=json", ""))
	require.Equal(t, "application/zip", wrappedDownload["contentType"])
	require.Equal(t, base64.StdEncoding.EncodeToString(bundle), wrappedDownload["data"], "alt=json wraps it in a google.api.HttpBody")
	b.c.fails("GET", orgPath+"/apis/hello/revisions/2?format=xml", "", 400, "INVALID_ARGUMENT", `format "xml" is not supported: use format=bundle to download the zip, or no format`)
	b.c.fails("GET", orgPath+"/apis/hello/revisions/0", "", 400, "INVALID_ARGUMENT", `revision "0" is invalid: a revision is a positive number`)
	b.c.fails("GET", orgPath+"/apis/hello/revisions/9", "", 404, "NOT_FOUND", `revision "organizations/myorg/apis/hello/revisions/9" not found`)

	require.Equal(t, "4", decode[api.ApiProxyRevision](t, b.c.ok("DELETE", orgPath+"/apis/hello/revisions/4", "")).Revision)
	require.Equal(t, "5", b.importBundle(t, "hello", bundle).Revision, "a deleted revision's number is not given again")
	require.Equal(t, "hello", decode[api.ApiProxy](t, b.c.ok("DELETE", orgPath+"/apis/hello", "")).Name)
	b.c.fails("GET", orgPath+"/apis/hello/revisions", "", 404, "NOT_FOUND", `API proxy "organizations/myorg/apis/hello" not found`)
	require.Equal(t, `{"proxies":[]}`, compact(t, b.c.ok("GET", orgPath+"/apis", "")))
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

// Bad bundles are refused with the file, line and column, or the unsafe
// entry, and store nothing.
func TestProxies_ImportRefusesBadAndHostileBundles(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	refused := func(name string, zipBytes []byte, status int, want string) {
		t.Helper()
		r := b.c.send("POST", orgPath+"/apis?action=import&name="+name, "application/octet-stream", zipBytes)
		require.Equal(t, status, requireErrorStatus(t, r), string(r.Body))
		require.Equal(t, want, r.errorBody(t).Message)
	}
	good := proxyBundle(t, "/hello", "https://backend.example.com", "")

	refused("hello", testzip.Files(t, map[string]string{
		"apiproxy/proxies/default.xml": "<ProxyEndpoint name=\"default\">\n  <HTTPProxyConnection>\n    <BasePath>/x</Base>\n</ProxyEndpoint>",
	}), 400, "generic::invalid_argument: apiproxy/proxies/default.xml:3:24: element <BasePath> closed by </Base>")
	refused("hello", testzip.Files(t, map[string]string{
		"apiproxy/proxies/default.xml": `<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>/x</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>missing</TargetEndpoint></RouteRule></ProxyEndpoint>`,
	}), 400, `generic::invalid_argument: apiproxy/proxies/default.xml:1:117: <RouteRule> "r" names target endpoint "missing", which no file in apiproxy/targets/ defines`)
	refused("hello", testzip.Files(t, map[string]string{"hello/apiproxy/proxies/default.xml": "<ProxyEndpoint/>"}), 400,
		`generic::invalid_argument: bundle has no apiproxy/ folder (every entry is inside the folder "hello/": zip the apiproxy folder itself)`)
	refused("hello", testzip.Files(t, map[string]string{"apiproxy/hello.xml": "<APIProxy/>"}), 400,
		"generic::invalid_argument: bundle defines no proxy endpoint: expected apiproxy/proxies/*.xml")
	refused("hello", []byte("not a zip"), 400, "generic::invalid_argument: archive is not a valid zip file: zip: not a valid zip file")
	refused("hello", rawZip(t, [2]string{"apiproxy/proxies/default.xml", "<ProxyEndpoint/>"}, [2]string{"../evil", "x"}), 400,
		`generic::invalid_argument: archive entry "../evil" contains a ".." path segment`)
	refused("hello", testzip.Overlapping(257, 1<<20), 400,
		`generic::invalid_argument: archive unpacks to more than the limit of 268435456 bytes (at entry "src/k256.bin")`)
	refused("bad%20name%21", good, 400, `name "bad name!" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

	// Over the upload limit of archives, announced or not.
	big := bytes.Repeat([]byte{0}, 64<<20+1)
	refused("hello", big, 413, "bundle exceeds the upload limit of 64 MiB")
	ct, body := zipPart(t, "file", big)
	refused("hello", body[:0], 400, "the bundle is empty: send the zipped apiproxy/ folder as the multipart part \"file\" or as the request body")
	r := b.c.send("POST", orgPath+"/apis?action=import&name=hello", ct, body)
	require.Equal(t, 413, r.Status)
	require.Equal(t, "bundle exceeds the upload limit of 64 MiB", r.errorBody(t).Message)

	b.c.fails("POST", orgPath+"/apis?action=deploy&name=hello", "", 400, "INVALID_ARGUMENT",
		`action "deploy" is not supported: use action=import to import a zipped apiproxy/ bundle, or action=validate to check one`)
	b.c.fails("POST", orgPath+"/apis?action=import", "", 400, "INVALID_ARGUMENT", "name is required: the name of the API proxy")
	require.Equal(t, `{"proxies":[]}`, compact(t, b.c.ok("GET", orgPath+"/apis", "")), "nothing was stored")
	require.Equal(t, "1", b.importBundle(t, "hello", good).Revision)
}

func requireErrorStatus(t *testing.T, r *response) int {
	t.Helper()
	e := r.errorBody(t)
	require.Equal(t, r.Status, e.Code)
	return r.Status
}

// A deployment is PROGRESSING, then READY, listed under the environment,
// the proxy and the revision.
func TestProxies_DeployBecomesReady(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	b.importBundle(t, "hello", proxyBundle(t, "/hello", "https://backend.example.com", mtlsSSL))

	d := b.deployProxy(t, "hello", "1", "?override=false&sequencedRollout=true")
	require.Equal(t, api.DeploymentStateReady, d.State, "%+v", d.Errors)
	require.Empty(t, d.Errors)
	require.Equal(t, "dev", d.Environment)
	require.Equal(t, "hello", d.APIProxy)
	require.Equal(t, "1", d.Revision)
	require.Equal(t, "/hello", d.BasePath)
	require.NotZero(t, d.DeployStartTime)

	for _, path := range []string{proxyEnvPath + "/deployments", proxyEnvPath + "/apis/hello/deployments", orgPath + "/apis/hello/deployments", orgPath + "/apis/hello/revisions/1/deployments"} {
		list := decode[api.ListDeploymentsResponse](t, b.c.ok("GET", path, ""))
		require.Len(t, list.Deployments, 1, path)
		require.Equal(t, d, list.Deployments[0], path)
	}
	require.Equal(t, `{"deployments":[]}`, compact(t, b.c.ok("GET", proxyEnvPath+"/deployments?sharedFlows=true", "")))
	b.c.fails("POST", proxyEnvPath+"/apis/hello/revisions/1/deployments", "", 400, "FAILED_PRECONDITION",
		`revision 1 of API proxy "hello" is already deployed to environment "dev" (state READY)`)
	b.c.fails("GET", proxyEnvPath+"/apis/hello/revisions/2/deployments", "", 404, "NOT_FOUND",
		`revision 2 of API proxy "hello" is not deployed to environment "organizations/myorg/environments/dev"`)
	b.c.fails("POST", proxyEnvPath+"/apis/hello/revisions/2/deployments", "", 404, "NOT_FOUND",
		`revision "organizations/myorg/apis/hello/revisions/2" not found`)

	// Deployed revisions and proxies cannot be deleted.
	b.c.fails("DELETE", orgPath+"/apis/hello/revisions/1", "", 400, "FAILED_PRECONDITION",
		`revision "organizations/myorg/apis/hello/revisions/1" cannot be deleted: it is deployed ("organizations/myorg/environments/dev/apis/hello/revisions/1/deployments"); undeploy it first`)
	b.c.fails("DELETE", orgPath+"/apis/hello", "", 400, "FAILED_PRECONDITION",
		`API proxy "organizations/myorg/apis/hello" cannot be deleted: it is deployed ("organizations/myorg/environments/dev/apis/hello/revisions/1/deployments"); undeploy it first`)

	require.Equal(t, "{}", compact(t, b.c.ok("DELETE", proxyEnvPath+"/apis/hello/revisions/1/deployments", "")))
	require.Equal(t, `{"deployments":[]}`, compact(t, b.c.ok("GET", proxyEnvPath+"/deployments", "")))
	b.c.ok("DELETE", orgPath+"/apis/hello", "")
}

// Proxy deployments need a PROXY environment; archive deployments keep
// refusing PROXY environments.
func TestProxies_EnvironmentTypesAreKeptApart(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	b.importBundle(t, "hello", proxyBundle(t, "/hello", "https://backend.example.com", ""))
	b.c.fails("POST", orgPath+"/environments/arc/apis/hello/revisions/1/deployments", "", 400, "FAILED_PRECONDITION",
		`environment "organizations/myorg/environments/arc" has deploymentType ARCHIVE; API proxy deployments need an environment of deploymentType PROXY`)
	b.c.fails("POST", proxyEnvPath+"/archiveDeployments:generateUploadUrl", "{}", 400, "FAILED_PRECONDITION",
		`environment "organizations/myorg/environments/dev" has deploymentType PROXY; archive deployments need an environment of deploymentType ARCHIVE`)
	b.c.fails("POST", orgPath+"/environments/nope/apis/hello/revisions/1/deployments", "", 404, "NOT_FOUND",
		`environment "organizations/myorg/environments/nope" not found`)
}

// A TargetEndpoint's SSLInfo, and the target servers it names, are checked
// by the archive validator: the deployment is ERROR with its messages.
func TestProxies_InvalidTLSIsAnError(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	for i, c := range []struct {
		target, ssl string
		want        string
	}{
		{"https://backend.example.com", `<Enabled>true</Enabled><ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>does-not-exist</KeyStore><KeyAlias>my_alias</KeyAlias>`,
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/1" contains invalid TLS settings in target endpoint "default": missing required private key for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""; missing required certificate(s) for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""`},
		{"https://backend.example.com", `<Enabled>true</Enabled><ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>ref://mtls-keystore-ref</KeyStore><KeyAlias>cert_only</KeyAlias>`,
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/2" contains invalid TLS settings in target endpoint "default": missing required private key for "alias \"organizations/myorg/environments/dev/keystores/mtls-keystore/aliases/cert_only\""`},
		{"https://backend.example.com", `<Enabled>true</Enabled><TrustStore>does-not-exist</TrustStore>`,
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/3" contains invalid TLS settings in target endpoint "default": missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`},
		{"https://backend.example.com", `<Enabled>true</Enabled><TrustStore>expired-keystore</TrustStore>`,
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/4" contains invalid TLS settings in target endpoint "default": truststore "organizations/myorg/environments/dev/keystores/expired-keystore" contains an invalid certificate within alias "organizations/myorg/environments/dev/keystores/expired-keystore/aliases/expired": certificate has expired`},
		{"server:mtlstarget-docs", "",
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/5" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/emptied"`},
		{"server:nope", "",
			`generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/6" contains reference(s) to invalid target server(s): target server "nope" does not exist`},
	} {
		if i == 4 {
			// A target server valid when created, whose truststore was
			// emptied since.
			b.c.ok("POST", proxyEnvPath+"/keystores", `{"name":"emptied"}`)
			b.uploadAlias(t, "emptied", "ca", false, testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true}))
			b.c.ok("POST", proxyEnvPath+"/targetservers", `{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"trustStore":"emptied"}}`)
			b.c.ok("DELETE", proxyEnvPath+"/keystores/emptied/aliases/ca", "")
		}
		rev := b.importBundle(t, "hello", proxyBundle(t, "/hello", c.target, c.ssl)).Revision
		d := b.deployProxy(t, "hello", rev, "")
		require.Equal(t, api.DeploymentStateError, d.State, "case %d", i)
		require.Equal(t, []api.RPCStatus{{Code: 3, Message: c.want}}, d.Errors, "case %d", i)
		// An ERROR deployment serves nothing and holds nothing: it is
		// undeployed so that the next revision deploys without override.
		b.c.ok("DELETE", proxyEnvPath+"/apis/hello/revisions/"+rev+"/deployments", "")
	}

	// Deployed again once the material exists, the same revision is READY.
	rev := b.importBundle(t, "hello", proxyBundle(t, "/hello", "https://backend.example.com", `<Enabled>true</Enabled><TrustStore>fresh</TrustStore>`)).Revision
	require.Equal(t, api.DeploymentStateError, b.deployProxy(t, "hello", rev, "").State)
	b.c.ok("POST", proxyEnvPath+"/keystores", `{"name":"fresh"}`)
	ca := testcerts.New(t, testcerts.Options{CommonName: "fresh-ca", IsCA: true})
	b.uploadAlias(t, "fresh", "ca", false, ca)
	d := b.deployProxy(t, "hello", rev, "")
	require.Equal(t, api.DeploymentStateReady, d.State, "%+v", d.Errors)
	require.Empty(t, d.Errors)
}

// Revisions replace each other only with override; a base path served by
// another proxy fails naming both, unless override replaces that proxy.
func TestProxies_OverrideAndBasePathConflicts(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	b.importBundle(t, "hello", proxyBundle(t, "/hello", "https://backend.example.com", ""))
	b.importBundle(t, "hello", proxyBundle(t, "/hello", "https://backend.example.com", ""))
	require.JSONEq(t, `{"validationErrors":{"violations":[]},"routingChanges":[{
		"description":"base path \"/hello\" will be served by revision 1 of API proxy \"hello\"",
		"toDeployment":{"apiProxy":"hello","basepath":"/hello","environment":"dev","revision":"1"}}]}`,
		string(b.c.ok("POST", proxyEnvPath+"/apis/hello/revisions/1/deployments:generateDeployChangeReport", "")))
	require.Equal(t, api.DeploymentStateReady, b.deployProxy(t, "hello", "1", "").State)
	b.c.fails("POST", proxyEnvPath+"/apis/hello/revisions/2/deployments", "", 400, "FAILED_PRECONDITION",
		`revision 1 of API proxy "hello" is already deployed to environment "dev"; deploy with override=true to replace it`)
	require.Equal(t, api.DeploymentStateReady, b.deployProxy(t, "hello", "2", "?override=true").State)
	list := decode[api.ListDeploymentsResponse](t, b.c.ok("GET", proxyEnvPath+"/apis/hello/deployments", ""))
	require.Len(t, list.Deployments, 1)
	require.Equal(t, "2", list.Deployments[0].Revision, "revision 2 replaced revision 1")

	b.importBundle(t, "other", proxyBundle(t, "/hello", "https://backend.example.com", ""))
	// The change report (apigeecli's safe deploy) tells the conflict
	// before deploying, and what override would do.
	report := proxyEnvPath + "/apis/other/revisions/1/deployments:generateDeployChangeReport"
	require.JSONEq(t, `{"validationErrors":{"violations":[]},"routingConflicts":[{
		"description":"base path \"/hello\" is already served by revision 2 of API proxy \"hello\"; deploy with override=true to replace it",
		"conflictingDeployment":{"apiProxy":"hello","basepath":"/hello","environment":"dev","revision":"2"}}]}`, string(b.c.ok("POST", report, "")))
	require.JSONEq(t, `{"validationErrors":{"violations":[]},"routingChanges":[{
		"description":"base path \"/hello\" will move from revision 2 of API proxy \"hello\" to revision 1 of API proxy \"other\"",
		"fromDeployment":{"apiProxy":"hello","basepath":"/hello","environment":"dev","revision":"2"},
		"toDeployment":{"apiProxy":"other","basepath":"/hello","environment":"dev","revision":"1"}}]}`, string(b.c.ok("POST", report+"?override=true", "")))
	require.JSONEq(t, `{"validationErrors":{"violations":[]},"routingChanges":[{
		"description":"base path \"/hello\" will no longer be served",
		"fromDeployment":{"apiProxy":"hello","basepath":"/hello","environment":"dev","revision":"2"}}]}`,
		string(b.c.ok("POST", proxyEnvPath+"/apis/hello/revisions/2/deployments:generateUndeployChangeReport", "")))
	d := b.deployProxy(t, "other", "1", "")
	require.Equal(t, api.DeploymentStateError, d.State)
	require.Equal(t, []api.RPCStatus{{Code: 3, Message: `generic::invalid_argument: base path "/hello" of proxy "organizations/myorg/apis/other/revisions/1" is already served by proxy "organizations/myorg/apis/hello/revisions/2" in environment "organizations/myorg/environments/dev"; undeploy it, or deploy with override=true to replace it`}}, d.Errors)
	b.c.ok("DELETE", proxyEnvPath+"/apis/other/revisions/1/deployments", "")

	require.Equal(t, api.DeploymentStateReady, b.deployProxy(t, "other", "1", "?override=true").State)
	list = decode[api.ListDeploymentsResponse](t, b.c.ok("GET", proxyEnvPath+"/deployments", ""))
	require.Len(t, list.Deployments, 1)
	require.Equal(t, "other", list.Deployments[0].APIProxy, "other took over /hello")

	// Each validation is counted as an operation of its own type.
	fams := scrape(t, b.srv)
	for outcome, n := range map[string]float64{"succeeded": 3, "failed": 1, "interrupted": 0} {
		labels := map[string]string{"type": "proxy_deploy", "outcome": outcome}
		require.Equal(t, n, metric(t, fams, "keyplane_operations_total", labels).GetCounter().GetValue(), "%v", labels)
	}
}

// What a READY deployment uses cannot be deleted, naming the deployment;
// once it is undeployed, it can.
func TestProxies_InUseMeansInUse(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	b.c.ok("POST", proxyEnvPath+"/keystores", `{"name":"direct"}`)
	b.uploadAlias(t, "direct", "ca", false, testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true}))
	b.c.ok("POST", proxyEnvPath+"/targetservers", `{"name":"backend","host":"backend.example.com","port":443,"sSLInfo":{"enabled":true,"trustStore":"direct"}}`)
	b.importBundle(t, "hello", proxyBundle(t, "/hello", "server:backend", mtlsSSL))
	require.Equal(t, api.DeploymentStateReady, b.deployProxy(t, "hello", "1", "").State)

	const by = `is used by the deployment "organizations/myorg/environments/dev/apis/hello/revisions/1/deployments"; undeploy it or deploy a revision that does not use it first`
	b.c.fails("DELETE", proxyEnvPath+"/keystores/mtls-keystore/aliases/my_alias", "", 400, "FAILED_PRECONDITION", `alias "my_alias" of keystore "mtls-keystore" `+by)
	b.c.fails("DELETE", proxyEnvPath+"/keystores/direct", "", 400, "FAILED_PRECONDITION", `keystore "direct" `+by)
	b.c.fails("DELETE", proxyEnvPath+"/keystores/direct/aliases/ca", "", 400, "FAILED_PRECONDITION", `alias "ca" of keystore "direct" `+by)
	b.c.fails("DELETE", proxyEnvPath+"/references/mtls-keystore-ref", "", 400, "FAILED_PRECONDITION", `reference "mtls-keystore-ref" `+by)
	b.c.fails("DELETE", proxyEnvPath+"/targetservers/backend", "", 400, "FAILED_PRECONDITION", `target server "backend" `+by)
	// What it does not use goes.
	b.c.ok("DELETE", proxyEnvPath+"/keystores/mtls-keystore/aliases/cert_only", "")

	b.c.ok("DELETE", proxyEnvPath+"/apis/hello/revisions/1/deployments", "")
	b.c.ok("DELETE", proxyEnvPath+"/targetservers/backend", "")
	b.c.ok("DELETE", proxyEnvPath+"/references/mtls-keystore-ref", "")
	b.c.ok("DELETE", proxyEnvPath+"/keystores/mtls-keystore/aliases/my_alias", "")
	b.c.ok("DELETE", proxyEnvPath+"/keystores/direct", "")
}

// Bundles count against the quota of stored archive bytes, as archives do.
func TestProxies_BundlesCountAgainstTheArchiveBytesQuota(t *testing.T) {
	t.Parallel()
	bundle := proxyBundle(t, "/hello", "https://backend.example.com", "")
	b := setupWith(t, servertest.Options{Quotas: deploy.Quotas{ArchiveBytes: int64(len(bundle)) + 10}})
	b.srv.CreateEnvironments(t, "myorg", api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeProxy})
	b.importBundle(t, "hello", bundle)
	r := b.c.send("POST", orgPath+"/apis?action=import&name=hello", "application/octet-stream", bundle)
	require.Equal(t, http.StatusTooManyRequests, r.Status, string(r.Body))
	e := r.errorBody(t)
	require.Equal(t, "RESOURCE_EXHAUSTED", e.Status)
	require.Contains(t, e.Message, `quota exceeded: the archives and API proxy bundles of organization "myorg" would exceed its quota of stored archive bytes`)
	r = b.c.send("POST", orgPath+"/apis?action=validate&name=hello", "application/octet-stream", bundle)
	require.Equal(t, http.StatusOK, r.Status, "validating stores nothing: %s", r.Body)

	b.c.ok("DELETE", orgPath+"/apis/hello/revisions/1", "")
	require.Equal(t, "2", b.importBundle(t, "hello", bundle).Revision, "a deleted revision frees its bytes")
}

package console_test

import (
	"bytes"
	"context"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// fixture is a running server with organization myorg, environment dev
// (archive deployments, programmable proxies) and cfg (configurable
// proxies), keystore ks with alias a (certificate and key, expiring in 9
// days), truststore ts9, reference r, target server t and one failed
// deployment.
type fixture struct {
	srv    *servertest.Server
	admin  *api.Client
	failed *api.Operation
	leaf   *testcerts.Cert
}

// seedFailure is the failed deployment's message, as the API words it.
const seedFailure = `generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""; missing required certificate(s) for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := servertest.Start(t)
	ctx := context.Background()
	c := srv.CreateEnvironments(t, "myorg",
		api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeProgrammable},
		api.Environment{Name: "cfg", DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeConfigurable})
	var err error
	ca := testcerts.New(t, testcerts.Options{CommonName: "Test CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "backend.example.com", Parent: ca, NotAfter: time.Now().Add(9*24*time.Hour + time.Hour), DNSNames: []string{"backend.example.com"}})
	for _, env := range []string{"dev", "cfg"} {
		_, err = c.CreateKeystore(ctx, "myorg", env, "ks")
		require.NoError(t, err)
		_, err = c.CreateAliasFromKeyCert(ctx, "myorg", env, "ks", "a", api.KeyCertFile{Cert: testcerts.Chain(leaf, ca), Key: leaf.KeyPEM(t)}, api.AliasOptions{})
		require.NoError(t, err)
	}
	_, err = c.CreateKeystore(ctx, "myorg", "dev", "ts9")
	require.NoError(t, err)
	_, err = c.CreateAliasFromKeyCert(ctx, "myorg", "dev", "ts9", "ca", api.KeyCertFile{Cert: ca.CertPEM()}, api.AliasOptions{})
	require.NoError(t, err)
	_, err = c.CreateReference(ctx, "myorg", "dev", api.Reference{Name: "r", ResourceType: api.ResourceTypeKeyStore, Refers: "ks"})
	require.NoError(t, err)
	_, err = c.CreateTargetServer(ctx, "myorg", "dev", api.TargetServer{Name: "t", Host: "backend.example.com", Port: 443,
		SSLInfo: &api.TLSInfo{Enabled: true, ClientAuthEnabled: true, KeyStore: "ref://r", KeyAlias: "a", TrustStore: "ts9"}})
	require.NoError(t, err)
	f := &fixture{srv: srv, admin: c, leaf: leaf}
	f.failed = f.deployAndWait(t, failingArchive(t))
	require.NotNil(t, f.failed.Error)
	require.Equal(t, seedFailure, f.failed.Error.Message)
	return f
}

// failingArchive is the seeds' configurable proxy whose target server
// names a keystore that does not exist.
func failingArchive(t *testing.T) []byte {
	return testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/mtls/config.yaml":         "basepath: /mtls\noperations:\n  - name: get\n    http_match: [{path_template: \"/\", method: GET}]\n    target:\n      target_server_id: mtlstarget-docs\n",
		"src/main/apigee/environments/dev/deployments.json":   `{"proxies":[{"name":"mtls"}],"sharedflows":[]}`,
		"src/main/apigee/environments/dev/targetservers.json": `[{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"protocol":"HTTP","sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"does-not-exist","keyAlias":"my_alias"}}]`,
	})
}

func (f *fixture) deployAndWait(t *testing.T, archive []byte) *api.Operation {
	t.Helper()
	ctx := context.Background()
	uri, err := f.admin.GenerateUploadURL(ctx, "myorg", "dev")
	require.NoError(t, err)
	require.NoError(t, f.admin.UploadArchive(ctx, uri, bytes.NewReader(archive)))
	op, err := f.admin.CreateArchiveDeployment(ctx, "myorg", "dev", uri, nil)
	require.NoError(t, err)
	return f.wait(t, op.Name)
}

func (f *fixture) wait(t *testing.T, name string) *api.Operation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		op, err := f.admin.GetOperation(context.Background(), "myorg", name[strings.LastIndex(name, "/")+1:])
		require.NoError(t, err)
		if op.Done {
			return op
		}
		require.True(t, time.Now().Before(deadline), "operation %s not done", name)
		time.Sleep(50 * time.Millisecond)
	}
}

// token issues a token of role in myorg.
func (f *fixture) token(t *testing.T, role string) string {
	t.Helper()
	tok, err := f.admin.CreateToken(context.Background(), "myorg", role, time.Time{})
	require.NoError(t, err)
	return tok.Token
}

// browser is a plain HTTP client with a cookie jar, standing in for a
// browser where a test needs no script.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

// text is the page with HTML entities decoded, to find API messages in.
func (p *page) text() string { return html.UnescapeString(p.Body) }

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.hc.Do(req)
	require.NoError(b.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(b.t, err)
	return &page{Status: res.StatusCode, Header: res.Header, Body: string(body), Location: res.Header.Get("Location")}
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post sends a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// postMultipart sends a multipart form with files.
func (b *browser) postMultipart(path string, fields map[string]string, files map[string][]byte) *page {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(b.t, w.WriteField(k, v))
	}
	for k, v := range files {
		fw, err := w.CreateFormFile(k, k+".bin")
		require.NoError(b.t, err)
		_, err = fw.Write(v)
		require.NoError(b.t, err)
	}
	require.NoError(b.t, w.Close())
	req, err := http.NewRequest("POST", b.base+path, &buf)
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	p := b.post("/console/signin", url.Values{"token": {token}})
	require.Equal(b.t, http.StatusSeeOther, p.Status, p.Body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token off a page.
func (b *browser) csrf() string {
	b.t.Helper()
	p := b.get("/console/organizations/myorg/environments/dev/keystores")
	m := csrfField.FindStringSubmatch(p.Body)
	require.NotNil(b.t, m, "no CSRF token on the page: %s", p.Body)
	return m[1]
}

var timeZero time.Time

// timeAgo is the time the given number of hours ago.
func timeAgo(hours int) time.Time { return time.Now().Add(-time.Duration(hours) * time.Hour) }

// postFolder sends the deploy form with a folder's files, each with its
// path in a "path" field, as the console's script does.
func (b *browser) postFolder(path, csrf string, paths []string, contents [][]byte) *page {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	require.NoError(b.t, w.WriteField("csrf", csrf))
	for i, p := range paths {
		fw, err := w.CreateFormFile("folder", p[strings.LastIndex(p, "/")+1:])
		require.NoError(b.t, err)
		_, err = fw.Write(contents[i])
		require.NoError(b.t, err)
		require.NoError(b.t, w.WriteField("path", p))
	}
	require.NoError(b.t, w.Close())
	req, err := http.NewRequest("POST", b.base+path, &buf)
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

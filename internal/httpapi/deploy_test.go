package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/server"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const envPath = "/v1/organizations/myorg/environments/dev"

// mtlsArchive is the seeds' configurable proxy "mtls" whose operation
// targets target server "mtlstarget-docs" with the given sSLInfo.
func mtlsArchive(t *testing.T, sslInfo string) []byte {
	t.Helper()
	return testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/mtls/config.yaml": `basepath: /mtls
operations:
  - name: get
    http_match: [{path_template: "/", method: GET}]
    target:
      target_server_id: mtlstarget-docs
`,
		"src/main/apigee/environments/dev/deployments.json":   `{"proxies":[{"name":"mtls"}],"sharedflows":[]}`,
		"src/main/apigee/environments/dev/targetservers.json": `[{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"protocol":"HTTP","sSLInfo":` + sslInfo + `}]`,
	})
}

// deploy uploads an archive, creates a deployment and waits for its
// operation to finish.
func (b *testBundle) deploy(t *testing.T, zipBytes []byte) api.Operation {
	t.Helper()
	uri := b.upload(t, zipBytes)
	op := decode[api.Operation](t, b.c.ok("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+uri+`","labels":{"team":"a"}}`))
	require.False(t, op.Done)
	require.Equal(t, api.StateNotStarted, op.Metadata.State)
	return b.wait(t, op.Name)
}

// upload gets an upload URL, uploads an archive to it and returns the URL.
func (b *testBundle) upload(t *testing.T, zipBytes []byte) string {
	t.Helper()
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	require.True(t, strings.HasPrefix(up.UploadURI, b.srv.URL+"/archives/"), up.UploadURI)
	req, err := http.NewRequest("PUT", up.UploadURI, bytes.NewReader(zipBytes))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("x-goog-content-length-range", "0,1073741824")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	return up.UploadURI
}

// wait polls an operation until it is done.
func (b *testBundle) wait(t *testing.T, name string) api.Operation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		op := decode[api.Operation](t, b.c.ok("GET", "/v1/"+name, ""))
		require.Equal(t, op.Done, op.Metadata.State == api.StateFinished, "done and state agree")
		if op.Done {
			return op
		}
		require.True(t, time.Now().Before(deadline), "operation %s did not finish", name)
		time.Sleep(20 * time.Millisecond)
	}
}

// uploadAlias stores an alias of environment dev from certificates (and
// the leaf's key).
func (b *testBundle) uploadAlias(t *testing.T, ks, alias string, withKey bool, chain ...*testcerts.Cert) {
	t.Helper()
	b.uploadAliasIn(t, envPath, ks, alias, withKey, chain...)
}

// uploadAliasIn is uploadAlias in the environment at path env.
func (b *testBundle) uploadAliasIn(t *testing.T, env, ks, alias string, withKey bool, chain ...*testcerts.Cert) {
	t.Helper()
	parts := [][2]string{{"certFile", string(testcerts.Chain(chain...))}}
	if withKey {
		parts = append(parts, [2]string{"keyFile", string(chain[0].KeyPEM(t))})
	}
	ct, body := multipartBody(t, parts...)
	r := b.c.send("POST", env+"/keystores/"+ks+"/aliases?alias="+alias+"&format=keycertfile&ignoreExpiryValidation=true", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
}

// mtlsSetup creates the seeds' TLS material: keystore "mtls-keystore" with
// key alias "my_alias", truststore "mtls-truststore" with the CA, an
// expired truststore and references to them.
func mtlsSetup(t *testing.T) *testBundle {
	t.Helper()
	b := setupEnv(t, "CONFIGURABLE")
	mtlsMaterial(t, b)
	return b
}

// mtlsMaterial creates mtlsSetup's TLS material in environment dev.
func mtlsMaterial(t *testing.T, b *testBundle) {
	t.Helper()
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	gateway := testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: ca})
	expired := testcerts.New(t, testcerts.Options{CommonName: "expired", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for _, ks := range []string{"mtls-keystore", "mtls-truststore", "expired-keystore", "empty-truststore"} {
		b.c.ok("POST", envPath+"/keystores", `{"name":"`+ks+`"}`)
	}
	b.uploadAlias(t, "mtls-keystore", "my_alias", true, gateway, ca)
	b.uploadAlias(t, "mtls-keystore", "cert_only", false, gateway)
	b.uploadAlias(t, "mtls-keystore", "expired_key", true, expired)
	b.uploadAlias(t, "mtls-truststore", "ca", false, ca)
	b.uploadAlias(t, "expired-keystore", "expired", false, expired)
	b.c.ok("POST", envPath+"/references", `{"name":"mtls-keystore-ref","resourceType":"KeyStore","refers":"mtls-keystore"}`)
	b.c.ok("POST", envPath+"/references", `{"name":"mtls-truststore-ref","resourceType":"TrustStore","refers":"mtls-truststore"}`)
}

func TestDeploy_ValidArchiveFinishesWithDeployment(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	op := b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://mtls-keystore-ref","keyAlias":"my_alias","trustStore":"ref://mtls-truststore-ref"}`))
	require.Nil(t, op.Error, "%+v", op.Error)
	require.Equal(t, api.StateFinished, op.Metadata.State)
	resp := decode[map[string]any](t, op.Response)
	require.Equal(t, "type.googleapis.com/google.cloud.apigee.v1.ArchiveDeployment", resp["@type"])
	name := resp["name"].(string)
	require.Regexp(t, `^organizations/myorg/environments/dev/archiveDeployments/[a-z][a-z0-9]{17}$`, name)
	require.Equal(t, name, op.Metadata.TargetResourceName)

	d := decode[api.ArchiveDeployment](t, b.c.ok("GET", "/v1/"+name, ""))
	require.Equal(t, map[string]string{"team": "a"}, d.Labels)
	require.Equal(t, op.Name, d.Operation)
	list := decode[api.ListArchiveDeploymentsResponse](t, b.c.ok("GET", envPath+"/archiveDeployments", ""))
	require.Len(t, list.ArchiveDeployments, 1)

	// What the live deployment uses cannot be deleted from under it.
	b.c.fails("DELETE", envPath+"/keystores/mtls-keystore/aliases/my_alias", "", 400, "FAILED_PRECONDITION",
		`alias "my_alias" of keystore "mtls-keystore" is used by the live deployment "`+name+`"; deploy an archive that does not use it first`)
	b.c.fails("DELETE", envPath+"/references/mtls-truststore-ref", "", 400, "FAILED_PRECONDITION",
		`reference "mtls-truststore-ref" is used by the live deployment "`+name+`"; deploy an archive that does not use it first`)

	// A second deployment of the proxy takes the next revision.
	op2 := b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"does-not-exist","keyAlias":"my_alias"}`))
	require.Contains(t, op2.Error.Message, `proxy "organizations/myorg/apis/mtls/revisions/2"`)

	// Labels can be patched; the archive can be downloaded.
	patched := decode[api.ArchiveDeployment](t, b.c.ok("PATCH", "/v1/"+name+"?updateMask=labels", `{"labels":{"team":"b"}}`))
	require.Equal(t, map[string]string{"team": "b"}, patched.Labels)
	dl := decode[api.GenerateDownloadURLResponse](t, b.c.ok("POST", "/v1/"+name+":generateDownloadUrl", "{}"))
	res, err := http.Get(dl.DownloadURI)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
}

func TestDeploy_InvalidTLSSettings_ReportDocumentedMessages(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	const prefix = `generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: `
	const ks = "organizations/myorg/environments/dev/keystores/"
	for _, tc := range []struct{ name, ssl, want string }{
		{"missing keystore", `{"enabled":true,"clientAuthEnabled":true,"keyStore":"does-not-exist","keyAlias":"my_alias"}`,
			`missing required private key for "alias \"` + ks + `does-not-exist/aliases/my_alias\""; missing required certificate(s) for "alias \"` + ks + `does-not-exist/aliases/my_alias\""`},
		{"missing alias", `{"enabled":true,"clientAuthEnabled":true,"keyStore":"mtls-keystore","keyAlias":"nope"}`,
			`missing required private key for "alias \"` + ks + `mtls-keystore/aliases/nope\""; missing required certificate(s) for "alias \"` + ks + `mtls-keystore/aliases/nope\""`},
		{"certificate-only key alias", `{"enabled":true,"clientAuthEnabled":true,"keyStore":"mtls-keystore","keyAlias":"cert_only"}`,
			`missing required private key for "alias \"` + ks + `mtls-keystore/aliases/cert_only\""`},
		{"missing truststore", `{"enabled":true,"trustStore":"does-not-exist"}`,
			`missing required certificate(s) for truststore "` + ks + `does-not-exist"`},
		{"empty truststore", `{"enabled":true,"trustStore":"empty-truststore"}`,
			`missing required certificate(s) for truststore "` + ks + `empty-truststore"`},
		{"expired truststore certificate", `{"enabled":true,"trustStore":"expired-keystore"}`,
			`truststore "` + ks + `expired-keystore" contains an invalid certificate within alias "` + ks + `expired-keystore/aliases/expired": certificate has expired`},
		{"expired key alias certificate", `{"enabled":true,"clientAuthEnabled":true,"keyStore":"mtls-keystore","keyAlias":"expired_key"}`,
			`keystore "` + ks + `mtls-keystore" contains an invalid certificate within alias "` + ks + `mtls-keystore/aliases/expired_key": certificate has expired`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := b.deploy(t, mtlsArchive(t, tc.ssl))
			require.NotNil(t, op.Error)
			require.Equal(t, 3, op.Error.Code)
			require.Equal(t, prefix+tc.want, op.Error.Message)
			require.Nil(t, op.Response)
		})
	}
}

func TestDeploy_DanglingReferenceAndFlowVariable(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	op := b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://gone","keyAlias":"my_alias"}`))
	require.NotNil(t, op.Error)
	require.Contains(t, op.Error.Message, "organizations/myorg/environments/dev/references/gone")

	op = b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"{ssl.keystore}","keyAlias":"my_alias","trustStore":"mtls-truststore"}`))
	require.Nil(t, op.Error, "%+v", op.Error)
	require.NotEmpty(t, op.Metadata.Warnings)
	require.Contains(t, strings.Join(op.Metadata.Warnings, "\n"), "{ssl.keystore}")
}

func TestDeploy_BrokenArchivesFailTheOperation(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	op := b.deploy(t, []byte("this is not a zip"))
	require.Equal(t, 3, op.Error.Code)
	require.True(t, strings.HasPrefix(op.Error.Message, "generic::invalid_argument: archive is not a valid zip file"), op.Error.Message)

	// The seeds' own targetservers.json, with its trailing comma.
	seed := testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/mtls/config.yaml":       "basepath: /mtls\noperations:\n  - name: get\n    target:\n      target_server_id: mtlstarget-docs\n",
		"src/main/apigee/environments/dev/deployments.json": `{"proxies":["mtls"]}`,
		"src/main/apigee/environments/dev/targetservers.json": `[
  {
    "name": "mtlstarget-docs",
    "host": "mtls.example.com",
    "port": 443,
    "protocol": "HTTP",
    "sSLInfo": {
      "enabled": true,
      "clientAuthEnabled": true,
      "keyStore": "ref://mtls-keystore-ref",
      "keyAlias": "my_alias",
      "trustStore": "ref://mtls-truststore-ref",
    }
  }
]`,
	})
	op = b.deploy(t, seed)
	require.Equal(t, 3, op.Error.Code)
	require.Contains(t, op.Error.Message, "src/main/apigee/environments/dev/targetservers.json:13:5: ")

	op = b.deploy(t, testzip.Files(t, map[string]string{"src/main/apigee/apiproxies/mtls/config.yaml": "basepath: /x\n"}))
	require.Equal(t, 3, op.Error.Code)
	require.Contains(t, op.Error.Message, "src/main/apigee/environments/dev/deployments.json")

	// A RouteRule Condition gateways could not evaluate fails the
	// deployment, not the requests.
	op = b.deploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/legacy/apiproxy/proxies/default.xml": `<ProxyEndpoint name="default">
  <HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection>
  <RouteRule name="broken"><Condition>request.verb = </Condition><TargetEndpoint>default</TargetEndpoint></RouteRule>
</ProxyEndpoint>`,
		"src/main/apigee/apiproxies/legacy/apiproxy/targets/default.xml": `<TargetEndpoint name="default"><HTTPTargetConnection><URL>http://127.0.0.1:1/</URL></HTTPTargetConnection></TargetEndpoint>`,
		"src/main/apigee/environments/dev/deployments.json":              `["legacy"]`,
	}))
	require.Equal(t, 3, op.Error.Code)
	require.Equal(t, `generic::invalid_argument: src/main/apigee/apiproxies/legacy/apiproxy/proxies/default.xml:3:28: <RouteRule> "broken" of proxy "legacy": <Condition> "request.verb =" is invalid at character 15: expected a variable or a value, found the end`, op.Error.Message)
}

func TestUploadURL_ForgedReusedAndUnknownAreRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	put := func(uri string) *http.Response {
		req, err := http.NewRequest("PUT", uri, strings.NewReader("zip bytes"))
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	require.Equal(t, 403, put(up.UploadURI+"x").StatusCode, "forged signature")
	require.Equal(t, 200, put(up.UploadURI).StatusCode)
	require.Equal(t, 400, put(up.UploadURI).StatusCode, "single use")

	b.c.fails("POST", envPath+"/archiveDeployments", `{"gcsUri":"gs://bucket/object.zip"}`, 400, "INVALID_ARGUMENT",
		"gcsUri must be an uploadUri returned by generateUploadUrl")
	// apigeecli's snake_case field is accepted.
	op := decode[api.Operation](t, b.c.ok("POST", envPath+"/archiveDeployments", `{"gcs_uri":"`+up.UploadURI+`"}`))
	require.False(t, op.Done)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b.c.ok("GET", "/v1/"+op.Name, ""), &raw))
}

func TestDeploy_ProgrammableBundleEndpointSSLInfo(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	bundle := func(ssl string) []byte {
		return testzip.Files(t, map[string]string{
			"src/main/apigee/apiproxies/hello/apiproxy/hello.xml": `<APIProxy name="hello"/>`,
			"src/main/apigee/apiproxies/hello/apiproxy/targets/default.xml": `<TargetEndpoint name="default">
  <HTTPTargetConnection>
    <SSLInfo>` + ssl + `</SSLInfo>
    <URL>https://backend.example.com</URL>
  </HTTPTargetConnection>
</TargetEndpoint>`,
			"src/main/apigee/environments/dev/deployments.json": `{"proxies":[{"name":"hello"}],"sharedflows":[]}`,
		})
	}
	op := b.deploy(t, bundle(`<Enabled>true</Enabled><ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>ref://mtls-keystore-ref</KeyStore><KeyAlias>my_alias</KeyAlias><TrustStore>ref://mtls-truststore-ref</TrustStore><Protocols><Protocol>TLSv1.2</Protocol><Protocol>1.3</Protocol></Protocols>`))
	require.Nil(t, op.Error, "%+v", op.Error)

	op = b.deploy(t, bundle(`<Enabled>true</Enabled><TrustStore>expired-keystore</TrustStore><Protocols><Protocol>SSLv9</Protocol></Protocols>`))
	require.NotNil(t, op.Error)
	require.Equal(t, 3, op.Error.Code)
	require.Contains(t, op.Error.Message, `proxy "organizations/myorg/apis/hello/revisions/2" contains invalid TLS settings in target endpoint "default": `)
	require.Contains(t, op.Error.Message, `truststore "organizations/myorg/environments/dev/keystores/expired-keystore" contains an invalid certificate within alias "organizations/myorg/environments/dev/keystores/expired-keystore/aliases/expired": certificate has expired`)
	require.Contains(t, op.Error.Message, `unknown protocol "SSLv9"`)

	// A reference of the wrong kind is an error; an insecure protocol a warning.
	op = b.deploy(t, bundle(`<Enabled>true</Enabled><TrustStore>ref://mtls-keystore-ref</TrustStore>`))
	require.NotNil(t, op.Error)
	require.Contains(t, op.Error.Message, `has resourceType "KeyStore", but trustStore requires "TrustStore"`)
	op = b.deploy(t, bundle(`<Enabled>true</Enabled><TrustStore>mtls-truststore</TrustStore><Protocols><Protocol>TLSv1.1</Protocol></Protocols>`))
	require.Nil(t, op.Error, "%+v", op.Error)
	require.NotEmpty(t, op.Metadata.Warnings)
}

// waitValidated waits until a deployment has validated and is holding its
// transaction open (the server's ValidationDelay): its last statement
// locked the proxies' revision counters, and everything it read is locked.
func waitValidated(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'
			  AND query LIKE '%FROM proxy_revisions WHERE%'`).Scan(&n))
		return n == 1
	}, 20*time.Second, 10*time.Millisecond, "the deployment validates and waits")
}

// waitBlocked waits until some statement of the server waits for a lock.
func waitBlocked(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 20*time.Second, 10*time.Millisecond, "a statement waits for a lock")
}

// operationState reads an operation's state and error straight from the
// database, for when the server is stopped.
func operationState(t *testing.T, conn *pgx.Conn, name string) (state string, code *int) {
	t.Helper()
	id := name[strings.LastIndex(name, "/")+1:]
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT state, error_code FROM operations WHERE uuid = $1`, id).Scan(&state, &code))
	return state, code
}

// TestDeploy_ChangesToWhatADeploymentValidatedWaitForIt changes and deletes,
// while a deployment holds its validation open, everything it validated:
// each change waits until the deployment commits, so deletes see it live
// and are refused, and a certificate replacement lands after it.
func TestDeploy_ChangesToWhatADeploymentValidatedWaitForIt(t *testing.T) {
	t.Parallel()
	b, _ := startConfigured(t, server.Config{ValidationDelay: 2 * time.Second})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"PROGRAMMABLE"}`)
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	client := testcerts.New(t, testcerts.Options{CommonName: "client", Parent: ca})
	b.c.ok("POST", envPath+"/keystores", `{"name":"ks"}`)
	b.c.ok("POST", envPath+"/keystores", `{"name":"trust"}`)
	b.uploadAlias(t, "ks", "key", true, client, ca)
	b.uploadAlias(t, "trust", "ca", false, ca)
	b.c.ok("POST", envPath+"/references", `{"name":"ks-ref","resourceType":"KeyStore","refers":"ks"}`)
	b.c.ok("POST", envPath+"/targetservers", `{"name":"envts","host":"backend.example.com","port":443,
		"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://ks-ref","keyAlias":"key","trustStore":"trust"}}`)

	name := b.c.startDeploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/p/config.yaml":          "basepath: /p\noperations:\n  - name: get\n    target:\n      target_server_id: envts\n",
		"src/main/apigee/environments/dev/deployments.json": `{"proxies":["p"]}`,
	}))
	waitValidated(t, conn)

	newCA := testcerts.New(t, testcerts.Options{CommonName: "new ca", IsCA: true})
	ct, body := multipartBody(t, [2]string{"certFile", string(newCA.CertPEM())})
	deletes := map[string]string{
		"/keystores/ks/aliases/key": `alias "key" of keystore "ks"`,
		"/references/ks-ref":        `reference "ks-ref"`,
		"/keystores/trust":          `keystore "trust"`,
		"/targetservers/envts":      `target server "envts"`,
	}
	answers := map[string]*response{}
	var replacedBeforeDone bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	for path := range deletes {
		wg.Go(func() {
			r := b.c.do("DELETE", envPath+path, "")
			mu.Lock()
			defer mu.Unlock()
			answers[path] = r
		})
	}
	wg.Go(func() {
		r := b.c.send("PUT", envPath+"/keystores/trust/aliases/ca", ct, body)
		op := decode[api.Operation](t, b.c.ok("GET", "/v1/"+name, ""))
		mu.Lock()
		defer mu.Unlock()
		answers["PUT"] = r
		replacedBeforeDone = !op.Done
	})
	wg.Wait()

	op := b.wait(t, name)
	require.Nil(t, op.Error, "%+v", op.Error)
	live := op.Metadata.TargetResourceName
	for path, what := range deletes {
		r := answers[path]
		require.Equal(t, 400, r.Status, "DELETE %s: %s", path, r.Body)
		e := r.errorBody(t)
		require.Equal(t, "FAILED_PRECONDITION", e.Status)
		require.Equal(t, what+` is used by the live deployment "`+live+`"; deploy an archive that does not use it first`, e.Message)
	}
	require.Equal(t, 200, answers["PUT"].Status, string(answers["PUT"].Body))
	require.False(t, replacedBeforeDone, "the certificate the deployment validated was replaced before it committed")

	// The deployment pinned the version it validated; the replacement
	// came after.
	var pinned, current int64
	require.NoError(t, conn.QueryRow(context.Background(), `
		SELECT i.alias_version, a.version FROM deployment_items i JOIN aliases a ON a.id = i.alias_id
		WHERE i.kind = 'alias' AND i.name = 'trust/ca'`).Scan(&pinned, &current))
	require.Equal(t, int64(1), pinned)
	require.Equal(t, int64(2), current)
}

func TestArchiveDeployments_RefusedInProxyEnvironments(t *testing.T) {
	t.Parallel()
	const want = `environment "organizations/myorg/environments/%s" has deploymentType PROXY; archive deployments need an environment of deploymentType ARCHIVE`

	t.Run("generateUploadUrl", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
		b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"prox"}`)
		b.c.fails("POST", "/v1/organizations/myorg/environments/prox/archiveDeployments:generateUploadUrl", "{}", 400, "FAILED_PRECONDITION",
			strings.ReplaceAll(want, "%s", "prox"))
		var n int
		require.NoError(t, b.sql(t).QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
		require.Zero(t, n, "no upload slot is left behind")
		b.c.fails("POST", "/v1/organizations/myorg/environments/nope/archiveDeployments:generateUploadUrl", "{}", 404, "NOT_FOUND",
			`environment "organizations/myorg/environments/nope" not found`)
	})

	t.Run("create", func(t *testing.T) {
		t.Parallel()
		// An upload URL issued while the environment took archives.
		b := setupEnv(t, "PROGRAMMABLE")
		up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
		r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
		require.Equal(t, 200, r.Status, string(r.Body))
		_, err := b.sql(t).Exec(context.Background(), `UPDATE environments SET deployment_type = 'PROXY' WHERE name = 'dev'`)
		require.NoError(t, err)

		b.c.fails("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+up.UploadURI+`"}`, 400, "FAILED_PRECONDITION",
			strings.ReplaceAll(want, "%s", "dev"))
		list := decode[api.ListArchiveDeploymentsResponse](t, b.c.ok("GET", envPath+"/archiveDeployments", ""))
		require.Empty(t, list.ArchiveDeployments)
	})
}

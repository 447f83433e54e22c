package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// exampleProxy is the API proxy bundle that examples/ ships.
const exampleProxy = "../../examples/mtls-programmable-proxy"

// proxySource copies the example proxy's folder into a new folder, with
// each old string of the target endpoint replaced by its new one, and
// returns the folder that holds apiproxy/.
func proxySource(t *testing.T, oldNew ...string) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir(exampleProxy, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(exampleProxy, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		content := string(b)
		if rel == filepath.Join("apiproxy", "targets", "default.xml") {
			content = strings.NewReplacer(oldNew...).Replace(content)
		}
		writeFile(t, dir, filepath.ToSlash(rel), content)
		return nil
	})
	require.NoError(t, err)
	return dir
}

// setupProxyEnv is a real server with organization myorg and a PROXY
// environment prod, the CLI's defaults, holding what the example proxy's
// target endpoint uses: keystore gateway-keystore with key alias gateway,
// truststore backend-truststore, and references to both.
func setupProxyEnv(t *testing.T, opts servertest.Options) *realBundle {
	t.Helper()
	srv := servertest.StartWith(t, opts)
	c := newCLI(t, srv.URL, srv.Token)
	c.ok("organizations", "create", "myorg")
	c.env["KEYPLANE_ORG"] = "myorg"
	c.ok("environments", "create", "prod", "--deployment-type", "PROXY", "--api-proxy-type", "PROGRAMMABLE")
	c.env["KEYPLANE_ENV"] = "prod"
	b := &realBundle{srv: srv, cli: c, dir: t.TempDir()}
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: ca})
	c.ok("keystores", "create", "gateway-keystore")
	c.ok("aliases", "create", "gateway", "--keystore", "gateway-keystore", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "gw.crt", string(leaf.CertPEM())),
		"--key-file", writeFile(t, b.dir, "gw.key", string(leaf.KeyPEM(t))))
	c.ok("keystores", "create", "backend-truststore")
	c.ok("aliases", "create", "ca", "--keystore", "backend-truststore", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "ca.crt", string(ca.CertPEM())))
	c.ok("references", "create", "gateway-keystore-ref", "--refers", "gateway-keystore", "--resource-type", "KeyStore")
	c.ok("references", "create", "backend-truststore-ref", "--refers", "backend-truststore", "--resource-type", "TrustStore")
	return b
}

func TestPackProxy_FromItsParentOrItself_GivesTheSameZip(t *testing.T) {
	t.Parallel()
	dir := proxySource(t)
	writeFile(t, dir, "apiproxy/.DS_Store", "junk")
	writeFile(t, dir, "apiproxy/policies/.git/HEAD", "ref: refs/heads/main")
	writeFile(t, dir, "gateway.key", "-----BEGIN PRIVATE KEY-----")

	fromParent, err := packProxy(dir)
	require.NoError(t, err)
	fromItself, err := packProxy(filepath.Join(dir, "apiproxy"))
	require.NoError(t, err)

	assert.Equal(t, fromParent, fromItself)
	var names []string
	for _, f := range zipEntries(t, fromParent) {
		names = append(names, f.Name)
		assert.True(t, f.Modified.Equal(zipEpoch), "%s has a fixed time, not %v", f.Name, f.Modified)
	}
	assert.Equal(t, []string{"apiproxy/mtls-proxy.xml", "apiproxy/proxies/default.xml", "apiproxy/targets/default.xml"}, names)
}

func TestPackProxy_FolderWithoutApiproxy_IsUsageError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "proxies/default.xml", "<ProxyEndpoint/>")

	_, err := packProxy(dir)

	assert.Equal(t, exitUsage, exitCode(err))
	assert.Equal(t, "--source "+dir+": the folder must contain apiproxy/ (or be an apiproxy folder)", err.Error())

	empty := filepath.Join(t.TempDir(), "apiproxy")
	require.NoError(t, os.Mkdir(empty, 0o755))
	_, err = packProxy(empty)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Equal(t, "--source "+empty+": apiproxy holds no files", err.Error())
}

func TestApis_ImportListDescribeDelete(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	dir := proxySource(t)

	r := c.run("apis", "import", "--name", "mtls-proxy", "--source", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Imported API proxy [mtls-proxy] revision [1].\n", r.stderr)
	rev := fromYAML(t, r.stdout)
	assert.Equal(t, "1", rev["revision"])
	assert.Equal(t, []any{"/mtls-proxy"}, rev["basepaths"])

	// The zip, given as is with --bundle (the --bundle-file of archives).
	zipped, err := packProxy(dir)
	require.NoError(t, err)
	bundle := writeFile(t, b.dir, "mtls-proxy.zip", string(zipped))
	r = c.run("apis", "import", "--name", "mtls-proxy", "--bundle", bundle)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Imported API proxy [mtls-proxy] revision [2].\n", r.stderr)
	c.ok("apis", "import", "--name", "other", "--bundle-file", bundle)

	// The server stored the bytes packProxy makes.
	cl := &api.Client{BaseURL: b.srv.URL, Token: b.srv.Token}
	got, err := cl.DownloadApiProxyRevision(context.Background(), "myorg", "mtls-proxy", 1)
	require.NoError(t, err)
	assert.Equal(t, zipped, got)

	assert.Equal(t, "NAME        REVISIONS\nmtls-proxy  1,2\nother       1\n", c.ok("apis", "list"))
	assert.Contains(t, c.ok("apis", "list", "--format", "json"), `"name": "mtls-proxy"`)

	proxy := fromYAML(t, c.ok("apis", "describe", "mtls-proxy"))
	assert.Equal(t, []any{"1", "2"}, proxy["revision"])
	assert.Equal(t, "2", proxy["latestRevisionId"])
	rev = fromYAML(t, c.ok("apis", "describe", "mtls-proxy", "--rev", "1"))
	assert.Equal(t, []any{"default"}, rev["targetEndpoints"])

	r = c.run("apis", "delete", "mtls-proxy", "--rev", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted API proxy revision [mtls-proxy revision 1].\n", r.stderr)
	assert.Empty(t, r.stdout)
	r = c.run("apis", "describe", "mtls-proxy", "--rev", "1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not found")

	r = c.run("apis", "delete", "other", "--format", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted API proxy [other].\n", r.stderr)
	assert.Contains(t, r.stdout, `"name": "other"`)
	assert.Equal(t, "NAME        REVISIONS\nmtls-proxy  2\n", c.ok("apis", "list"))
}

// A bundle the server refuses is refused with its file, line and column,
// and --validate-only checks without storing.
func TestApisImport_BadBundle_NamesTheFile_ValidateOnlyStoresNothing(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	bad := proxySource(t, "<URL>https://localhost:9443</URL>", "<URL>https://localhost:9443</URL>\n  </HTTPTargetConnection")

	r := c.run("apis", "import", "--name", "mtls-proxy", "--source", bad)

	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Regexp(t, `^ERROR: .*apiproxy/targets/default\.xml:\d+:\d+: `, r.stderr)

	r = c.run("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t), "--validate-only")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Bundle of API proxy [mtls-proxy] is valid.\n", r.stderr)
	assert.Equal(t, "NAME  REVISIONS\n", c.ok("apis", "list"))
}

func TestApisDeploy_Ready_PrintsTheWaitingLine(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))

	// Without --rev, the latest revision.
	r := c.run("apis", "deploy", "mtls-proxy")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Waiting for deployment of [mtls-proxy] revision [1] to environment [prod] to complete...done.\n", r.stderr)
	assert.Empty(t, r.stdout)
	assert.Regexp(t, `^API\s+REVISION\s+ENVIRONMENT\s+STATE\s+BASE PATH\s+DEPLOYED\nmtls-proxy\s+1\s+prod\s+READY\s+/mtls-proxy\s+\d{4}-\d\d-\d\dT\S+Z\n$`,
		c.ok("apis", "deployments", "list"))
	d := fromYAML(t, c.ok("apis", "deployments", "describe", "mtls-proxy"))
	assert.Equal(t, "READY", d["state"])
	assert.Equal(t, "1", d["revision"])

	// A second revision replaces the first with --override, and --format
	// prints the deployment.
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))
	out := c.ok("apis", "deploy", "mtls-proxy", "--rev", "2", "--override", "--format", "json")
	assert.Contains(t, out, `"state": "READY"`)
	assert.Contains(t, out, `"revision": "2"`)
	assert.Regexp(t, `\nmtls-proxy\s+2\s+prod\s+READY\s`, c.ok("apis", "deployments", "list"))

	// Undeploy takes the deployed revision when --rev is not given.
	r = c.run("apis", "undeploy", "mtls-proxy")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Undeployed API proxy [mtls-proxy] revision [2] from environment [prod].\n", r.stderr)
	assert.Equal(t, "API  REVISION  ENVIRONMENT  STATE  BASE PATH  DEPLOYED\n", c.ok("apis", "deployments", "list"))
	r = c.run("apis", "undeploy", "mtls-proxy")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: API proxy \"mtls-proxy\" is not deployed to environment \"prod\"\n", r.stderr)
}

// With --async the command returns once the deployment is accepted,
// saying which command follows it; with --format it prints the deployment
// as accepted.
func TestApisDeploy_Async_SaysHowToFollowIt(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))

	r := c.run("apis", "deploy", "mtls-proxy", "--async", "--format", "json")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deploying API proxy [mtls-proxy] revision [1] to environment [prod]. Follow it with:\n"+
		"  keyplane apis deployments describe mtls-proxy --rev 1 --env prod --org myorg --wait\n", r.stderr)
	assert.Contains(t, r.stdout, `"state": "PROGRESSING"`)
	follow := strings.Fields(strings.TrimPrefix(strings.Split(r.stderr, "\n")[1], "  keyplane "))
	d := fromYAML(t, c.ok(follow...))
	assert.Equal(t, "READY", d["state"])
}

// A deployment that ends in ERROR prints its errors word for word and
// exits 1, as `archives deploy` does with a failed operation.
func TestApisDeploy_Error_PrintsTheErrorsAndExits1(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t, "ref://gateway-keystore-ref", "does-not-exist"))

	r := c.run("apis", "deploy", "mtls-proxy", "--rev", "1")

	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 2, r.stderr)
	assert.Equal(t, "Waiting for deployment of [mtls-proxy] revision [1] to environment [prod] to complete...failed.", lines[0])
	alias := `alias \"organizations/myorg/environments/prod/keystores/does-not-exist/aliases/gateway\"`
	assert.Equal(t, `ERROR: generic::invalid_argument: proxy "organizations/myorg/apis/mtls-proxy/revisions/1" contains invalid TLS settings in target endpoint "default": `+
		`missing required private key for "`+alias+`"; missing required certificate(s) for "`+alias+`"`, lines[1])

	// describe shows the failed deployment and itself succeeds.
	d := fromYAML(t, c.ok("apis", "deployments", "describe", "mtls-proxy", "--rev", "1", "--wait"))
	assert.Equal(t, "ERROR", d["state"])
	require.Len(t, d["errors"], 1)
	assert.Equal(t, strings.TrimPrefix(lines[1], "ERROR: "), d["errors"].([]any)[0].(map[string]any)["message"])
}

func TestApis_UsageErrors_Exit2WithoutCallingTheServer(t *testing.T) {
	t.Parallel()
	notZip := writeFile(t, t.TempDir(), "x.zip", "not a zip")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--org", "o", "--source", "."}, "ERROR: --name is required\n"},
		{[]string{"import", "--org", "o", "--name", "p"}, "ERROR: give exactly one of --source and --bundle-file\n"},
		{[]string{"import", "--org", "o", "--name", "p", "--source", ".", "--bundle", "x.zip"}, "ERROR: give exactly one of --source and --bundle-file\n"},
		{[]string{"import", "--org", "o", "--name", "p", "--source", "."}, "ERROR: --source .: the folder must contain apiproxy/ (or be an apiproxy folder)\n"},
		{[]string{"import", "--org", "o", "--name", "p", "--bundle-file", notZip}, "ERROR: --bundle-file " + notZip + ": not a zip file\n"},
		{[]string{"import", "--name", "p", "--source", "."}, "ERROR: an organization is required: pass --org or set KEYPLANE_ORG\n"},
		{[]string{"deploy", "p", "--org", "o"}, "ERROR: an environment is required: pass --env or set KEYPLANE_ENV\n"},
		{[]string{"deploy", "--org", "o", "--env", "e"}, "ERROR: missing argument NAME: usage: keyplane apis deploy NAME [--rev N] [--override] [--async] [flags]\n"},
		{[]string{"deploy", "p", "--org", "o", "--env", "e", "--rev", "0"}, "ERROR: invalid --rev 0: revisions are numbered from 1\n"},
		{[]string{"deploy", "p", "--org", "o", "--env", "e", "--rev", "two"}, "ERROR: invalid argument \"two\" for \"--rev\" flag: strconv.ParseInt: parsing \"two\": invalid syntax\n"},
		{[]string{"undeploy", "p", "--org", "o", "--env", "e", "--rev", "-1"}, "ERROR: invalid --rev -1: revisions are numbered from 1\n"},
		{[]string{"describe", "p", "q", "--org", "o"}, "ERROR: unexpected argument \"q\": usage: keyplane apis describe NAME [--rev N] [flags]\n"},
		{[]string{"deployments", "list", "--org", "o", "--env", "e", "--format", "xml"}, "ERROR: invalid output format \"xml\": want yaml, json or table\n"},
		{[]string{"deplyo"}, "ERROR: unknown command \"deplyo\" for \"keyplane apis\"; did you mean \"deploy\"?\n"},
	} {
		// Nothing listens there: a usage error must come before any request.
		c := newCLI(t, "http://127.0.0.1:1", "t")
		r := c.run(append([]string{"apis"}, tc.args...)...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, tc.want, r.stderr, tc.args)
	}
}

// deployInBackground runs `apis deploy` in the background.
func deployInBackground(c *cli, args ...string) <-chan cliResult {
	done := make(chan cliResult, 1)
	go func() { done <- c.run(append([]string{"apis", "deploy"}, args...)...) }()
	return done
}

// frontOf is a reverse proxy to srv that calls outage once, when the
// server has answered a POST of a deployment and before that answer goes
// back: whatever the command asks after it deployed meets the outage.
func frontOf(t *testing.T, srv *servertest.Server, outage func()) *httptest.Server {
	t.Helper()
	target, err := url.Parse(srv.URL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method == http.MethodPost && strings.HasSuffix(r.Request.URL.Path, "/deployments") {
			once.Do(outage)
		}
		return nil
	}
	front := httptest.NewServer(rp)
	t.Cleanup(front.Close)
	return front
}

// TestApisDeploy_DatabaseOutage_WaitsThenTellsPendingFromFailed is the
// outage test of `archives deploy` for `apis deploy`: the server's
// PostgreSQL stops as the deployment is accepted. The command waits
// through a short outage and reports the outcome; past --timeout it says
// the deployment is pending (exit code 4) and how to check it, and that
// command later learns the outcome.
func TestApisDeploy_DatabaseOutage_WaitsThenTellsPendingFromFailed(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	b := setupProxyEnv(t, servertest.Options{DatabaseURL: cluster.URL()})
	c := b.cli
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))

	// An outage of a few seconds while it waits: the outcome, not an error.
	stopped := make(chan struct{})
	front := frontOf(t, b.srv, func() { cluster.Stop(); close(stopped) })
	done := deployInBackground(c, "mtls-proxy", "--rev", "1", "--server", front.URL)
	<-stopped
	time.Sleep(3 * time.Second)
	cluster.Start()
	r := <-done
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Waiting for deployment of [mtls-proxy] revision [1] to environment [prod] to complete...done.\n", r.stderr)

	// An outage longer than --timeout: pending, never failed.
	front = frontOf(t, b.srv, cluster.Stop)
	r = <-deployInBackground(c, "mtls-proxy", "--rev", "2", "--override", "--timeout", "2s", "--server", front.URL)
	cluster.Start()
	require.Equal(t, exitPending, r.code, r.stderr)
	assert.Equal(t, "Waiting for deployment of [mtls-proxy] revision [2] to environment [prod] to complete...pending.\n"+
		"PENDING: deployment of [mtls-proxy] revision [2] to environment [prod] is still pending: "+
		"its outcome could not be learned within --timeout 2s (last answer: HTTP 503 UNAVAILABLE). It goes on on the server; do not start it again. Check it with:\n"+
		"  keyplane apis deployments describe mtls-proxy --rev 2 --env prod --org myorg --wait --server "+front.URL+"\n", r.stderr)
	d := fromYAML(t, c.ok("apis", "deployments", "describe", "mtls-proxy", "--rev", "2", "--env", "prod", "--org", "myorg", "--wait"))
	assert.Equal(t, "READY", d["state"])
	assert.Equal(t, "2", d["revision"])
}

// A server that cannot be reached while the command waits (connections
// lost, then refused) is waited for until --timeout too, then the
// deployment is pending: exit code 4, as for `archives deploy`.
func TestApisDeploy_ServerGoneWhileWaiting_EndsPending(t *testing.T) {
	t.Parallel()
	b := setupProxyEnv(t, servertest.Options{})
	c := b.cli
	c.ok("apis", "import", "--name", "mtls-proxy", "--source", proxySource(t))
	var front *httptest.Server
	front = frontOf(t, b.srv, func() { go front.Close() })

	r := <-deployInBackground(c, "mtls-proxy", "--timeout", "1s", "--server", front.URL)

	require.Equal(t, exitPending, r.code, r.stderr)
	assert.Contains(t, r.stderr, "...pending.\n")
	assert.Contains(t, r.stderr, "within --timeout 1s (last attempt: ")
	assert.Contains(t, r.stderr, "\n  keyplane apis deployments describe mtls-proxy --rev 1 --env prod --org myorg --wait --server "+front.URL+"\n")
	// The deployment went on without the command.
	d := fromYAML(t, c.ok("apis", "deployments", "describe", "mtls-proxy", "--rev", "1", "--wait"))
	assert.Equal(t, "READY", d["state"])
}

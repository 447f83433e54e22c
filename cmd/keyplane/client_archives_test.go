package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// sourceFolder writes a small archive source folder, with files that must
// not be packed around it.
func sourceFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "src/main/apigee/apiproxies/mtls/config.yaml", "basepath: /mtls\n")
	writeFile(t, dir, "src/main/apigee/environments/dev/deployments.json", `{"proxies":[{"name":"mtls"}]}`)
	writeFile(t, dir, "src/main/apigee/environments/dev/targetservers.json", `[]`)
	writeFile(t, dir, "src/main/apigee/.DS_Store", "junk")
	writeFile(t, dir, "src/main/apigee/apiproxies/.git/HEAD", "ref: refs/heads/main")
	writeFile(t, dir, "gateway.key", "-----BEGIN PRIVATE KEY-----")
	writeFile(t, dir, ".git/config", "[core]")
	return dir
}

func zipEntries(t *testing.T, b []byte) []*zip.File {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return zr.File
}

func TestPackArchive_PacksOnlyTheApigeeTree_InStableOrder(t *testing.T) {
	t.Parallel()
	dir := sourceFolder(t)

	b, err := packArchive(dir)

	require.NoError(t, err)
	var names []string
	for _, f := range zipEntries(t, b) {
		names = append(names, f.Name)
		assert.True(t, f.Modified.Equal(zipEpoch), "%s has a fixed time, not %v", f.Name, f.Modified)
	}
	assert.Equal(t, []string{
		"src/main/apigee/apiproxies/mtls/config.yaml",
		"src/main/apigee/environments/dev/deployments.json",
		"src/main/apigee/environments/dev/targetservers.json",
	}, names)
	rc, err := zipEntries(t, b)[0].Open()
	require.NoError(t, err)
	content, _ := io.ReadAll(rc)
	assert.Equal(t, "basepath: /mtls\n", string(content))
}

func TestPackArchive_SameFolder_GivesSameBytes(t *testing.T) {
	t.Parallel()
	dir := sourceFolder(t)
	first, err := packArchive(dir)
	require.NoError(t, err)
	// Touching files changes their times but not the archive.
	p := filepath.Join(dir, "src/main/apigee/environments/dev/deployments.json")
	require.NoError(t, os.Chtimes(p, zipEpoch.AddDate(30, 0, 0), zipEpoch.AddDate(30, 0, 0)))

	second, err := packArchive(dir)

	require.NoError(t, err)
	assert.Equal(t, first, second)
}

func TestPackArchive_FolderWithoutApigeeTree_IsUsageError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "README.md", "hi")

	_, err := packArchive(dir)

	require.Error(t, err)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Equal(t, "--source "+dir+": the folder must contain src/main/apigee", err.Error())
}

// A --source that does not exist, or is a file, is said to be so, not
// to lack src/main/apigee.
func TestPackArchive_MissingFolderOrFile_SaysSo(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nonexistent")
	_, err := packArchive(missing)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Equal(t, "--source "+missing+": the folder does not exist", err.Error())

	file := writeFile(t, t.TempDir(), "bundle.zip", "PK")
	_, err = packArchive(file)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Equal(t, "--source "+file+": not a folder (give a ZIP file with --bundle-file)", err.Error())
}

func TestPackArchive_SymbolicLink_IsRefused(t *testing.T) {
	t.Parallel()
	dir := sourceFolder(t)
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "src/main/apigee/passwd")))

	_, err := packArchive(dir)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "src/main/apigee/passwd: only regular files can be deployed")
}

// deployable gives a real server (setupReal) the keystore, key alias and
// truststore that a target server needs, and returns a source folder whose
// proxy mtls uses them through the target server mtlstarget-docs; keystore
// names the keystore the target server points at.
func deployable(t *testing.T, b *realBundle, keystore string) string {
	t.Helper()
	c := b.cli
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: ca})
	c.ok("keystores", "create", "ks")
	c.ok("aliases", "create", "my_alias", "--keystore", "ks", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "gw.crt", string(leaf.CertPEM())),
		"--key-file", writeFile(t, b.dir, "gw.key", string(leaf.KeyPEM(t))))
	c.ok("keystores", "create", "ts")
	c.ok("aliases", "create", "ca", "--keystore", "ts", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "ca.crt", string(ca.CertPEM())))
	dir := sourceFolder(t)
	writeFile(t, dir, "src/main/apigee/apiproxies/mtls/config.yaml",
		"basepath: /mtls\noperations:\n  - id: get\n    target:\n      target_server_id: mtlstarget-docs\n")
	writeFile(t, dir, "src/main/apigee/environments/dev/targetservers.json", `[{"name": "mtlstarget-docs", "host": "backend.example.com", "port": 443,
		"sSLInfo": {"enabled": true, "clientAuthEnabled": true, "keyStore": "`+keystore+`", "keyAlias": "my_alias", "trustStore": "ts"}}]`)
	return dir
}

func TestArchivesDeploy_Success_PrintsWaitingLineAndUploadsTheZip(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	dir := deployable(t, b, "ks")

	r := b.cli.run("archives", "deploy", "--source", dir, "--labels", "commit=abc")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^Waiting for operation \[[0-9a-f-]{36}\] to complete\.\.\.done\.\n$`, r.stderr)
	assert.Empty(t, r.stdout)

	// The server holds exactly the bytes packArchive makes.
	list := b.cli.ok("archives", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	require.Len(t, lines, 2, list)
	assert.Regexp(t, `^ID\s+CREATED\s+OPERATION\s+LABELS$`, lines[0])
	assert.Regexp(t, `^\S+\s+\d{4}-\d\d-\d\dT\S+Z\s+[0-9a-f-]{36}\s+commit=abc$`, lines[1])
	id := strings.Fields(lines[1])[0]
	down, err := (&api.Client{BaseURL: b.srv.URL, Token: b.srv.Token}).GenerateDownloadURL(context.Background(), "myorg", "dev", id)
	require.NoError(t, err)
	resp, err := http.Get(down)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	want, err := packArchive(dir)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestArchivesDeploy_FailedOperation_PrintsItsMessageAndExits1(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	dir := deployable(t, b, "does-not-exist")

	r := b.cli.run("archives", "deploy", "--source", dir)

	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 2, r.stderr)
	assert.Regexp(t, `^Waiting for operation \[[0-9a-f-]{36}\] to complete\.\.\.failed\.$`, lines[0])
	alias := `alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\"`
	assert.Equal(t, `ERROR: generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): `+
		`target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "`+alias+`"; missing required certificate(s) for "`+alias+`"`, lines[1])
}

func TestArchivesDeploy_AsyncThenDescribe_ShowsTheOperationAsGcloudDoes(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	dir := deployable(t, b, "does-not-exist")

	r := b.cli.run("archives", "deploy", "--source", dir, "--async")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	require.Regexp(t, `^organizations/myorg/operations/[0-9a-f-]{36}\n$`, r.stdout)
	name := strings.TrimSpace(r.stdout)
	uuid := lastSegment(name)

	r = b.cli.run("operations", "describe", uuid, "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Using organization 'myorg'\n", r.stderr)
	alias := `alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\"`
	assert.Regexp(t, `^done: true
error:
  code: 3
  message: '`+regexpQuote(`generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "`+alias+`"; missing required certificate(s) for "`+alias+`"`)+`'
metadata:
  '@type': type.googleapis.com/google.cloud.apigee.v1.OperationMetadata
  operationType: INSERT
  state: FINISHED
  targetResourceName: organizations/myorg/environments/dev/archiveDeployments/\S+
name: `+name+`
organization: myorg
uuid: `+uuid+`
$`, r.stdout)

	assert.Equal(t, r.stdout, b.cli.ok("operations", "describe", name, "--format", "yaml"))
	assert.Contains(t, b.cli.ok("operations", "describe", uuid, "--format", "json"), "\n  \"done\": true,\n")
	assert.Regexp(t, `(?m)^`+uuid+`\s+INSERT\s+FINISHED\s+ERROR\(3\)\s+organizations/myorg/environments/dev/archiveDeployments/\S+$`, b.cli.ok("operations", "list"))
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

func TestArchivesDeploy_WithFormat_PrintsTheDeployment(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	dir := deployable(t, b, "ks")

	out := b.cli.ok("archives", "deploy", "--source", dir, "--format", "json")

	assert.Contains(t, out, `"name": "organizations/myorg/environments/dev/archiveDeployments/`)
}

func TestArchivesDeploy_BundleFile_DeploysItAsIs(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	zipped, err := packArchive(deployable(t, b, "ks"))
	require.NoError(t, err)
	bundle := writeFile(t, t.TempDir(), "bundle.zip", string(zipped))

	r := b.cli.run("archives", "deploy", "--bundle-file", bundle)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "done.")
}

func TestArchivesDeploy_UsageErrors_Exit2WithoutCallingTheServer(t *testing.T) {
	t.Parallel()
	notZip := writeFile(t, t.TempDir(), "x.zip", "not a zip")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--env", "dev", "--source", "."}, "ERROR: an organization is required: pass --org or set KEYPLANE_ORG\n"},
		{[]string{"--org", "o", "--source", "."}, "ERROR: an environment is required: pass --env or set KEYPLANE_ENV\n"},
		{[]string{"--org", "o", "--env", "dev"}, "ERROR: give exactly one of --source and --bundle-file\n"},
		{[]string{"--org", "o", "--env", "dev", "--source", ".", "--bundle-file", "x.zip"}, "ERROR: give exactly one of --source and --bundle-file\n"},
		{[]string{"--org", "o", "--env", "dev", "--source", "."}, "ERROR: --source .: the folder must contain src/main/apigee\n"},
		{[]string{"--org", "o", "--env", "dev", "--bundle-file", notZip}, "ERROR: --bundle-file " + notZip + ": not a zip file\n"},
		{[]string{"--org", "o", "--env", "dev", "--source", ".", "--format", "xml"}, "ERROR: invalid output format \"xml\": want yaml, json or table\n"},
		{[]string{"--org", "o", "--env", "dev", "--source", ".", "--labels", "novalue"}, "ERROR: invalid argument \"novalue\" for \"--labels\" flag: novalue must be formatted as key=value\n"},
		{[]string{"--org", "o", "--env", "dev", "--sauce", "."}, "ERROR: unknown flag: --sauce\n"},
	} {
		// Nothing listens there: a usage error must come before any request.
		c := newCLI(t, "http://127.0.0.1:1", "t")
		r := c.run(append([]string{"archives", "deploy"}, tc.args...)...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, tc.want, r.stderr, tc.args)
	}
}

func TestArchives_ListDescribeUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	c := b.cli
	dir := deployable(t, b, "ks")
	c.ok("archives", "deploy", "--source", dir, "--labels", "a=1,b=2")
	c.ok("archives", "deploy", "--source", dir)

	table := c.ok("archives", "list", "--page-size", "1")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 3, "a header and both deployments, across two pages:\n%s", table)
	var id string
	for _, l := range lines[1:] {
		if strings.HasSuffix(l, "a=1,b=2") {
			id = strings.Fields(l)[0]
		}
	}
	require.NotEmpty(t, id, table)

	out := c.ok("archives", "describe", id)
	assert.Contains(t, out, "name: organizations/myorg/environments/dev/archiveDeployments/"+id+"\n")

	out = c.ok("archives", "update", "organizations/myorg/environments/dev/archiveDeployments/"+id,
		"--update-labels", "c=3", "--remove-labels", "a", "--format", "json")
	assert.Contains(t, out, "\"labels\": {\n    \"b\": \"2\",\n    \"c\": \"3\"\n  }")
	out = c.ok("archives", "update", id, "--clear-labels", "--format", "json")
	assert.NotContains(t, out, "\"labels\"")

	r := c.run("archives", "update", id)
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "ERROR: nothing to update: give --update-labels, --remove-labels or --clear-labels\n", r.stderr)

	r = c.run("archives", "delete", id)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted archive deployment ["+id+"].\n", r.stderr)

	r = c.run("archives", "describe", id)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not found")
}

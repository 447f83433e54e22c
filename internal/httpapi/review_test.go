package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testzip"
)

// TestUpload_ForgedURLIsRefusedBeforeItsBodyAndLeavesNoTrace sends the
// headers of a 30 MB upload to a forged URL and gets its refusal without
// sending the body; no audit entry is written for it.
func TestUpload_ForgedURLIsRefusedBeforeItsBodyAndLeavesNoTrace(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /archives/forged.token HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\nContent-Length: 30000000\r\n\r\n")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	// A genuine upload is recorded in its organization's log, by upload id,
	// never with the URL's token.
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	req, err := http.NewRequest("PUT", up.UploadURI, strings.NewReader("zip"))
	require.NoError(t, err)
	put, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	put.Body.Close()
	require.Equal(t, 200, put.StatusCode)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, b.srv.DatabaseURL)
	require.NoError(t, err)
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT org || ' ' || actor || ' ' || resource FROM audit_log WHERE method = 'PUT'`)
	require.NoError(t, err)
	entries, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, entries, 1, "%v", entries)
	require.Regexp(t, `^myorg signed-url organizations/myorg/environments/dev/archiveUploads/[0-9a-f-]{36}$`, entries[0])
	token := up.UploadURI[strings.LastIndex(up.UploadURI, "/")+1:]
	require.NotContains(t, entries[0], token)
}

func TestAuditLog_RefusalsOnAnotherOrganizationGoToTheCallersLog(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", "/v1/organizations", `{"name":"otherorg"}`)
	intruder := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/otherorg/tokens", `{"role":"deployer"}`))
	b.as(t, intruder.Token).fails("POST", envPath+"/keystores", `{"name":"planted"}`, 403, "PERMISSION_DENIED",
		`this token may not access organization "myorg"`)

	mine := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/myorg/auditLogs", ""))
	for _, e := range mine.AuditLogs {
		require.NotEqual(t, intruder.Name, e.Actor, "myorg's log names another organization's token")
	}
	theirs := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/otherorg/auditLogs", ""))
	require.Equal(t, intruder.Name, theirs.AuditLogs[0].Actor)
	require.Equal(t, "PERMISSION_DENIED", theirs.AuditLogs[0].Outcome)
}

func TestMetrics_UnknownMethodsShareOneLabel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, m := range []string{"BREW", "WHEN", "XYZZY"} {
		b.c.do(m, "/healthz", "")
	}
	scraper := &client{t: t, base: b.srv.URL, token: b.srv.MetricsToken}
	metrics := string(scraper.ok("GET", "/metrics", ""))
	require.Contains(t, metrics, `method="OTHER"`)
	require.NotContains(t, metrics, `method="BREW"`)
}

func TestLists_UnderAMissingParentAreNotFound(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	for path, want := range map[string]string{
		"/v1/organizations/nope/environments":                          `organization "nope" not found`,
		"/v1/organizations/nope/operations":                            `organization "nope" not found`,
		"/v1/organizations/myorg/environments/nope/keystores":          `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/references":         `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/targetservers":      `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/archiveDeployments": `environment "organizations/myorg/environments/nope" not found`,
	} {
		b.c.fails("GET", path, "", 404, "NOT_FOUND", want)
	}
	require.JSONEq(t, `[]`, string(b.c.ok("GET", envPath+"/keystores", "")), "an empty list of an existing parent")
}

func TestPageTokens_CraftedAreInvalidArguments(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	crafted := "MTc5NTY2NzA5MDMzMDAwMHxub3QtYS11dWlk" // "1795667090330000|not-a-uuid"
	for _, path := range []string{"/v1/organizations/myorg/operations", "/v1/organizations/myorg/tokens", envPath + "/archiveDeployments"} {
		r := b.c.do("GET", path+"?pageToken="+crafted, "")
		require.NotEqual(t, 500, r.Status, path)
	}
	b.c.fails("GET", "/v1/organizations/myorg/operations?pageToken="+crafted, "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
	b.c.fails("GET", "/v1/organizations/myorg/tokens?pageToken="+crafted, "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
	b.c.fails("GET", "/v1/organizations/myorg/operations?pageToken=%25%25", "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
}

func TestTokens_OnlyForOrganizationsThatExist(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.fails("POST", "/v1/organizations/nope/tokens", `{"role":"viewer"}`, 404, "NOT_FOUND", `organization "nope" not found`)
	b.c.ok("POST", "/v1/organizations/*/tokens", `{"role":"admin"}`)
}

func TestTargetServers_InUseByTheLiveDeploymentCannotBeDeleted(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	b.c.ok("POST", envPath+"/targetservers", `{"name":"plain","host":"backend.example.com","port":80}`)
	op := b.deploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/p/config.yaml":          "basepath: /p\noperations:\n  - name: get\n    target:\n      target_server_id: plain\n",
		"src/main/apigee/environments/dev/deployments.json": `{"proxies":["p"]}`,
	}))
	require.Nil(t, op.Error, "%+v", op.Error)
	b.c.fails("DELETE", envPath+"/targetservers/plain", "", 400, "FAILED_PRECONDITION",
		`target server "plain" is used by the live deployment "`+op.Metadata.TargetResourceName+`"; deploy an archive that does not use it first`)
	b.c.ok("GET", envPath+"/targetservers/plain", "")
}

func TestTargetServers_TLSSettingsAreValidatedAsADeploymentWould(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	ts := envPath + "/targetservers"
	b.c.fails("POST", ts, `{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"trustStore":"does-not-exist"}}`,
		400, "INVALID_ARGUMENT",
		`target server "mtlstarget-docs" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`)
	b.c.ok("POST", ts, `{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://mtls-keystore-ref","keyAlias":"my_alias","trustStore":"ref://mtls-truststore-ref"}}`)
	b.c.fails("PUT", ts+"/mtlstarget-docs", `{"host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"mtls-keystore","keyAlias":"cert_only"}}`,
		400, "INVALID_ARGUMENT",
		`target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "alias \"organizations/myorg/environments/dev/keystores/mtls-keystore/aliases/cert_only\""`)
	// Without TLS there is nothing to check.
	b.c.ok("PUT", ts+"/mtlstarget-docs", `{"host":"plain.example.com","port":80}`)
}

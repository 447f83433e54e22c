package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// tableRows splits a printed table into its rows of cells; tabwriter puts
// at least two spaces between cells, and the cells here have at most one.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimRight(line, " "), -1))
	}
	return rows
}

func TestCertificatesExpiring_TableAndExitCode_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	c := b.cli
	// ks/my_alias and ts/ca expire in a year and are used by the live
	// deployment.
	c.ok("archives", "deploy", "--source", deployable(t, b, "ks"))
	header := []string{"ENVIRONMENT", "KEYSTORE", "ALIAS", "INDEX", "SUBJECT", "EXPIRES", "DAYS-LEFT", "IN-USE", "USED-BY"}

	// Nothing expires within the default 30 days.
	r := c.run("certificates", "expiring")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{header}, tableRows(r.stdout))
	assert.Empty(t, r.stderr)

	// A certificate that expires in 10 days but that nothing uses is
	// listed, and does not fail the check.
	soon := testcerts.New(t, testcerts.Options{CommonName: "soon", NotAfter: time.Now().Add(10*24*time.Hour + time.Hour)})
	c.ok("keystores", "create", "spare")
	c.ok("aliases", "create", "soon", "--keystore", "spare", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "soon.crt", string(soon.CertPEM())))
	subject := fromYAML(t, c.ok("aliases", "describe", "soon", "--keystore", "spare"))["certsInfo"].(map[string]any)["certInfo"].([]any)[0].(map[string]any)["subject"].(string)
	expires := soon.Cert.NotAfter.UTC().Format(time.RFC3339)
	r = c.run("certificates", "expiring", "--within", "30d")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{header, {"dev", "spare", "soon", "0", subject, expires, "10", "no"}}, tableRows(r.stdout))
	assert.Empty(t, r.stderr)

	// Once a reference uses it, the check fails, in one line.
	c.ok("references", "create", "spare-ref", "--refers", "spare", "--resource-type", "KeyStore")
	r = c.run("certificates", "expiring", "--within", "30d")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, [][]string{header, {"dev", "spare", "soon", "0", subject, expires, "10", "yes", "reference/spare-ref"}}, tableRows(r.stdout))
	assert.Equal(t, "ERROR: 1 certificate in use expires within 30d\n", r.stderr)

	// A wider window takes in what the live deployment uses, soonest
	// first, through every page.
	r = c.run("certificates", "expiring", "--within", "9000h", "--page-size", "1")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: 3 certificates in use expire within 9000h\n", r.stderr)
	rows := tableRows(r.stdout)
	require.Len(t, rows, 4, r.stdout)
	assert.Equal(t, []string{"spare", "soon"}, rows[1][1:3])
	assert.ElementsMatch(t, [][]string{{"ks", "my_alias", "0"}, {"ts", "ca", "0"}}, [][]string{rows[2][1:4], rows[3][1:4]})
	for _, row := range rows[2:] {
		assert.Equal(t, "yes", row[7])
		assert.Regexp(t, `^deployment/[a-z][a-z0-9]{17}$`, row[8])
	}

	var list []api.CertificateExpiry
	r = c.run("certificates", "expiring", "--within", "9000h", "--format", "json")
	assert.Equal(t, 1, r.code)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list), r.stdout)
	require.Len(t, list, 3)
	assert.Equal(t, "organizations/myorg/environments/dev/keystores/spare/aliases/soon", list[0].Name)
	assert.Equal(t, []string{"organizations/myorg/environments/dev/references/spare-ref"}, list[0].UsedBy.References)
	assert.Equal(t, soon.Cert.NotAfter.UnixMilli(), list[0].ExpiryDate)
	r = c.run("certificates", "expiring", "--format", "yaml")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "- alias: soon\n")

	// Without references to it, the check passes again.
	c.ok("references", "delete", "spare-ref")
	assert.Equal(t, 0, c.run("certificates", "expiring").code)
}

func TestCertificatesExpiring_UsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "http://127.0.0.1:1", "t")
	c.env["KEYPLANE_ORG"] = "o"
	for within, want := range map[string]string{
		"soon": `invalid --within "soon": want a duration such as 720h or 30d`,
		"-1d":  `invalid --within "-1d": it must not be negative`,
		"":     `invalid --within "": want a duration such as 720h or 30d`,
	} {
		r := c.run("certificates", "expiring", "--within", within)
		assert.Equal(t, 2, r.code, within)
		assert.Equal(t, "ERROR: "+want+"\n", r.stderr, within)
		assert.Empty(t, r.stdout)
	}
	c = newCLI(t, "http://127.0.0.1:1", "t")
	r := c.run("certificates", "expiring")
	assert.Equal(t, "ERROR: an organization is required: pass --org or set KEYPLANE_ORG\n", r.stderr)
	assert.Equal(t, 2, r.code)
}

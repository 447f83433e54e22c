package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/testcerts"
)

// The server's messages name API parameters and multipart fields; the CLI
// says which of its flags to use instead, and what its help promises
// --ignore-newline-validation does is what the flag does.
func TestAliasesCreate_ErrorsNameTheCLIFlags(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	c := b.cli
	c.ok("keystores", "create", "ts")

	expired := testcerts.New(t, testcerts.Options{CommonName: "old-ca", IsCA: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	r := c.run("aliases", "create", "old", "--keystore", "ts", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "old.crt", string(expired.CertPEM())))
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "in --cert-file expired on ")
	assert.Contains(t, r.stderr, "; give --ignore-expiry-validation to upload it anyway")
	assert.NotContains(t, r.stderr, "ignoreExpiryValidation")
	c.ok("aliases", "create", "old", "--keystore", "ts", "--format", "keycertfile", "--ignore-expiry-validation",
		"--cert-file", writeFile(t, b.dir, "old.crt", string(expired.CertPEM())))

	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	noted := "# the CA of the backends\n" + string(ca.CertPEM())
	r = c.run("aliases", "create", "ca", "--keystore", "ts", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "noted.crt", noted))
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "ERROR: --cert-file has text outside PEM blocks (line 1); remove it or give --ignore-newline-validation\n")

	help := c.ok("aliases", "create", "--help")
	line := ""
	for _, l := range strings.Split(help, "\n") {
		if strings.Contains(l, "--ignore-newline-validation") {
			line = l
		}
	}
	assert.Contains(t, line, "accept PEM files with text outside the PEM blocks (skipped)")
	c.ok("aliases", "create", "ca", "--keystore", "ts", "--format", "keycertfile", "--ignore-newline-validation",
		"--cert-file", writeFile(t, b.dir, "noted.crt", noted))

	other := testcerts.New(t, testcerts.Options{CommonName: "other-ca", IsCA: true})
	r = c.run("aliases", "create", "both", "--keystore", "ts", "--format", "keycertfile",
		"--cert-file", writeFile(t, b.dir, "both.crt", string(ca.CertPEM())+string(other.CertPEM())))
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "put each CA in an alias of its own (one alias per CA)")
	assert.NotContains(t, r.stderr, "must be in order")
}

package main

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// realBundle is what an end-to-end test gets: a real server on a real
// database, with organization myorg and environment dev (PROGRAMMABLE, so
// that aliases and references can be updated) as the defaults of a CLI.
type realBundle struct {
	srv *servertest.Server
	cli *cli
	dir string
}

func setupReal(t *testing.T, apiProxyType string) *realBundle {
	t.Helper()
	srv := servertest.Start(t)
	c := newCLI(t, srv.URL, srv.Token)
	c.ok("organizations", "create", "myorg")
	c.env["KEYPLANE_ORG"] = "myorg"
	c.ok("environments", "create", "dev", "--api-proxy-type", apiProxyType, "--deployment-type", "ARCHIVE")
	c.env["KEYPLANE_ENV"] = "dev"
	return &realBundle{srv: srv, cli: c, dir: t.TempDir()}
}

func fromYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s), &m), s)
	return m
}

func TestOrganizationsAndEnvironments_EndToEnd(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := newCLI(t, srv.URL, srv.Token)

	r := c.run("organizations", "create", "myorg")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Created organization [myorg].\n", r.stderr)
	assert.Equal(t, "myorg", fromYAML(t, r.stdout)["name"])
	assert.Equal(t, "NAME\nmyorg\n", c.ok("organizations", "list"))
	assert.Equal(t, "[\n  \"myorg\"\n]\n", c.ok("organizations", "list", "--format", "json"))
	c.env["KEYPLANE_ORG"] = "myorg"
	assert.Equal(t, "myorg", fromYAML(t, c.ok("organizations", "describe"))["name"])

	out := c.ok("environments", "create", "dev", "--description", "development", "--api-proxy-type", "configurable", "--deployment-type", "archive")
	env := fromYAML(t, out)
	assert.Equal(t, "dev", env["name"])
	assert.Equal(t, "CONFIGURABLE", env["apiProxyType"])
	assert.Equal(t, "ARCHIVE", env["deploymentType"])
	assert.Equal(t, "development", env["description"])
	assert.Equal(t, "NAME\ndev\n", c.ok("environments", "list"))
	assert.Equal(t, "- dev\n", c.ok("environments", "list", "--format", "yaml"))
	assert.Contains(t, c.ok("environments", "describe", "dev", "--format", "table"), "apiProxyType    CONFIGURABLE\n")

	r = c.run("environments", "create", "bad", "--api-proxy-type", "plain")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "ERROR: invalid --api-proxy-type \"plain\": want one of PROGRAMMABLE, CONFIGURABLE\n", r.stderr)

	r = c.run("environments", "delete", "dev")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted environment [dev].\n", r.stderr)
	assert.Equal(t, "NAME\n", c.ok("environments", "list"))
}

func TestKeystoresAndAliases_KeyCertFile_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli
	now := time.Now()
	ca := testcerts.New(t, testcerts.Options{CommonName: "Docs CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: ca, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30*24*time.Hour + time.Hour)})
	certFile := writeFile(t, b.dir, "gateway.crt", string(leaf.CertPEM()))
	keyFile := writeFile(t, b.dir, "gateway.key", string(leaf.KeyPEM(t)))
	caFile := writeFile(t, b.dir, "ca.crt", string(ca.CertPEM()))

	assert.Equal(t, "aliases: []\nname: gateway-keystore\n", c.ok("keystores", "create", "gateway-keystore"))
	c.ok("truststores", "create", "backend-truststore")
	assert.Equal(t, "NAME\nbackend-truststore\ngateway-keystore\n", c.ok("keystores", "list"))

	out := c.ok("aliases", "create", "--keystore", "gateway-keystore", "--alias", "gateway",
		"--format", "keycertfile", "--cert-file", certFile, "--key-file", keyFile)
	a := fromYAML(t, out)
	assert.Equal(t, "KEY_CERT", a["type"])
	cert := a["certsInfo"].(map[string]any)["certInfo"].([]any)[0].(map[string]any)
	assert.Equal(t, "CN=gateway, O=keyplane tests", cert["subject"])
	assert.Equal(t, "CN=Docs CA, O=keyplane tests", cert["issuer"])
	assert.Equal(t, 30, cert["daysUntilExpiry"])
	assert.Equal(t, leaf.Cert.NotAfter.UTC().Format(time.RFC3339), cert["notAfter"])

	c.ok("aliases", "create", "ca", "--keystore", "backend-truststore", "--format", "keycertfile", "--cert-file", caFile)

	table := c.ok("aliases", "describe", "gateway", "--keystore", "gateway-keystore", "--format", "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 2, table)
	assert.Regexp(t, `^SUBJECT\s+ISSUER\s+NOT BEFORE\s+NOT AFTER\s+DAYS LEFT\s+VALID$`, lines[0])
	assert.Regexp(t, `^CN=gateway, O=keyplane tests\s+CN=Docs CA, O=keyplane tests\s+\S+\s+\S+\s+30\s+Yes$`, lines[1])

	ks := fromYAML(t, c.ok("keystores", "describe", "gateway-keystore"))
	assert.Equal(t, "gateway-keystore", ks["name"])
	aliases := ks["aliases"].([]any)
	require.Len(t, aliases, 1)
	assert.Equal(t, map[string]any{
		"alias": "gateway", "type": "KEY_CERT", "subject": "CN=gateway, O=keyplane tests",
		"expiry": leaf.Cert.NotAfter.UTC().Format(time.RFC3339), "daysUntilExpiry": 30,
	}, aliases[0])
	assert.Regexp(t, `(?m)^ca\s+CERT\s+CN=Docs CA, O=keyplane tests\s+\S+\s+36[45]$`, c.ok("keystores", "describe", "backend-truststore", "--format", "table"))
	assert.Equal(t, "NAME\ngateway\n", c.ok("aliases", "list", "--keystore", "gateway-keystore"))

	pemOut := c.ok("aliases", "certificate", "gateway", "--keystore", "gateway-keystore")
	block, _ := pem.Decode([]byte(pemOut))
	require.NotNil(t, block, pemOut)
	assert.Equal(t, leaf.Cert.Raw, block.Bytes)

	csrOut := c.ok("aliases", "csr", "--alias", "gateway", "--keystore", "gateway-keystore")
	block, _ = pem.Decode([]byte(csrOut))
	require.NotNil(t, block, csrOut)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	require.NoError(t, err)
	assert.NoError(t, csr.CheckSignature())
	assert.Equal(t, leaf.Cert.PublicKey, csr.PublicKey)

	renewed := testcerts.WithKey(t, testcerts.Options{CommonName: "gateway", Parent: ca}, leaf.Key)
	c.stdin = string(renewed.CertPEM())
	out = c.ok("aliases", "update", "gateway", "--keystore", "gateway-keystore", "--cert-file", "-", "--format", "json")
	assert.Contains(t, out, `"serialNumber": `)
	c.stdin = ""

	r := c.run("aliases", "delete", "gateway", "--keystore", "gateway-keystore")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted alias [gateway].\n", r.stderr)
	assert.Empty(t, r.stdout)
	r = c.run("keystores", "delete", "gateway-keystore", "--format", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted keystore [gateway-keystore].\n", r.stderr)
	assert.JSONEq(t, `{"name":"gateway-keystore","aliases":[]}`, r.stdout)
}

func TestAliases_PKCS12AndSelfSigned_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli
	c.ok("keystores", "create", "ks")
	leaf := testcerts.New(t, testcerts.Options{CommonName: "p12", RSA: true})
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, "s3cret")
	require.NoError(t, err)
	p12File := writeFile(t, b.dir, "bundle.p12", string(p12))

	c.stdin = "s3cret\n" // the line break that `echo` adds is not part of the password
	out := c.ok("aliases", "create", "--keystore", "ks", "--alias", "p12", "--format", "pkcs12", "--file", p12File, "--password-file", "-")
	assert.Contains(t, out, "subject: CN=p12, O=keyplane tests\n")

	c.stdin = "wrong\n"
	r := c.run("aliases", "create", "--keystore", "ks", "--alias", "p12b", "--format", "pkcs12", "--file", p12File, "--password-file", "-")
	assert.Equal(t, 1, r.code)
	assert.NotEmpty(t, r.stderr)
	c.stdin = ""

	out = c.ok("aliases", "create", "--keystore", "ks", "--alias", "self", "--format", "selfsignedcert",
		"--common-name", "gw.example.com", "--validity-days", "10", "--output-format", "json")
	assert.Contains(t, out, `"subject": "CN=gw.example.com"`)
	assert.Contains(t, out, `"daysUntilExpiry": 9`)
	assert.Contains(t, out, `"type": "KEY_CERT"`)
}

func TestAliases_ExpiredCertificate_RefusedUnlessIgnored(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	c := b.cli
	c.ok("keystores", "create", "expired-keystore")
	old := testcerts.New(t, testcerts.Options{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	f := writeFile(t, b.dir, "old.crt", string(old.CertPEM()))

	r := c.run("aliases", "create", "--keystore", "expired-keystore", "--alias", "expired", "--format", "keycertfile", "--cert-file", f)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "expired")

	out := c.ok("aliases", "create", "--keystore", "expired-keystore", "--alias", "expired", "--format", "keycertfile", "--cert-file", f, "--ignore-expiry-validation")
	assert.Contains(t, out, "daysUntilExpiry: -1\n", "expired a day ago")
	assert.Contains(t, out, "isValid: \"No\"\n")
}

func TestAliasesCreate_UsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "http://127.0.0.1:1", "t")
	c.env["KEYPLANE_ORG"], c.env["KEYPLANE_ENV"] = "o", "e"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--alias", "a", "--format", "keycertfile", "--cert-file", "c"}, "--keystore is required"},
		{[]string{"--keystore", "ks", "--format", "keycertfile", "--cert-file", "c"}, "an alias is required: pass --alias or give it as the argument"},
		{[]string{"x", "--keystore", "ks", "--alias", "y", "--format", "pkcs12"}, `the alias is given twice: "x" and --alias "y"`},
		{[]string{"a", "--keystore", "ks"}, "--format is required: keycertfile, pkcs12 or selfsignedcert"},
		{[]string{"a", "--keystore", "ks", "--format", "pem"}, `invalid --format "pem": want keycertfile, pkcs12 or selfsignedcert`},
		{[]string{"a", "--keystore", "ks", "--format", "keycertfile"}, "--format keycertfile needs --cert-file"},
		{[]string{"a", "--keystore", "ks", "--format", "keycertfile", "--cert-file", "c", "--common-name", "x"}, "--common-name cannot be used with --format keycertfile"},
		{[]string{"a", "--keystore", "ks", "--format", "keycertfile", "--cert-file", "-", "--key-file", "-"}, "only one of --cert-file, --key-file can read standard input (-)"},
		{[]string{"a", "--keystore", "ks", "--format", "pkcs12", "--file", "f"}, "--format pkcs12 needs --file and --password-file"},
		{[]string{"a", "--keystore", "ks", "--format", "selfsignedcert"}, "--format selfsignedcert needs --common-name"},
		{[]string{"a", "b", "--keystore", "ks"}, `unexpected argument "b": usage: keyplane aliases create [ALIAS] --keystore KS --format keycertfile|pkcs12|selfsignedcert ... [flags]`},
		{[]string{"a", "--keystore", "ks", "--format", "keycertfile", "--cert-file", "c", "--output-format", "xml"}, `invalid output format "xml": want yaml, json or table`},
	} {
		r := c.run(append([]string{"aliases", "create"}, tc.args...)...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, "ERROR: "+tc.want+"\n", r.stderr, tc.args)
	}
}

func TestReferences_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli
	c.ok("keystores", "create", "ks1")
	c.ok("keystores", "create", "ks2")

	out := c.ok("references", "create", "ks-ref", "--refers", "ks1")
	assert.Equal(t, "name: ks-ref\nrefers: ks1\nresourceType: KeyStore\n", out)
	out = c.ok("references", "create", "ts-ref", "--refers", "ks2", "--resource-type", "truststore", "--description", "CAs")
	assert.Equal(t, "description: CAs\nname: ts-ref\nrefers: ks2\nresourceType: TrustStore\n", out)
	assert.Equal(t, "NAME\nks-ref\nts-ref\n", c.ok("references", "list"))
	assert.Equal(t, "name: ks-ref\nrefers: ks1\nresourceType: KeyStore\n", c.ok("references", "describe", "ks-ref"))

	out = c.ok("references", "update", "ks-ref", "--refers", "ks2")
	assert.Equal(t, "name: ks-ref\nrefers: ks2\nresourceType: KeyStore\n", out)

	r := c.run("references", "create", "bad-ref", "--refers", "missing")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "missing")

	r = c.run("references", "update", "ks-ref")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "ERROR: nothing to update: give --refers, --resource-type or --description\n", r.stderr)

	r = c.run("references", "delete", "ks-ref")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted reference [ks-ref].\n", r.stderr)
	assert.Equal(t, "NAME\nts-ref\n", c.ok("references", "list"))
}

func TestConfigurableEnvironment_UpdatesAreRefusedWithDocumentedMessages(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "CONFIGURABLE")
	c := b.cli
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gw"})
	certFile := writeFile(t, b.dir, "gw.crt", string(leaf.CertPEM()))
	keyFile := writeFile(t, b.dir, "gw.key", string(leaf.KeyPEM(t)))
	c.ok("keystores", "create", "ks")
	c.ok("aliases", "create", "gw", "--keystore", "ks", "--format", "keycertfile", "--cert-file", certFile, "--key-file", keyFile)
	c.ok("references", "create", "ks-ref", "--refers", "ks")

	r := c.run("aliases", "update", "gw", "--keystore", "ks", "--cert-file", certFile)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: Alias updates are currently disabled for configurable proxy environments. To update the certificate, create a new alias and reference it within a new archive deployment.\n", r.stderr)

	r = c.run("references", "update", "ks-ref", "--refers", "ks")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: Reference updates are currently disabled for configurable proxy environments. To update the reference, create a new reference and reference it within a new archive deployment.\n", r.stderr)
}

func TestOperations_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli

	table := c.ok("operations", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 2, table)
	fields := strings.Fields(lines[1])
	require.Len(t, fields, 5, lines[1])
	uuid := fields[0]
	assert.Equal(t, []string{"INSERT", "FINISHED", "OK", "organizations/myorg/environments/dev"}, fields[1:])

	r := c.run("operations", "describe", uuid)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Using organization 'myorg'\n", r.stderr)
	op := fromYAML(t, r.stdout)
	assert.Equal(t, true, op["done"])
	assert.Equal(t, "organizations/myorg/operations/"+uuid, op["name"])
	assert.Equal(t, "myorg", op["organization"])
	assert.Equal(t, uuid, op["uuid"])
	assert.Equal(t, map[string]any{
		"@type":              "type.googleapis.com/google.cloud.apigee.v1.OperationMetadata",
		"operationType":      "INSERT",
		"state":              "FINISHED",
		"targetResourceName": "organizations/myorg/environments/dev",
	}, op["metadata"])
	assert.True(t, strings.HasPrefix(r.stdout, "done: true\n"), r.stdout)
	assert.Contains(t, r.stdout, "\nmetadata:\n  '@type': type.googleapis.com/google.cloud.apigee.v1.OperationMetadata\n  operationType: INSERT\n")

	// The full name, as `archives deploy --async` prints it, works too.
	assert.Equal(t, r.stdout, c.ok("operations", "describe", "organizations/myorg/operations/"+uuid))

	r = c.run("operations", "describe", "00000000-0000-4000-8000-000000000000")
	assert.Equal(t, 1, r.code)
}

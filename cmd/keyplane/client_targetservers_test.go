package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetServers_CreateDescribeUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli
	deployable(t, b, "ks")
	c.ok("references", "create", "gateway-keystore-ref", "--refers", "ks")
	c.ok("references", "create", "backend-truststore-ref", "--refers", "ts", "--resource-type", "TrustStore")

	out := c.ok("targetservers", "create", "backend", "--host", "backend.example.com", "--port", "443",
		"--tls", "--client-auth", "--keystore", "ref://gateway-keystore-ref", "--key-alias", "my_alias",
		"--truststore", "ref://backend-truststore-ref", "--tls-protocols", "TLSv1.2,TLSv1.3", "--format", "json")
	assert.JSONEq(t, `{
		"name": "backend", "host": "backend.example.com", "port": 443, "isEnabled": true, "protocol": "HTTP",
		"sSLInfo": {"enabled": true, "clientAuthEnabled": true, "keyStore": "ref://gateway-keystore-ref",
			"keyAlias": "my_alias", "trustStore": "ref://backend-truststore-ref", "protocols": ["TLSv1.2", "TLSv1.3"]}
	}`, out)

	c.ok("targetservers", "create", "plain", "--host", "h", "--port", "80", "--enabled=false")
	assert.Equal(t, "NAME\nbackend\nplain\n", c.ok("targetservers", "list"))
	assert.Equal(t, "host: h\nisEnabled: false\nname: plain\nport: 80\nprotocol: HTTP\n", c.ok("targetservers", "describe", "plain"))

	out = c.ok("targetservers", "update", "backend", "--tls-enforce", "--common-name", "backend.example.com", "--format", "json")
	assert.JSONEq(t, `{
		"name": "backend", "host": "backend.example.com", "port": 443, "isEnabled": true, "protocol": "HTTP",
		"sSLInfo": {"enabled": true, "clientAuthEnabled": true, "keyStore": "ref://gateway-keystore-ref",
			"keyAlias": "my_alias", "trustStore": "ref://backend-truststore-ref", "protocols": ["TLSv1.2", "TLSv1.3"], "enforce": true,
			"commonName": {"value": "backend.example.com"}}
	}`, out, "fields whose flags are not given keep their value")

	r := c.run("targetservers", "create", "x", "--host", "h")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "ERROR: --host and --port are required\n", r.stderr)

	r = c.run("targetservers", "create", "plain", "--host", "h", "--port", "80")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: target server \"plain\" already exists in environment \"dev\"\n", r.stderr)

	r = c.run("targetservers", "delete", "plain")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Deleted target server [plain].\n", r.stderr)
	assert.Equal(t, "NAME\nbackend\n", c.ok("targetservers", "list"))
}

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

func TestTokens_CreateUseListRevoke_EndToEnd(t *testing.T) {
	t.Parallel()
	b := setupReal(t, "PROGRAMMABLE")
	c := b.cli
	expiry := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)

	out := c.ok("tokens", "create", "--role", "Viewer", "--expire-time", expiry, "--format", "json")
	var tok api.Token
	require.NoError(t, json.Unmarshal([]byte(out), &tok), out)
	assert.Equal(t, "viewer", tok.Role)
	assert.Equal(t, expiry, tok.ExpireTime)
	assert.True(t, strings.HasPrefix(tok.Token, "kp_"), tok.Token)
	assert.True(t, strings.HasPrefix(tok.Name, "organizations/myorg/tokens/"), tok.Name)
	id := lastSegment(tok.Name)

	// The new token works, within its role.
	viewer := newCLI(t, b.srv.URL, tok.Token)
	viewer.env["KEYPLANE_ORG"], viewer.env["KEYPLANE_ENV"] = "myorg", "dev"
	assert.Equal(t, "NAME\n", viewer.ok("keystores", "list"))
	r := viewer.run("keystores", "create", "ks")
	assert.Equal(t, 1, r.code, "a viewer cannot write: %s", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "ERROR: "), r.stderr)

	table := c.ok("tokens", "list")
	assert.Regexp(t, `(?m)^ID\s+ROLE\s+CREATED\s+EXPIRES\s+REVOKED$`, table)
	assert.Regexp(t, `(?m)^`+id+`\s+viewer\s+\S+Z\s+`+expiry+`\s*$`, table)
	assert.NotContains(t, table, tok.Token, "secrets are never listed")
	assert.NotContains(t, c.ok("tokens", "list", "--format", "json"), tok.Token)

	r = c.run("tokens", "revoke", tok.Name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Revoked token ["+id+"].\n", r.stderr)
	assert.Empty(t, r.stdout)

	assert.Eventually(t, func() bool { return viewer.run("keystores", "list").code == 3 }, 30*time.Second, 100*time.Millisecond,
		"a revoked token is refused as unauthenticated")

	r = c.run("tokens", "create", "--role", "deployer", "--expire-time", "2020-01-01T00:00:00Z")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: expireTime 2020-01-01T00:00:00Z is in the past\n", r.stderr)
}

func TestTokensCreate_UsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "http://127.0.0.1:1", "t")
	c.env["KEYPLANE_ORG"] = "o"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--role is required: admin, deployer or viewer"},
		{[]string{"--role", "root"}, `invalid --role "root": want one of admin, deployer, viewer`},
		{[]string{"--role", "viewer", "--expires-in", "1h", "--expire-time", "2027-01-01T00:00:00Z"}, "give --expires-in or --expire-time, not both"},
		{[]string{"--role", "viewer", "--expires-in", "-1h"}, "--expires-in must be positive"},
		{[]string{"--role", "viewer", "--expire-time", "tomorrow"}, `invalid --expire-time "tomorrow": want RFC 3339, such as 2027-01-01T00:00:00Z`},
	} {
		r := c.run(append([]string{"tokens", "create"}, tc.args...)...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, "ERROR: "+tc.want+"\n", r.stderr, tc.args)
	}
}

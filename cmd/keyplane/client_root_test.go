package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
)

func TestExitCode_MapsEachKindOfFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"usage", usageErrorf("--org is required"), 2},
		{"wrapped usage", fmt.Errorf("x: %w", usageErrorf("y")), 2},
		{"cobra unknown command", errors.New(`unknown command "x" for "keyplane"`), 2},
		{"cobra required flag", errors.New(`required flag(s) "org" not set`), 2},
		{"server refused", &api.Error{HTTPStatus: 400, Status: "INVALID_ARGUMENT", Message: "bad"}, 1},
		{"not found", &api.Error{HTTPStatus: 404, Status: "NOT_FOUND", Message: "gone"}, 1},
		{"forbidden", &api.Error{HTTPStatus: 403, Status: "PERMISSION_DENIED", Message: "no"}, 1},
		{"unauthenticated", &api.Error{HTTPStatus: 401, Status: "UNAUTHENTICATED", Message: "who"}, 3},
		{"unreachable", &api.TransportError{URL: "http://x", Err: errors.New("connection refused")}, 3},
		{"cancelled", &api.TransportError{URL: "http://x", Err: context.Canceled}, 1},
		{"failed operation", &operationError{&api.Status{Code: 3, Message: "m"}}, 1},
		{"anything else", errors.New("disk full"), 1},
	} {
		assert.Equal(t, tc.want, exitCode(tc.err), tc.name)
	}
}

func TestClient_UnreachableServer_Exits3AndSaysSo(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := newCLI(t, "http://"+addr, "t")

	r := c.run("keystores", "list", "--org", "o", "--env", "e")

	assert.Equal(t, 3, r.code)
	assert.Empty(t, r.stdout)
	assert.True(t, strings.HasPrefix(r.stderr, "ERROR: cannot reach server at http://"+addr+"/v1/organizations/o/environments/e/keystores: "), r.stderr)
}

func TestClient_ServerFlagOverridesEnvironment(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := newCLI(t, "http://127.0.0.1:1", srv.Token)

	assert.Equal(t, "NAME\n", c.ok("organizations", "list", "--server", srv.URL))
	assert.Equal(t, 3, c.run("organizations", "list").code)
}

func TestClient_InvalidToken_Exits3WithServerMessage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	for _, token := range []string{"wrong", ""} {
		c := newCLI(t, srv.URL, token)

		r := c.run("organizations", "list")

		assert.Equal(t, 3, r.code, token)
		assert.Empty(t, r.stdout)
		assert.True(t, strings.HasPrefix(r.stderr, "ERROR: "), r.stderr)
		assert.Contains(t, r.stderr, "token", token)
	}
}

func TestClient_NotFound_Exits1WithServerMessage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := newCLI(t, srv.URL, srv.Token)
	c.ok("organizations", "create", "myorg")

	r := c.run("environments", "describe", "nope", "--org", "myorg")

	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "not found")
}

func TestClient_UsageErrors_Exit2(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "http://127.0.0.1:1", "t")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keystores", "list"}, "ERROR: an organization is required: pass --org or set KEYPLANE_ORG\n"},
		{[]string{"keystores", "list", "--org", "o"}, "ERROR: an environment is required: pass --env or set KEYPLANE_ENV\n"},
		{[]string{"keystores", "create", "--org", "o", "--env", "e"}, "ERROR: missing argument NAME: usage: keyplane keystores create NAME [flags]\n"},
		{[]string{"keystores", "describe", "a", "b", "--org", "o", "--env", "e"}, "ERROR: unexpected argument \"b\": usage: keyplane keystores describe NAME [flags]\n"},
		{[]string{"keystores", "list", "--org", "o", "--env", "e", "--format", "csv"}, "ERROR: invalid output format \"csv\": want yaml, json or table\n"},
		{[]string{"keystores", "list", "--bogus"}, "ERROR: unknown flag: --bogus\n"},
		{[]string{"keystores", "craete"}, "ERROR: unknown command \"craete\" for \"keyplane keystores\"; did you mean \"create\"?\n"},
		{[]string{"tokens", "create", "--org", "o", "--role", "root"}, "ERROR: invalid --role \"root\": want one of admin, deployer, viewer\n"},
		{[]string{"organizations", "describe"}, "ERROR: an organization is required: pass --org or set KEYPLANE_ORG\n"},
	} {
		r := c.run(tc.args...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, tc.want, r.stderr, tc.args)
		assert.Empty(t, r.stdout, tc.args)
	}
}

// TestHelp_EveryCommandReadsWell walks the whole tree of the real binary:
// each command says what it does in a short line without a final period,
// and --help works.
func TestHelp_EveryCommandReadsWell(t *testing.T) {
	t.Parallel()
	var walk func(cmd *cobra.Command)
	seen := 0
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			path := strings.TrimPrefix(sub.CommandPath(), "keyplane ")
			assert.NotEmpty(t, sub.Short, path)
			assert.False(t, strings.HasSuffix(sub.Short, "."), "%s: short help ends with a period", path)
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append(strings.Fields(path), "--help"))
			require.NoError(t, root.Execute(), path)
			assert.Contains(t, out.String(), "Usage:\n  "+sub.CommandPath(), path)
			seen++
			walk(sub)
		}
	}
	walk(newRootCmd())
	assert.Greater(t, seen, 40)

	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	require.NoError(t, root.Execute())
	assert.Contains(t, out.String(), "Client commands (talk to a server over its HTTP API):\n  aliases ")
}

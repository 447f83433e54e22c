package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// cliResult is what one run of the CLI printed and its exit code.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs client commands in-process, as main does, against one server
// with its own environment variables.
type cli struct {
	t     *testing.T
	env   map[string]string
	stdin string
	now   time.Time
}

func newCLI(t *testing.T, server, token string) *cli {
	return &cli{t: t, env: map[string]string{"KEYPLANE_SERVER": server, "KEYPLANE_TOKEN": token}}
}

// run executes `keyplane args...` and returns what it printed and its exit
// code; errors are printed as main prints them.
func (c *cli) run(args ...string) cliResult {
	c.t.Helper()
	env := defaultClientEnv()
	env.getenv = func(k string) string { return c.env[k] }
	env.pollInterval, env.maxPollInterval = 5*time.Millisecond, 20*time.Millisecond
	if !c.now.IsZero() {
		env.now = func() time.Time { return c.now }
	}
	root := &cobra.Command{Use: "keyplane", SilenceUsage: true, SilenceErrors: true}
	addClientCommandsWith(root, env)
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetIn(strings.NewReader(c.stdin))
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if code := exitCode(err); code == exitPending {
		fmt.Fprintln(&stderr, "PENDING:", err)
	} else if err != nil {
		fmt.Fprintln(&stderr, "ERROR:", err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(err)}
}

// ok runs a command that must succeed and returns its standard output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	require.Equal(c.t, 0, r.code, "keyplane %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

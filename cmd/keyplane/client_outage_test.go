package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
)

// inFlight waits until the organization has an operation not yet done, and
// returns it.
func inFlight(t *testing.T, srv *servertest.Server) api.Operation {
	t.Helper()
	cl := &api.Client{BaseURL: srv.URL, Token: srv.Token}
	var op api.Operation
	require.Eventually(t, func() bool {
		page, err := cl.ListOperations(context.Background(), "myorg", 0, "")
		if err != nil {
			return false
		}
		for _, o := range page.Operations {
			if !o.Done && o.Metadata.State == api.StateInProgress {
				op = o
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
	return op
}

// deployAsync runs `archives deploy` in the background.
func deployAsync(c *cli, args ...string) <-chan cliResult {
	done := make(chan cliResult, 1)
	go func() { done <- c.run(append([]string{"archives", "deploy"}, args...)...) }()
	return done
}

// TestArchivesDeploy_DatabaseOutage_WaitsThenTellsPendingFromFailed stops
// the server's PostgreSQL while `archives deploy` waits: the command keeps
// asking through the 503s and reports the outcome once the database is
// back; and when the outcome cannot be learned within --timeout, it says
// the operation is pending (exit code 4) and how to check it, and that
// command later learns it.
func TestArchivesDeploy_DatabaseOutage_WaitsThenTellsPendingFromFailed(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	srv := servertest.StartWith(t, servertest.Options{DatabaseURL: cluster.URL(), ValidationDelay: 2 * time.Second})
	c := newCLI(t, srv.URL, srv.Token)
	c.ok("organizations", "create", "myorg")
	c.env["KEYPLANE_ORG"] = "myorg"
	c.ok("environments", "create", "dev", "--deployment-type", "ARCHIVE")
	c.env["KEYPLANE_ENV"] = "dev"
	b := &realBundle{srv: srv, cli: c, dir: t.TempDir()}
	dir := deployable(t, b, "ks")

	// An outage of a few seconds while it waits: the outcome, not an error.
	done := deployAsync(c, "--source", dir)
	inFlight(t, srv)
	cluster.Stop()
	time.Sleep(3 * time.Second)
	cluster.Start()
	r := <-done
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^Waiting for operation \[[0-9a-f-]{36}\] to complete\.\.\.done\.\n$`, r.stderr)

	// An outage longer than --timeout: pending, never failed.
	done = deployAsync(c, "--source", dir, "--timeout", "2s")
	op := inFlight(t, srv)
	cluster.Stop()
	r = <-done
	cluster.Start()
	uuid := op.Name[strings.LastIndex(op.Name, "/")+1:]
	require.Equal(t, exitPending, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Waiting for operation ["+uuid+"] to complete...pending.\n")
	assert.Contains(t, r.stderr, "PENDING: operation ["+uuid+"] is still pending: its outcome could not be learned within --timeout 2s (last answer: HTTP 503 UNAVAILABLE)")
	assert.NotContains(t, r.stderr, "try again")
	check := regexp.MustCompile(`\n  keyplane (operations describe \S+ --org myorg --wait)\n`).FindStringSubmatch(r.stderr)
	require.NotNil(t, check, r.stderr)
	out := c.ok(strings.Fields(check[1])...)
	assert.Contains(t, out, "done: true")
	assert.Contains(t, out, "state: FINISHED")
}

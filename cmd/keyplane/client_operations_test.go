package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

// operationServer answers GET .../operations/u with the answers in turn,
// repeating the last one: a status code, and an operation when it is 200.
func operationServer(t *testing.T, answers ...int) (*api.Client, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		code := answers[min(n, len(answers)-1)]
		w.WriteHeader(code)
		if code != http.StatusOK {
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: "not now", Status: "UNAVAILABLE"}})
			return
		}
		done := n >= len(answers)-1
		_ = json.NewEncoder(w).Encode(api.Operation{Name: "organizations/o/operations/u", Done: done})
	}))
	t.Cleanup(srv.Close)
	return &api.Client{BaseURL: srv.URL}, &calls
}

func fastEnv() clientEnv {
	env := defaultClientEnv()
	env.pollInterval, env.maxPollInterval = time.Millisecond, 2*time.Millisecond
	return env
}

func TestWaiter_OnATerminal_ShowsASpinnerThenDone(t *testing.T) {
	t.Parallel()
	cl, _ := operationServer(t, 200, 200, 200)
	env := fastEnv()
	env.terminal = func(io.Writer) bool { return true }
	var stderr bytes.Buffer
	w := &waiter{env: env, client: cl, org: "o", progress: &stderr}

	op, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.NoError(t, err)
	assert.True(t, op.Done)
	assert.Equal(t, "Waiting for operation [u] to complete...|\b/\b-\bdone.\n", stderr.String())
}

func TestWaiter_OffATerminal_PrintsOnlyTheLine(t *testing.T) {
	t.Parallel()
	cl, _ := operationServer(t, 200, 200, 200)
	var stderr bytes.Buffer
	w := &waiter{env: fastEnv(), client: cl, org: "o", progress: &stderr}

	_, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.NoError(t, err)
	assert.Equal(t, "Waiting for operation [u] to complete...done.\n", stderr.String())
}

func TestWaiter_PassingFailures_AreRetried(t *testing.T) {
	t.Parallel()
	cl, calls := operationServer(t, 503, 503, 200)
	var stderr bytes.Buffer
	w := &waiter{env: fastEnv(), client: cl, org: "o", progress: &stderr}

	op, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.NoError(t, err)
	assert.True(t, op.Done)
	assert.Equal(t, int32(3), calls.Load())
}

// An operation that cannot be asked about until the timeout is pending,
// not failed: exit code 4, and the command that checks it.
func TestWaiter_LastingFailures_EndPending(t *testing.T) {
	t.Parallel()
	cl, calls := operationServer(t, 503)
	var stderr bytes.Buffer
	w := &waiter{env: fastEnv(), client: cl, org: "o", progress: &stderr, timeout: 200 * time.Millisecond}

	start := time.Now()
	_, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "gave up before the timeout")
	require.Greater(t, calls.Load(), int32(10), "kept asking until the timeout")
	var pending *pendingError
	require.ErrorAs(t, err, &pending)
	assert.Equal(t, exitPending, exitCode(err))
	assert.Equal(t, "operation [u] is still pending: its outcome could not be learned within --timeout 200ms "+
		"(last answer: HTTP 503 UNAVAILABLE). It goes on on the server; do not start it again. Check it with:\n"+
		"  keyplane operations describe u --org o --wait", err.Error())
	assert.NotContains(t, err.Error(), "try again")
	assert.True(t, strings.HasSuffix(stderr.String(), "...pending.\n"), stderr.String())
}

// A server that cannot be reached at all (connections refused) is waited
// for the same way.
func TestWaiter_ServerGone_EndsPending(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	w := &waiter{env: fastEnv(), client: &api.Client{BaseURL: srv.URL}, org: "o", timeout: 100 * time.Millisecond, server: srv.URL}

	_, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	assert.Equal(t, exitPending, exitCode(err))
	assert.Contains(t, err.Error(), "keyplane operations describe u --org o --wait --server "+srv.URL)
}

// Interrupting the wait (Ctrl-C) leaves the operation pending too.
func TestWaiter_Interrupted_EndsPending(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Operation{Name: "organizations/o/operations/u"}) // never done
	}))
	t.Cleanup(srv.Close)
	cl := &api.Client{BaseURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	w := &waiter{env: fastEnv(), client: cl, org: "o"}

	_, err := w.wait(ctx, &api.Operation{Name: "organizations/o/operations/u"})

	assert.Equal(t, exitPending, exitCode(err))
	assert.Contains(t, err.Error(), "waiting for it was interrupted")
}

func TestWaiter_NotFound_GivesUpAtOnce(t *testing.T) {
	t.Parallel()
	cl, calls := operationServer(t, 404)
	w := &waiter{env: fastEnv(), client: cl, org: "o"}

	_, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.Error(t, err)
	assert.Equal(t, int32(1), calls.Load())
}

func TestIsTerminal_PipeIsNot(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, isTerminal(w))
	assert.False(t, isTerminal(&bytes.Buffer{}))
}

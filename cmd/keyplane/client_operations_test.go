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

func TestWaiter_LastingFailures_GiveUp(t *testing.T) {
	t.Parallel()
	cl, calls := operationServer(t, 503)
	var stderr bytes.Buffer
	w := &waiter{env: fastEnv(), client: cl, org: "o", progress: &stderr}

	_, err := w.wait(context.Background(), &api.Operation{Name: "organizations/o/operations/u"})

	require.Error(t, err)
	assert.Equal(t, "not now", err.Error())
	assert.Equal(t, int32(maxPollFailures), calls.Load())
	assert.True(t, strings.HasSuffix(stderr.String(), "...failed.\n"), stderr.String())
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

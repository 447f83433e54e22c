package upstream_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/upstream"
)

// plainTransport is a transport to a plain-HTTP backend.
func plainTransport(t *testing.T, b *backend, o upstream.Options) *upstream.Transport {
	t.Helper()
	tr, err := upstream.NewTransports(o).Get(upstream.Target{Addr: b.Addr})
	require.NoError(t, err)
	return tr
}

func TestTransport_HTTP1_StaleConnectionIsRetriedOnANewOne(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, nil)
	tr := plainTransport(t, b, upstream.Options{})
	require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status)
	// The target closes the idle connection behind the pool's back.
	b.srv.CloseClientConnections()
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status, "a request without body is sent again on a new connection")
	require.Equal(t, int64(2), b.opened.Load())
}

func TestTransport_HTTP1_ConnectionCloseAnswersAreNotReused(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	tr := plainTransport(t, b, upstream.Options{})
	for range 3 {
		require.Equal(t, "bye", roundTrip(t, tr, b).Body)
	}
	require.Equal(t, int64(3), b.opened.Load())
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestTransport_HTTP1_BodyClosedUnreadClosesTheConnection(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	})
	tr := plainTransport(t, b, upstream.Options{})
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, err = io.ReadFull(resp.Body, make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	// The rest of the body is still on the connection: it cannot carry
	// another request.
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, roundTrip(t, tr, b).Body, 1<<20)
	require.Equal(t, int64(2), b.opened.Load())
}

func TestTransport_HTTP1_RequestBodyAndMethodPassThrough(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(body))
	})
	tr := plainTransport(t, b, upstream.Options{})
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/items?x=1", strings.NewReader(`{"a":1}`))
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, `POST /items?x=1 {"a":1}`, string(got))
	}
	require.Equal(t, int64(1), b.opened.Load())
}

func TestTransport_HTTP1_CancelledRequestEndsAtOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := plainTransport(t, b, upstream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+"/", nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the connection is closed, not kept with an answer pending")
}

func TestTransport_HTTP1_ResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := plainTransport(t, b, upstream.Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	resp := roundTrip(t, tr, b)
	require.Equal(t, http.StatusGatewayTimeout, resp.Status)
	require.Equal(t, "upstream request timeout", resp.Body)
}

func TestTransport_HTTP1_IdleConnectionsExpire(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, nil)
	tr := plainTransport(t, b, upstream.Options{IdleConnTimeout: 100 * time.Millisecond})
	require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status)
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
		"an idle connection is closed after IdleConnTimeout, requests or not")
}

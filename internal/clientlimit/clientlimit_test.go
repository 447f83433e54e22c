package clientlimit_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/clientlimit"
)

// testTimeouts are short, so that each test sees one deadline hit.
var testTimeouts = clientlimit.Timeouts{
	ReadHeader: 2 * time.Second,
	BodyIdle:   2 * time.Second,
	Read:       5 * time.Second,
	Write:      5 * time.Second,
	Request:    10 * time.Second,
	Idle:       5 * time.Second,
}

// serve runs h behind Handler with t on a real listener of at most
// perAddr connections per address, and returns its address.
func serve(t *testing.T, h http.Handler, to clientlimit.Timeouts, perAddr int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: clientlimit.Handler(h, to)}
	to.Configure(srv)
	go func() { _ = srv.Serve(clientlimit.Listen(ln, perAddr)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// readBody reports how a handler's read of the whole body ended.
func readBody(result chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		result <- err
		if err != nil {
			http.Error(w, "body", http.StatusBadRequest)
		}
	})
}

// trickle sends the headers of a request announcing size body bytes, then
// one byte every interval until the connection fails or stop closes.
func trickle(t *testing.T, addr string, size int, interval time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	require.NoError(t, err)
	go func() {
		for range size {
			time.Sleep(interval)
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	return conn
}

func TestHandler_BodyIdleCutsOffAPausingClient(t *testing.T) {
	t.Parallel()
	to := testTimeouts
	to.BodyIdle = 200 * time.Millisecond
	result := make(chan error, 1)
	addr := serve(t, readBody(result), to, 0)
	start := time.Now()
	trickle(t, addr, 100, time.Second)
	select {
	case err := <-result:
		require.Error(t, err)
		require.ErrorContains(t, err, "timeout")
		require.Less(t, time.Since(start), 900*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("a client pausing longer than BodyIdle still holds the request")
	}
}

func TestHandler_ReadBoundsAWholeBodySentSlowly(t *testing.T) {
	t.Parallel()
	to := testTimeouts
	to.BodyIdle, to.Read = time.Second, 600*time.Millisecond
	result := make(chan error, 1)
	addr := serve(t, readBody(result), to, 0)
	start := time.Now()
	trickle(t, addr, 1000, 50*time.Millisecond) // never idle for long, never done
	select {
	case err := <-result:
		require.ErrorContains(t, err, "timeout")
		require.Less(t, time.Since(start), 2*time.Second)
		require.Greater(t, time.Since(start), 500*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("a body trickling in forever is never cut off")
	}
}

func TestHandler_WriteCutsOffAClientThatStopsReading(t *testing.T) {
	t.Parallel()
	to := testTimeouts
	to.Write = 300 * time.Millisecond
	result := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}), to, 0)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	select { // the client reads nothing
	case err := <-result:
		require.ErrorContains(t, err, "timeout")
	case <-time.After(5 * time.Second):
		t.Fatal("a client that stops reading holds the handler")
	}
}

func TestHandler_RequestEndsTheHandlersContext(t *testing.T) {
	t.Parallel()
	to := testTimeouts
	to.Request = 300 * time.Millisecond
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, r.Context().Err().Error(), http.StatusGatewayTimeout)
		case <-time.After(5 * time.Second):
		}
	}), to, 0)
	start := time.Now()
	resp, err := http.Get("http://" + addr)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	require.Contains(t, string(body), context.DeadlineExceeded.Error())
	require.Less(t, time.Since(start), 2*time.Second)
}

// A request refused before its body is read is answered at once, and the
// connection closed, however much body it announced and never sent.
func TestHandler_RefusalIsAnsweredWithoutWaitingForTheBody(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}), testTimeouts, 0)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.True(t, resp.Close, "the connection is closed after the answer")
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, time.Since(start), time.Second)
}

func TestListen_LimitsConnectionsPerAddress(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), testTimeouts, 2)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer extra.Close()
	_, _ = fmt.Fprintf(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, err := extra.Read(make([]byte, 1))
	require.Zero(t, n)
	require.False(t, isTimeout(err), "the third connection is closed at once, not left waiting: %v", err)

	// A slot given back is free again.
	require.NoError(t, held[0].Close())
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 3*time.Second, 20*time.Millisecond)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout() || err != nil && strings.Contains(err.Error(), "timeout")
}

package inbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// start serves h on a loopback listener with short timeouts, changed by
// tune, and returns the server and its address.
func start(t *testing.T, h http.HandlerFunc, tune func(*Server)) (*Server, string) {
	t.Helper()
	s := &Server{Handler: h, ParkAfter: 30 * time.Millisecond}
	s.Timeouts.ReadHeader, s.Timeouts.BodyIdle, s.Timeouts.Read = 2*time.Second, 2*time.Second, 5*time.Second
	s.Timeouts.Write, s.Timeouts.Request, s.Timeouts.Idle = 2*time.Second, 10*time.Second, 30*time.Second
	if tune != nil {
		tune(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.setup() // before the test looks at the poller
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return s, ln.Addr().String()
}

// client is one raw connection to the server.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (k *client) send(raw string) {
	k.t.Helper()
	_, err := io.WriteString(k.c, raw)
	require.NoError(k.t, err)
}

// answer reads one answer, with its body, to a request of method.
func (k *client) answer(method string) (*http.Response, string) {
	k.t.Helper()
	resp, err := http.ReadResponse(k.br, &http.Request{Method: method})
	require.NoError(k.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(k.t, err)
	return resp, string(b)
}

// closed reports whether the server closed the connection (within a few
// seconds).
func (k *client) closed() bool {
	_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := k.br.ReadByte()
	return err == io.EOF || err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

const get = "GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n"

func TestServer_FramesAnswersAndKeepsConnectionsAlive(t *testing.T) {
	t.Parallel()
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/short":
			_, _ = io.WriteString(w, "short answer")
		case "/long":
			_, _ = io.WriteString(w, strings.Repeat("x", 10000))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		case "/prefixed":
			_, _ = io.WriteString(w, strings.Repeat("y", 3000))
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		default:
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Host, r.RemoteAddr)
		}
	}, nil)
	k := dial(t, addr)
	k.send("GET /length HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body := k.answer("GET")
	assert.Equal(t, "hello", body)
	assert.Equal(t, int64(5), resp.ContentLength)
	assert.NotEmpty(t, resp.Header.Get("Date"))

	k.send("GET /short HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body = k.answer("GET")
	assert.Equal(t, "short answer", body)
	assert.Equal(t, int64(len(body)), resp.ContentLength, "a short answer gets its length")

	k.send("GET /long HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body = k.answer("GET")
	assert.Len(t, body, 10000)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding, "a long answer of unknown length is chunked")

	k.send("HEAD /length HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body = k.answer("HEAD")
	assert.Empty(t, body)
	assert.Equal(t, int64(5), resp.ContentLength)

	k.send("GET /empty HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, _ = k.answer("GET")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	k.send("GET /trailer HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body = k.answer("GET")
	assert.Equal(t, "body", body)
	assert.Equal(t, "42", resp.Trailer.Get("X-Sum"))

	k.send("GET /prefixed HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, _ = k.answer("GET")
	assert.Equal(t, "late", resp.Trailer.Get("X-Late"))

	// Two requests sent at once are answered in order.
	k.send("GET /a?q=1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /b HTTP/1.1\r\nHost: b.test\r\n\r\n")
	_, body = k.answer("GET")
	assert.True(t, strings.HasPrefix(body, "GET /a?q=1 a.test 127.0.0.1:"), body)
	_, body = k.answer("GET")
	assert.True(t, strings.HasPrefix(body, "GET /b b.test "), body)

	// A client that asks to close has it closed after the answer.
	k.send("GET /length HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	resp, _ = k.answer("GET")
	assert.True(t, resp.Close)
	assert.True(t, k.closed())

	// HTTP/1.0: kept alive only when asked, and an answer of unknown
	// length ends with the connection.
	k = dial(t, addr)
	k.send("GET /length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, _ = k.answer("GET")
	assert.Equal(t, "HTTP/1.0", resp.Proto)
	assert.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	k.send("GET /long HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	_, body = k.answer("GET")
	assert.Len(t, body, 10000)
	assert.True(t, k.closed())
}

func TestServer_IdleConnectionsAreParkedAndServedWhenTheySpeak(t *testing.T) {
	t.Parallel()
	s, addr := start(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }, nil)
	if s.poll == nil {
		t.Skip("this system cannot park connections")
	}
	k := dial(t, addr)
	for range 2 {
		k.send(get)
		_, body := k.answer("GET")
		require.Equal(t, "ok", body)
		require.Eventually(t, func() bool { return s.parkedCount() == 1 }, 2*time.Second, 10*time.Millisecond,
			"the idle connection is parked")
		require.Equal(t, 1, s.openCount(), "a connection parked a short while keeps its net.Conn")
	}
	for range 2 {
		require.Eventually(t, func() bool { return s.parkedCount() == 1 && s.openCount() == 0 },
			DetachAfter+2*time.Second, 20*time.Millisecond, "a connection parked long is detached: only its socket is kept")
		k.send(get)
		_, body := k.answer("GET")
		require.Equal(t, "ok", body, "a detached connection is served when it speaks")
	}
	// A client hanging up a parked connection frees it.
	require.NoError(t, k.c.Close())
	require.Eventually(t, func() bool { return s.parkedCount() == 0 }, 2*time.Second, 10*time.Millisecond)
}

func TestServer_IdleDeadlineClosesParkedConnections(t *testing.T) {
	t.Parallel()
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") },
		func(s *Server) { s.Timeouts.Idle = 300 * time.Millisecond })
	k := dial(t, addr)
	k.send(get)
	k.answer("GET")
	begin := time.Now()
	assert.True(t, k.closed())
	assert.Less(t, time.Since(begin), 3*time.Second)

	// A connection that never sends a request is closed after ReadHeader.
	_, addr = start(t, nil, func(s *Server) { s.Timeouts.ReadHeader = 200 * time.Millisecond })
	assert.True(t, dial(t, addr).closed())
}

func TestServer_RefusesWhatNetHTTPRefuses(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) },
		func(s *Server) { s.MaxHeaderBytes = 1024 })
	for _, tc := range []struct{ request, status, body string }{
		{"GET / HTTP/1.1\r\n\r\n", "400 Bad Request: missing required Host header", "400 Bad Request: missing required Host header"},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400 Bad Request: malformed Host header", "400 Bad Request: malformed Host header"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 8000) + "\r\n\r\n", "431 Request Header Fields Too Large", "431 Request Header Fields Too Large"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented", "Unsupported transfer encoding"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400 Bad Request", "400 Bad Request"},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported: unsupported protocol version", "505 HTTP Version Not Supported: unsupported protocol version"},
		{"NOT A REQUEST\r\n\r\n", "400 Bad Request", "400 Bad Request"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: telepathy\r\n\r\n", "417 Expectation Failed", "417 Expectation Failed"},
	} {
		label := keyplane.Clip(tc.request, 60)
		k := dial(t, addr)
		k.send(tc.request)
		resp, body := k.answer("GET")
		assert.Equal(t, tc.status, resp.Status, label)
		assert.Equal(t, tc.body, body, label)
		assert.True(t, k.closed(), label)
	}
	assert.Zero(t, served.Load(), "no handler saw a refused request")
}

func TestServer_RequestBodies(t *testing.T) {
	t.Parallel()
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusRequestTimeout)
				return
			}
			_, _ = w.Write(b)
			return
		}
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "unread")
	}, func(s *Server) { s.Timeouts.BodyIdle = 300 * time.Millisecond })

	k := dial(t, addr)
	k.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
	_, body := k.answer("POST")
	assert.Equal(t, "abc", body)
	k.send("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n")
	_, body = k.answer("POST")
	assert.Equal(t, "xyz", body)
	// A small body the handler left is read past: the connection goes on.
	k.send("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345")
	_, body = k.answer("POST")
	assert.Equal(t, "unread", body)
	k.send(get)
	_, body = k.answer("GET")
	assert.Equal(t, "unread", body)

	// An error answered before the body was read closes the connection.
	k = dial(t, addr)
	k.send("POST /refuse HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nab")
	resp, _ := k.answer("POST")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.True(t, resp.Close)
	assert.True(t, k.closed())

	// A client that announces a body and stalls is cut off.
	k = dial(t, addr)
	k.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
	resp, _ = k.answer("POST")
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, k.closed())

	// "Expect: 100-continue" is answered when the handler reads.
	k = dial(t, addr)
	k.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	line, err := k.br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
	line, _ = k.br.ReadString('\n')
	assert.Equal(t, "\r\n", line)
	k.send("ok")
	_, body = k.answer("POST")
	assert.Equal(t, "ok", body)
}

func TestServer_HandlerMayTakeTheConnectionOver(t *testing.T) {
	t.Parallel()
	s, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	}, func(s *Server) { s.Timeouts.ReadHeader = 200 * time.Millisecond })
	k := dial(t, addr)
	k.send("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(k.br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	time.Sleep(400 * time.Millisecond) // past the head's deadline: lifted for the new protocol
	k.send("hello\n")
	line, err := k.br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo hello\n", line)
	assert.Equal(t, 0, s.openCount(), "the server forgot the connection it gave away")
}

func TestServer_ClientHangingUpEndsTheRequestsContext(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(8 * time.Second):
			ended <- nil
		}
	}, nil)
	k := dial(t, addr)
	k.send(get)
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, k.c.Close())
	select {
	case err := <-ended:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not learn that its client left")
	}

	// And the request's own deadline ends it too.
	_, addr = start(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		ended <- r.Context().Err()
		w.WriteHeader(http.StatusGatewayTimeout)
	}, func(s *Server) { s.Timeouts.Request = 200 * time.Millisecond })
	k = dial(t, addr)
	k.send(get)
	resp, _ := k.answer("GET")
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	require.ErrorIs(t, <-ended, context.DeadlineExceeded)
}

func TestServer_LimitsConnectionsPerAddress(t *testing.T) {
	t.Parallel()
	s, addr := start(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") },
		func(s *Server) { s.MaxConnsPerAddr = 2 })
	a, b := dial(t, addr), dial(t, addr)
	for _, k := range []*client{a, b} {
		k.send(get)
		k.answer("GET")
	}
	// Both are parked now, and still count.
	if s.poll != nil {
		require.Eventually(t, func() bool { return s.parkedCount() == 2 }, 2*time.Second, 10*time.Millisecond)
	}
	assert.True(t, dial(t, addr).closed(), "a third connection is closed at once")
	require.NoError(t, a.c.Close())
	require.Eventually(t, func() bool {
		k := dial(t, addr)
		k.send(get)
		resp, err := http.ReadResponse(k.br, nil)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 3*time.Second, 50*time.Millisecond, "a closed connection gives its slot back")
}

func TestServer_ShutdownClosesIdleConnectionsAndFinishesRequests(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}, nil)
	parked, busy := dial(t, addr), dial(t, addr)
	parked.send(get)
	parked.answer("GET")
	busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(100 * time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	assert.True(t, parked.closed(), "an idle connection is closed at once")
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "no connection is accepted any more")
	close(release)
	resp, body := busy.answer("GET")
	assert.Equal(t, "done", body)
	assert.True(t, resp.Close, "the request in flight is answered, with Connection: close")
	require.NoError(t, <-stopped)
}

func TestServer_PanicsAndAbortsCloseTheConnectionOnly(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("handler bug")
		case "/abort":
			_, _ = io.WriteString(w, strings.Repeat("z", 5000))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "fine")
	}, func(s *Server) { s.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	k := dial(t, addr)
	k.send("GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
	assert.True(t, k.closed())

	k = dial(t, addr)
	k.send("GET /abort HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(k.br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	assert.Error(t, err, "an aborted answer reads as broken, not short")

	k = dial(t, addr)
	k.send(get)
	_, body := k.answer("GET")
	assert.Equal(t, "fine", body)
	assert.Contains(t, logs.String(), "handler bug", "a panic is logged")
	assert.Equal(t, 1, strings.Count(logs.String(), "panic serving"), "an abort is not")
}

// syncBuffer is a log destination tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServer_ServesTLS(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, testcerts.Options{CommonName: "Test CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "gw.test", DNSNames: []string{"gw.test"}, Parent: ca})
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %v", tls.VersionName(r.TLS.Version), r.TLS.ServerName)
	}, func(s *Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}, NextProtos: []string{"h2", "http/1.1"}}
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "gw.test"},
		ForceAttemptHTTP2: true,
	}}
	t.Cleanup(hc.CloseIdleConnections)
	for range 2 {
		resp, err := hc.Get("https://" + addr + "/")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "HTTP/1.1", resp.Proto, "HTTP/1.1 is what is offered")
		assert.Equal(t, "TLS 1.3 gw.test", string(b))
	}
}

// parkedCount and openCount are the server's books, for tests.
func (s *Server) parkedCount() int {
	if s.poll == nil {
		return 0
	}
	return s.poll.count()
}

func (s *Server) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestServer_SaysWhenItHasGoneQuiet(t *testing.T) {
	t.Parallel()
	quiet := make(chan struct{}, 4)
	_, addr := start(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") },
		func(s *Server) { s.OnQuiet = func() { quiet <- struct{}{} } })
	select {
	case <-quiet:
		t.Fatal("quiet before serving anything")
	case <-time.After(1500 * time.Millisecond):
	}
	k := dial(t, addr)
	for range 2 {
		k.send(get)
		k.answer("GET")
		select {
		case <-quiet:
		case <-time.After(4 * time.Second):
			t.Fatal("OnQuiet was not called a second after the last request")
		}
		select {
		case <-quiet:
			t.Fatal("OnQuiet was called twice for one quiet spell")
		case <-time.After(1500 * time.Millisecond):
		}
	}
}

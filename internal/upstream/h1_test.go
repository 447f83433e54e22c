package upstream_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
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

// silentBackend reads requests and never answers, until the test ends.
func silentBackend(t *testing.T) *backend {
	t.Helper()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
}

func TestTransport_HTTP1_CancelledRequestEndsAtOnce(t *testing.T) {
	t.Parallel()
	b := silentBackend(t)
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
	b := silentBackend(t)
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

// rawBackend answers every request on a connection with answer, written
// as is, and counts the requests it read.
func rawBackend(t *testing.T, answer string) (*backend, *atomic.Int64) {
	t.Helper()
	var requests atomic.Int64
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(answer)
		_ = buf.Flush()
		// Keep the connection open, as a kept-alive one would be.
		go func() {
			_, _ = io.Copy(io.Discard, conn)
			conn.Close()
		}()
	})
	return b, &requests
}

func TestTransport_HTTP1_BytesBeyondTheAnswerNeverAnswerTheNextRequest(t *testing.T) {
	t.Parallel()
	b, requests := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
	tr := plainTransport(t, b, upstream.Options{})
	for i := range 3 {
		got := roundTrip(t, tr, b)
		require.Equal(t, "ok", got.Body, "request %d", i)
	}
	require.Equal(t, int64(3), requests.Load(), "every request reached the target")
}

func TestTransport_HTTP1_SeveralStaleConnectionsStillAnswer(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, nil)
	tr := plainTransport(t, b, upstream.Options{})
	many(t, tr, b, 40, 8) // several idle connections
	b.srv.CloseClientConnections()
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	for range 3 {
		require.Equal(t, http.StatusOK, roundTrip(t, tr, b).Status)
	}
}

func TestTransport_HTTP1_RequestsThatChangeThingsAreNotSentTwice(t *testing.T) {
	t.Parallel()
	// The target reads each request, then drops the connection without
	// answering: the request may have had its effect.
	var seen atomic.Int64
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm" {
			return
		}
		seen.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	tr := plainTransport(t, b, upstream.Options{})
	send := func(method, path string, header http.Header) error {
		req, _ := http.NewRequest(method, b.URL+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, send(http.MethodGet, "/warm", nil)) // a pooled connection to fail on
	require.Error(t, send(http.MethodPost, "/orders/1/confirm", nil))
	require.Equal(t, int64(1), seen.Load(), "a body-less POST is not sent again")

	seen.Store(0)
	require.NoError(t, send(http.MethodGet, "/warm", nil))
	require.Error(t, send(http.MethodPost, "/orders/2/confirm", http.Header{"Idempotency-Key": {"k2"}}))
	require.Equal(t, int64(2), seen.Load(), "with an Idempotency-Key it is: once on the reused connection, once on a new one")
}

func TestTransport_HTTP1_SlowUploadIsNotAHeaderTimeout(t *testing.T) {
	t.Parallel()
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	tr := plainTransport(t, b, upstream.Options{ResponseHeaderTimeout: 200 * time.Millisecond})
	pr, pw := io.Pipe()
	go func() {
		for range 5 {
			_, _ = pw.Write([]byte("chunk"))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/upload", pr)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "the upload took 500ms, the answer's head came at once after it")
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "25", string(got))
}

func TestTransport_UpgradeReachesAnHTTP2CapableTarget(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, h2 := range []bool{false, true} {
		b := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, h2, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "echo" {
				http.Error(w, "upgrade required", http.StatusUpgradeRequired)
				return
			}
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			_ = buf.Flush()
			line, _ := buf.ReadString('\n')
			_, _ = conn.Write([]byte("echo: " + line))
		})
		tr, err := upstream.NewTransports(upstream.Options{}).Get(upstream.Target{Addr: b.Addr, TLS: &keyplane.SSLInfo{}, Host: backendHost, Material: trusting(p.root)})
		require.NoError(t, err)
		// A request first, so that an HTTP/2 target is known as one.
		require.Equal(t, http.StatusUpgradeRequired, roundTrip(t, tr, b).Status)
		req, _ := http.NewRequest(http.MethodGet, b.URL+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err, "h2 offered: %v", h2)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		rw, ok := resp.Body.(io.ReadWriteCloser)
		require.True(t, ok)
		_, err = rw.Write([]byte("hello\n"))
		require.NoError(t, err)
		line, err := bufio.NewReader(rw).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "echo: hello\n", line)
		rw.Close()
	}
}

func TestTransport_HTTP1_WithoutKeepAliveEveryRequestHasItsConnection(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			asked.Add(1) // the request said Connection: close
		}
		_, _ = io.WriteString(w, "hi")
	})
	tr := plainTransport(t, b, upstream.Options{DisableKeepAlives: true})
	for range 3 {
		require.Equal(t, "hi", roundTrip(t, tr, b).Body)
	}
	require.Equal(t, int64(3), b.opened.Load(), "one connection per request")
	require.Equal(t, int64(3), asked.Load(), "every request asks the target to close")
	require.Eventually(t, func() bool { return b.open.Load() == 0 }, 5*time.Second, 5*time.Millisecond, "none is kept")
}

func TestTransport_WithoutKeepAliveTLSSessionsAreResumedAndStillVerified(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.clientRoot.Cert)
	b := startBackend(t, &tls.Config{
		Certificates: []tls.Certificate{p.serverCert(p.leaf)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
	}, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "resumed=%v client=%s", r.TLS.DidResume, r.TLS.PeerCertificates[0].Subject.CommonName)
	})
	tr, err := upstream.NewTransports(upstream.Options{DisableKeepAlives: true}).Get(upstream.Target{
		Addr: b.Addr, TLS: &keyplane.SSLInfo{Enabled: true, ClientAuthEnabled: true, TrustStore: "ts", KeyStore: "ks", KeyAlias: "k"},
		Host: backendHost, Material: p.clientMaterial()})
	require.NoError(t, err)
	require.Equal(t, "resumed=false client=gateway-client", roundTrip(t, tr, b).Body)
	for range 3 {
		require.Equal(t, "resumed=true client=gateway-client", roundTrip(t, tr, b).Body, "a new connection resumes the session")
	}
	require.Equal(t, int64(4), b.opened.Load())

	// A transport trusting another root refuses the same backend, even
	// with a session to resume in another transport's cache.
	other := newPKI(t)
	refused, err := upstream.NewTransports(upstream.Options{DisableKeepAlives: true}).Get(upstream.Target{
		Addr: b.Addr, TLS: &keyplane.SSLInfo{Enabled: true, ClientAuthEnabled: true, TrustStore: "ts", KeyStore: "ks", KeyAlias: "k"},
		Host: backendHost, Material: upstream.Material{Certificate: p.clientMaterial().Certificate, Roots: []*x509.Certificate{other.root.Cert}}})
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, roundTrip(t, refused, b).Status)
}

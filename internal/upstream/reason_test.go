package upstream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/upstream"
)

const connectFailure = "upstream connect error or disconnect/reset before headers. reset reason: "

// TestFailure_Connections checks the bodies of failures that are not TLS,
// against real listeners.
func TestFailure_Connections(t *testing.T) {
	t.Parallel()
	p := newPKI(t)

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		b := &backend{Addr: l.Addr().String(), URL: "https://" + l.Addr().String()}
		require.NoError(t, l.Close())
		got := call(t, b, &keyplane.SSLInfo{}, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: connectFailure + "connection failure"}, got)
	})
	t.Run("notTLS", func(t *testing.T) {
		t.Parallel()
		plain := startBackend(t, nil, false, nil)
		b := &backend{Addr: plain.Addr, URL: "https://" + plain.Addr}
		got := call(t, b, &keyplane.SSLInfo{}, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("the target did not answer with TLS:WRONG_VERSION_NUMBER")}, got)
	})
	t.Run("closedBeforeHeaders", func(t *testing.T) {
		t.Parallel()
		b := startBackend(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert(p.leaf)}}, false, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		got := call(t, b, &keyplane.SSLInfo{}, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable, Body: connectFailure + "connection termination"}, got)
	})
	t.Run("noResponseHeadersInTime", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		defer close(release)
		b := startBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) { <-release })
		tr, err := upstream.NewTransports(upstream.Options{ResponseHeaderTimeout: 50 * time.Millisecond}).Get(upstream.Target{Addr: b.Addr})
		require.NoError(t, err)
		got := roundTrip(t, tr, b)
		require.Equal(t, response{Status: http.StatusGatewayTimeout, Body: "upstream request timeout"}, got)
	})
}

// TestReason_NotTLS checks that failures that are not TLS are told apart.
func TestReason_NotTLS(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		nil,
		&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		context.DeadlineExceeded,
		errors.New("boom"),
	} {
		reason, ok := upstream.Reason(err)
		require.False(t, ok, "%v", err)
		require.Empty(t, reason)
	}
}

// TestFailure_Errors checks the failures that cannot be provoked on
// loopback alone: their errors are built as net and net/http build them.
func TestFailure_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)},
			503, connectFailure + "connection failure"},
		{"connect timeout: not told apart from refused, or the gateway scans ports", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}},
			503, connectFailure + "connection failure"},
		{"no such host", fmt.Errorf("dial: %w", &net.DNSError{Err: "no such host", Name: "target.invalid", IsNotFound: true}),
			503, "no healthy upstream"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
			503, connectFailure + "connection termination"},
		{"request deadline", fmt.Errorf("round trip: %w", context.DeadlineExceeded),
			504, "upstream request timeout"},
		{"anything else", errors.New("boom"),
			503, connectFailure + "connection failure"},
		{"alert from a QUIC connection", fmt.Errorf("handshake: %w", tls.AlertError(116)),
			503, tlsFailure("the target requires a client certificate:TLSV1_ALERT_CERTIFICATE_REQUIRED")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := upstream.Failure(tt.err)
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.body, body)
			require.Equal(t, tt.body, upstream.FailureBody(tt.err))
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestReason_GoVerification checks that Go's own verification errors, from a
// configuration Config did not build, are explained too.
func TestReason_GoVerification(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	expired := p.serverLeaf(t, testcerts.Options{DNSNames: []string{backendHost}, NotBefore: past.Add(-time.Hour), NotAfter: past})
	self := testcerts.New(t, testcerts.Options{DNSNames: []string{backendHost}})
	roots := x509.NewCertPool()
	roots.AddCert(p.root.Cert)
	for _, tc := range []struct {
		cert tls.Certificate
		want string
	}{
		{p.serverCert(expired), "certificate has expired:CERTIFICATE_VERIFY_FAILED"},
		{self.TLS(), "self-signed certificate:CERTIFICATE_VERIFY_FAILED"},
		{p.serverCert(p.serverLeaf(t, testcerts.Options{DNSNames: []string{"other.test"}})), "hostname mismatch:CERTIFICATE_VERIFY_FAILED"},
	} {
		b := tlsBackend(t, tc.cert, nil)
		_, err := tls.Dial("tcp", b.Addr, &tls.Config{ServerName: backendHost, RootCAs: roots})
		reason, ok := upstream.Reason(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, tc.want, reason)
	}
}

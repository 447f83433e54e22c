package bench

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackend_ClientCertificateFromItsCA_AnswersHelloOverHTTP11(t *testing.T) {
	t.Parallel()
	be := startTestBackend(t)
	require.NoError(t, be.check(context.Background()))

	// A client that offers HTTP/2 still gets HTTP/1.1: nginx could not
	// use HTTP/2 upstream, so the gateway must not either.
	cfg := be.clientTLS()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	conn, err := tls.Dial("tcp", be.Addr, cfg)
	require.NoError(t, err)
	require.Equal(t, "http/1.1", conn.ConnectionState().NegotiatedProtocol)
	require.NoError(t, conn.Close())

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: be.clientTLS(), ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	for range 2 {
		res, err := hc.Get("https://localhost:" + strconv.Itoa(be.Port) + "/anything")
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "HTTP/1.1", res.Proto)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		require.JSONEq(t, `{"message":"Hello world!"}`, string(body))
	}
}

func TestBackend_NoOrWrongClientCertificate_RefusesTheHandshake(t *testing.T) {
	t.Parallel()
	be := startTestBackend(t)
	other, err := newMTLS()
	require.NoError(t, err)
	for name, certs := range map[string][]tls.Certificate{
		"no client certificate": nil,
		"a client certificate from another CA": {{
			Certificate: [][]byte{other.client.cert.Raw, other.clientCA.cert.Raw},
			PrivateKey:  other.client.key,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := be.clientTLS()
			cfg.Certificates = certs
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			defer hc.CloseIdleConnections()
			_, err := hc.Get("https://" + be.Addr + "/")
			require.ErrorContains(t, err, "certificate")
		})
	}
}

func TestBackend_TrustedOnlyThroughItsCA(t *testing.T) {
	t.Parallel()
	be := startTestBackend(t)
	cfg := be.clientTLS()
	cfg.RootCAs = nil // the system's roots: the backend's CA is not among them
	conn, err := tls.Dial("tcp", be.Addr, cfg)
	if err == nil {
		conn.Close()
	}
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}

func TestRunBackend_BadArguments_SayWhatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-cert", "c.pem"}, "backend: -cert, -key and -client-ca are required"},
		{[]string{"-cert", "c", "-key", "k", "-client-ca", "ca", "-addr", "0.0.0.0:0"}, `backend: -addr: "0.0.0.0" is not a loopback IP address`},
		{[]string{"-cert", "c", "-key", "k", "-client-ca", "ca", "-addr", "localhost:0"}, `backend: -addr: "localhost" is not a loopback IP address`},
	} {
		err := RunBackend(context.Background(), tc.args, io.Discard)
		require.EqualError(t, err, tc.want)
	}
}

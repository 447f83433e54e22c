package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// tlsFiles writes a certificate for localhost and its key, and returns
// their paths and a client that trusts the certificate.
func tlsFiles(t *testing.T) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	cert := testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}})
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(certFile, cert.CertPEM(), 0o600))
	require.NoError(t, os.WriteFile(keyFile, cert.KeyPEM(t), 0o600))
	roots := x509.NewCertPool()
	roots.AddCert(cert.Cert)
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
	return certFile, keyFile, client
}

// serve calls run with a loopback listener until the test ends or stop
// is called, and returns the listener's address and stop, which returns
// what run returned.
func serve(t *testing.T, run func(context.Context, net.Listener) error) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			cancel()
			result, stopped = <-done, true
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

var quiet = slog.New(slog.DiscardHandler)

// TestNew_RefusesWhatItCannotRun: a server without a database, an
// administrator token or a valid master key is refused before the
// database is touched (the URL given names no server).
func TestNew_RefusesWhatItCannotRun(t *testing.T) {
	t.Parallel()
	nowhere := "postgres://keyplane@127.0.0.1:1/keyplane?connect_timeout=1"
	for _, tt := range []struct {
		cfg Config
		err string
	}{
		{Config{AdminToken: "tok", MasterKey: testKey}, "DATABASE_URL is not set"},
		{Config{DatabaseURL: nowhere, MasterKey: testKey}, "no administrator token: set KEYPLANE_BOOTSTRAP_TOKEN"},
		{Config{DatabaseURL: nowhere, AdminToken: "tok", MasterKey: "short"}, "KEYPLANE_MASTER_KEY: "},
	} {
		tt.cfg.Log = quiet
		_, err := New(context.Background(), tt.cfg)
		require.ErrorContains(t, err, tt.err)
	}
	for _, tt := range []struct {
		cfg GatewayConfig
		err string
	}{
		{GatewayConfig{MasterKey: testKey}, "DATABASE_URL is not set"},
		{GatewayConfig{DatabaseURL: nowhere, MasterKey: "short"}, "KEYPLANE_MASTER_KEY: "},
	} {
		tt.cfg.Log = quiet
		_, err := NewGateway(context.Background(), tt.cfg)
		require.ErrorContains(t, err, tt.err)
	}
}

// TestServe_HTTPSFromSettingsAndCleanStop: the API server read from its
// settings speaks HTTPS with the certificate KEYPLANE_TLS_CERT names, TLS
// 1.2 and newer only, and Serve returns nil once its context ends.
func TestServe_HTTPSFromSettingsAndCleanStop(t *testing.T) {
	t.Parallel()
	certFile, keyFile, client := tlsFiles(t)
	env := map[string]string{
		"DATABASE_URL": pgtest.URL(t), "KEYPLANE_MASTER_KEY": testKey, "KEYPLANE_BOOTSTRAP_TOKEN": "tok",
		"KEYPLANE_TLS_CERT": certFile, "KEYPLANE_TLS_KEY": keyFile, "KEYPLANE_LOG_LEVEL": "error",
	}
	s, err := ReadServe(Source{Getenv: func(name string) string { return env[name] }})
	require.NoError(t, err)
	srv, err := New(context.Background(), s.Config)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	addr, stop := serve(t, srv.Serve)

	res, err := client.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	old := client.Transport.(*http.Transport).Clone()
	old.TLSClientConfig.MinVersion, old.TLSClientConfig.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	_, err = (&http.Client{Timeout: 10 * time.Second, Transport: old}).Get("https://" + addr + "/healthz")
	require.Error(t, err, "TLS 1.1 is refused")
	require.NoError(t, stop())
}

// TestServe_MetricsAddressInUseIsAnError: a metrics address that cannot
// be listened on stops Serve with an error naming KEYPLANE_METRICS_ADDR.
func TestServe_MetricsAddressInUseIsAnError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	srv, err := New(context.Background(), Config{DatabaseURL: pgtest.URL(t), MasterKey: testKey, AdminToken: "tok",
		MetricsAddr: taken.Addr().String(), Log: quiet})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	err = srv.Serve(context.Background(), ln)
	require.ErrorContains(t, err, "KEYPLANE_METRICS_ADDR: ")
}

// TestGateway_AssembledFromSettings: the gateway read from its settings
// connects to its database, answers over HTTPS with the certificate
// KEYPLANE_GATEWAY_TLS_CERT names, and stops when its context ends.
func TestGateway_AssembledFromSettings(t *testing.T) {
	t.Parallel()
	certFile, keyFile, client := tlsFiles(t)
	env := map[string]string{
		"DATABASE_URL": pgtest.URL(t), "KEYPLANE_MASTER_KEY": testKey, "KEYPLANE_LOG_LEVEL": "error",
		"KEYPLANE_GATEWAY_TLS_CERT": certFile, "KEYPLANE_GATEWAY_TLS_KEY": keyFile, "KEYPLANE_SHUTDOWN_GRACE": "5s",
	}
	s, err := ReadGateway(Source{Getenv: func(name string) string { return env[name] }})
	require.NoError(t, err)
	g, err := NewGateway(context.Background(), s.Config)
	require.NoError(t, err)
	t.Cleanup(g.Close)
	addr, stop := serve(t, g.Serve)
	select {
	case <-g.Gateway.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway loaded no configuration")
	}
	res, err := client.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, stop())
}

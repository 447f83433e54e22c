package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// TestGateway_CommandServesHTTPSAndStopsOnInterrupt runs the real binary
// with KEYPLANE_GATEWAY_TLS_CERT/KEY: it migrates its database, answers
// over HTTPS (TLS 1.2 and newer only), and exits cleanly on SIGINT.
func TestGateway_CommandServesHTTPSAndStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cert := testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "gw.crt"), filepath.Join(dir, "gw.key")
	require.NoError(t, os.WriteFile(certFile, cert.CertPEM(), 0o600))
	require.NoError(t, os.WriteFile(keyFile, cert.KeyPEM(t), 0o600))

	cmd := exec.Command(bin, "gateway")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+pgtest.URL(t),
		"KEYPLANE_GATEWAY_ADDR=127.0.0.1:0",
		"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KEYPLANE_GATEWAY_TLS_CERT="+certFile,
		"KEYPLANE_GATEWAY_TLS_KEY="+keyFile,
		"KEYPLANE_LOG_FORMAT=json")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "keyplane gateway serving on https://")
	require.True(t, ok, "first line names the HTTPS address: %q", line)

	roots := x509.NewCertPool()
	roots.AddCert(cert.Cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	_, err = old.Get("https://" + addr + "/healthz")
	require.Error(t, err, "TLS 1.1 is refused")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	requireCleanExit(t, cmd)
}

func TestGateway_CommandRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for name, env := range map[string][]string{
		"no database":   {"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		"bad resync":    {"DATABASE_URL=postgres://x@/y", "KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "KEYPLANE_GATEWAY_RESYNC=soon"},
		"bad log":       {"DATABASE_URL=postgres://x@/y", "KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "KEYPLANE_LOG_FORMAT=xml"},
		"missing cert":  {"DATABASE_URL=postgres://x@/y", "KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "KEYPLANE_GATEWAY_TLS_CERT=/nonexistent"},
		"bad keepalive": {"DATABASE_URL=postgres://x@/y", "KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE=sometimes"},
	} {
		cmd := exec.Command(bin, "gateway")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s: %s", name, out)
		require.Equal(t, 2, exit.ExitCode(), "%s: usage errors exit 2: %s", name, out)
	}
}

package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/server"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"

	"github.com/stretchr/testify/require"
)

func TestSlowClients_AreDisconnected(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{Timeouts: server.Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second}})
	addr := strings.TrimPrefix(srv.URL, "http://")

	// A client that never finishes its headers.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the server closes the connection")
	require.Less(t, time.Since(start), 3*time.Second)

	// A client that never finishes its body.
	conn2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn2.Close()
	_, err = fmt.Fprintf(conn2, "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", srv.Token)
	require.NoError(t, err)
	start = time.Now()
	require.NoError(t, conn2.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, _ = io.ReadAll(conn2)
	require.Less(t, time.Since(start), 4*time.Second)
}

func TestTLS_ServesHTTPSFromTLS12(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "localhost", Parent: ca, DNSNames: []string{"localhost"}})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, testcerts.Chain(leaf, ca), 0o600))
	require.NoError(t, os.WriteFile(keyFile, leaf.KeyPEM(t), 0o600))
	srv := servertest.StartWith(t, servertest.Options{TLSCertFile: certFile, TLSKeyFile: keyFile})
	require.True(t, strings.HasPrefix(srv.URL, "https://"))

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	httpClient := func(max uint16) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, ServerName: "localhost", MaxVersion: max, MinVersion: tls.VersionTLS10}}}
	}
	res, err := httpClient(0).Get(srv.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.GreaterOrEqual(t, res.TLS.Version, uint16(tls.VersionTLS12))

	_, err = httpClient(tls.VersionTLS11).Get(srv.URL + "/healthz")
	require.Error(t, err, "TLS 1.1 is refused")

	// Signed upload URLs use the scheme the client came in on.
	c := &client{t: t, base: srv.URL, token: srv.Token, http: httpClient(0)}
	c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	up := decode[api.GenerateUploadURLResponse](t, c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	require.True(t, strings.HasPrefix(up.UploadURI, srv.URL+"/archives/"), up.UploadURI)
}

// HEAD is answered wherever GET is.
func TestHead_IsAnsweredWhereGetIs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{"/healthz", "/readyz", "/v1/organizations"} {
		r := b.c.do("HEAD", path, "")
		require.Equal(t, http.StatusOK, r.Status, path)
		require.Empty(t, r.Body, path)
	}
	anon := &client{t: t, base: b.srv.URL}
	require.Equal(t, http.StatusUnauthorized, anon.do("HEAD", "/v1/organizations", "").Status, "HEAD is authorized as GET is")
}

package httpapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

// openssl runs the openssl command in dir; the test is skipped where it is
// not installed.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %v: %s", args, out)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestAliases_OpenSSLFiles uploads what the documented openssl commands
// make: an encrypted key with its certificate, and a PKCS#12 bundle.
func TestAliases_OpenSSLFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-keyout", "key.pem", "-out", "cert.pem",
		"-days", "30", "-subj", "/CN=gateway.example.com", "-passout", "pass:s3cret")
	openssl(t, dir, "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-passin", "pass:s3cret",
		"-out", "bundle.p12", "-passout", "pass:p12pass")

	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", envPath+"/keystores", `{"name":"ks"}`)

	cert, key := read(t, filepath.Join(dir, "cert.pem")), read(t, filepath.Join(dir, "key.pem"))
	ct, body := multipartBody(t, [2]string{"certFile", cert}, [2]string{"keyFile", key})
	r := b.c.send("POST", envPath+"/keystores/ks/aliases?alias=enc&format=keycertfile", ct, body)
	require.Equal(t, 400, r.Status)
	require.Equal(t, "keyFile is encrypted: password is required", r.errorBody(t).Message)

	ct, body = multipartBody(t, [2]string{"certFile", cert}, [2]string{"keyFile", key}, [2]string{"password", "wrong"})
	r = b.c.send("POST", envPath+"/keystores/ks/aliases?alias=enc&format=keycertfile", ct, body)
	require.Equal(t, 400, r.Status)
	require.Equal(t, "password is incorrect for keyFile", r.errorBody(t).Message)

	ct, body = multipartBody(t, [2]string{"certFile", cert}, [2]string{"keyFile", key}, [2]string{"password", "s3cret"})
	r = b.c.send("POST", envPath+"/keystores/ks/aliases?alias=enc&format=keycertfile", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, "KEY_CERT", decode[api.Alias](t, r.Body).Type)

	p12 := read(t, filepath.Join(dir, "bundle.p12"))
	ct, body = multipartBody(t, [2]string{"file", p12}, [2]string{"password", "nope"})
	r = b.c.send("POST", envPath+"/keystores/ks/aliases?alias=p12&format=pkcs12", ct, body)
	require.Equal(t, 400, r.Status)
	require.Equal(t, "password is incorrect for file (PKCS#12)", r.errorBody(t).Message)

	// The password may also come as the _password query parameter.
	ct, body = multipartBody(t, [2]string{"file", p12})
	r = b.c.send("POST", envPath+"/keystores/ks/aliases?alias=p12&format=pkcs12&_password=p12pass", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
	alias := decode[api.Alias](t, r.Body)
	require.Equal(t, "KEY_CERT", alias.Type)
	require.Equal(t, "CN=gateway.example.com", alias.CertsInfo.CertInfo[0].Subject)

	ct, body = multipartBody(t, [2]string{"file", "garbage"}, [2]string{"password", "x"})
	r = b.c.send("POST", envPath+"/keystores/ks/aliases?alias=g&format=pkcs12", ct, body)
	require.Equal(t, 400, r.Status)
	require.Contains(t, r.errorBody(t).Message, "file is not a PKCS#12 archive")
}

package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/testcerts"
)

// An alias upload is read whole however its body comes: with its length
// declared, or chunked with none; a chunked body over the request limit
// is refused as a declared one is.
func TestAliasUpload_ChunkedOrDeclaredLength_ReadTheSame(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())}, [2]string{"keyFile", string(leaf.KeyPEM(t))})
	upload := b.c.base + envPath + "/keystores/ks/aliases?format=keycertfile&alias="

	post := func(alias string, body io.Reader) *http.Response {
		req, err := http.NewRequest("POST", upload+alias, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+b.c.token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	declared := post("declared", bytes.NewReader(body))
	require.Equal(t, http.StatusOK, declared.StatusCode)
	// A reader of unknown length makes the client send it chunked.
	chunked := post("chunked", io.MultiReader(bytes.NewReader(body)))
	require.Equal(t, http.StatusOK, chunked.StatusCode)
	var a, c map[string]any
	require.NoError(t, json.NewDecoder(declared.Body).Decode(&a))
	require.NoError(t, json.NewDecoder(chunked.Body).Decode(&c))
	require.Equal(t, a["certsInfo"], c["certsInfo"])
	require.Equal(t, "KEY_CERT", c["type"])

	huge := post("huge", io.MultiReader(strings.NewReader(strings.Repeat(" ", 11<<20)), bytes.NewReader(body)))
	require.Equal(t, http.StatusRequestEntityTooLarge, huge.StatusCode)
	msg, err := io.ReadAll(huge.Body)
	require.NoError(t, err)
	require.Contains(t, string(msg), "request body exceeds the limit of 10 MiB")
}

// A body shorter than the length it declares is a bad request that says
// so, and stores nothing.
func TestAliasUpload_BodyShorterThanDeclared_IsRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())})
	u, err := url.Parse(b.c.base)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST %s/keystores/ks/aliases?format=keycertfile&alias=short HTTP/1.1\r\nHost: %s\r\n"+
		"Authorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		envPath, u.Host, b.c.token, ct, len(body)+100, body)
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	msg, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "%s", msg)
	require.Contains(t, string(msg), "cannot read request body: unexpected EOF")
	require.JSONEq(t, `{"name":"ks","aliases":[]}`, string(b.c.ok("GET", ksPath+"/ks", "")))
}

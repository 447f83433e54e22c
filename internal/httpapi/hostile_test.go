package httpapi_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// These tests send what an attacker sends, over HTTP to a real server, and
// check that each is refused with a JSON error that says what is wrong,
// without the server doing the work the input asks for.

// requireError asserts a JSON error answer with the given HTTP status and
// wire status, and returns its message.
func requireError(t *testing.T, r *response, status int, wireStatus string) string {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Body)
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
	e := r.errorBody(t)
	require.Equal(t, status, e.Code)
	require.Equal(t, wireStatus, e.Status)
	return e.Message
}

func TestHostile_OversizedAliasUploadsAreRefusedNamingTheLimit(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	upload := envPath + "/keystores/ks/aliases?alias=a&format="

	// A body over the request limit: 413, before anything is parsed.
	huge := strings.Repeat(" ", 11<<20) + string(leaf.CertPEM())
	ct, body := multipartBody(t, [2]string{"certFile", huge})
	msg := requireError(t, b.c.send("POST", upload+"keycertfile", ct, body), http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT")
	require.Equal(t, "request body exceeds the limit of 10 MiB", msg)

	// Within the request limit, a part over the parser's limit: 400
	// naming the part and the limit.
	big := strings.Repeat(" ", 2<<20) + string(leaf.CertPEM())
	ct, body = multipartBody(t, [2]string{"certFile", big})
	msg = requireError(t, b.c.send("POST", upload+"keycertfile", ct, body), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Equal(t, fmt.Sprintf("certFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)), msg)

	ct, body = multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())}, [2]string{"keyFile", big})
	msg = requireError(t, b.c.send("POST", upload+"keycertfile", ct, body), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Equal(t, fmt.Sprintf("keyFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)), msg)

	ct, body = multipartBody(t, [2]string{"file", big})
	msg = requireError(t, b.c.send("POST", upload+"pkcs12&_password=x", ct, body), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Equal(t, fmt.Sprintf("file is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)), msg)

	// The same through the HttpBody envelope the official clients use.
	env := fmt.Sprintf(`{"contentType":%q,"data":"%s"}`, ct, strings.Repeat("A", 11<<20))
	msg = requireError(t, b.c.send("POST", upload+"pkcs12", "application/json", []byte(env)), http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT")
	require.Equal(t, "request body exceeds the limit of 10 MiB", msg)

	require.JSONEq(t, `{"name":"ks","aliases":[]}`, string(b.c.ok("GET", ksPath+"/ks", "")))
}

func TestHostile_BrokenJSONBodiesAreRefusedWithAPosition(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	for _, path := range []string{
		"/v1/organizations",
		"/v1/organizations/myorg/environments",
		ksPath,
		envPath + "/references",
		envPath + "/targetservers",
		envPath + "/archiveDeployments",
	} {
		msg := requireError(t, b.c.do("POST", path, `{"name": "x",`), http.StatusBadRequest, "INVALID_ARGUMENT")
		require.Equal(t, "request body is not valid JSON at byte 13: unexpected end of JSON input", msg, path)

		msg = requireError(t, b.c.do("POST", path, "{\"name\": \"x\"\n \"other\": 1}"), http.StatusBadRequest, "INVALID_ARGUMENT")
		require.Equal(t, "request body is not valid JSON at byte 15: invalid character '\"' after object key:value pair", msg, path)
	}

	// A field of the wrong type is named.
	msg := requireError(t, b.c.do("POST", envPath+"/targetservers", `{"name":"ts","host":"h","port":"443x"}`), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Equal(t, `Invalid value at 'target_server.port' (TYPE_INT32), "443x"`, msg)

	// Nesting past encoding/json's limit is a syntax error, found quickly.
	deep := strings.Repeat("[", 1<<20)
	msg = requireError(t, b.c.do("POST", "/v1/organizations", deep), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Equal(t, "request body is not valid JSON at byte 10001: invalid character '[' exceeded max depth", msg)
	require.JSONEq(t, `{"organizations":[{"organization":"myorg"}]}`, string(b.c.ok("GET", "/v1/organizations", "")))
}

func TestHostile_BrokenMultipartBodiesAreRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	upload := envPath + "/keystores/ks/aliases?alias=a&format=keycertfile"

	tooMany := func() (string, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for i := range 17 {
			fw, err := w.CreateFormField(fmt.Sprintf("p%d", i))
			require.NoError(t, err)
			_, _ = fw.Write([]byte("x"))
		}
		require.NoError(t, w.Close())
		return w.FormDataContentType(), buf.Bytes()
	}
	ctMany, many := tooMany()
	ctDup, dup := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())}, [2]string{"certFile", string(leaf.CertPEM())})

	tests := []struct {
		name, contentType, body, want string
	}{
		{"no boundary", "multipart/form-data", "--x\r\n", "multipart/form-data content type has no boundary"},
		{"not multipart", "text/plain", string(leaf.CertPEM()), `body must be multipart/form-data, not "text/plain"`},
		{"garbage content type", "multipart/form-data; boundary=\"unterminated", "x", `body must be multipart/form-data, not "multipart/form-data; boundary=\"unterminated"`},
		{"no parts", "multipart/form-data; boundary=XYZ", "this is not multipart at all", "certFile is required for format=keycertfile"},
		{"truncated part", "multipart/form-data; boundary=XYZ",
			"--XYZ\r\nContent-Disposition: form-data; name=\"certFile\"\r\n\r\n-----BEGIN CERTIFICATE-----\r\nMIIB",
			`multipart part "certFile" is malformed: unexpected EOF`},
		{"header without end", "multipart/form-data; boundary=XYZ",
			"--XYZ\r\nContent-Disposition: form-data; name=\"certFile\"\r\n" + strings.Repeat("X-Pad: y\r\n", 20000),
			"multipart body is malformed: multipart: message too large"},
		{"too many parts", ctMany, string(many), "multipart body has more than 16 parts"},
		{"duplicate part", ctDup, string(dup), `multipart part "certFile" appears more than once`},
	}
	for _, tt := range tests {
		msg := requireError(t, b.c.send("POST", upload, tt.contentType, []byte(tt.body)), http.StatusBadRequest, "INVALID_ARGUMENT")
		require.Equal(t, tt.want, msg, tt.name)
	}
	require.JSONEq(t, `{"name":"ks","aliases":[]}`, string(b.c.ok("GET", ksPath+"/ks", "")))
}

func TestHostile_BadNamesAreRefusedInEveryCreateEndpoint(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	const rule = ` is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`

	for _, bad := range []string{"bad name", "../etc", "a/b", ".hidden", "x\u202egpj", "a\nb", strings.Repeat("a", 256)} {
		quoted := fmt.Sprintf("%q", bad)
		if len(bad) > 64 {
			quoted = fmt.Sprintf("%q", bad[:64]+"…")
		}
		jsonName := fmt.Sprintf("%q", bad)
		creates := []struct {
			what, path, body, field string
		}{
			{"organization", "/v1/organizations", `{"name":` + jsonName + `}`, "name"},
			{"environment", "/v1/organizations/myorg/environments", `{"name":` + jsonName + `,"apiProxyType":"PROGRAMMABLE"}`, "name"},
			{"keystore", ksPath, `{"name":` + jsonName + `}`, "name"},
			{"reference", envPath + "/references", `{"name":` + jsonName + `,"resourceType":"KeyStore","refers":"ks"}`, "name"},
			{"reference target", envPath + "/references", `{"name":"r","resourceType":"KeyStore","refers":` + jsonName + `}`, "refers"},
			{"target server", envPath + "/targetservers", `{"name":` + jsonName + `,"host":"h.example.com","port":443}`, "name"},
		}
		for _, c := range creates {
			msg := requireError(t, b.c.do("POST", c.path, c.body), http.StatusBadRequest, "INVALID_ARGUMENT")
			require.Equal(t, c.field+" "+quoted+rule, msg, "%s %q", c.what, bad)
		}
		ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())})
		r := b.c.send("POST", ksPath+"/ks/aliases?format=keycertfile&alias="+urlEscape(bad), ct, body)
		msg := requireError(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")
		require.Equal(t, "alias "+quoted+rule, msg, "alias %q", bad)
	}

	// A megabyte name is refused with a short message.
	huge := strings.Repeat("n", 1<<20)
	msg := requireError(t, b.c.do("POST", ksPath, `{"name":"`+huge+`/"}`), http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Less(t, len(msg), 200)
	require.True(t, strings.HasPrefix(msg, `name "nnnn`), msg)

	// Nothing was created.
	require.JSONEq(t, `{"organizations":[{"organization":"myorg"}]}`, string(b.c.ok("GET", "/v1/organizations", "")))
	require.JSONEq(t, `["dev"]`, string(b.c.ok("GET", "/v1/organizations/myorg/environments", "")))
	require.JSONEq(t, `["ks"]`, string(b.c.ok("GET", ksPath, "")))
	require.JSONEq(t, `{"name":"ks","aliases":[]}`, string(b.c.ok("GET", ksPath+"/ks", "")))
	require.JSONEq(t, `[]`, string(b.c.ok("GET", envPath+"/references", "")))
	require.JSONEq(t, `[]`, string(b.c.ok("GET", envPath+"/targetservers", "")))
}

// urlEscape escapes a query parameter value.
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestHostile_PathTraversalInNamesIsNotServedAsSomethingElse(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	b.c.ok("POST", ksPath, `{"name":"other"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())})
	r := b.c.send("POST", ksPath+"/ks/aliases?alias=a&format=keycertfile", ct, body)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	for _, p := range []string{
		ksPath + "/..%2f..%2f..%2f..%2f..%2f..%2fhealthz",
		ksPath + "/..%2F..%2F..%2F..%2F..%2F..%2Fhealthz",
		ksPath + "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fhealthz",
		ksPath + "/..%252f..%252fhealthz",
		ksPath + "/other%2f..%2fks",
		ksPath + "/other%2f..%2fks/aliases/a",
		ksPath + "/other%2f..%2fks/aliases/a/certificate",
		ksPath + "/ks%2faliases%2fa",
		ksPath + "/../../../../../../healthz",
		ksPath + "/other/../ks/aliases/a",
		ksPath + "/other/aliases/..%2f..%2fks%2faliases%2fa/certificate",
	} {
		methods := []string{"GET", "DELETE"}
		if strings.HasSuffix(p, "/certificate") {
			// No DELETE route: "Method not found.", which says
			// nothing of the path.
			methods = methods[:1]
		}
		for _, method := range methods {
			r := b.c.do(method, p, "")
			require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, r.Status, "%s %s: %s", method, p, r.Body)
			require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"), "%s %s: %s", method, p, r.Header.Get("Content-Type"))
			e := r.errorBody(t)
			require.NotEmpty(t, e.Message)
			require.NotContains(t, string(r.Body), `"status": "ok"`)
			require.NotContains(t, string(r.Body), "BEGIN CERTIFICATE")
		}
	}

	// An alias cannot be uploaded into a traversing keystore name either.
	r = b.c.send("POST", ksPath+"/other%2f..%2fks/aliases?alias=b&format=keycertfile", ct, body)
	require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, r.Status, "%s", r.Body)

	// Everything is where it was.
	require.JSONEq(t, `["ks","other"]`, string(b.c.ok("GET", ksPath, "")))
	require.JSONEq(t, `{"name":"ks","aliases":["a"]}`, string(b.c.ok("GET", ksPath+"/ks", "")))
	require.JSONEq(t, `{"name":"other","aliases":[]}`, string(b.c.ok("GET", ksPath+"/other", "")))
}

// rawZip writes entries under names archive/zip's Create writes as given,
// such as "../evil".
func rawZip(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f[0], Method: zip.Deflate})
		require.NoError(t, err)
		_, err = fw.Write([]byte(f[1]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestHostile_DeployingHostileArchivesFailsTheOperation(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	good := `{"proxies":["mtls"]}`
	config := "basepath: /mtls\ntarget:\n  uri: https://example.com\n"

	requireFailed := func(t *testing.T, op api.Operation, want string) {
		t.Helper()
		require.True(t, op.Done)
		require.NotNil(t, op.Error, "the operation succeeded")
		require.Nil(t, op.Response)
		require.Equal(t, 3, op.Error.Code)
		require.Equal(t, want, op.Error.Message)
	}

	op := b.deploy(t, rawZip(t,
		[2]string{"src/main/apigee/environments/dev/deployments.json", good},
		[2]string{"src/main/apigee/apiproxies/mtls/config.yaml", config},
		[2]string{"../evil", "#!/bin/sh\n"},
	))
	requireFailed(t, op, `generic::invalid_argument: archive entry "../evil" contains a ".." path segment`)

	op = b.deploy(t, rawZip(t, [2]string{"src/main/apigee/environments/dev/../../../../etc/deployments.json", good}))
	requireFailed(t, op, `generic::invalid_argument: archive entry "src/main/apigee/environments/dev/../../../../etc/deployments.json" contains a ".." path segment`)

	// 257 MiB from a few kilobytes, over the 256 MiB the server unpacks.
	bomb := testzip.Overlapping(257, 1<<20)
	require.Less(t, len(bomb), 64<<10)
	op = b.deploy(t, bomb)
	requireFailed(t, op, `generic::invalid_argument: archive unpacks to more than the limit of 268435456 bytes (at entry "src/k256.bin")`)

	// The classic bomb: one entry that deflates 300 MiB of zeros.
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateHeader(&zip.FileHeader{Name: "src/main/apigee/environments/dev/deployments.json", Method: zip.Deflate})
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for range 300 {
		_, err = fw.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	op = b.deploy(t, buf.Bytes())
	requireFailed(t, op, `generic::invalid_argument: archive unpacks to more than the limit of 268435456 bytes (at entry "src/main/apigee/environments/dev/deployments.json")`)

	// After all that, a valid archive still deploys.
	op = b.deploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/environments/dev/deployments.json": good,
		"src/main/apigee/apiproxies/mtls/config.yaml":       config,
	}))
	require.Nil(t, op.Error, "%+v", op.Error)
}

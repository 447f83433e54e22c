package httpapi_test

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"

	"github.com/stretchr/testify/require"
)

const ksPath = "/v1/organizations/myorg/environments/dev/keystores"

func TestHealthAndReadiness_AnswerWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	anon := &client{t: t, base: b.srv.URL}
	require.Equal(t, http.StatusOK, anon.do("GET", "/healthz", "").Status)
	require.Equal(t, http.StatusOK, anon.do("GET", "/readyz", "").Status)
	// Metrics name every organization's keystores and aliases: they need
	// a token of their own.
	require.Equal(t, http.StatusUnauthorized, anon.do("GET", "/metrics", "").Status)
	require.Equal(t, http.StatusUnauthorized, b.c.do("GET", "/metrics", "").Status, "an API token is not the metrics token")
	scraper := &client{t: t, base: b.srv.URL, token: b.srv.MetricsToken}
	r := scraper.do("GET", "/metrics", "")
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "keyplane_http_requests_total")
}

func TestV1_RequiresBearerToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, token := range []string{"", "wrong"} {
		c := &client{t: t, base: b.srv.URL, token: token}
		r := c.do("GET", "/v1/organizations", "")
		require.Equal(t, http.StatusUnauthorized, r.Status)
		require.Equal(t, `Bearer realm="keyplane"`, r.Header.Get("WWW-Authenticate"))
		require.Equal(t, "UNAUTHENTICATED", r.errorBody(t).Status)
	}
}

func TestOrganizations_CreateGetList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	org := decode[api.Organization](t, b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`))
	require.Equal(t, "myorg", org.Name)
	require.NotZero(t, org.CreatedAt)
	b.c.fails("POST", "/v1/organizations", `{"name":"myorg"}`, 409, "ALREADY_EXISTS", `organization "myorg" already exists`)
	b.c.fails("POST", "/v1/organizations", `{"name":"bad/name"}`, 400, "INVALID_ARGUMENT",
		`name "bad/name" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	b.c.fails("POST", "/v1/organizations", `{"name":`, 400, "INVALID_ARGUMENT",
		"request body is not valid JSON at byte 8: unexpected end of JSON input")
	require.JSONEq(t, `{"organizations":[{"organization":"myorg"}]}`, string(b.c.ok("GET", "/v1/organizations", "")))
	raw := decode[map[string]any](t, b.c.ok("GET", "/v1/organizations/myorg", ""))
	require.IsType(t, "", raw["createdAt"], "createdAt is a string, as Apigee sends it")
	b.c.fails("GET", "/v1/organizations/nope", "", 404, "NOT_FOUND", `organization "nope" not found`)
}

func TestEnvironments_CreateAnswersFinishedOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	op := decode[api.Operation](t, b.c.ok("POST", "/v1/organizations/myorg/environments",
		`{"name":"dev","apiProxyType":"CONFIGURABLE","deploymentType":"ARCHIVE","description":"d"}`))
	require.True(t, op.Done)
	require.Equal(t, api.StateFinished, op.Metadata.State)
	require.Equal(t, "INSERT", op.Metadata.OperationType)
	require.Equal(t, api.OperationMetadataType, op.Metadata.Type)
	require.Equal(t, "organizations/myorg/environments/dev", op.Metadata.TargetResourceName)
	require.Regexp(t, `^organizations/myorg/operations/[0-9a-f-]{36}$`, op.Name)
	resp := decode[map[string]any](t, op.Response)
	require.Equal(t, "type.googleapis.com/google.cloud.apigee.v1.Environment", resp["@type"])
	require.Equal(t, "dev", resp["name"])

	// The operation is stored and can be polled like any other.
	id := op.Name[strings.LastIndex(op.Name, "/")+1:]
	again := decode[api.Operation](t, b.c.ok("GET", "/v1/organizations/myorg/operations/"+id, ""))
	require.Equal(t, op.Name, again.Name)
	require.True(t, again.Done)

	env := decode[map[string]any](t, b.c.ok("GET", "/v1/organizations/myorg/environments/dev", ""))
	require.Equal(t, "CONFIGURABLE", env["apiProxyType"])
	require.Equal(t, "ARCHIVE", env["deploymentType"])
	require.IsType(t, "", env["createdAt"])
	require.IsType(t, "", env["lastModifiedAt"])
	require.JSONEq(t, `["dev"]`, string(b.c.ok("GET", "/v1/organizations/myorg/environments", "")))

	b.c.fails("POST", "/v1/organizations/myorg/environments", `{"name":"dev"}`, 409, "ALREADY_EXISTS",
		`environment "dev" already exists in organization "myorg"`)
	b.c.fails("POST", "/v1/organizations/myorg/environments", `{"name":"x","apiProxyType":"WEIRD"}`, 400, "INVALID_ARGUMENT",
		`Invalid value at 'environment.api_proxy_type' (TYPE_ENUM), "WEIRD": expected one of API_PROXY_TYPE_UNSPECIFIED, PROGRAMMABLE, CONFIGURABLE`)
	b.c.fails("POST", "/v1/organizations/nope/environments", `{"name":"x"}`, 404, "NOT_FOUND", `organization "nope" not found`)

	del := decode[api.Operation](t, b.c.ok("DELETE", "/v1/organizations/myorg/environments/dev", ""))
	require.True(t, del.Done)
	require.Equal(t, "DELETE", del.Metadata.OperationType)
	b.c.fails("GET", "/v1/organizations/myorg/environments/dev", "", 404, "NOT_FOUND",
		`environment "organizations/myorg/environments/dev" not found`)
}

func TestEnvironments_DeleteRefusedWhileHoldingKeystores(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	b.c.fails("DELETE", "/v1/organizations/myorg/environments/dev", "", 400, "FAILED_PRECONDITION",
		`environment "dev" still holds keystores, references, target servers or deployments; delete them first`)
}

func TestKeystores_CreateGetListDelete(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	require.JSONEq(t, `{"name":"ks1","aliases":[]}`, string(b.c.ok("POST", ksPath, `{"name":"ks1"}`)))
	b.c.ok("POST", ksPath+"?name=ks2", `{}`)
	require.JSONEq(t, `["ks1","ks2"]`, string(b.c.ok("GET", ksPath, "")))
	b.c.fails("POST", ksPath, `{"name":"ks1"}`, 409, "ALREADY_EXISTS", `keystore "ks1" already exists in environment "dev"`)
	b.c.fails("POST", ksPath, `{"name":"../x"}`, 400, "INVALID_ARGUMENT",
		`name "../x" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	b.c.fails("POST", "/v1/organizations/myorg/environments/nope/keystores", `{"name":"k"}`, 404, "NOT_FOUND",
		`environment "organizations/myorg/environments/nope" not found`)

	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf"})
	ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())})
	b.c.send("POST", ksPath+"/ks1/aliases?alias=a1&format=keycertfile", ct, body)
	require.JSONEq(t, `{"name":"ks1","aliases":["a1"]}`, string(b.c.ok("GET", ksPath+"/ks1", "")))

	require.JSONEq(t, `{"name":"ks1","aliases":["a1"]}`, string(b.c.ok("DELETE", ksPath+"/ks1", "")))
	b.c.fails("GET", ksPath+"/ks1", "", 404, "NOT_FOUND", `keystore "organizations/myorg/environments/dev/keystores/ks1" not found`)
}

func TestKeystores_DeleteRefusedWhileReferenced(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments/dev/references", `{"name":"ref","resourceType":"KeyStore","refers":"ks"}`)
	b.c.fails("DELETE", ksPath+"/ks", "", 400, "FAILED_PRECONDITION",
		`keystore "ks" is used by reference "organizations/myorg/environments/dev/references/ref"; delete or re-point the reference first`)
	b.c.ok("GET", ksPath+"/ks", "")
}

func TestKeystores_ConcurrentCreatesOfOneNameLetExactlyOneWin(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	const n = 16
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- b.c.do("POST", ksPath, `{"name":"race"}`).Status })
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	require.Equal(t, map[int]int{200: 1, 409: n - 1}, counts)
}

func TestAliases_KeyCertFileWithChain(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	root := testcerts.New(t, testcerts.Options{CommonName: "root", IsCA: true})
	inter := testcerts.New(t, testcerts.Options{CommonName: "inter", IsCA: true, Parent: root})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf", Parent: inter, RSA: true, DNSNames: []string{"api.example.com"}})

	ct, body := multipartBody(t,
		[2]string{"certFile", string(testcerts.Chain(leaf, inter, root))},
		[2]string{"keyFile", string(leaf.KeyPEM(t))})
	r := b.c.send("POST", ksPath+"/ks/aliases?alias=mtls&format=keycertfile", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
	alias := decode[api.Alias](t, r.Body)
	require.Equal(t, "mtls", alias.Alias)
	require.Equal(t, "KEY_CERT", alias.Type)
	require.Len(t, alias.CertsInfo.CertInfo, 3)
	info := alias.CertsInfo.CertInfo[0]
	require.Contains(t, info.Subject, "CN=leaf")
	require.Contains(t, info.Issuer, "CN=inter")
	require.Equal(t, "Yes", info.IsValid)
	require.Equal(t, int64(3), info.Version)
	require.Equal(t, leaf.Cert.NotAfter.UnixMilli(), info.ExpiryDate)
	require.Equal(t, []string{"api.example.com"}, info.SubjectAlternativeNames)
	require.Equal(t, "ECDSA-SHA256", info.SigAlgName)

	// Numbers Apigee sends as strings stay strings; version is a number.
	raw := decode[map[string]any](t, b.c.ok("GET", ksPath+"/ks/aliases/mtls", ""))
	first := raw["certsInfo"].(map[string]any)["certInfo"].([]any)[0].(map[string]any)
	require.IsType(t, "", first["expiryDate"])
	require.IsType(t, "", first["validFrom"])
	require.IsType(t, float64(0), first["version"])

	// The certificate endpoint gives the chain back as PEM, leaf first.
	pemResp := b.c.do("GET", ksPath+"/ks/aliases/mtls/certificate", "")
	require.Equal(t, 200, pemResp.Status)
	block, _ := pem.Decode(pemResp.Body)
	require.NotNil(t, block)
	require.Equal(t, leaf.Cert.Raw, block.Bytes)

	// The CSR is signed by the alias's own key.
	csrResp := b.c.do("GET", ksPath+"/ks/aliases/mtls/csr", "")
	require.Equal(t, 200, csrResp.Status, string(csrResp.Body))
	block, _ = pem.Decode(csrResp.Body)
	require.NotNil(t, block)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	require.True(t, leaf.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey))
	require.Equal(t, "leaf", csr.Subject.CommonName)
}

func TestAliases_BadUploadsAreRefusedAndStoreNothing(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	root := testcerts.New(t, testcerts.Options{CommonName: "root", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf", Parent: root})
	other := testcerts.New(t, testcerts.Options{CommonName: "other"})
	expired := testcerts.New(t, testcerts.Options{CommonName: "old",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})

	for _, tc := range []struct {
		name    string
		query   string
		parts   [][2]string
		message string
	}{
		{"key of another certificate", "alias=a&format=keycertfile",
			[][2]string{{"certFile", string(leaf.CertPEM())}, {"keyFile", string(other.KeyPEM(t))}},
			"keyFile does not match the certificate in certFile"},
		{"no certFile", "alias=a&format=keycertfile", [][2]string{{"keyFile", string(other.KeyPEM(t))}},
			"certFile is required for format=keycertfile"},
		{"unknown format", "alias=a&format=jks", [][2]string{{"certFile", string(leaf.CertPEM())}},
			`format "jks" is not supported: use keycertfile, pkcs12 or selfsignedcert`},
		{"bad alias name", "alias=a%20b&format=keycertfile", [][2]string{{"certFile", string(leaf.CertPEM())}},
			`alias "a b" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`},
		{"bad boolean", "alias=a&format=keycertfile&ignoreExpiryValidation=maybe", [][2]string{{"certFile", string(leaf.CertPEM())}},
			`ignoreExpiryValidation "maybe" is not a boolean (true or false)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := multipartBody(t, tc.parts...)
			r := b.c.send("POST", ksPath+"/ks/aliases?"+tc.query, ct, body)
			require.Equal(t, 400, r.Status, string(r.Body))
			require.Equal(t, tc.message, r.errorBody(t).Message)
		})
	}

	// An expired certificate is refused unless the caller says otherwise.
	ct, body := multipartBody(t, [2]string{"certFile", string(expired.CertPEM())})
	r := b.c.send("POST", ksPath+"/ks/aliases?alias=old&format=keycertfile", ct, body)
	require.Equal(t, 400, r.Status)
	require.Contains(t, r.errorBody(t).Message, "expired")
	require.Contains(t, r.errorBody(t).Message, "ignoreExpiryValidation=true")

	// A chain whose certificates do not sign each other is refused: no
	// order makes two unrelated certificates one chain.
	ct, body = multipartBody(t, [2]string{"certFile", string(testcerts.Chain(leaf, other))})
	r = b.c.send("POST", ksPath+"/ks/aliases?alias=c&format=keycertfile", ct, body)
	require.Equal(t, 400, r.Status)
	require.Contains(t, r.errorBody(t).Message, "belong to different chains")

	// Garbage is refused, and not echoed back.
	ct, body = multipartBody(t, [2]string{"certFile", "not a certificate"})
	r = b.c.send("POST", ksPath+"/ks/aliases?alias=g&format=keycertfile", ct, body)
	require.Equal(t, 400, r.Status)
	require.Contains(t, r.errorBody(t).Message, "certFile")

	r = b.c.send("POST", ksPath+"/ks/aliases?alias=g&format=keycertfile", "text/plain", []byte("x"))
	require.Equal(t, 400, r.Status)
	require.Equal(t, `body must be multipart/form-data, not "text/plain"`, r.errorBody(t).Message)

	require.JSONEq(t, `{"name":"ks","aliases":[]}`, string(b.c.ok("GET", ksPath+"/ks", "")), "nothing stored")

	ct, body = ct2(t, expired)
	r = b.c.send("POST", ksPath+"/ks/aliases?alias=old&format=keycertfile&ignoreExpiryValidation=true", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, "No", decode[api.Alias](t, r.Body).CertsInfo.CertInfo[0].IsValid)
}

// ct2 is a one-certificate multipart upload: content type and body.
func ct2(t *testing.T, c *testcerts.Cert) (string, []byte) {
	return multipartBody(t, [2]string{"certFile", string(c.CertPEM())})
}

func TestAliases_SelfSignedCert(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	for _, tc := range []struct{ alias, body, sigAlg string }{
		{"rsa", `{"alias":"rsa","keySize":"2048","sigAlg":"SHA256withRSA","subject":{"commonName":"rsa.example.com"},"certValidityInDays":30}`, "SHA256-RSA"},
		{"ec", `{"alias":"ec","sigAlg":"SHA256withECDSA","subject":{"commonName":"ec.example.com"},"subjectAlternativeDNSNames":{"subjectAlternativeName":["ec.example.com"]}}`, "ECDSA-SHA256"},
	} {
		alias := decode[api.Alias](t, b.c.ok("POST", ksPath+"/ks/aliases?format=selfsignedcert", tc.body))
		require.Equal(t, tc.alias, alias.Alias)
		require.Equal(t, "KEY_CERT", alias.Type)
		require.Equal(t, tc.sigAlg, alias.CertsInfo.CertInfo[0].SigAlgName)
	}
	r := b.c.do("POST", ksPath+"/ks/aliases?format=selfsignedcert", `{"alias":"x","sigAlg":"MD5withRSA","subject":{"commonName":"x"}}`)
	require.Equal(t, 400, r.Status)
	require.Contains(t, r.errorBody(t).Message, "sigAlg")
}

func TestAliases_HttpBodyWrappedMultipart(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "wrapped"})
	ct, body := multipartBody(t, [2]string{"certFile", string(leaf.CertPEM())}, [2]string{"keyFile", string(leaf.KeyPEM(t))})
	wrapped, err := json.Marshal(map[string]any{"contentType": ct, "data": body})
	require.NoError(t, err)
	alias := decode[api.Alias](t, b.c.ok("POST", ksPath+"/ks/aliases?alias=w&format=keycertfile", string(wrapped)))
	require.Equal(t, "KEY_CERT", alias.Type)
}

func TestAliases_UpdateReplacesCertificateKeepingKey(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	first := testcerts.New(t, testcerts.Options{CommonName: "v1"})
	ct, body := multipartBody(t, [2]string{"certFile", string(first.CertPEM())}, [2]string{"keyFile", string(first.KeyPEM(t))})
	require.Equal(t, 200, b.c.send("POST", ksPath+"/ks/aliases?alias=a&format=keycertfile", ct, body).Status)

	renewed := testcerts.WithKey(t, testcerts.Options{CommonName: "v2"}, first.Key)
	ct, body = ct2(t, renewed)
	r := b.c.send("PUT", ksPath+"/ks/aliases/a", ct, body)
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Contains(t, decode[api.Alias](t, r.Body).CertsInfo.CertInfo[0].Subject, "CN=v2")

	stranger := testcerts.New(t, testcerts.Options{CommonName: "v3"})
	ct, body = ct2(t, stranger)
	r = b.c.send("PUT", ksPath+"/ks/aliases/a", ct, body)
	require.Equal(t, 400, r.Status)
	require.Contains(t, decode[api.Alias](t, b.c.ok("GET", ksPath+"/ks/aliases/a", "")).CertsInfo.CertInfo[0].Subject, "CN=v2")
}

func TestConfigurableEnvironments_RefuseAliasAndReferenceUpdates(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "CONFIGURABLE")
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	b.c.ok("POST", ksPath, `{"name":"ks2"}`)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "c"})
	ct, body := ct2(t, leaf)
	require.Equal(t, 200, b.c.send("POST", ksPath+"/ks/aliases?alias=a&format=keycertfile", ct, body).Status)
	r := b.c.send("PUT", ksPath+"/ks/aliases/a", ct, body)
	require.Equal(t, 400, r.Status)
	e := r.errorBody(t)
	e.Details = nil // the request id, checked elsewhere
	require.Equal(t, api.ErrorDetail{Code: 400, Status: "FAILED_PRECONDITION",
		Message: "Alias updates are currently disabled for configurable proxy environments. To update the certificate, create a new alias and reference it within a new archive deployment."},
		e)

	// The rule is reported first, whatever the body says.
	r = b.c.do("PUT", ksPath+"/ks/aliases/a", `{"not":"multipart"}`)
	require.Equal(t, 400, r.Status)
	require.Equal(t, "FAILED_PRECONDITION", r.errorBody(t).Status)

	refs := "/v1/organizations/myorg/environments/dev/references"
	b.c.ok("POST", refs, `{"name":"r","resourceType":"KeyStore","refers":"ks"}`)
	b.c.fails("PUT", refs+"/r", `{"refers":"ks2"}`, 400, "FAILED_PRECONDITION",
		"Reference updates are currently disabled for configurable proxy environments. To update the reference, create a new reference and reference it within a new archive deployment.")
	b.c.fails("PUT", refs+"/r", `{"name":"r","resourceType":"KeyStore","refers":"ks2"}`, 400, "FAILED_PRECONDITION",
		"Reference updates are currently disabled for configurable proxy environments. To update the reference, create a new reference and reference it within a new archive deployment.")
	require.JSONEq(t, `{"name":"r","resourceType":"KeyStore","refers":"ks"}`, string(b.c.ok("GET", refs+"/r", "")))
}

func TestReferences_CRUDAndDanglingRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	refs := "/v1/organizations/myorg/environments/dev/references"
	b.c.ok("POST", ksPath, `{"name":"ks1"}`)
	b.c.ok("POST", ksPath, `{"name":"ks2"}`)
	b.c.fails("POST", refs, `{"name":"r","resourceType":"KeyStore","refers":"missing"}`, 400, "INVALID_ARGUMENT",
		`refers: keystore "organizations/myorg/environments/dev/keystores/missing" does not exist`)
	b.c.fails("POST", refs, `{"name":"r","resourceType":"Cert","refers":"ks1"}`, 400, "INVALID_ARGUMENT",
		`resourceType "Cert" is invalid: use KeyStore or TrustStore`)
	b.c.ok("POST", refs, `{"name":"r","description":"d","resourceType":"TrustStore","refers":"ks1"}`)
	b.c.fails("POST", refs, `{"name":"r","resourceType":"KeyStore","refers":"ks1"}`, 409, "ALREADY_EXISTS",
		`reference "r" already exists in environment "dev"`)
	require.JSONEq(t, `{"name":"r","description":"d","resourceType":"TrustStore","refers":"ks2"}`,
		string(b.c.ok("PUT", refs+"/r", `{"name":"r","description":"d","resourceType":"TrustStore","refers":"ks2"}`)))
	b.c.fails("PUT", refs+"/r", `{"resourceType":"TrustStore","refers":"gone"}`, 400, "INVALID_ARGUMENT",
		`refers: keystore "organizations/myorg/environments/dev/keystores/gone" does not exist`)
	require.JSONEq(t, `["r"]`, string(b.c.ok("GET", refs, "")))
	b.c.ok("DELETE", refs+"/r", "")
	b.c.fails("GET", refs+"/r", "", 404, "NOT_FOUND", `reference "organizations/myorg/environments/dev/references/r" not found`)
}

func TestNames_MismatchedQueryAndBodyNamesAreQuotedBriefly(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	r := b.c.do("POST", ksPath+"?name=y", `{"name":"`+strings.Repeat("x", 1<<20)+`"}`)
	require.Equal(t, 400, r.Status)
	require.Less(t, len(r.Body), 1024)
}

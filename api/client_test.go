package api_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

// recorded is one request as the server saw it.
type recorded struct {
	method, path, query, contentType, auth string
	body                                   []byte
}

// testBundle is what each test gets: a client pointed at a server that
// records the last request and answers with status and body.
type testBundle struct {
	client *api.Client
	last   *recorded
	status int
	answer string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{status: http.StatusOK, answer: `{}`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.last = &recorded{
			method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery,
			contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"), body: body,
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(b.status)
		_, _ = io.WriteString(w, b.answer)
	}))
	t.Cleanup(srv.Close)
	b.client = &api.Client{BaseURL: srv.URL, Token: "secret-token", HTTP: srv.Client()}
	return b
}

func multipartOf(t *testing.T, r *recorded) map[string]string {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(r.contentType)
	require.NoError(t, err)
	require.Equal(t, "multipart/form-data", mediaType)
	mr := multipart.NewReader(strings.NewReader(string(r.body)), params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return parts
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		parts[p.FormName()] = string(b)
	}
}

func TestClient_CreateKeystore_SendsJSONWithBearerToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.answer = `{"name":"ks","aliases":[]}`

	ks, err := b.client.CreateKeystore(context.Background(), "myorg", "dev", "ks")

	require.NoError(t, err)
	assert.Equal(t, &api.Keystore{Name: "ks", Aliases: []string{}}, ks)
	assert.Equal(t, "POST", b.last.method)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/keystores", b.last.path)
	assert.Equal(t, "Bearer secret-token", b.last.auth)
	assert.Equal(t, "application/json", b.last.contentType)
	assert.JSONEq(t, `{"name":"ks"}`, string(b.last.body))
}

func TestClient_WithoutToken_SendsNoAuthorization(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.client.Token = ""
	b.answer = `["dev"]`

	envs, err := b.client.ListEnvironments(context.Background(), "myorg")

	require.NoError(t, err)
	assert.Equal(t, []string{"dev"}, envs)
	assert.Empty(t, b.last.auth)
}

func TestClient_ErrorAnswer_IsTypedError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status = http.StatusNotFound
	b.answer = `{"error":{"code":404,"message":"keystore \"ks\" not found","status":"NOT_FOUND"}}`

	_, err := b.client.GetKeystore(context.Background(), "myorg", "dev", "ks")

	var apiErr *api.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &api.Error{HTTPStatus: 404, Status: "NOT_FOUND", Message: `keystore "ks" not found`}, apiErr)
	assert.Equal(t, `keystore "ks" not found`, err.Error())
}

func TestClient_ErrorAnswerWithoutBody_NamesTheStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status = http.StatusBadGateway
	b.answer = "upstream went away\n"

	_, err := b.client.GetKeystore(context.Background(), "myorg", "dev", "ks")

	var apiErr *api.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 502, apiErr.HTTPStatus)
	assert.Equal(t, "502 Bad Gateway: upstream went away", apiErr.Message)
}

func TestClient_UnreachableServer_IsTransportError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := &api.Client{BaseURL: "http://" + addr}

	_, err = c.ListOrganizations(context.Background())

	var transport *api.TransportError
	require.ErrorAs(t, err, &transport)
	assert.Contains(t, err.Error(), "cannot reach server at http://"+addr+"/v1/organizations: ")
	var apiErr *api.Error
	assert.False(t, errors.As(err, &apiErr))
}

func TestClient_CancelledContext_IsCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := b.client.ListOrganizations(ctx)

	assert.ErrorIs(t, err, context.Canceled)
}

func TestClient_CreateAliasFromKeyCert_SendsMultipartParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.answer = `{"alias":"a","type":"KEY_CERT","certsInfo":{"certInfo":[{"subject":"CN=a","expiryDate":"1700000000000","validFrom":"1600000000000"}]}}`

	a, err := b.client.CreateAliasFromKeyCert(context.Background(), "myorg", "dev", "ks", "a",
		api.KeyCertFile{Cert: []byte("CERT"), Key: []byte("KEY"), Password: "pw"},
		api.AliasOptions{IgnoreExpiryValidation: true})

	require.NoError(t, err)
	assert.Equal(t, int64(1700000000000), a.CertsInfo.CertInfo[0].ExpiryDate)
	assert.Equal(t, "POST", b.last.method)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/keystores/ks/aliases", b.last.path)
	assert.Equal(t, "alias=a&format=keycertfile&ignoreExpiryValidation=true", b.last.query)
	assert.Equal(t, map[string]string{"certFile": "CERT", "keyFile": "KEY", "password": "pw"}, multipartOf(t, b.last))
}

func TestClient_CreateAliasFromKeyCert_CertOnly_SendsOnlyCertFile(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.CreateAliasFromKeyCert(context.Background(), "myorg", "dev", "ts", "ca",
		api.KeyCertFile{Cert: []byte("CERT")}, api.AliasOptions{})

	require.NoError(t, err)
	assert.Equal(t, "alias=ca&format=keycertfile", b.last.query)
	assert.Equal(t, map[string]string{"certFile": "CERT"}, multipartOf(t, b.last))
}

func TestClient_CreateAliasFromPKCS12_SendsFileAndPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.CreateAliasFromPKCS12(context.Background(), "myorg", "dev", "ks", "p", []byte("P12"), "pw", api.AliasOptions{})

	require.NoError(t, err)
	assert.Equal(t, "alias=p&format=pkcs12", b.last.query)
	assert.Equal(t, map[string]string{"file": "P12", "password": "pw"}, multipartOf(t, b.last))
}

func TestClient_CreateSelfSignedAlias_SendsJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.CreateSelfSignedAlias(context.Background(), "myorg", "dev", "ks", "self",
		api.SelfSignedCertRequest{Subject: api.CertSubject{CommonName: "gw"}, CertValidityInDays: 30}, api.AliasOptions{})

	require.NoError(t, err)
	assert.Equal(t, "alias=self&format=selfsignedcert", b.last.query)
	assert.Equal(t, "application/json", b.last.contentType)
	assert.JSONEq(t, `{"alias":"self","subject":{"commonName":"gw"},"certValidityInDays":30}`, string(b.last.body))
}

func TestClient_UpdateAliasCertificate_PutsCertFile(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.UpdateAliasCertificate(context.Background(), "myorg", "dev", "ks", "a", []byte("NEW"), api.AliasOptions{})

	require.NoError(t, err)
	assert.Equal(t, "PUT", b.last.method)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/keystores/ks/aliases/a", b.last.path)
	assert.Equal(t, map[string]string{"certFile": "NEW"}, multipartOf(t, b.last))
}

func TestClient_GetAliasCertificate_ReturnsPEMAsIs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.answer = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

	pem, err := b.client.GetAliasCertificate(context.Background(), "myorg", "dev", "ks", "a")

	require.NoError(t, err)
	assert.Equal(t, b.answer, string(pem))
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/keystores/ks/aliases/a/certificate", b.last.path)

	_, err = b.client.GetAliasCSR(context.Background(), "myorg", "dev", "ks", "a")
	require.NoError(t, err)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/keystores/ks/aliases/a/csr", b.last.path)
}

func TestClient_UploadArchive_PutsZipWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t)

	err := b.client.UploadArchive(context.Background(), "/uploads/abc?sig=xyz", strings.NewReader("PK-zip"))

	require.NoError(t, err)
	assert.Equal(t, "PUT", b.last.method)
	assert.Equal(t, "/uploads/abc", b.last.path)
	assert.Equal(t, "sig=xyz", b.last.query)
	assert.Equal(t, "application/zip", b.last.contentType)
	assert.Empty(t, b.last.auth, "the upload URL carries its own authorization")
	assert.Equal(t, "PK-zip", string(b.last.body))
}

func TestClient_ArchiveDeployments_UseDocumentedShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	b.answer = `{"uploadUri":"http://x/upload/1"}`
	uri, err := b.client.GenerateUploadURL(ctx, "myorg", "dev")
	require.NoError(t, err)
	assert.Equal(t, "http://x/upload/1", uri)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/archiveDeployments:generateUploadUrl", b.last.path)
	assert.Equal(t, "POST", b.last.method)

	b.answer = `{"name":"organizations/myorg/operations/u1","metadata":{"state":"NOT_STARTED"},"done":false}`
	op, err := b.client.CreateArchiveDeployment(ctx, "myorg", "dev", uri, nil)
	require.NoError(t, err)
	assert.Equal(t, "organizations/myorg/operations/u1", op.Name)
	assert.JSONEq(t, `{"gcsUri":"http://x/upload/1","labels":{}}`, string(b.last.body))

	b.answer = `{"archiveDeployments":[{"name":"organizations/myorg/environments/dev/archiveDeployments/a1"}],"nextPageToken":"p2"}`
	page, err := b.client.ListArchiveDeployments(ctx, "myorg", "dev", 10, "p1")
	require.NoError(t, err)
	assert.Equal(t, "p2", page.NextPageToken)
	assert.Equal(t, "pageSize=10&pageToken=p1", b.last.query)

	b.answer = `{"name":"organizations/myorg/environments/dev/archiveDeployments/a1"}`
	_, err = b.client.UpdateArchiveDeploymentLabels(ctx, "myorg", "dev", "a1", nil)
	require.NoError(t, err)
	assert.Equal(t, "PATCH", b.last.method)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/archiveDeployments/a1", b.last.path)
	assert.Equal(t, "updateMask=labels", b.last.query)
	assert.JSONEq(t, `{"labels":{}}`, string(b.last.body), "clearing labels still sends the field")

	b.answer = `{"downloadUri":"http://x/download/1"}`
	down, err := b.client.GenerateDownloadURL(ctx, "myorg", "dev", "a1")
	require.NoError(t, err)
	assert.Equal(t, "http://x/download/1", down)
	assert.Equal(t, "/v1/organizations/myorg/environments/dev/archiveDeployments/a1:generateDownloadUrl", b.last.path)

	b.answer = `{"name":"organizations/myorg/environments/dev/archiveDeployments/a1"}`
	deleted, err := b.client.DeleteArchiveDeployment(ctx, "myorg", "dev", "a1")
	require.NoError(t, err)
	assert.Equal(t, "organizations/myorg/environments/dev/archiveDeployments/a1", deleted.Name)
	assert.Equal(t, "DELETE", b.last.method)
}

func TestClient_Tokens_UseDocumentedShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

	b.answer = `{"name":"organizations/myorg/tokens/t1","role":"deployer","token":"kp_secret"}`
	tok, err := b.client.CreateToken(ctx, "myorg", "deployer", expiry)
	require.NoError(t, err)
	assert.Equal(t, "kp_secret", tok.Token)
	assert.Equal(t, "/v1/organizations/myorg/tokens", b.last.path)
	assert.JSONEq(t, `{"role":"deployer","expireTime":"2027-01-02T03:04:05Z"}`, string(b.last.body))

	b.answer = `{"tokens":[{"name":"t1","role":"viewer"}],"nextPageToken":"p2"}`
	list, err := b.client.ListTokens(ctx, "myorg", 5, "p1")
	require.NoError(t, err)
	assert.Equal(t, &api.ListTokensResponse{Tokens: []api.Token{{Name: "t1", Role: "viewer"}}, NextPageToken: "p2"}, list)
	assert.Equal(t, "pageSize=5&pageToken=p1", b.last.query)

	b.answer = `{"name":"t1","role":"viewer","revokeTime":"2026-11-26T00:00:00Z"}`
	revoked, err := b.client.RevokeToken(ctx, "myorg", "t1")
	require.NoError(t, err)
	assert.Equal(t, "2026-11-26T00:00:00Z", revoked.RevokeTime)
	assert.Equal(t, "DELETE", b.last.method)
	assert.Equal(t, "/v1/organizations/myorg/tokens/t1", b.last.path)
}

func TestClient_ListOrganizations_AcceptsNamesOrApigeeShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, answer := range []string{`["a","b"]`, `{"organizations":[{"organization":"a"},{"organization":"b"}]}`} {
		b.answer = answer
		names, err := b.client.ListOrganizations(context.Background())
		require.NoError(t, err, answer)
		assert.Equal(t, []string{"a", "b"}, names, answer)
	}
}

func TestClient_Names_AreEscapedInPaths(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.GetReference(context.Background(), "my org", "dev", "a/b")

	require.NoError(t, err)
	assert.Equal(t, "/v1/organizations/my%20org/environments/dev/references/a%2Fb", b.last.path)
}

func TestClient_Operations_PageQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.answer = `{"operations":[{"name":"organizations/o/operations/u","done":true,"error":{"code":3,"message":"m"},"metadata":{"@type":"t","state":"FINISHED"}}]}`

	page, err := b.client.ListOperations(context.Background(), "o", 0, "")

	require.NoError(t, err)
	assert.Empty(t, b.last.query)
	require.Len(t, page.Operations, 1)
	assert.Equal(t, &api.Status{Code: 3, Message: "m"}, page.Operations[0].Error)
}

func TestClient_BaseURLWithPathPrefix_IsKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.client.BaseURL += "/keyplane/"
	b.answer = `{"name":"o"}`

	_, err := b.client.GetOrganization(context.Background(), "o")

	require.NoError(t, err)
	assert.Equal(t, "/keyplane/v1/organizations/o", b.last.path)
}

func TestClient_InvalidBaseURL_IsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	c := &api.Client{BaseURL: "127.0.0.1:8080"}

	_, err := c.ListOrganizations(context.Background())

	require.Error(t, err)
	assert.Equal(t, `invalid server address "127.0.0.1:8080": want a URL such as http://127.0.0.1:8080`, err.Error())
}

package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"
)

// A forged Host header does not make the server hand out an upload URL
// on another host: without KEYPLANE_PUBLIC_URL the URL names the address
// the connection came in on.
func TestUploadURI_IgnoresAForgedHost(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	req, err := http.NewRequest("POST", b.srv.URL+envPath+"/archiveDeployments:generateUploadUrl", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Host = "evil.example"
	req.Header.Set("Authorization", "Bearer "+b.srv.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	up := decode[api.GenerateUploadURLResponse](t, body)
	require.True(t, strings.HasPrefix(up.UploadURI, b.srv.URL+"/archives/"), up.UploadURI)
	require.NotContains(t, up.UploadURI, "evil")
}

// A name of 60 KB in a path is not echoed back whole.
func TestErrors_EchoedNamesAreClipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", 60000)
	r := b.c.do("GET", "/v1/organizations/"+long, "")
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Less(t, len(r.Body), 2500, "the answer does not carry the 60 KB name")
	require.Contains(t, r.errorBody(t).Message, "xxxx")
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

// Requests refused for their token are audited in the administrators'
// log, at most one per client address per interval, so that a flood of
// them cannot flood the log.
func TestAudit_UnauthenticatedRequestsAreAuditedRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, token := range []string{"wrong", "", "also-wrong"} {
		c := &client{t: t, base: b.srv.URL, token: token}
		require.Equal(t, http.StatusUnauthorized, c.do("POST", "/v1/organizations", `{"name":"x"}`).Status)
	}
	recs, err := b.srv.App.DB.ListAudit(context.Background(), auth.AllOrgs, 0, 100)
	require.NoError(t, err)
	var refused int
	for _, r := range recs {
		if r.Outcome == "UNAUTHENTICATED" {
			refused++
			require.Equal(t, 401, r.Status)
			require.Equal(t, "unauthenticated 127.0.0.1", r.Actor)
			require.Equal(t, "organizations", r.Resource)
		}
	}
	require.Equal(t, 1, refused, "one entry per address per interval")
}

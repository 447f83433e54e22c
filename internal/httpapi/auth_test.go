package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
)

// token issues a token through the API, as the bootstrap administrator.
func (b *testBundle) token(t *testing.T, org, role string) string {
	t.Helper()
	tok := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/"+org+"/tokens", `{"role":"`+role+`"}`))
	require.True(t, strings.HasPrefix(tok.Token, "kp_"), tok.Token)
	require.GreaterOrEqual(t, len(tok.Token), 3+43, "at least 256 bits")
	return tok.Token
}

func (b *testBundle) as(t *testing.T, token string) *client {
	return &client{t: t, base: b.srv.URL, token: token}
}

// TestAuthorization_EveryRouteForEveryRole walks the router's own route
// table, so a new route cannot slip through unchecked, and asks each route
// as each kind of caller.
func TestAuthorization_EveryRouteForEveryRole(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", "/v1/organizations", `{"name":"otherorg"}`)
	callers := map[string]string{
		"viewer":   b.token(t, "myorg", "viewer"),
		"deployer": b.token(t, "myorg", "deployer"),
		"orgadmin": b.token(t, "myorg", "admin"),
		"admin":    b.token(t, "*", "admin"),
	}
	params := strings.NewReplacer("{env}", "dev", "{ks}", "ks", "{alias}", "a", "{ref}", "r", "{ts}", "t",
		"{id}", "00000000-0000-0000-0000-000000000000", "{uuid}", "00000000-0000-0000-0000-000000000000", "{token}", "x")

	var routes int
	err := chi.Walk(b.srv.App.Handler.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/v1/") {
			return nil
		}
		routes++
		route = strings.TrimSuffix(route, "/")
		write := method != http.MethodGet
		adminOnly := strings.Contains(route, "/tokens") || strings.Contains(route, "/auditLogs")
		for _, org := range []string{"myorg", "otherorg", "nosuchorg"} {
			path := params.Replace(strings.ReplaceAll(route, "{org}", org))
			body := "{}"

			r := (&client{t: t, base: b.srv.URL}).do(method, path, body)
			require.Equal(t, http.StatusUnauthorized, r.Status, "%s %s without a token", method, path)
			require.Equal(t, "Bearer realm=\"keyplane\"", r.Header.Get("WWW-Authenticate"))

			for who, tok := range callers {
				var allowed bool
				switch {
				case route == "/v1/organizations" && write:
					allowed = who == "admin"
				case route == "/v1/organizations":
					allowed = true
				case who == "admin":
					allowed = true
				case org != "myorg":
					allowed = false
				case adminOnly:
					allowed = who == "orgadmin"
				case write:
					allowed = who != "viewer"
				default:
					allowed = true
				}
				r := b.as(t, tok).do(method, path, body)
				if allowed {
					require.NotContains(t, []int{401, 403}, r.Status, "%s %s as %s: %s", method, path, who, r.Body)
				} else {
					require.Equal(t, http.StatusForbidden, r.Status, "%s %s as %s: %s", method, path, who, r.Body)
					require.Equal(t, "PERMISSION_DENIED", r.errorBody(t).Status)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, routes, 30)
}

func TestAuthorization_OtherOrganizationsAreNotRevealed(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", "/v1/organizations", `{"name":"otherorg"}`)
	viewer := b.as(t, b.token(t, "myorg", "viewer"))
	existing := viewer.do("GET", "/v1/organizations/otherorg/environments", "")
	missing := viewer.do("GET", "/v1/organizations/nosuchorg/environments", "")
	require.Equal(t, 403, existing.Status)
	require.Equal(t, 403, missing.Status)
	// The two answers differ in the organization's name and the request
	// id alone.
	e, m := existing.errorBody(t), missing.errorBody(t)
	require.Len(t, e.Details, 1)
	require.Len(t, m.Details, 1)
	e.Details, m.Details = nil, nil
	require.Equal(t, strings.ReplaceAll(e.Message, "otherorg", "X"), strings.ReplaceAll(m.Message, "nosuchorg", "X"))
	require.Equal(t, e.Status, m.Status)
	require.JSONEq(t, `{"organizations":[{"organization":"myorg"}]}`, string(viewer.ok("GET", "/v1/organizations", "")))
}

func TestTokens_ListNeverShowsSecretsAndRevocationIsPrompt(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	created := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/myorg/tokens", `{"role":"deployer","expireTime":"2099-01-01T00:00:00Z"}`))
	require.Regexp(t, `^organizations/myorg/tokens/[0-9a-f-]{36}$`, created.Name)
	require.Equal(t, "2099-01-01T00:00:00Z", created.ExpireTime)

	list := b.c.ok("GET", "/v1/organizations/myorg/tokens", "")
	require.NotContains(t, string(list), created.Token)
	require.NotContains(t, string(list), `"token"`)
	require.Len(t, decode[api.ListTokensResponse](t, list).Tokens, 1)

	deployer := b.as(t, created.Token)
	deployer.ok("POST", envPath+"/keystores", `{"name":"ks"}`)

	id := created.Name[strings.LastIndex(created.Name, "/")+1:]
	revoked := decode[api.Token](t, b.c.ok("DELETE", "/v1/organizations/myorg/tokens/"+id, ""))
	require.NotEmpty(t, revoked.RevokeTime)
	time.Sleep(time.Second)
	r := deployer.do("GET", envPath+"/keystores", "")
	require.Equal(t, 401, r.Status)
	require.Equal(t, "bearer token has been revoked", r.errorBody(t).Message)

	b.c.fails("POST", "/v1/organizations/myorg/tokens", `{"role":"root"}`, 400, "INVALID_ARGUMENT", `role "root" is invalid: use admin, deployer or viewer`)
	b.c.fails("POST", "/v1/organizations/myorg/tokens", `{"role":"viewer","expireTime":"2001-01-01T00:00:00Z"}`, 400, "INVALID_ARGUMENT",
		"expireTime 2001-01-01T00:00:00Z is in the past")
	b.c.fails("POST", "/v1/organizations/*/tokens", `{"role":"viewer"}`, 400, "INVALID_ARGUMENT",
		`a token of every organization ("*") must have the role admin`)
}

func TestTokens_ExpiredTokenIsRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339)
	tok := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/myorg/tokens", `{"role":"viewer","expireTime":"`+exp+`"}`))
	b.as(t, tok.Token).ok("GET", envPath, "")
	time.Sleep(2 * time.Second)
	r := b.as(t, tok.Token).do("GET", envPath, "")
	require.Equal(t, 401, r.Status)
	require.Contains(t, r.errorBody(t).Message, "bearer token expired at ")
}

func TestAuditLog_RecordsEveryChangeWithItsOutcome(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	created := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/myorg/tokens", `{"role":"deployer"}`))
	deployer := b.as(t, created.Token)
	deployer.ok("POST", envPath+"/keystores", `{"name":"ks"}`)
	deployer.fails("POST", envPath+"/keystores", `{"name":"ks"}`, 409, "ALREADY_EXISTS", `keystore "ks" already exists in environment "dev"`)
	deployer.ok("GET", envPath+"/keystores/ks", "")
	deployer.ok("DELETE", envPath+"/keystores/ks", "")

	page := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/myorg/auditLogs?pageSize=3", ""))
	require.Len(t, page.AuditLogs, 3)
	require.NotEmpty(t, page.NextPageToken)
	latest := page.AuditLogs[0]
	require.Equal(t, api.AuditLog{Actor: created.Name, Role: "deployer", Method: "DELETE",
		Resource: "organizations/myorg/environments/dev/keystores/ks", Status: 200, Outcome: "OK", Time: latest.Time}, latest)
	require.Equal(t, "ALREADY_EXISTS", page.AuditLogs[1].Outcome)
	require.Equal(t, 409, page.AuditLogs[1].Status)
	require.Equal(t, "organizations/myorg/environments/dev/keystores/ks", page.AuditLogs[2].Resource)

	rest := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/myorg/auditLogs?pageToken="+page.NextPageToken, ""))
	var resources []string
	for _, e := range rest.AuditLogs {
		resources = append(resources, e.Actor+" "+e.Method+" "+e.Resource)
	}
	require.Contains(t, resources, "bootstrap POST organizations/myorg/tokens/"+created.Name[strings.LastIndex(created.Name, "/")+1:])
	require.Contains(t, resources, "bootstrap POST organizations/myorg/environments/dev")
	for _, e := range append(rest.AuditLogs, page.AuditLogs...) {
		require.NotContains(t, e.Actor+e.Resource, created.Token)
	}
}

func TestAuditLog_RefusalsOnAnotherOrganizationGoToTheCallersLog(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	b.c.ok("POST", "/v1/organizations", `{"name":"otherorg"}`)
	intruder := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/otherorg/tokens", `{"role":"deployer"}`))
	b.as(t, intruder.Token).fails("POST", envPath+"/keystores", `{"name":"planted"}`, 403, "PERMISSION_DENIED",
		`this token may not access organization "myorg"`)

	mine := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/myorg/auditLogs", ""))
	for _, e := range mine.AuditLogs {
		require.NotEqual(t, intruder.Name, e.Actor, "myorg's log names another organization's token")
	}
	theirs := decode[api.ListAuditLogsResponse](t, b.c.ok("GET", "/v1/organizations/otherorg/auditLogs", ""))
	require.Equal(t, intruder.Name, theirs.AuditLogs[0].Actor)
	require.Equal(t, "PERMISSION_DENIED", theirs.AuditLogs[0].Outcome)
}

func TestTokens_OnlyForOrganizationsThatExist(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.fails("POST", "/v1/organizations/nope/tokens", `{"role":"viewer"}`, 404, "NOT_FOUND", `organization "nope" not found`)
	b.c.ok("POST", "/v1/organizations/*/tokens", `{"role":"admin"}`)
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

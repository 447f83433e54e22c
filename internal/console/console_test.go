package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

const (
	dev = "/console/organizations/myorg/environments/dev"
	org = "/console/organizations/myorg"
)

func TestConsole_RootRedirectsAndHeadersGuardEveryPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	p := b.get("/")
	require.Equal(t, http.StatusFound, p.Status)
	require.Equal(t, "/console/", p.Location)
	p = b.get("/console/")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/signin", p.Location)
	// A path that climbs out of the console reaches nothing else.
	for _, path := range []string{"/console/../healthz", "/console/static/../../healthz", "/console/static/..%2f..%2fhealthz"} {
		p = b.get(path)
		require.NotEqual(t, http.StatusOK, p.Status, path)
		require.NotContains(t, p.Location, "healthz", path)
	}

	p = b.get("/console/signin")
	require.Equal(t, http.StatusOK, p.Status)
	csp := p.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
	require.Contains(t, p.Body, `type="password"`)
	require.NotContains(t, p.Body, "<script>", "no inline script")
	require.NotContains(t, p.Body, "style=", "no inline style: the policy would block it")

	// A page of the console without a session leads to the sign-in page,
	// and back after it.
	p = b.get(dev + "/keystores")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/signin?next="+url.QueryEscape(dev+"/keystores"), p.Location)
	p = b.post("/console/signin", url.Values{"token": {f.srv.Token}, "next": {dev + "/keystores"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, dev+"/keystores", p.Location)
	// The session cookie is out of page script's reach and stays on this
	// site.
	setCookie := p.Header.Get("Set-Cookie")
	require.Contains(t, setCookie, "HttpOnly")
	require.Contains(t, setCookie, "SameSite=Strict")
	require.Contains(t, setCookie, "Path=/console/")

	// The next visit opens the last organization and environment.
	b.get(dev + "/references")
	p = b.get("/console/")
	require.Equal(t, dev+"/keystores", p.Location)

	// An outside destination after sign-in is not followed.
	p = b.post("/console/signin", url.Values{"token": {f.srv.Token}, "next": {"//evil.example/"}})
	require.Equal(t, "/console/", p.Location)
}

func TestConsole_SignInRefusesABadTokenWithTheAPIMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	p := b.post("/console/signin", url.Values{"token": {"kp_not-a-token"}})
	require.Equal(t, http.StatusUnauthorized, p.Status)
	require.Contains(t, p.text(), "bearer token is not valid")
	require.Empty(t, p.Header.Get("Set-Cookie"))
	require.NotContains(t, p.Body, "kp_not-a-token", "a typed token is never echoed")
}

func TestConsole_RevokedTokenEndsTheSessionAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := f.admin.CreateToken(context.Background(), "myorg", api.RoleDeployer, timeZero)
	require.NoError(t, err)
	b := newBrowser(t, f.srv.URL)
	b.signIn(tok.Token)
	require.Equal(t, http.StatusOK, b.get(dev+"/keystores").Status)
	_, err = f.admin.RevokeToken(context.Background(), "myorg", tok.Name[strings.LastIndex(tok.Name, "/")+1:])
	require.NoError(t, err)
	// The API reuses a token lookup for at most auth.CacheTTL; the
	// session ends no later than the API stops accepting the token.
	var p *page
	require.Eventually(t, func() bool {
		p = b.get(dev + "/keystores")
		return p.Status != http.StatusOK
	}, 2*auth.CacheTTL+5*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusUnauthorized, p.Status)
	require.Contains(t, p.text(), "bearer token has been revoked")
	require.Contains(t, strings.Join(p.Header.Values("Set-Cookie"), "\n"), "keyplane_session=;", "the session cookie is cleared")
}

// TestConsole_ForgedWritesAreRefused sends writes as another site would:
// without the form's CSRF token, with a foreign Origin, or marked
// cross-site by the browser. None changes anything.
func TestConsole_ForgedWritesAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	csrf := b.csrf()

	p := b.post(dev+"/keystores", url.Values{"name": {"forged1"}})
	require.Equal(t, http.StatusForbidden, p.Status)
	p = b.post(dev+"/keystores", url.Values{"name": {"forged2"}, "csrf": {"x" + csrf[1:]}})
	require.Equal(t, http.StatusForbidden, p.Status)

	req, _ := http.NewRequest("POST", f.srv.URL+dev+"/keystores", strings.NewReader(url.Values{"name": {"forged3"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, b.do(req).Status)

	req, _ = http.NewRequest("POST", f.srv.URL+dev+"/keystores", strings.NewReader(url.Values{"name": {"forged4"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, b.do(req).Status)

	names, err := f.admin.ListKeystores(context.Background(), "myorg", "dev")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"ks", "ts9"}, names)

	// Signing out needs the token too, so another site cannot sign
	// people out.
	p = b.post("/console/signout", url.Values{})
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Equal(t, http.StatusOK, b.get(dev+"/keystores").Status, "still signed in")

	// The same form with the token and from the console itself works.
	p = b.post(dev+"/keystores", url.Values{"name": {"real"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)

	// Another session's CSRF token is not this one's.
	other := newBrowser(t, f.srv.URL)
	other.signIn(f.token(t, api.RoleAdmin))
	p = other.post(dev+"/keystores", url.Values{"name": {"forged5"}, "csrf": {csrf}})
	require.Equal(t, http.StatusForbidden, p.Status)
}

// action is one console action as a test exercises it.
type action struct {
	method, path string
	form         url.Values
	files        map[string][]byte
	// write: the API call behind it changes something. admin: it is an
	// administrators' page.
	write, admin bool
}

// TestConsole_EveryActionForEveryRole walks the console's own route table,
// so that a new console page cannot slip through unchecked, and does each
// action as an admin, a deployer and a viewer: what the API allows works,
// what it refuses is refused with the API's message, verbatim.
func TestConsole_EveryActionForEveryRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	leaf := testcerts.New(t, testcerts.Options{CommonName: "walk"})
	pem := map[string][]byte{"certFile": leaf.CertPEM(), "keyFile": leaf.KeyPEM(t)}
	opUUID := f.failed.Name[strings.LastIndex(f.failed.Name, "/")+1:]
	revokable := func() string {
		tok, err := f.admin.CreateToken(context.Background(), "myorg", api.RoleViewer, timeZero)
		require.NoError(t, err)
		return tok.Name[strings.LastIndex(tok.Name, "/")+1:]
	}
	actions := func(n string) map[string]action {
		ks := "walk-" + n
		return map[string]action{
			"GET /console/organizations":                                                                     {method: "GET", path: "/console/organizations"},
			"GET /console/choose":                                                                            {method: "GET", path: "/console/choose?org=myorg&env=dev"},
			"GET /console/organizations/{org}/":                                                              {method: "GET", path: org + "/?pick=1"},
			"GET /console/organizations/{org}/certificates":                                                  {method: "GET", path: org + "/certificates"},
			"GET /console/organizations/{org}/operations/{uuid}":                                             {method: "GET", path: org + "/operations/" + opUUID},
			"GET /console/organizations/{org}/tokens":                                                        {method: "GET", path: org + "/tokens", admin: true},
			"POST /console/organizations/{org}/tokens":                                                       {method: "POST", path: org + "/tokens", form: url.Values{"role": {"viewer"}}, write: true, admin: true},
			"POST /console/organizations/{org}/tokens/{id}/revoke":                                           {method: "POST", path: org + "/tokens/" + revokable() + "/revoke", write: true, admin: true},
			"GET /console/organizations/{org}/auditLogs":                                                     {method: "GET", path: org + "/auditLogs", admin: true},
			"GET /console/organizations/{org}/environments/{env}/":                                           {method: "GET", path: dev + "/"},
			"GET /console/organizations/{org}/environments/{env}/keystores":                                  {method: "GET", path: dev + "/keystores"},
			"POST /console/organizations/{org}/environments/{env}/keystores":                                 {method: "POST", path: dev + "/keystores", form: url.Values{"name": {ks}}, write: true},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}":                             {method: "GET", path: dev + "/keystores/ks"},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/delete":                      {method: "GET", path: dev + "/keystores/ks/delete"},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/new":                 {method: "GET", path: dev + "/keystores/ks/aliases/new"},
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases":                    {method: "POST", path: dev + "/keystores/ks/aliases", form: url.Values{"alias": {"walk-" + n}, "type": {"keycert"}}, files: pem, write: true},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}":             {method: "GET", path: dev + "/keystores/ks/aliases/a"},
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}":            {method: "POST", path: dev + "/keystores/ks/aliases/walk-" + n, files: map[string][]byte{"certFile": leaf.CertPEM()}, write: true},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}/certificate": {method: "GET", path: dev + "/keystores/ks/aliases/a/certificate"},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}/csr":         {method: "GET", path: dev + "/keystores/ks/aliases/a/csr"},
			"GET /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}/delete":      {method: "GET", path: dev + "/keystores/ks/aliases/a/delete"},
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}/delete":     {method: "POST", path: dev + "/keystores/ks/aliases/walk-" + n + "/delete", write: true},
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/delete":                     {method: "POST", path: dev + "/keystores/" + ks + "/delete", write: true},
			"GET /console/organizations/{org}/environments/{env}/references":                                 {method: "GET", path: dev + "/references"},
			"POST /console/organizations/{org}/environments/{env}/references":                                {method: "POST", path: dev + "/references", form: url.Values{"name": {"ref-" + n}, "resourceType": {"KeyStore"}, "refers": {"ks"}}, write: true},
			"POST /console/organizations/{org}/environments/{env}/references/{ref}":                          {method: "POST", path: dev + "/references/ref-" + n, form: url.Values{"resourceType": {"KeyStore"}, "refers": {"ts9"}}, write: true},
			"GET /console/organizations/{org}/environments/{env}/references/{ref}/delete":                    {method: "GET", path: dev + "/references/r/delete"},
			"POST /console/organizations/{org}/environments/{env}/references/{ref}/delete":                   {method: "POST", path: dev + "/references/ref-" + n + "/delete", write: true},
			"GET /console/organizations/{org}/environments/{env}/targetservers":                              {method: "GET", path: dev + "/targetservers"},
			"GET /console/organizations/{org}/environments/{env}/targetservers/new":                          {method: "GET", path: dev + "/targetservers/new"},
			"POST /console/organizations/{org}/environments/{env}/targetservers":                             {method: "POST", path: dev + "/targetservers", form: url.Values{"name": {"ts-" + n}, "host": {"h.example.com"}, "port": {"443"}, "isEnabled": {"on"}}, write: true},
			"GET /console/organizations/{org}/environments/{env}/targetservers/{ts}":                         {method: "GET", path: dev + "/targetservers/t"},
			"POST /console/organizations/{org}/environments/{env}/targetservers/{ts}":                        {method: "POST", path: dev + "/targetservers/ts-" + n, form: url.Values{"host": {"h2.example.com"}, "port": {"8443"}}, write: true},
			"GET /console/organizations/{org}/environments/{env}/targetservers/{ts}/delete":                  {method: "GET", path: dev + "/targetservers/t/delete"},
			"POST /console/organizations/{org}/environments/{env}/targetservers/{ts}/delete":                 {method: "POST", path: dev + "/targetservers/ts-" + n + "/delete", write: true},
			"GET /console/organizations/{org}/environments/{env}/archiveDeployments":                         {method: "GET", path: dev + "/archiveDeployments"},
			"POST /console/organizations/{org}/environments/{env}/archiveDeployments":                        {method: "POST", path: dev + "/archiveDeployments", files: map[string][]byte{"archive": failingArchive(t)}, write: true},
		}
	}
	// Routes that are not actions on the API: the sign-in and static
	// files, open to all.
	open := map[string]bool{
		"GET /console/": true, "GET /console/signin": true, "POST /console/signin": true,
		"POST /console/signout": true,
	}
	var routes []string
	require.NoError(t, chi.Walk(f.srv.App.Console.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/console/static/") {
			routes = append(routes, method+" "+route)
		}
		return nil
	}))
	table := actions("x")
	for _, r := range routes {
		if !open[r] {
			require.Contains(t, table, r, "the walk does not cover console route %s", r)
		}
	}
	require.Len(t, table, len(routes)-countOpen(routes, open), "the walk lists a route the console does not have")

	for _, role := range []string{api.RoleViewer, api.RoleDeployer, api.RoleAdmin} {
		b := newBrowser(t, f.srv.URL)
		b.signIn(f.token(t, role))
		csrf := b.csrf()
		// Actions run in an order where what one creates, the next uses.
		order := []string{
			"POST /console/organizations/{org}/environments/{env}/keystores",
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases",
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}",
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/aliases/{alias}/delete",
			"POST /console/organizations/{org}/environments/{env}/keystores/{ks}/delete",
			"POST /console/organizations/{org}/environments/{env}/references",
			"POST /console/organizations/{org}/environments/{env}/references/{ref}",
			"POST /console/organizations/{org}/environments/{env}/references/{ref}/delete",
			"POST /console/organizations/{org}/environments/{env}/targetservers",
			"POST /console/organizations/{org}/environments/{env}/targetservers/{ts}",
			"POST /console/organizations/{org}/environments/{env}/targetservers/{ts}/delete",
		}
		acts := actions(role)
		var keys []string
		keys = append(keys, order...)
		for k := range acts {
			if !contains(order, k) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			a := acts[k]
			var p *page
			switch {
			case a.method == "GET":
				p = b.get(a.path)
			case a.files != nil:
				fields := map[string]string{"csrf": csrf}
				for fk, fv := range a.form {
					fields[fk] = fv[0]
				}
				p = b.postMultipart(a.path, fields, a.files)
			default:
				form := url.Values{"csrf": {csrf}}
				for fk, fv := range a.form {
					form[fk] = fv
				}
				p = b.post(a.path, form)
			}
			var refused string
			// The API checks a write by a viewer before it checks for
			// an administrator.
			switch {
			case a.write && role == api.RoleViewer:
				refused = "a viewer token may only read"
			case a.admin && role != api.RoleAdmin:
				refused = `only an administrator of organization "myorg" may do this`
			}
			if refused != "" {
				require.Equal(t, http.StatusForbidden, p.Status, "%s as %s: %s", k, role, p.Body)
				require.Contains(t, p.text(), refused, "%s as %s shows the API's message", k, role)
			} else {
				require.Contains(t, []int{200, 303}, p.Status, "%s as %s: %s", k, role, p.Body)
			}
		}
	}
}

func countOpen(routes []string, open map[string]bool) int {
	n := 0
	for _, r := range routes {
		if open[r] {
			n++
		}
	}
	return n
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestConsole_ViewerSeesNoWriteControls looks at every page a viewer can
// open: no form that posts anything but sign-out, no link to a form that
// would change something.
func TestConsole_ViewerSeesNoWriteControls(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.token(t, api.RoleViewer))
	for _, path := range []string{
		dev + "/keystores", dev + "/keystores/ks", dev + "/keystores/ks/aliases/a", dev + "/references",
		dev + "/targetservers", dev + "/targetservers/t", dev + "/archiveDeployments", org + "/certificates",
		org + "/operations/" + f.failed.Name[strings.LastIndex(f.failed.Name, "/")+1:],
	} {
		p := b.get(path)
		require.Equal(t, http.StatusOK, p.Status, path)
		require.Equal(t, 1, strings.Count(p.Body, `method="post"`), "%s: only the sign-out form posts", path)
		require.Contains(t, p.Body, `action="/console/signout"`)
		for _, control := range []string{"+ Keystore", "+ Alias", "/delete", "+ Target server", ">Deploy<", "Replace certificate", "Re-point", ">Create "} {
			require.NotContains(t, p.Body, control, "%s shows a write control to a viewer", path)
		}
		// The menu has no administrators' pages.
		require.NotContains(t, p.Body, "/tokens")
		require.NotContains(t, p.Body, "/auditLogs")
	}
	// The same pages as a deployer do show them.
	d := newBrowser(t, f.srv.URL)
	d.signIn(f.token(t, api.RoleDeployer))
	p := d.get(dev + "/keystores")
	require.Contains(t, p.Body, "+ Keystore")
	require.Contains(t, p.Body, "+ Alias")
}

// TestConsole_PublicURLIsTheConsolesOwnOrigin accepts forms posted from
// the address of KEYPLANE_PUBLIC_URL (a proxy in front may rewrite the
// Host header), and still refuses other origins.
func TestConsole_PublicURLIsTheConsolesOwnOrigin(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{PublicURL: "https://keyplane.example"})
	_, err := (&api.Client{BaseURL: srv.URL, Token: srv.Token}).CreateOrganization(context.Background(), api.Organization{Name: "myorg"})
	require.NoError(t, err)
	b := newBrowser(t, srv.URL)
	post := func(origin string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/console/signin", strings.NewReader(url.Values{"token": {srv.Token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		return b.do(req).Status
	}
	require.Equal(t, http.StatusSeeOther, post("https://keyplane.example"))
	require.Equal(t, http.StatusSeeOther, post(srv.URL))
	require.Equal(t, http.StatusForbidden, post("https://other.example"))
}

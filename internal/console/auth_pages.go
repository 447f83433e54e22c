package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

type signInData struct {
	Next string
}

// safeNext keeps a post-sign-in destination only when it is a console
// page, so that the sign-in form cannot be made to send people elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix
	}
	return next
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err != nil || ck.Value == "" {
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
		return
	}
	org, env := lastChoice(r)
	switch {
	case org != "" && env != "":
		http.Redirect(w, r, envURL(org, env, "keystores"), http.StatusSeeOther)
	case org != "":
		http.Redirect(w, r, orgURL(org), http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/console/organizations", http.StatusSeeOther)
	}
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", Data: signInData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// signIn checks the token with the API (listing the organizations it may
// see) and, when the API accepts it, keeps it in the session cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	p := &page{Title: "Sign in", Data: signInData{Next: next}}
	if token == "" {
		p.Error = "Token: enter a keyplane token."
		c.render(w, r, http.StatusBadRequest, "signin", p)
		return
	}
	if _, err := c.clientFor(r, token).ListOrganizations(r.Context()); err != nil {
		p.Error = err.Error()
		status := http.StatusUnauthorized
		if e, ok := apiError(err); ok {
			status = e.HTTPStatus
		}
		c.render(w, r, status, "signin", p)
		return
	}
	setSessionCookie(w, r, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut forgets the session. It asks for the CSRF token, so that another
// site cannot sign people out.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil && !validCSRF(ck.Value, r.PostFormValue("csrf")) {
		http.Error(w, "403 the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
		return
	}
	clearSessionCookie(w, r)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

func (c *Console) organizations(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Organizations", "")
	if len(p.Orgs) == 1 {
		http.Redirect(w, r, orgURL(p.Orgs[0]), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "organizations", p)
}

// choose follows the organization and environment pickers.
func (c *Console) choose(w http.ResponseWriter, r *http.Request) {
	org, env := r.URL.Query().Get("org"), r.URL.Query().Get("env")
	switch {
	case org == "":
		http.Redirect(w, r, "/console/organizations", http.StatusSeeOther)
	case env == "":
		http.Redirect(w, r, orgURL(org), http.StatusSeeOther)
	default:
		// An environment of another organization than the one picked is
		// dropped: the environment picker lists the old organization's.
		if envs, err := sessionOf(r).client.ListEnvironments(r.Context(), org); err == nil && !contains(envs, env) {
			http.Redirect(w, r, orgURL(org), http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, envURL(org, env, "keystores"), http.StatusSeeOther)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// environments is the organization's page: its environments to pick from.
func (c *Console) environments(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Environments", "")
	envs, err := p.Session.client.ListEnvironments(r.Context(), p.Org)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	if _, env := lastChoice(r); env != "" && contains(envs, env) && r.URL.Query().Get("pick") == "" {
		http.Redirect(w, r, envURL(p.Org, env, "keystores"), http.StatusSeeOther)
		return
	}
	p.Data = envs
	c.render(w, r, http.StatusOK, "environments", p)
}

func (c *Console) environment(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, envURL(chi.URLParam(r, "org"), chi.URLParam(r, "env"), "keystores"), http.StatusSeeOther)
}

type tokensData struct {
	Tokens []api.Token
	Next   string
	// Created is a token just created, shown this once.
	Created *api.Token
}

func (c *Console) tokens(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Tokens", "tokens")
	c.renderTokens(w, r, p, nil)
}

func (c *Console) renderTokens(w http.ResponseWriter, r *http.Request, p *page, created *api.Token) {
	list, err := p.Session.client.ListTokens(r.Context(), p.Org, 100, r.URL.Query().Get("pageToken"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Data = tokensData{Tokens: list.Tokens, Next: list.NextPageToken, Created: created}
	c.render(w, r, http.StatusOK, "tokens", p)
}

// createToken shows the new token's secret in the answer to the form, once:
// it is never in a URL, and never shown again.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Tokens", "tokens")
	var expire time.Time
	if v := r.PostFormValue("expireTime"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			p.Error = "Expires: want a date such as 2027-01-31."
			c.renderTokens(w, r, p, nil)
			return
		}
		expire = t
	}
	tok, err := p.Session.client.CreateToken(r.Context(), p.Org, r.PostFormValue("role"), expire)
	if err != nil {
		p.Error = err.Error()
		c.renderTokens(w, r, p, nil)
		return
	}
	p.Notice = "Token created. Copy it now: it is not shown again."
	c.renderTokens(w, r, p, tok)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Tokens", "tokens")
	id := chi.URLParam(r, "id")
	if _, err := p.Session.client.RevokeToken(r.Context(), p.Org, id); err != nil {
		c.fail(w, r, p, err)
		return
	}
	done(w, r, p.OrgURL("tokens"), "Token "+id+" revoked.")
}

type auditData struct {
	Logs []api.AuditLog
	Next string
}

func (c *Console) auditLogs(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Audit log", "audit")
	list, err := p.Session.client.ListAuditLogs(r.Context(), p.Org, 100, r.URL.Query().Get("pageToken"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Data = auditData{Logs: list.AuditLogs, Next: list.NextPageToken}
	c.render(w, r, http.StatusOK, "audit", p)
}

package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// page is what every page's template gets: the layout's parts (title,
// session, organization and environment pickers, messages) and the page's
// own data.
type page struct {
	Title string
	// Nav names the section the page belongs to, to mark it in the menu.
	Nav     string
	Session *session
	Org     string
	Env     string
	Orgs    []string
	Envs    []string
	// Notice says what just happened; Error says what the API refused,
	// verbatim.
	Notice string
	Error  string
	// Refresh, when not zero, reloads the page after that many seconds (an
	// operation that is still running).
	Refresh int
	Data    any
}

// CanWrite reports whether the page may show controls that change things.
func (p *page) CanWrite() bool {
	return p.Session != nil && p.Session.principal.CanWrite(p.Org)
}

// CanAdmin reports whether the page may show the administrators' pages.
func (p *page) CanAdmin() bool {
	return p.Session != nil && p.Session.principal.CanAdmin(p.Org)
}

// CSRF is the session's form token.
func (p *page) CSRF() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.csrf
}

// Role is the session's role, shown in the header.
func (p *page) Role() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.principal.Role
}

// EnvURL is the console address of a path under the current environment.
func (p *page) EnvURL(parts ...string) string {
	return envURL(p.Org, p.Env, parts...)
}

// OrgURL is the console address of a path under the current organization.
func (p *page) OrgURL(parts ...string) string {
	return orgURL(p.Org, parts...)
}

func orgURL(org string, parts ...string) string {
	u := "/console/organizations/" + url.PathEscape(org)
	for _, s := range parts {
		u += "/" + url.PathEscape(s)
	}
	return u
}

func envURL(org, env string, parts ...string) string {
	return orgURL(org, append([]string{"environments", env}, parts...)...)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

var funcs = template.FuncMap{
	"date": func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
	"dec":  func(i int) int { return i - 1 },
	// envurl and orgurl build console addresses, escaping each segment.
	"envurl": envURL,
	"orgurl": orgURL,
	"base":   path.Base,
	"list":   func(s ...string) []string { return s },
	"deref":  func(b *bool) bool { return b != nil && *b },
}

// parsePages parses every page template with the layout.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return out
}

// render writes a page. A template fails before anything is written, so a
// broken page is a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no template " + name)
	}
	if p.Session == nil && name != "signin" {
		p.Session = sessionOf(r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.cfg.Log.ErrorContext(r.Context(), "console template", "page", name, "error", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// newPage starts a page of the organization and environment in the path,
// with the pickers filled in and the choice remembered.
func (c *Console) newPage(w http.ResponseWriter, r *http.Request, title, nav string) *page {
	s := sessionOf(r)
	p := &page{Title: title, Nav: nav, Session: s, Org: chi.URLParam(r, "org"), Env: chi.URLParam(r, "env")}
	p.Orgs, _ = s.client.ListOrganizations(r.Context())
	if lastOrg, lastEnv := lastChoice(r); p.Env == "" && lastOrg == p.Org {
		// An organization's page keeps the environment last chosen in
		// the picker and the menu.
		p.Env = lastEnv
	}
	if p.Org != "" {
		p.Envs, _ = s.client.ListEnvironments(r.Context(), p.Org)
		rememberChoice(w, r, p.Org, p.Env)
	}
	p.Notice = r.URL.Query().Get("notice")
	return p
}

// fail shows the API's refusal on a page of its own, with the API's status
// code and its message verbatim. When the page already shows a refusal
// (the change the form asked for), that one stays: it is what the person
// needs to read, not why the page could not be drawn after it.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, p *page, err error) {
	status := http.StatusBadGateway
	if e, ok := apiError(err); ok {
		status = e.HTTPStatus
	}
	if p.Error == "" {
		p.Error = err.Error()
	}
	if status == http.StatusUnauthorized {
		// The token stopped working between the session check and this
		// call: the session ends here too.
		clearSessionCookie(w, r)
		c.render(w, r, status, "signin", &page{Title: "Sign in", Error: "Your session has ended: " + err.Error() + ".",
			Data: signInData{Next: safeNext(r.URL.RequestURI())}})
		return
	}
	c.render(w, r, status, "error", p)
}

// done redirects after a successful change, with a notice for the next
// page (post/redirect/get, so a reload does not repeat the change).
func done(w http.ResponseWriter, r *http.Request, to, notice string) {
	if notice != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

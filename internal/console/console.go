// Package console is keyplane's browser console, served at /console/ by
// `keyplane serve`: server-rendered pages for the TLS Keystores workflow
// (keystores, aliases and their expiration status, references, target
// servers, archive deployments, expiring certificates, tokens and the audit
// log).
//
// The console holds no authority of its own. Every page and every action is
// a call to the real API, made in-process through the same Go client the
// CLI uses, with the signed-in person's bearer token. So the console can do
// exactly what the token may, a revoked or expired token ends the session
// on the next click, and a refusal is shown with the API's own message.
//
// The token lives in an HttpOnly, SameSite=Strict cookie (Secure under
// TLS): page script can never read it, and browsers do not send it with
// requests that other sites start. Every form that changes something also
// carries a CSRF token derived from the session token, and the request's
// Origin must be the console's own.
package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// Cookie names. The session cookie holds the bearer token; the choice
// cookie remembers the last organization and environment, which are not
// secret.
const (
	sessionCookie = "keyplane_session"
	choiceCookie  = "keyplane_choice"
)

// Config is what the console is built from.
type Config struct {
	// API serves the /v1 API; the console calls it in-process.
	API http.Handler
	// Auth tells the console the role of a token, only so that a page can
	// leave out the controls the token may not use: the API still decides
	// every action.
	Auth *auth.Authenticator
	Log  *slog.Logger
	// Now is the clock of the expiration status; nil means time.Now.
	Now func() time.Time
	// PublicURL, when set, is the address people reach the server at (as
	// KEYPLANE_PUBLIC_URL says): behind a proxy that rewrites the Host
	// header, forms posted from it are the console's own too.
	PublicURL string
}

// Console is the console's HTTP handler.
type Console struct {
	cfg    Config
	pages  map[string]*template.Template
	router chi.Router
}

// New builds the console.
func New(cfg Config) *Console {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, pages: parsePages()}
	c.router = c.routes()
	return c
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.router.ServeHTTP(w, r) }

// Mount returns a handler that serves the console under /console/,
// redirects / there, and passes every other request to api untouched. It
// matches prefixes itself rather than with http.ServeMux, which would clean
// paths and redirect: a path that climbs out of a resource must reach the
// API as sent, to be refused there.
func Mount(c *Console, apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, Prefix):
			c.ServeHTTP(w, r)
		case (p == "/" || p == "/console") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, Prefix, http.StatusFound)
		default:
			apiHandler.ServeHTTP(w, r)
		}
	})
}

// contentSecurityPolicy allows the console's own script, style and images
// only: no inline script or style, no framing, forms posted only to the
// console.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(securityHeaders, c.sameOrigin)
	static, _ := fs.Sub(staticFS, "static")
	r.Handle("/console/static/*", http.StripPrefix("/console/static/", http.FileServer(http.FS(static))))
	r.Get("/console/", c.home)
	r.Get("/console/signin", c.signInPage)
	r.Post("/console/signin", c.signIn)
	r.Post("/console/signout", c.signOut)
	r.Group(func(r chi.Router) {
		r.Use(c.requireSession)
		r.Get("/console/organizations", c.organizations)
		r.Get("/console/choose", c.choose)
		r.Route("/console/organizations/{org}", func(r chi.Router) {
			r.Get("/", c.environments)
			r.Get("/certificates", c.certificates)
			r.Get("/operations/{uuid}", c.operation)
			r.Get("/tokens", c.tokens)
			r.Post("/tokens", c.createToken)
			r.Post("/tokens/{id}/revoke", c.revokeToken)
			r.Get("/auditLogs", c.auditLogs)
			r.Route("/environments/{env}", func(r chi.Router) {
				r.Get("/", c.environment)
				r.Get("/keystores", c.keystores)
				r.Post("/keystores", c.createKeystore)
				r.Get("/keystores/{ks}", c.keystore)
				r.Get("/keystores/{ks}/delete", c.confirmDeleteKeystore)
				r.Post("/keystores/{ks}/delete", c.deleteKeystore)
				r.Get("/keystores/{ks}/aliases/new", c.newAlias)
				r.Post("/keystores/{ks}/aliases", c.createAlias)
				r.Get("/keystores/{ks}/aliases/{alias}", c.alias)
				r.Post("/keystores/{ks}/aliases/{alias}", c.replaceAlias)
				r.Get("/keystores/{ks}/aliases/{alias}/certificate", c.downloadCertificate)
				r.Get("/keystores/{ks}/aliases/{alias}/csr", c.downloadCSR)
				r.Get("/keystores/{ks}/aliases/{alias}/delete", c.confirmDeleteAlias)
				r.Post("/keystores/{ks}/aliases/{alias}/delete", c.deleteAlias)
				r.Get("/references", c.references)
				r.Post("/references", c.createReference)
				r.Post("/references/{ref}", c.updateReference)
				r.Get("/references/{ref}/delete", c.confirmDeleteReference)
				r.Post("/references/{ref}/delete", c.deleteReference)
				r.Get("/targetservers", c.targetServers)
				r.Get("/targetservers/new", c.newTargetServer)
				r.Post("/targetservers", c.saveTargetServer)
				r.Get("/targetservers/{ts}", c.targetServer)
				r.Post("/targetservers/{ts}", c.saveTargetServer)
				r.Get("/targetservers/{ts}/delete", c.confirmDeleteTargetServer)
				r.Post("/targetservers/{ts}/delete", c.deleteTargetServer)
				r.Get("/archiveDeployments", c.archiveDeployments)
				r.Post("/archiveDeployments", c.deploy)
			})
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	return r
}

// securityHeaders sets the headers that keep every console response out of
// frames, away from inline script, and out of caches.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a state-changing request that a browser says another
// site started: an Origin that is not the console's own host, or a
// Sec-Fetch-Site other than same-origin. It guards sign-in too, where there
// is no session yet to derive a CSRF token from.
func (c *Console) sameOrigin(next http.Handler) http.Handler {
	public := ""
	if u, err := url.Parse(c.cfg.PublicURL); err == nil {
		public = u.Host
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			http.Error(w, "403 cross-site request refused", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host && (public == "" || u.Host != public) {
				http.Error(w, "403 cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// csrfToken is the token every state-changing form of a session carries:
// an HMAC keyed by the session's bearer token. Only someone who holds the
// bearer token can compute it, the bearer token cannot be recovered from
// it, and it needs no server-side state, so any server sharing the
// database accepts it.
func csrfToken(bearer string) string {
	m := hmac.New(sha256.New, []byte(bearer))
	m.Write([]byte("keyplane console form v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF reports whether a posted form carries the session's CSRF token.
func validCSRF(bearer, posted string) bool {
	return hmac.Equal([]byte(csrfToken(bearer)), []byte(posted))
}

// setSessionCookie keeps the bearer token in a cookie that page script
// cannot read and other sites cannot make the browser send.
func setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: Prefix,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// rememberChoice keeps the last organization and environment, so that the
// console opens there next time.
func rememberChoice(w http.ResponseWriter, r *http.Request, org, env string) {
	v := url.PathEscape(org)
	if env != "" {
		v += "/" + url.PathEscape(env)
	}
	http.SetCookie(w, &http.Cookie{
		Name: choiceCookie, Value: v, Path: Prefix, MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// lastChoice returns the remembered organization and environment.
func lastChoice(r *http.Request) (org, env string) {
	ck, err := r.Cookie(choiceCookie)
	if err != nil {
		return "", ""
	}
	o, e, _ := strings.Cut(ck.Value, "/")
	org, _ = url.PathUnescape(o)
	env, _ = url.PathUnescape(e)
	return org, env
}

// apiError returns the API's answer in err, when it is one.
func apiError(err error) (*api.Error, bool) {
	var e *api.Error
	ok := errors.As(err, &e)
	return e, ok
}

// Router exposes the console's route table, so that a test can walk every
// console action with every role.
func (c *Console) Router() chi.Routes { return c.router }

package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"
)

// session is a signed-in person's: the token, the API client that acts
// with it, and the token's principal, which pages use only to leave out
// controls the token may not use.
type session struct {
	token     string
	client    *api.Client
	principal *auth.Principal
	csrf      string
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// inProcess carries the API client's requests to the API's handler in the
// same process: the requests go through the whole router (authentication,
// authorization, audit, limits), without a network hop.
type inProcess struct {
	handler    http.Handler
	remoteAddr string
}

// RoundTrip serves req with the API handler and returns its answer.
func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	// The API routes the request afresh: the console's own routing state,
	// which chi keeps in the context, must not reach the API's router.
	in := req.Clone(context.WithValue(req.Context(), chi.RouteCtxKey, nil))
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = t.remoteAddr
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := &recorder{header: http.Header{}}
	t.handler.ServeHTTP(rec, in)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(rec.code) + " " + http.StatusText(rec.code),
		StatusCode:    rec.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// clientFor returns an API client that acts with token, in-process.
func (c *Console) clientFor(r *http.Request, token string) *api.Client {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &api.Client{
		BaseURL: scheme + "://" + r.Host,
		Token:   token,
		HTTP:    &http.Client{Transport: inProcess{handler: c.cfg.API, remoteAddr: r.RemoteAddr}},
	}
}

// requireSession admits requests of a signed-in session whose token the
// API still accepts; any other goes to the sign-in page, and a session
// whose token was revoked or expired ends there and then. Every POST must
// carry the session's CSRF token.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			c.toSignIn(w, r, "")
			return
		}
		p, err := c.cfg.Auth.Authenticate(r.Context(), ck.Value)
		if err != nil {
			clearSessionCookie(w, r)
			c.toSignIn(w, r, "Your session has ended: "+err.Error()+".")
			return
		}
		s := &session{token: ck.Value, principal: p, csrf: csrfToken(ck.Value), client: c.clientFor(r, ck.Value)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !validCSRF(s.token, r.FormValue("csrf")) {
				http.Error(w, "403 the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// toSignIn sends the browser to the sign-in page, keeping where it was
// going so that it gets there after signing in.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Method != http.MethodGet {
		http.Error(w, "401 not signed in: "+msg, http.StatusUnauthorized)
		return
	}
	if msg != "" {
		c.render(w, r, http.StatusUnauthorized, "signin", &page{Title: "Sign in", Error: msg, Data: signInData{Next: r.URL.RequestURI()}})
		return
	}
	http.Redirect(w, r, "/console/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/auth"
)

// rule decides whether a principal may make a request; it returns the
// reason when not.
type rule func(p *auth.Principal, r *http.Request) error

// everyOrgAdmin admits administrators of every organization only, for
// creating organizations.
func everyOrgAdmin(p *auth.Principal, r *http.Request) error {
	if p.CanAdmin(auth.AllOrgs) {
		return nil
	}
	return keyplane.Errorf(keyplane.PermissionDenied, "only an administrator of every organization may do this")
}

// orgScope admits reads by any token of the organization in the path and
// writes by its admins and deployers. The answer is the same whether or not
// the organization exists, so a token learns nothing of others.
func orgScope(p *auth.Principal, r *http.Request) error {
	org := chi.URLParam(r, "org")
	if !p.CanRead(org) {
		return keyplane.Errorf(keyplane.PermissionDenied, "this token may not access organization %q", org)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !p.CanWrite(org) {
		return keyplane.Errorf(keyplane.PermissionDenied, "a %s token may only read", p.Role)
	}
	return nil
}

// orgAdmin admits administrators of the organization in the path, for
// tokens and the audit log.
func orgAdmin(p *auth.Principal, r *http.Request) error {
	if org := chi.URLParam(r, "org"); !p.CanAdmin(org) {
		return keyplane.Errorf(keyplane.PermissionDenied, "only an administrator of organization %q may do this", org)
	}
	return nil
}

// allowed applies a rule to every request of a route group.
func (s *Server) allowed(check rule) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := check(principal(r), r); err != nil {
				s.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// auditNote collects what the audit log says of a request while it runs.
type auditNote struct {
	org      string // the organization whose log gets the entry; empty: from the path
	resource string
	outcome  string
}

const auditKey ctxKey = 100

// note names the resource a request changed, for the audit log, when the
// path alone does not (creates name it in the body).
func note(r *http.Request, resource string) {
	if n, ok := r.Context().Value(auditKey).(*auditNote); ok {
		n.resource = resource
	}
}

// noteUpload names the organization and upload an upload through a signed
// URL fills, once its signature checked out.
func noteUpload(r *http.Request, org, resource string) {
	if n, ok := r.Context().Value(auditKey).(*auditNote); ok {
		n.org, n.resource = org, resource
	}
}

// noteOutcome records how a request ended, for the audit log.
func noteOutcome(r *http.Request, outcome string) {
	if n, ok := r.Context().Value(auditKey).(*auditNote); ok {
		n.outcome = outcome
	}
}

// audit records every change (any method but GET and HEAD) after it ran:
// who, what, when and how it ended. A change is recorded whatever its
// outcome, refusals included.
func (s *Server) audit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		n := &auditNote{}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), auditKey, n))
		next.ServeHTTP(rec, r)
		p := principal(r)
		if org := chi.URLParam(r, "org"); org != "" && !p.CanRead(org) {
			// A refused attempt on another organization is the caller's
			// business, not the target's: it goes to the caller's log, so
			// one organization never learns another's token names.
			n.org = p.Org
		}
		s.record(r, p.Actor(), p.Role, rec.status, n)
	})
}

// audited records a change made without a token (an upload through a
// signed URL), once the handler has named the organization: a request whose
// URL does not check out is refused without an entry, so anonymous callers
// cannot write to any log.
func (s *Server) audited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := &auditNote{}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), auditKey, n))
		h(rec, r)
		if n.org != "" {
			s.record(r, "signed-url", "", rec.status, n)
		}
	}
}

func (s *Server) record(r *http.Request, actor, role string, status int, n *auditNote) {
	if status == 0 {
		status = http.StatusOK
	}
	resource := n.resource
	if resource == "" {
		resource = strings.TrimPrefix(r.URL.Path, "/v1/")
	}
	outcome := n.outcome
	if outcome == "" {
		outcome = "OK"
	}
	org := n.org
	if org == "" {
		org = chi.URLParam(r, "org")
	}
	if org == "" {
		org = auth.AllOrgs
	}
	err := s.cfg.Audit.Record(context.WithoutCancel(r.Context()), &keyplane.AuditEntry{
		Org: org, Actor: actor, Role: role, Method: r.Method, Resource: clipPath(resource), Status: status, Outcome: outcome,
	})
	if err != nil {
		s.log.ErrorContext(r.Context(), "audit log write failed", "error", err)
	}
}

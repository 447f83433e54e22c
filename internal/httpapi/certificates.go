package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// listCertificates answers the expiry view, a keyplane addition to the
// Apigee API: every certificate of the organization's aliases, soonest
// expiry first.
func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	out, err := s.cfg.Certificates.List(r.Context(), chi.URLParam(r, "org"), q.Get("expiringWithin"), size, q.Get("pageToken"))
	s.answer(w, r, http.StatusOK, out, err)
}

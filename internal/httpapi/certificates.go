package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
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
	var within *time.Duration
	if v := q.Get("expiringWithin"); v != "" {
		d, err := api.ParseWithin(v)
		if err != nil {
			s.writeError(w, r, keyplane.Errorf(keyplane.InvalidArgument, "expiringWithin %q is invalid: %v", keyplane.Clip(v, 64), err))
			return
		}
		within = &d
	}
	org := chi.URLParam(r, "org")
	page, err := s.cfg.Certificates.List(r.Context(), org, within, size, q.Get("pageToken"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := &api.ListCertificatesResponse{Certificates: []api.CertificateExpiry{}, NextPageToken: page.NextPageToken}
	for _, c := range page.Certificates {
		out.Certificates = append(out.Certificates, certificateToAPI(org, c, page.Now))
	}
	s.answer(w, r, http.StatusOK, out, nil)
}

package httpapi

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
)

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Operations.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "uuid"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) listOperations(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Operations.List(r.Context(), chi.URLParam(r, "org"), size, r.URL.Query().Get("pageToken"))
	s.answer(w, r, http.StatusOK, out, err)
}

// pageSize reads the pageSize query parameter; absent is 0, the default.
// It also refuses a filter, which the archive deployment and operation
// lists of the Apigee API take (AIP-160) and keyplane does not evaluate:
// a filter silently ignored would hand the caller items it asked to leave
// out.
func pageSize(r *http.Request) (int, error) {
	if f := r.URL.Query().Get("filter"); f != "" {
		return 0, keyplane.Errorf(keyplane.InvalidArgument,
			"filter %.100q is not supported: keyplane does not evaluate list filters; list without filter and select on the client", f)
	}
	v := r.URL.Query().Get("pageSize")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, keyplane.Errorf(keyplane.InvalidArgument, "pageSize %q is not a number", v)
	}
	return n, nil
}

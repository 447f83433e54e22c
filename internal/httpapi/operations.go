package httpapi

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Operations.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "uuid"))
	s.answer(w, r, http.StatusOK, operationToAPI(out), err)
}

func (s *Server) listOperations(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ops, next, err := s.cfg.Operations.ListMatching(r.Context(), chi.URLParam(r, "org"), r.URL.Query().Get("filter"), size, r.URL.Query().Get("pageToken"))
	out := &api.ListOperationsResponse{Operations: []api.Operation{}, NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, *operationToAPI(op))
	}
	s.answer(w, r, http.StatusOK, out, err)
}

// pageSize reads the pageSize query parameter; absent is 0, the default.
func pageSize(r *http.Request) (int, error) {
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

package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) {
	var env api.Environment
	if err := s.decode(r, "Environment", &env); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := nameFromQuery(r, &env.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	note(r, "organizations/"+chi.URLParam(r, "org")+"/environments/"+env.Name)
	out, err := s.cfg.Environments.CreateEnvironment(r.Context(), chi.URLParam(r, "org"), environmentFromAPI(&env))
	s.answer(w, r, http.StatusOK, operationToAPI(out), err)
}

// nameFromQuery takes the resource name from the `name` query parameter,
// which the official clients send, when the body has none; the two must
// agree when both are given.
func nameFromQuery(r *http.Request, name *string) error {
	q := r.URL.Query().Get("name")
	switch {
	case q == "":
	case *name == "":
		*name = q
	case *name != q:
		return keyplane.Errorf(keyplane.InvalidArgument, "name %.70q in the body does not match name %.70q in the query", *name, q)
	}
	return nil
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Environments.GetEnvironment(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"))
	s.answer(w, r, http.StatusOK, environmentToAPI(out), err)
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Environments.ListEnvironments(r.Context(), chi.URLParam(r, "org"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Environments.DeleteEnvironment(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"))
	s.answer(w, r, http.StatusOK, operationToAPI(out), err)
}

// envName is the resource name of the environment in the path.
func envName(r *http.Request) string {
	return keyplane.EnvName(chi.URLParam(r, "org"), chi.URLParam(r, "env"))
}

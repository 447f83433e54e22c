package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

func (s *Server) targetServerRoutes(r chi.Router) {
	r.Post("/targetservers", s.createTargetServer)
	r.Get("/targetservers", s.listTargetServers)
	r.Get("/targetservers/{ts}", s.getTargetServer)
	r.Put("/targetservers/{ts}", s.updateTargetServer)
	r.Delete("/targetservers/{ts}", s.deleteTargetServer)
}

func (s *Server) createTargetServer(w http.ResponseWriter, r *http.Request) {
	var ts api.TargetServer
	if err := s.decode(r, "TargetServer", &ts); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := nameFromQuery(r, &ts.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	note(r, envName(r)+"/targetservers/"+ts.Name)
	out, err := s.cfg.TargetServers.Create(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), targetServerFromAPI(&ts))
	s.answer(w, r, http.StatusOK, targetServerToAPI(out), err)
}

func (s *Server) getTargetServer(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.TargetServers.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ts"))
	s.answer(w, r, http.StatusOK, targetServerToAPI(out), err)
}

func (s *Server) listTargetServers(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.TargetServers.List(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) updateTargetServer(w http.ResponseWriter, r *http.Request) {
	var ts api.TargetServer
	if err := s.decode(r, "TargetServer", &ts); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.TargetServers.Update(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ts"), targetServerFromAPI(&ts))
	s.answer(w, r, http.StatusOK, targetServerToAPI(out), err)
}

func (s *Server) deleteTargetServer(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.TargetServers.Delete(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ts"))
	s.answer(w, r, http.StatusOK, targetServerToAPI(out), err)
}

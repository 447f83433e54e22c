package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

func (s *Server) referenceRoutes(r chi.Router) {
	r.Post("/references", s.createReference)
	r.Get("/references", s.listReferences)
	r.Get("/references/{ref}", s.getReference)
	r.Put("/references/{ref}", s.updateReference)
	r.Delete("/references/{ref}", s.deleteReference)
}

func (s *Server) createReference(w http.ResponseWriter, r *http.Request) {
	var ref api.Reference
	if err := s.decode(r, "Reference", &ref); err != nil {
		s.writeError(w, r, err)
		return
	}
	note(r, envName(r)+"/references/"+ref.Name)
	out, err := s.cfg.Keystores.CreateReference(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), referenceFromAPI(&ref))
	s.answer(w, r, http.StatusOK, referenceToAPI(out), err)
}

func (s *Server) getReference(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.GetReference(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ref"))
	s.answer(w, r, http.StatusOK, referenceToAPI(out), err)
}

func (s *Server) listReferences(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.ListReferences(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) updateReference(w http.ResponseWriter, r *http.Request) {
	var ref api.Reference
	if err := s.decode(r, "Reference", &ref); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Keystores.UpdateReference(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ref"), referenceFromAPI(&ref))
	s.answer(w, r, http.StatusOK, referenceToAPI(out), err)
}

func (s *Server) deleteReference(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.DeleteReference(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ref"))
	s.answer(w, r, http.StatusOK, referenceToAPI(out), err)
}

package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// tokenRequest is the body of a token create.
type tokenRequest struct {
	Role       string `json:"role"`
	ExpireTime string `json:"expireTime"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := s.decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Tokens.Create(r.Context(), principal(r), chi.URLParam(r, "org"), req.Role, req.ExpireTime)
	if out != nil {
		note(r, out.Name)
	}
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Tokens.List(r.Context(), chi.URLParam(r, "org"), size, r.URL.Query().Get("pageToken"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Tokens.Revoke(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Audit.List(r.Context(), chi.URLParam(r, "org"), size, r.URL.Query().Get("pageToken"))
	s.answer(w, r, http.StatusOK, out, err)
}

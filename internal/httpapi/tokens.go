package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
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
	tok, secret, err := s.cfg.Tokens.Create(r.Context(), principal(r), chi.URLParam(r, "org"), req.Role, req.ExpireTime)
	out := tokenToAPI(tok)
	if out != nil {
		note(r, out.Name)
		out.Token = secret
	}
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	toks, next, err := s.cfg.Tokens.List(r.Context(), chi.URLParam(r, "org"), size, r.URL.Query().Get("pageToken"))
	out := &api.ListTokensResponse{Tokens: []api.Token{}, NextPageToken: next}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, *tokenToAPI(t))
	}
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Tokens.Revoke(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"))
	s.answer(w, r, http.StatusOK, tokenToAPI(out), err)
}

func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, next, err := s.cfg.Audit.List(r.Context(), chi.URLParam(r, "org"), size, r.URL.Query().Get("pageToken"))
	out := &api.ListAuditLogsResponse{AuditLogs: []api.AuditLog{}, NextPageToken: next}
	for _, e := range entries {
		out.AuditLogs = append(out.AuditLogs, auditLogToAPI(e))
	}
	s.answer(w, r, http.StatusOK, out, err)
}

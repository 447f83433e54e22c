package httpapi

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/auth"
)

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) {
	var org api.Organization
	if err := s.decode(r, "Organization", &org); err != nil {
		s.writeError(w, r, err)
		return
	}
	parent := r.URL.Query().Get("parent")
	o := organizationFromAPI(&org)
	op, err := s.cfg.Environments.CreateOrganization(r.Context(), o, parent)
	note(r, "organizations/"+o.Name)
	if err != nil || parent != "" {
		// Apigee's clients (the Go client, apigeecli, Terraform) send
		// parent and wait on the Operation they get back.
		s.answer(w, r, http.StatusOK, operationToAPI(op), err)
		return
	}
	s.answer(w, r, http.StatusOK, organizationToAPI(o), nil)
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Environments.GetOrganization(r.Context(), chi.URLParam(r, "org"))
	s.answer(w, r, http.StatusOK, organizationToAPI(out), err)
}

// listOrganizations lists every organization to an administrator of all,
// and only its own to any other token, in Apigee's shape, which the
// official clients decode.
func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) {
	names, err := s.cfg.Environments.ListOrganizations(r.Context())
	if p := principal(r); err == nil && p.Org != auth.AllOrgs {
		names = slices.DeleteFunc(names, func(name string) bool { return name != p.Org })
	}
	out := &api.ListOrganizationsResponse{Organizations: []api.OrganizationMapping{}}
	for _, name := range names {
		out.Organizations = append(out.Organizations, api.OrganizationMapping{Organization: name})
	}
	s.answer(w, r, http.StatusOK, out, err)
}

// answer writes out with status, or err when there is one: the last line of
// every handler.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, out any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, out)
}

package httpapi

import (
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

func (s *Server) archiveRoutes(r chi.Router) {
	r.Post("/archiveDeployments:generateUploadUrl", s.generateUploadURL)
	r.Post("/archiveDeployments", s.createDeployment)
	r.Get("/archiveDeployments", s.listDeployments)
	r.Get("/archiveDeployments/{id}", s.getDeployment)
	r.Patch("/archiveDeployments/{id}", s.patchDeployment)
	r.Delete("/archiveDeployments/{id}", s.deleteDeployment)
	r.Post("/archiveDeployments/{id}:generateDownloadUrl", s.generateDownloadURL)
}

// baseURL is the URL of this server for the signed URLs it hands out: the
// configured public URL, else the address the request's connection came
// in on. Never the request's Host header, which the client writes: a
// forged one would hand out URLs that send archives to another host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return scheme + "://" + addr.String()
	}
	return scheme + "://localhost"
}

func (s *Server) generateUploadURL(w http.ResponseWriter, r *http.Request) {
	uri, err := s.cfg.Deployments.GenerateUploadURL(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), s.baseURL(r))
	s.answer(w, r, http.StatusOK, &api.GenerateUploadURLResponse{UploadURI: uri}, err)
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	var req api.ArchiveDeployment
	if err := s.decode(r, "ArchiveDeployment", &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Deployments.Create(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), req.GcsURI, req.Labels)
	if out != nil {
		note(r, out.Target)
	}
	s.answer(w, r, http.StatusOK, operationToAPI(out), err)
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	size, err := pageSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, next, err := s.cfg.Deployments.ListMatching(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), r.URL.Query().Get("filter"), size, r.URL.Query().Get("pageToken"))
	out := &api.ListArchiveDeploymentsResponse{ArchiveDeployments: []api.ArchiveDeployment{}, NextPageToken: next}
	for _, d := range ds {
		out.ArchiveDeployments = append(out.ArchiveDeployments, *archiveDeploymentToAPI(d))
	}
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Deployments.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "id"))
	s.answer(w, r, http.StatusOK, archiveDeploymentToAPI(out), err)
}

func (s *Server) patchDeployment(w http.ResponseWriter, r *http.Request) {
	var req api.ArchiveDeployment
	if err := s.decode(r, "ArchiveDeployment", &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Deployments.UpdateLabels(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "id"),
		r.URL.Query().Get("updateMask"), req.Labels)
	s.answer(w, r, http.StatusOK, archiveDeploymentToAPI(out), err)
}

func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Deployments.Delete(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "id"))
	s.answer(w, r, http.StatusOK, archiveDeploymentToAPI(out), err)
}

func (s *Server) generateDownloadURL(w http.ResponseWriter, r *http.Request) {
	uri, err := s.cfg.Deployments.GenerateDownloadURL(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "id"), s.baseURL(r))
	s.answer(w, r, http.StatusOK, &api.GenerateDownloadURLResponse{DownloadURI: uri}, err)
}

// uploadArchive stores the zip PUT to a signed upload URL. It needs no
// bearer token: the URL's signature is the credential, as with a signed
// Cloud Storage URL, and it is checked before the body is read, so a forged
// URL costs the server nothing. The x-goog-content-length-range header
// gsutil sends is accepted and ignored; the server's own limit applies.
func (s *Server) uploadArchive(w http.ResponseWriter, r *http.Request) {
	token := chi.URLParam(r, "token")
	org, resource, err := s.cfg.Deployments.CheckUpload(token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noteUpload(r, org, resource)
	err = s.cfg.Deployments.Upload(r.Context(), token, r.ContentLength, r.Body)
	switch keyplane.ErrorCode(err) {
	case "":
		w.WriteHeader(http.StatusOK)
		return
	case keyplane.RequestTooLarge:
		err = keyplane.Errorf(keyplane.RequestTooLarge, "archive exceeds the upload limit of %s", bytesString(s.cfg.Deployments.MaxUpload()))
	case keyplane.ResourceExhausted:
		w.Header().Set("Retry-After", uploadRetryAfter)
	}
	s.writeError(w, r, err)
}

// uploadRetryAfter is how many seconds a refused upload is asked to wait.
const uploadRetryAfter = "5"

// downloadArchive serves the zip a signed download URL grants.
func (s *Server) downloadArchive(w http.ResponseWriter, r *http.Request) {
	data, err := s.cfg.Deployments.Download(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	_, _ = w.Write(data)
}

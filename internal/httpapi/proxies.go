package httpapi

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

// API proxies and their deployments: the Apigee shapes of
// ApiProxy, ApiProxyRevision and Deployment, converted here from the
// domain types.

func (s *Server) proxyRoutes(r chi.Router) {
	r.Post("/apis", s.importProxy)
	r.Get("/apis", s.listProxies)
	r.Get("/apis/{api}", s.getProxy)
	r.Delete("/apis/{api}", s.deleteProxy)
	r.Get("/apis/{api}/revisions", s.listRevisions)
	r.Get("/apis/{api}/revisions/{rev}", s.withRevision(s.getRevision))
	r.Delete("/apis/{api}/revisions/{rev}", s.withRevision(s.deleteRevision))
	r.Get("/apis/{api}/deployments", s.listProxyDeployments)
	r.Get("/apis/{api}/revisions/{rev}/deployments", s.withRevision(s.listRevisionDeployments))
}

func (s *Server) environmentProxyRoutes(r chi.Router) {
	r.Get("/deployments", s.listProxyDeployments)
	r.Get("/apis/{api}/deployments", s.listProxyDeployments)
	r.Post("/apis/{api}/revisions/{rev}/deployments", s.withRevision(s.deployProxy))
	r.Get("/apis/{api}/revisions/{rev}/deployments", s.withRevision(s.getProxyDeployment))
	r.Delete("/apis/{api}/revisions/{rev}/deployments", s.withRevision(s.undeployProxy))
	r.Post("/apis/{api}/revisions/{rev}/deployments:generateDeployChangeReport", s.withRevision(s.deployChangeReport))
	r.Post("/apis/{api}/revisions/{rev}/deployments:generateUndeployChangeReport", s.withRevision(s.undeployChangeReport))
}

// bundleOverhead is what a multipart body may carry beyond the bundle
// itself: boundaries and part headers.
const bundleOverhead = 64 << 10

// importProxy imports (action=import) or checks (action=validate) a zipped
// apiproxy/ bundle: a multipart part "file" (Apigee's documented name) or
// "proxy" (what apigeecli sends), or the zip itself as the body.
func (s *Server) importProxy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	action := q.Get("action")
	if action != "import" && action != "validate" {
		s.writeError(w, r, keyplane.Errorf(keyplane.InvalidArgument,
			"action %q is not supported: use action=import to import a zipped apiproxy/ bundle, or action=validate to check one", keyplane.Clip(action, 40)))
		return
	}
	if _, err := boolQuery(r, "validate"); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := q.Get("name")
	if name == "" {
		s.writeError(w, r, keyplane.Errorf(keyplane.InvalidArgument, "name is required: the name of the API proxy"))
		return
	}
	if err := keyplane.CheckName("name", name); err != nil {
		s.writeError(w, r, err)
		return
	}
	bundle, err := s.readBundle(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	org := chi.URLParam(r, "org")
	rev, err := s.cfg.Proxies.Import(r.Context(), org, name, bundle, action == "validate")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if action == "import" {
		note(r, rev.Name())
	}
	writeJSON(w, http.StatusOK, revisionView(rev))
}

// readBundle reads the zip of an import within the upload limit of
// archives: the body itself, a multipart part "file" or "proxy", or either
// wrapped in a google.api.HttpBody (as the official Go client sends it).
func (s *Server) readBundle(r *http.Request) ([]byte, error) {
	limit := s.cfg.Proxies.MaxUpload()
	ct := r.Header.Get("Content-Type")
	max := limit + bundleOverhead
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/json" {
		max = limit/3*4 + bundleOverhead // base64 in JSON
	}
	if r.ContentLength > max {
		return nil, bundleTooLarge(limit)
	}
	body, err := readBody(r, max)
	if keyplane.ErrorCode(err) == keyplane.RequestTooLarge {
		return nil, bundleTooLarge(limit)
	}
	if err != nil {
		return nil, err
	}
	if ct, body, err = unwrapHTTPBody(ct, body); err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt == "multipart/form-data" {
		parts, err := multipartParts(ct, body)
		if err != nil {
			return nil, err
		}
		var ok bool
		if body, ok = parts["file"]; !ok {
			body, ok = parts["proxy"]
		}
		if !ok {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart body has no part \"file\" (or \"proxy\") holding the zipped apiproxy/ bundle")
		}
	}
	if int64(len(body)) > limit {
		return nil, bundleTooLarge(limit)
	}
	return body, nil
}

func bundleTooLarge(limit int64) error {
	return keyplane.Errorf(keyplane.RequestTooLarge, "bundle exceeds the upload limit of %s", bytesString(limit))
}

func (s *Server) listProxies(w http.ResponseWriter, r *http.Request) {
	withRevisions, err := boolQuery(r, "includeRevisions")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	withMeta, err := boolQuery(r, "includeMetaData")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	proxies, err := s.cfg.Proxies.List(r.Context(), chi.URLParam(r, "org"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := api.ListApiProxiesResponse{Proxies: []api.ApiProxy{}}
	for i := range proxies {
		v := proxyView(&proxies[i])
		if !withRevisions {
			v.Revision = nil
		}
		if !withMeta {
			v.MetaData = nil
		}
		out.Proxies = append(out.Proxies, *v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getProxy(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Proxies.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "api"))
	answerView(s, w, r, p, err, proxyView)
}

func (s *Server) deleteProxy(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Proxies.Delete(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "api"))
	answerView(s, w, r, p, err, proxyView)
}

// answerView answers v in its wire shape, view(v), or the error.
func answerView[T, V any](s *Server, w http.ResponseWriter, r *http.Request, v *T, err error, view func(*T) V) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(v))
}

// withRevision reads the {rev} of the path for h, answering 400 when it is
// not a revision number.
func (s *Server) withRevision(h func(http.ResponseWriter, *http.Request, int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rev, err := revisionParam(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, rev)
	}
}

func (s *Server) listRevisions(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Proxies.Get(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "api"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, revisionNumbers(p.Revisions))
}

// getRevision describes a revision, or with format=bundle downloads its
// zip: raw, or wrapped in a google.api.HttpBody when the caller asks for
// JSON with alt=json, as the official Go client does.
func (s *Server) getRevision(w http.ResponseWriter, r *http.Request, rev int) {
	org, name := chi.URLParam(r, "org"), chi.URLParam(r, "api")
	switch format := r.URL.Query().Get("format"); format {
	case "bundle":
		data, err := s.cfg.Proxies.Bundle(r.Context(), org, name, rev)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.URL.Query().Get("alt") == "json" {
			// The official Go client asks for JSON and decodes a
			// google.api.HttpBody.
			writeJSON(w, http.StatusOK, httpBody{ContentType: "application/zip", Data: base64.StdEncoding.EncodeToString(data)})
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`_rev`+strconv.Itoa(rev)+`.zip"`)
		_, _ = w.Write(data)
	case "":
		out, err := s.cfg.Proxies.Revision(r.Context(), org, name, rev)
		answerView(s, w, r, out, err, revisionView)
	default:
		s.writeError(w, r, keyplane.Errorf(keyplane.InvalidArgument, "format %q is not supported: use format=bundle to download the zip, or no format", keyplane.Clip(format, 40)))
	}
}

func (s *Server) deleteRevision(w http.ResponseWriter, r *http.Request, rev int) {
	out, err := s.cfg.Proxies.DeleteRevision(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "api"), rev)
	answerView(s, w, r, out, err, revisionView)
}

// deployProxy deploys a revision. override replaces the proxy's deployed
// revision and takes over base paths; sequencedRollout is accepted and
// changes nothing, as gateways switch routes at once.
func (s *Server) deployProxy(w http.ResponseWriter, r *http.Request, rev int) {
	override, err := boolQuery(r, "override")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := boolQuery(r, "sequencedRollout"); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.cfg.Proxies.Deploy(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev, override)
	answerView(s, w, r, d, err, deploymentView)
}

func (s *Server) getProxyDeployment(w http.ResponseWriter, r *http.Request, rev int) {
	d, err := s.cfg.Proxies.Deployment(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev)
	answerView(s, w, r, d, err, deploymentView)
}

// undeployProxy answers {} as Apigee does (google.protobuf.Empty).
func (s *Server) undeployProxy(w http.ResponseWriter, r *http.Request, rev int) {
	if _, err := boolQuery(r, "sequencedRollout"); err != nil {
		s.writeError(w, r, err)
		return
	}
	_, err := s.cfg.Proxies.Undeploy(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev)
	s.answer(w, r, http.StatusOK, struct{}{}, err)
}

// listProxyDeployments lists the deployments of an environment or of an
// API proxy (in one environment or all): the path says which.
func (s *Server) listProxyDeployments(w http.ResponseWriter, r *http.Request) {
	s.listAPIDeployments(w, r, 0)
}

// listRevisionDeployments lists the deployments of a revision.
func (s *Server) listRevisionDeployments(w http.ResponseWriter, r *http.Request, rev int) {
	s.listAPIDeployments(w, r, rev)
}

// listAPIDeployments answers the deployments the path and rev select;
// sharedFlows=true selects shared flows, of which keyplane has none.
func (s *Server) listAPIDeployments(w http.ResponseWriter, r *http.Request, rev int) {
	sharedFlows, err := boolQuery(r, "sharedFlows")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := api.ListDeploymentsResponse{Deployments: []api.Deployment{}}
	if sharedFlows {
		writeJSON(w, http.StatusOK, out)
		return
	}
	ds, err := s.cfg.Proxies.Deployments(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for i := range ds {
		out.Deployments = append(out.Deployments, *deploymentView(&ds[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// deployChangeReport answers what deploying the revision would change in
// routing, as apigeecli's safe deploy (its default) asks before deploying.
func (s *Server) deployChangeReport(w http.ResponseWriter, r *http.Request, rev int) {
	override, err := boolQuery(r, "override")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	changes, conflicts, err := s.cfg.Proxies.DeployReport(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev, override)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := changeReport(changes)
	for _, c := range conflicts {
		out.RoutingConflicts = append(out.RoutingConflicts, api.RoutingConflict{
			Description: fmt.Sprintf("base path %q is already served by revision %d of API proxy %q; deploy with override=true to replace it",
				c.Basepath, c.With.Revision, c.With.Proxy),
			ConflictingDeployment: routingDeployment(&c.With, c.Basepath)})
	}
	writeJSON(w, http.StatusOK, out)
}

// undeployChangeReport answers which base paths undeploying the revision
// would stop serving.
func (s *Server) undeployChangeReport(w http.ResponseWriter, r *http.Request, rev int) {
	changes, err := s.cfg.Proxies.UndeployReport(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "api"), rev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, changeReport(changes))
}

func changeReport(changes []keyplane.RouteChange) *api.DeploymentChangeReport {
	out := &api.DeploymentChangeReport{ValidationErrors: &api.PreconditionFailure{Violations: []api.Violation{}}}
	for _, c := range changes {
		rc := api.RoutingChange{FromDeployment: routingDeployment(c.From, c.Basepath), ToDeployment: routingDeployment(c.To, c.Basepath)}
		switch {
		case c.From == nil:
			rc.Description = fmt.Sprintf("base path %q will be served by revision %d of API proxy %q", c.Basepath, c.To.Revision, c.To.Proxy)
		case c.To == nil:
			rc.Description = fmt.Sprintf("base path %q will no longer be served", c.Basepath)
		default:
			rc.Description = fmt.Sprintf("base path %q will move from revision %d of API proxy %q to revision %d of API proxy %q",
				c.Basepath, c.From.Revision, c.From.Proxy, c.To.Revision, c.To.Proxy)
		}
		out.RoutingChanges = append(out.RoutingChanges, rc)
	}
	return out
}

func routingDeployment(d *keyplane.ProxyDeployment, basepath string) *api.RoutingDeployment {
	if d == nil {
		return nil
	}
	return &api.RoutingDeployment{APIProxy: d.Proxy, Basepath: basepath, Environment: d.Env, Revision: strconv.Itoa(d.Revision)}
}

// revisionParam reads the {rev} of the path: a positive revision number.
func revisionParam(r *http.Request) (int, error) {
	raw := chi.URLParam(r, "rev")
	rev, err := strconv.Atoi(raw)
	if err != nil || rev <= 0 || strings.HasPrefix(raw, "+") {
		return 0, keyplane.Errorf(keyplane.InvalidArgument, "revision %q is invalid: a revision is a positive number", keyplane.Clip(raw, 40))
	}
	return rev, nil
}

func revisionNumbers(revs []int) []string {
	out := make([]string, 0, len(revs))
	for _, r := range revs {
		out = append(out, strconv.Itoa(r))
	}
	return out
}

func proxyView(p *keyplane.APIProxy) *api.ApiProxy {
	v := &api.ApiProxy{Name: p.Name, Revision: revisionNumbers(p.Revisions), APIProxyType: api.ProxyTypeProgrammable,
		MetaData: &api.EntityMetadata{CreatedAt: p.CreatedAt.UnixMilli(), LastModifiedAt: p.UpdatedAt.UnixMilli(), SubType: "Proxy"}}
	if n := len(p.Revisions); n > 0 {
		v.LatestRevisionID = strconv.Itoa(p.Revisions[n-1])
	}
	return v
}

func revisionView(r *keyplane.ProxyRevision) *api.ApiProxyRevision {
	v := &api.ApiProxyRevision{Name: r.Proxy, Revision: strconv.Itoa(r.Revision), Type: "Application",
		Basepaths: r.Basepaths, Proxies: r.ProxyEndpoints, ProxyEndpoints: r.ProxyEndpoints,
		Targets: r.TargetEndpoints, TargetEndpoints: r.TargetEndpoints, TargetServers: r.TargetServers,
		Policies: r.Policies, Resources: r.Resources}
	if r.Revision == 0 {
		v.Revision = "" // validated, not stored: it has no number
	}
	if !r.CreatedAt.IsZero() {
		v.CreatedAt, v.LastModifiedAt = r.CreatedAt.UnixMilli(), r.CreatedAt.UnixMilli()
	}
	return v
}

func deploymentView(d *keyplane.ProxyDeployment) *api.Deployment {
	v := &api.Deployment{Environment: d.Env, APIProxy: d.Proxy, Revision: strconv.Itoa(d.Revision),
		DeployStartTime: d.StartedAt.UnixMilli(), State: string(d.State), ProxyDeploymentType: "STANDARD"}
	if len(d.Basepaths) > 0 {
		v.BasePath = d.Basepaths[0]
	}
	for _, e := range d.Errors {
		v.Errors = append(v.Errors, api.RPCStatus{Code: e.Code, Message: e.Message})
	}
	return v
}

package console

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

// maxFormBytes bounds a console form, an archive upload included: the
// API's own archive limit is 64 MiB, and a folder's files zipped take
// about as much as they do unzipped, plus the form's own framing.
const maxFormBytes = 80 << 20

type deploymentRow struct {
	api.ArchiveDeployment
	ID       string
	OpURL    string
	State    string
	Done     bool
	Failed   bool
	Message  string
	Live     bool
	Labels   string
	Warnings []string
}

type deploymentsData struct {
	Deployments []deploymentRow
	Next        string
	// Proxy is set for a PROXY environment, which holds deployments of API
	// proxy revisions instead of archives.
	Proxy            bool
	ProxyDeployments []api.Deployment
}

// lastSegment is the id at the end of a resource name.
func lastSegment(name string) string { return path.Base(name) }

// archiveDeployments is the environment's deployment history: each
// deployment's operation state, the live one marked, failures with their
// whole message.
func (c *Console) archiveDeployments(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Archive deployments", "deployments")
	c.renderDeployments(w, r, p, http.StatusOK)
}

func (c *Console) renderDeployments(w http.ResponseWriter, r *http.Request, p *page, status int) {
	ctx := r.Context()
	client := p.Session.client
	env, err := client.GetEnvironment(ctx, p.Org, p.Env)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	if env.DeploymentType == api.DeploymentTypeProxy {
		c.renderProxyDeployments(w, r, p, status)
		return
	}
	list, err := client.ListArchiveDeployments(ctx, p.Org, p.Env, 25, r.URL.Query().Get("pageToken"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	d := deploymentsData{Next: list.NextPageToken}
	d.Deployments = make([]deploymentRow, len(list.ArchiveDeployments))
	parallel(len(list.ArchiveDeployments), func(i int) {
		ad := list.ArchiveDeployments[i]
		row := deploymentRow{ArchiveDeployment: ad, ID: lastSegment(ad.Name)}
		var labels []string
		for k, v := range ad.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		row.Labels = strings.Join(labels, ", ")
		if ad.Operation != "" {
			uuid := lastSegment(ad.Operation)
			row.OpURL = p.OrgURL("operations", uuid)
			if op, err := client.GetOperation(ctx, p.Org, uuid); err == nil {
				row.State, row.Done = op.Metadata.State, op.Done
				row.Warnings = op.Metadata.Warnings
				if op.Error != nil {
					row.Failed, row.Message = true, op.Error.Message
				}
			} else {
				row.Message = err.Error()
			}
		}
		d.Deployments[i] = row
	})
	// The live deployment is the newest that finished without error: each
	// successful deployment replaces what was live before it.
	if list.NextPageToken == "" || r.URL.Query().Get("pageToken") == "" {
		for i := range d.Deployments {
			if d.Deployments[i].Done && !d.Deployments[i].Failed {
				d.Deployments[i].Live = true
				break
			}
		}
	}
	p.Data = d
	c.render(w, r, status, "deployments", p)
}

// renderProxyDeployments shows the API proxy revisions deployed to a
// PROXY environment, where archives cannot be deployed: each with its
// state and, in state ERROR, its errors word for word. While one is
// still PROGRESSING the page reloads itself, as an operation's does.
func (c *Console) renderProxyDeployments(w http.ResponseWriter, r *http.Request, p *page, status int) {
	list, err := p.Session.client.ListEnvironmentDeployments(r.Context(), p.Org, p.Env)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	d := deploymentsData{Proxy: true, ProxyDeployments: list.Deployments}
	sort.SliceStable(d.ProxyDeployments, func(i, j int) bool {
		a, b := d.ProxyDeployments[i], d.ProxyDeployments[j]
		return a.APIProxy < b.APIProxy || a.APIProxy == b.APIProxy && a.DeployStartTime > b.DeployStartTime
	})
	for _, dep := range d.ProxyDeployments {
		if dep.State == api.DeploymentStateProgressing {
			p.Refresh = 1
		}
	}
	p.Title = "API proxy deployments"
	p.Data = d
	c.render(w, r, status, "deployments", p)
}

// deploy uploads an archive through the API's signed upload URL and
// creates a deployment of it, then sends the browser to the deployment's
// operation. The archive is a zip, or a folder of the archive layout,
// which is zipped here.
func (c *Console) deploy(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Archive deployments", "deployments")
	zipBytes, err := uploadedArchive(r)
	if err != nil {
		p.Error = err.Error()
		c.renderDeployments(w, r, p, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	client := p.Session.client
	labels := map[string]string{}
	for _, kv := range splitList(r.PostFormValue("labels")) {
		k, v, _ := strings.Cut(kv, "=")
		labels[k] = v
	}
	uri, err := client.GenerateUploadURL(ctx, p.Org, p.Env)
	if err == nil {
		err = client.UploadArchive(ctx, uri, bytes.NewReader(zipBytes))
	}
	var op *api.Operation
	if err == nil {
		op, err = client.CreateArchiveDeployment(ctx, p.Org, p.Env, uri, labels)
	}
	if err != nil {
		p.Error = err.Error()
		c.renderDeployments(w, r, p, statusOf(err))
		return
	}
	done(w, r, p.OrgURL("operations", lastSegment(op.Name)), "")
}

// uploadedArchive is the deploy form's archive: the zip chosen, or the
// folder chosen, zipped. A folder's files come with their paths in the
// "path" fields (browsers keep only the base name in a file part).
func uploadedArchive(r *http.Request) ([]byte, error) {
	if r.MultipartForm == nil {
		return nil, errors.New("Archive: choose a zip file or a folder")
	}
	if fhs := r.MultipartForm.File["archive"]; len(fhs) > 0 && fhs[0].Size > 0 {
		return readPart(fhs[0])
	}
	files := r.MultipartForm.File["folder"]
	paths := r.MultipartForm.Value["path"]
	if len(files) == 0 {
		return nil, errors.New("Archive: choose a zip file or a folder")
	}
	names := make([]string, len(files))
	for i, fh := range files {
		name := fh.Filename
		if i < len(paths) && paths[i] != "" {
			name = paths[i]
		}
		names[i] = strings.TrimLeft(path.Clean("/"+strings.ReplaceAll(name, "\\", "/")), "/")
	}
	names = withoutChosenFolder(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, fh := range files {
		name := names[i]
		b, err := readPart(fh)
		if err != nil {
			return nil, err
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
		if err != nil {
			return nil, fmt.Errorf("Archive: zipping %s: %v", name, err)
		}
		if _, err := f.Write(b); err != nil {
			return nil, fmt.Errorf("Archive: zipping %s: %v", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("Archive: zipping the folder: %v", err)
	}
	return buf.Bytes(), nil
}

// withoutChosenFolder drops the chosen folder's own name, which browsers
// put first in every path: the archive holds the folder's content, as the
// CLI zips it.
func withoutChosenFolder(names []string) []string {
	first, _, ok := strings.Cut(names[0], "/")
	if !ok {
		return names
	}
	for _, n := range names {
		if !strings.HasPrefix(n, first+"/") {
			return names
		}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, first+"/")
	}
	return out
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("Archive: reading %s: %v", fh.Filename, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

type operationData struct {
	Op      *api.Operation
	UUID    string
	Target  string
	Failed  bool
	Message string
	EnvURL  string
}

// operation follows an operation until it is done: the page reloads itself
// every second while it runs.
func (c *Console) operation(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Operation", "deployments")
	uuid := chi.URLParam(r, "uuid")
	op, err := p.Session.client.GetOperation(r.Context(), p.Org, uuid)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	d := operationData{Op: op, UUID: uuid, Target: op.Metadata.TargetResourceName}
	if op.Error != nil {
		d.Failed, d.Message = true, op.Error.Message
	}
	// targetResourceName is organizations/{org}/environments/{env}/...:
	// the environment's deployments page is where to go back to.
	if parts := strings.Split(d.Target, "/"); len(parts) >= 4 && parts[2] == "environments" {
		d.EnvURL = envURL(p.Org, parts[3], "archiveDeployments")
		p.Env = parts[3]
	}
	if !op.Done {
		p.Refresh = 1
	}
	p.Title = "Operation " + uuid
	p.Data = d
	c.render(w, r, http.StatusOK, "operation", p)
}

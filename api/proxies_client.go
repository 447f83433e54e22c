package api

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// ImportApiProxy imports a zipped apiproxy/ bundle as the next revision of
// API proxy name, creating the proxy when it is new, as
// POST .../apis?name={name}&action=import does.
func (c *Client) ImportApiProxy(ctx context.Context, org, name string, bundle []byte) (*ApiProxyRevision, error) {
	return c.postBundle(ctx, org, name, "import", bundle)
}

// ValidateApiProxy checks a zipped apiproxy/ bundle as an import would,
// without storing it (action=validate).
func (c *Client) ValidateApiProxy(ctx context.Context, org, name string, bundle []byte) (*ApiProxyRevision, error) {
	return c.postBundle(ctx, org, name, "validate", bundle)
}

func (c *Client) postBundle(ctx context.Context, org, name, action string, bundle []byte) (*ApiProxyRevision, error) {
	body, contentType, err := multipartBody([]formPart{{name: "file", file: name + ".zip", data: bundle}})
	if err != nil {
		return nil, err
	}
	q := url.Values{"name": {name}, "action": {action}}
	return call[ApiProxyRevision](ctx, c, http.MethodPost, orgPath(org)+"/apis", q, body, contentType)
}

// ListApiProxies lists an organization's API proxies with their revisions.
func (c *Client) ListApiProxies(ctx context.Context, org string) (*ListApiProxiesResponse, error) {
	q := url.Values{"includeRevisions": {"true"}}
	return callJSON[ListApiProxiesResponse](ctx, c, http.MethodGet, orgPath(org)+"/apis", q, nil)
}

// GetApiProxy returns an API proxy with the list of its revisions.
func (c *Client) GetApiProxy(ctx context.Context, org, name string) (*ApiProxy, error) {
	return callJSON[ApiProxy](ctx, c, http.MethodGet, apiProxyPath(org, name), nil, nil)
}

// DeleteApiProxy deletes an API proxy and all its revisions; none may be
// deployed.
func (c *Client) DeleteApiProxy(ctx context.Context, org, name string) (*ApiProxy, error) {
	return callJSON[ApiProxy](ctx, c, http.MethodDelete, apiProxyPath(org, name), nil, nil)
}

// ListApiProxyRevisions lists the revision numbers of an API proxy, as
// strings, oldest first.
func (c *Client) ListApiProxyRevisions(ctx context.Context, org, name string) ([]string, error) {
	var out []string
	err := c.doJSON(ctx, http.MethodGet, apiProxyPath(org, name)+"/revisions", nil, nil, &out)
	return out, err
}

// GetApiProxyRevision describes one revision of an API proxy.
func (c *Client) GetApiProxyRevision(ctx context.Context, org, name string, rev int) (*ApiProxyRevision, error) {
	return callJSON[ApiProxyRevision](ctx, c, http.MethodGet, revisionPath(org, name, rev), nil, nil)
}

// DownloadApiProxyRevision returns the zipped bundle of one revision
// (format=bundle).
func (c *Client) DownloadApiProxyRevision(ctx context.Context, org, name string, rev int) ([]byte, error) {
	var out bytes.Buffer
	err := c.do(ctx, http.MethodGet, revisionPath(org, name, rev), url.Values{"format": {"bundle"}}, nil, "", &out)
	return out.Bytes(), err
}

// DeleteApiProxyRevision deletes one revision of an API proxy, which must
// not be deployed.
func (c *Client) DeleteApiProxyRevision(ctx context.Context, org, name string, rev int) (*ApiProxyRevision, error) {
	return callJSON[ApiProxyRevision](ctx, c, http.MethodDelete, revisionPath(org, name, rev), nil, nil)
}

// DeployOptions are the query parameters of a deployment.
type DeployOptions struct {
	// Override replaces another deployed revision of the same proxy, and
	// undeploys the proxies whose base paths the revision takes over.
	Override bool
	// SequencedRollout is accepted and has no effect: keyplane's gateways
	// switch routes at once.
	SequencedRollout bool
}

// DeployApiProxy deploys revision rev of an API proxy to a PROXY
// environment. The answer is the Deployment in state PROGRESSING; poll
// GetApiProxyDeployment until it is READY or ERROR.
func (c *Client) DeployApiProxy(ctx context.Context, org, env, name string, rev int, opts DeployOptions) (*Deployment, error) {
	q := url.Values{}
	if opts.Override {
		q.Set("override", "true")
	}
	if opts.SequencedRollout {
		q.Set("sequencedRollout", "true")
	}
	return callJSON[Deployment](ctx, c, http.MethodPost, envRevisionPath(org, env, name, rev)+"/deployments", q, nil)
}

// GetApiProxyDeployment returns the deployment of revision rev of an API
// proxy in an environment, with its state and errors.
func (c *Client) GetApiProxyDeployment(ctx context.Context, org, env, name string, rev int) (*Deployment, error) {
	return callJSON[Deployment](ctx, c, http.MethodGet, envRevisionPath(org, env, name, rev)+"/deployments", nil, nil)
}

// UndeployApiProxy undeploys revision rev of an API proxy from an
// environment.
func (c *Client) UndeployApiProxy(ctx context.Context, org, env, name string, rev int) error {
	return c.doJSON(ctx, http.MethodDelete, envRevisionPath(org, env, name, rev)+"/deployments", nil, nil, nil)
}

// ListEnvironmentDeployments lists the API proxy deployments of an
// environment.
func (c *Client) ListEnvironmentDeployments(ctx context.Context, org, env string) (*ListDeploymentsResponse, error) {
	return callJSON[ListDeploymentsResponse](ctx, c, http.MethodGet, envPath(org, env)+"/deployments", nil, nil)
}

// ListApiProxyDeployments lists the deployments of an API proxy in every
// environment.
func (c *Client) ListApiProxyDeployments(ctx context.Context, org, name string) (*ListDeploymentsResponse, error) {
	return callJSON[ListDeploymentsResponse](ctx, c, http.MethodGet, apiProxyPath(org, name)+"/deployments", nil, nil)
}

func apiProxyPath(org, name string) string { return orgPath(org) + "/apis/" + url.PathEscape(name) }

func revisionPath(org, name string, rev int) string {
	return apiProxyPath(org, name) + "/revisions/" + strconv.Itoa(rev)
}

func envRevisionPath(org, env, name string, rev int) string {
	return envPath(org, env) + "/apis/" + url.PathEscape(name) + "/revisions/" + strconv.Itoa(rev)
}

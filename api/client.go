package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a keyplane server (or any server of the same Apigee API
// subset) over HTTP. The zero value is not usable: BaseURL is required. A
// Client is safe for concurrent use once configured.
type Client struct {
	// BaseURL is the server's address without the /v1 prefix, for example
	// "http://127.0.0.1:8080".
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when it is not empty.
	Token string
	// HTTP is the client that carries requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// Error is an error answer from the server: a non-2xx status with the body
// {"error": {"code", "message", "status"}}.
type Error struct {
	// HTTPStatus is the status code of the answer, such as 404.
	HTTPStatus int
	// Status is the canonical code, such as "NOT_FOUND". It is empty when
	// the answer had no error body.
	Status string
	// Message is the server's message, safe to show to a user.
	Message string
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// TransportError reports that a request never got an HTTP answer: the server
// could not be reached, the connection broke, or the answer was not HTTP.
// The CLI tells it apart from *Error to say "cannot reach server".
type TransportError struct {
	// URL is the address the request went to.
	URL string
	// Err is the underlying failure.
	Err error
}

// Error describes the failure and the address it happened at.
func (e *TransportError) Error() string {
	return fmt.Sprintf("cannot reach server at %s: %v", e.URL, e.Err)
}

// Unwrap returns the underlying failure, so errors.Is(err,
// context.Canceled) works.
func (e *TransportError) Unwrap() error { return e.Err }

// AliasOptions are the query parameters that relax alias validation.
type AliasOptions struct {
	// IgnoreExpiryValidation accepts an expired certificate.
	IgnoreExpiryValidation bool
	// IgnoreNewlineValidation accepts PEM data without a trailing newline.
	IgnoreNewlineValidation bool
}

func (o AliasOptions) query(q url.Values) {
	if o.IgnoreExpiryValidation {
		q.Set("ignoreExpiryValidation", "true")
	}
	if o.IgnoreNewlineValidation {
		q.Set("ignoreNewlineValidation", "true")
	}
}

// KeyCertFile is the material of an alias in format keycertfile.
type KeyCertFile struct {
	// Cert is PEM, leaf first when it is a chain.
	Cert []byte
	// Key is an optional PEM private key (PKCS#1, PKCS#8 or EC).
	Key []byte
	// Password decrypts Key when it is encrypted.
	Password string
}

// --- organizations ---

// CreateOrganization creates an organization. Only an admin may.
func (c *Client) CreateOrganization(ctx context.Context, org Organization) (*Organization, error) {
	return callJSON[Organization](ctx, c, http.MethodPost, "/v1/organizations", nil, org)
}

// ListOrganizations returns the names of the organizations the caller can
// see. It accepts both a JSON array of names and Apigee's
// {"organizations": [{"organization": name}]}.
func (c *Client) ListOrganizations(ctx context.Context) ([]string, error) {
	var raw json.RawMessage
	if err := c.doJSON(ctx, http.MethodGet, "/v1/organizations", nil, nil, &raw); err != nil {
		return nil, err
	}
	return decodeOrganizationNames(raw)
}

func decodeOrganizationNames(raw json.RawMessage) ([]string, error) {
	var names []string
	if err := json.Unmarshal(raw, &names); err == nil {
		return names, nil
	}
	var list struct {
		Organizations []struct {
			Organization string `json:"organization"`
			Name         string `json:"name"`
		} `json:"organizations"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decoding the list of organizations: %w", err)
	}
	names = []string{}
	for _, o := range list.Organizations {
		if o.Organization != "" {
			names = append(names, o.Organization)
		} else {
			names = append(names, o.Name)
		}
	}
	return names, nil
}

// GetOrganization returns an organization.
func (c *Client) GetOrganization(ctx context.Context, org string) (*Organization, error) {
	return callJSON[Organization](ctx, c, http.MethodGet, orgPath(org), nil, nil)
}

// --- environments ---

// CreateEnvironment creates an environment and returns its operation, which
// the server finishes at once.
func (c *Client) CreateEnvironment(ctx context.Context, org string, env Environment) (*Operation, error) {
	return callJSON[Operation](ctx, c, http.MethodPost, orgPath(org)+"/environments", nil, env)
}

// ListEnvironments returns the names of an organization's environments.
func (c *Client) ListEnvironments(ctx context.Context, org string) ([]string, error) {
	var out []string
	err := c.doJSON(ctx, http.MethodGet, orgPath(org)+"/environments", nil, nil, &out)
	return out, err
}

// GetEnvironment returns an environment.
func (c *Client) GetEnvironment(ctx context.Context, org, env string) (*Environment, error) {
	return callJSON[Environment](ctx, c, http.MethodGet, envPath(org, env), nil, nil)
}

// DeleteEnvironment deletes an environment. The server's answer, if any, is
// returned undecoded because Apigee answers with the environment or with an
// operation depending on the version.
func (c *Client) DeleteEnvironment(ctx context.Context, org, env string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.doJSON(ctx, http.MethodDelete, envPath(org, env), nil, nil, &out)
	return out, err
}

// --- keystores ---

// CreateKeystore creates an empty keystore (or truststore).
func (c *Client) CreateKeystore(ctx context.Context, org, env, keystore string) (*Keystore, error) {
	return callJSON[Keystore](ctx, c, http.MethodPost, envPath(org, env)+"/keystores", nil, map[string]string{"name": keystore})
}

// ListKeystores returns the names of an environment's keystores.
func (c *Client) ListKeystores(ctx context.Context, org, env string) ([]string, error) {
	var out []string
	err := c.doJSON(ctx, http.MethodGet, envPath(org, env)+"/keystores", nil, nil, &out)
	return out, err
}

// GetKeystore returns a keystore with the names of its aliases.
func (c *Client) GetKeystore(ctx context.Context, org, env, keystore string) (*Keystore, error) {
	return callJSON[Keystore](ctx, c, http.MethodGet, keystorePath(org, env, keystore), nil, nil)
}

// DeleteKeystore deletes a keystore and returns it as it was.
func (c *Client) DeleteKeystore(ctx context.Context, org, env, keystore string) (*Keystore, error) {
	return callJSON[Keystore](ctx, c, http.MethodDelete, keystorePath(org, env, keystore), nil, nil)
}

// --- aliases ---

// CreateAliasFromKeyCert creates an alias from PEM files (format
// keycertfile). Without a key the alias holds certificates only, as a
// truststore's aliases do.
func (c *Client) CreateAliasFromKeyCert(ctx context.Context, org, env, keystore, alias string, in KeyCertFile, opts AliasOptions) (*Alias, error) {
	parts := []formPart{{name: "certFile", file: "cert.pem", data: in.Cert}}
	if len(in.Key) > 0 {
		parts = append(parts, formPart{name: "keyFile", file: "key.pem", data: in.Key})
	}
	if in.Password != "" {
		parts = append(parts, formPart{name: "password", data: []byte(in.Password)})
	}
	return c.createAliasMultipart(ctx, org, env, keystore, alias, "keycertfile", parts, opts)
}

// CreateAliasFromPKCS12 creates an alias from a PKCS#12 file and its
// password (format pkcs12).
func (c *Client) CreateAliasFromPKCS12(ctx context.Context, org, env, keystore, alias string, p12 []byte, password string, opts AliasOptions) (*Alias, error) {
	parts := []formPart{
		{name: "file", file: "keystore.p12", data: p12},
		{name: "password", data: []byte(password)},
	}
	return c.createAliasMultipart(ctx, org, env, keystore, alias, "pkcs12", parts, opts)
}

func (c *Client) createAliasMultipart(ctx context.Context, org, env, keystore, alias, format string, parts []formPart, opts AliasOptions) (*Alias, error) {
	q := url.Values{"alias": {alias}, "format": {format}}
	opts.query(q)
	body, contentType, err := multipartBody(parts)
	if err != nil {
		return nil, err
	}
	return call[Alias](ctx, c, http.MethodPost, keystorePath(org, env, keystore)+"/aliases", q, body, contentType)
}

// CreateSelfSignedAlias has the server generate a key and a self-signed
// certificate for a new alias (format selfsignedcert).
func (c *Client) CreateSelfSignedAlias(ctx context.Context, org, env, keystore, alias string, req SelfSignedCertRequest, opts AliasOptions) (*Alias, error) {
	q := url.Values{"alias": {alias}, "format": {"selfsignedcert"}}
	opts.query(q)
	if req.Alias == "" {
		req.Alias = alias
	}
	return callJSON[Alias](ctx, c, http.MethodPost, keystorePath(org, env, keystore)+"/aliases", q, req)
}

// GetAlias returns an alias with the details of its certificates.
func (c *Client) GetAlias(ctx context.Context, org, env, keystore, alias string) (*Alias, error) {
	return callJSON[Alias](ctx, c, http.MethodGet, aliasPath(org, env, keystore, alias), nil, nil)
}

// UpdateAliasCertificate replaces an alias's certificate (PEM), keeping its
// key. Configurable-proxy environments refuse it.
func (c *Client) UpdateAliasCertificate(ctx context.Context, org, env, keystore, alias string, cert []byte, opts AliasOptions) (*Alias, error) {
	q := url.Values{}
	opts.query(q)
	body, contentType, err := multipartBody([]formPart{{name: "certFile", file: "cert.pem", data: cert}})
	if err != nil {
		return nil, err
	}
	return call[Alias](ctx, c, http.MethodPut, aliasPath(org, env, keystore, alias), q, body, contentType)
}

// DeleteAlias deletes an alias and returns it as it was.
func (c *Client) DeleteAlias(ctx context.Context, org, env, keystore, alias string) (*Alias, error) {
	return callJSON[Alias](ctx, c, http.MethodDelete, aliasPath(org, env, keystore, alias), nil, nil)
}

// GetAliasCertificate returns an alias's certificate chain as PEM.
func (c *Client) GetAliasCertificate(ctx context.Context, org, env, keystore, alias string) ([]byte, error) {
	var out bytes.Buffer
	err := c.do(ctx, http.MethodGet, aliasPath(org, env, keystore, alias)+"/certificate", nil, nil, "", &out)
	return out.Bytes(), err
}

// GetAliasCSR returns a PEM certificate signing request signed by the
// alias's private key.
func (c *Client) GetAliasCSR(ctx context.Context, org, env, keystore, alias string) ([]byte, error) {
	var out bytes.Buffer
	err := c.do(ctx, http.MethodGet, aliasPath(org, env, keystore, alias)+"/csr", nil, nil, "", &out)
	return out.Bytes(), err
}

// --- references ---

// CreateReference creates a reference to a keystore of the same environment.
func (c *Client) CreateReference(ctx context.Context, org, env string, ref Reference) (*Reference, error) {
	return callJSON[Reference](ctx, c, http.MethodPost, envPath(org, env)+"/references", nil, ref)
}

// ListReferences returns the names of an environment's references.
func (c *Client) ListReferences(ctx context.Context, org, env string) ([]string, error) {
	var out []string
	err := c.doJSON(ctx, http.MethodGet, envPath(org, env)+"/references", nil, nil, &out)
	return out, err
}

// GetReference returns a reference.
func (c *Client) GetReference(ctx context.Context, org, env, ref string) (*Reference, error) {
	return callJSON[Reference](ctx, c, http.MethodGet, referencePath(org, env, ref), nil, nil)
}

// UpdateReference replaces a reference (ref.Name names it). Configurable-proxy
// environments refuse it.
func (c *Client) UpdateReference(ctx context.Context, org, env string, ref Reference) (*Reference, error) {
	return callJSON[Reference](ctx, c, http.MethodPut, referencePath(org, env, ref.Name), nil, ref)
}

// DeleteReference deletes a reference and returns it as it was.
func (c *Client) DeleteReference(ctx context.Context, org, env, ref string) (*Reference, error) {
	return callJSON[Reference](ctx, c, http.MethodDelete, referencePath(org, env, ref), nil, nil)
}

// --- target servers ---

// CreateTargetServer creates a target server.
func (c *Client) CreateTargetServer(ctx context.Context, org, env string, ts TargetServer) (*TargetServer, error) {
	return callJSON[TargetServer](ctx, c, http.MethodPost, envPath(org, env)+"/targetservers", nil, ts)
}

// ListTargetServers returns the names of an environment's target servers.
func (c *Client) ListTargetServers(ctx context.Context, org, env string) ([]string, error) {
	var out []string
	err := c.doJSON(ctx, http.MethodGet, envPath(org, env)+"/targetservers", nil, nil, &out)
	return out, err
}

// GetTargetServer returns a target server.
func (c *Client) GetTargetServer(ctx context.Context, org, env, name string) (*TargetServer, error) {
	return callJSON[TargetServer](ctx, c, http.MethodGet, targetServerPath(org, env, name), nil, nil)
}

// UpdateTargetServer replaces a target server (ts.Name names it).
func (c *Client) UpdateTargetServer(ctx context.Context, org, env string, ts TargetServer) (*TargetServer, error) {
	return callJSON[TargetServer](ctx, c, http.MethodPut, targetServerPath(org, env, ts.Name), nil, ts)
}

// DeleteTargetServer deletes a target server and returns it as it was.
func (c *Client) DeleteTargetServer(ctx context.Context, org, env, name string) (*TargetServer, error) {
	return callJSON[TargetServer](ctx, c, http.MethodDelete, targetServerPath(org, env, name), nil, nil)
}

// --- archive deployments ---

// GenerateUploadURL asks for an address to upload an archive to.
func (c *Client) GenerateUploadURL(ctx context.Context, org, env string) (string, error) {
	var out GenerateUploadURLResponse
	err := c.doJSON(ctx, http.MethodPost, envPath(org, env)+"/archiveDeployments:generateUploadUrl", nil, struct{}{}, &out)
	return out.UploadURI, err
}

// UploadArchive PUTs a zip to the address GenerateUploadURL returned. The
// address carries its own authorization, so no bearer token is sent. A
// relative address is resolved against BaseURL.
func (c *Client) UploadArchive(ctx context.Context, uploadURI string, zip io.Reader) error {
	target, err := c.resolve(uploadURI)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, zip)
	if err != nil {
		return fmt.Errorf("building the upload request: %w", err)
	}
	req.Header.Set("Content-Type", "application/zip")
	return c.send(req, nil)
}

// CreateArchiveDeployment deploys the archive uploaded to gcsURI and returns
// the operation that validates it.
func (c *Client) CreateArchiveDeployment(ctx context.Context, org, env, gcsURI string, labels map[string]string) (*Operation, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	// Not ArchiveDeployment, whose labels are omitempty: the documented
	// body always has "labels".
	body := struct {
		GcsURI string            `json:"gcsUri"`
		Labels map[string]string `json:"labels"`
	}{gcsURI, labels}
	return callJSON[Operation](ctx, c, http.MethodPost, envPath(org, env)+"/archiveDeployments", nil, body)
}

// GetArchiveDeployment returns an archive deployment by id.
func (c *Client) GetArchiveDeployment(ctx context.Context, org, env, id string) (*ArchiveDeployment, error) {
	return callJSON[ArchiveDeployment](ctx, c, http.MethodGet, archivePath(org, env, id), nil, nil)
}

// ListArchiveDeployments returns one page of an environment's archive
// deployments. A pageSize of 0 lets the server choose; an empty pageToken
// asks for the first page.
func (c *Client) ListArchiveDeployments(ctx context.Context, org, env string, pageSize int, pageToken string) (*ListArchiveDeploymentsResponse, error) {
	return callJSON[ListArchiveDeploymentsResponse](ctx, c, http.MethodGet, envPath(org, env)+"/archiveDeployments", pageQuery(pageSize, pageToken), nil)
}

// UpdateArchiveDeploymentLabels replaces an archive deployment's labels.
func (c *Client) UpdateArchiveDeploymentLabels(ctx context.Context, org, env, id string, labels map[string]string) (*ArchiveDeployment, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	// Labels is omitempty on ArchiveDeployment, and clearing every label
	// must still send "labels": {}.
	body := struct {
		Labels map[string]string `json:"labels"`
	}{labels}
	return callJSON[ArchiveDeployment](ctx, c, http.MethodPatch, archivePath(org, env, id), url.Values{"updateMask": {"labels"}}, body)
}

// DeleteArchiveDeployment deletes an archive deployment and returns it as
// it was.
func (c *Client) DeleteArchiveDeployment(ctx context.Context, org, env, id string) (*ArchiveDeployment, error) {
	return callJSON[ArchiveDeployment](ctx, c, http.MethodDelete, archivePath(org, env, id), nil, nil)
}

// GenerateDownloadURL returns an address to download a deployed archive from.
func (c *Client) GenerateDownloadURL(ctx context.Context, org, env, id string) (string, error) {
	var out GenerateDownloadURLResponse
	err := c.doJSON(ctx, http.MethodPost, archivePath(org, env, id)+":generateDownloadUrl", nil, struct{}{}, &out)
	return out.DownloadURI, err
}

// --- operations ---

// GetOperation returns an operation by its uuid.
func (c *Client) GetOperation(ctx context.Context, org, uuid string) (*Operation, error) {
	return callJSON[Operation](ctx, c, http.MethodGet, orgPath(org)+"/operations/"+url.PathEscape(uuid), nil, nil)
}

// ListOperations returns one page of an organization's operations.
func (c *Client) ListOperations(ctx context.Context, org string, pageSize int, pageToken string) (*ListOperationsResponse, error) {
	return callJSON[ListOperationsResponse](ctx, c, http.MethodGet, orgPath(org)+"/operations", pageQuery(pageSize, pageToken), nil)
}

// --- certificates ---

// ListCertificates returns one page of the organization's certificate
// expiry view, soonest expiry first (a keyplane addition to the Apigee
// API). expiringWithin, such as "30d" or "720h" (see ParseWithin), keeps
// the certificates that expire within that window, the expired ones
// included; empty lists them all.
func (c *Client) ListCertificates(ctx context.Context, org, expiringWithin string, pageSize int, pageToken string) (*ListCertificatesResponse, error) {
	q := pageQuery(pageSize, pageToken)
	if expiringWithin != "" {
		q.Set("expiringWithin", expiringWithin)
	}
	return callJSON[ListCertificatesResponse](ctx, c, http.MethodGet, orgPath(org)+"/certificates", q, nil)
}

// --- tokens ---

// CreateToken creates an API token with a role in an organization. The
// answer is the only time the secret is shown. A zero expireTime lets the
// server choose.
func (c *Client) CreateToken(ctx context.Context, org, role string, expireTime time.Time) (*Token, error) {
	body := struct {
		Role       string `json:"role"`
		ExpireTime string `json:"expireTime,omitempty"`
	}{Role: role}
	if !expireTime.IsZero() {
		body.ExpireTime = expireTime.UTC().Format(time.RFC3339)
	}
	return callJSON[Token](ctx, c, http.MethodPost, orgPath(org)+"/tokens", nil, body)
}

// ListTokens returns one page of an organization's tokens, without their
// secrets.
func (c *Client) ListTokens(ctx context.Context, org string, pageSize int, pageToken string) (*ListTokensResponse, error) {
	return callJSON[ListTokensResponse](ctx, c, http.MethodGet, orgPath(org)+"/tokens", pageQuery(pageSize, pageToken), nil)
}

// RevokeToken revokes a token by id and returns it as it now is.
func (c *Client) RevokeToken(ctx context.Context, org, id string) (*Token, error) {
	return callJSON[Token](ctx, c, http.MethodDelete, orgPath(org)+"/tokens/"+url.PathEscape(id), nil, nil)
}

// ListAuditLogs returns one page of an organization's audit log, newest
// first. Only the organization's administrators may read it.
func (c *Client) ListAuditLogs(ctx context.Context, org string, pageSize int, pageToken string) (*ListAuditLogsResponse, error) {
	return callJSON[ListAuditLogsResponse](ctx, c, http.MethodGet, orgPath(org)+"/auditLogs", pageQuery(pageSize, pageToken), nil)
}

// --- paths ---

func orgPath(org string) string { return "/v1/organizations/" + url.PathEscape(org) }

func envPath(org, env string) string {
	return orgPath(org) + "/environments/" + url.PathEscape(env)
}

func keystorePath(org, env, keystore string) string {
	return envPath(org, env) + "/keystores/" + url.PathEscape(keystore)
}

func aliasPath(org, env, keystore, alias string) string {
	return keystorePath(org, env, keystore) + "/aliases/" + url.PathEscape(alias)
}

func referencePath(org, env, ref string) string {
	return envPath(org, env) + "/references/" + url.PathEscape(ref)
}

func targetServerPath(org, env, name string) string {
	return envPath(org, env) + "/targetservers/" + url.PathEscape(name)
}

func archivePath(org, env, id string) string {
	return envPath(org, env) + "/archiveDeployments/" + url.PathEscape(id)
}

func pageQuery(pageSize int, pageToken string) url.Values {
	q := url.Values{}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	return q
}

// --- transport ---

type formPart struct {
	name string
	file string // empty for a plain field
	data []byte
}

func multipartBody(parts []formPart) (io.Reader, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		var (
			pw  io.Writer
			err error
		)
		if p.file != "" {
			pw, err = w.CreateFormFile(p.name, p.file)
		} else {
			pw, err = w.CreateFormField(p.name)
		}
		if err != nil {
			return nil, "", fmt.Errorf("building the multipart body: %w", err)
		}
		if _, err := pw.Write(p.data); err != nil {
			return nil, "", fmt.Errorf("building the multipart body: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("building the multipart body: %w", err)
	}
	return &buf, w.FormDataContentType(), nil
}

// callJSON is doJSON for a single decoded resource: nil on failure.
func callJSON[T any](ctx context.Context, c *Client, method, path string, q url.Values, in any) (*T, error) {
	var out T
	if err := c.doJSON(ctx, method, path, q, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// call is do for a single decoded resource: nil on failure.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, body io.Reader, contentType string) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, q, body, contentType, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// doJSON sends in (when not nil) as JSON and decodes a JSON answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	return c.do(ctx, method, path, q, body, contentType, out)
}

// do sends one authenticated request to BaseURL+path. out may be nil (the
// answer is discarded), a *bytes.Buffer (the raw answer), or anything JSON
// decodes into.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string, out any) error {
	target, err := c.resolve(path)
	if err != nil {
		return err
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.send(req, out)
}

func (c *Client) resolve(ref string) (string, error) {
	if c.BaseURL == "" {
		return "", errors.New("no server address: set the client's BaseURL")
	}
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + "/")
	if err != nil || base.Scheme == "" || base.Host == "" {
		return "", fmt.Errorf("invalid server address %q: want a URL such as http://127.0.0.1:8080", c.BaseURL)
	}
	if strings.HasPrefix(ref, "/") {
		// Keep a path prefix of BaseURL, such as https://host/keyplane.
		return strings.TrimRight(base.String(), "/") + ref, nil
	}
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("invalid address %q: %w", ref, err)
	}
	return u.String(), nil
}

// maxErrorBody bounds how much of a non-JSON error answer is read and shown.
const maxErrorBody = 4 << 10

func (c *Client) send(req *http.Request, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Do wraps every failure in *url.Error; keep its cause, not the
		// repeated method and URL.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &TransportError{URL: redact(req.URL), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if resp.StatusCode == http.StatusNoContent {
		out = nil
	}
	switch out := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, resp.Body)
	case *bytes.Buffer:
		_, err = io.Copy(out, resp.Body)
	case *json.RawMessage:
		var b []byte
		b, err = io.ReadAll(resp.Body)
		*out = b
	default:
		err = json.NewDecoder(resp.Body).Decode(out)
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("empty answer")
		}
		if err != nil {
			return fmt.Errorf("decoding the answer to %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	if err != nil {
		return &TransportError{URL: redact(req.URL), Err: err}
	}
	return nil
}

// redact drops what in an address is a credential, so that it does not end
// up in logs: the user, the query (where signed Cloud Storage URLs keep
// their signature), and the token after /archives/ (where keyplane's signed
// upload and download URLs keep theirs).
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	if i := strings.Index(c.Path, "/archives/"); i >= 0 {
		c.Path = c.Path[:i] + "/archives/REDACTED"
		c.RawPath = ""
	}
	return c.String()
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{HTTPStatus: resp.StatusCode}
	var body ErrorBody
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		e.Status, e.Message = body.Error.Status, body.Error.Message
		return e
	}
	e.Message = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if text := strings.TrimSpace(string(b)); text != "" {
		e.Message += ": " + text
	}
	return e
}

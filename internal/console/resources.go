package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

type referencesData struct {
	References   []api.Reference
	Keystores    []string
	Configurable bool
	// ConfigurableMessage is the API's refusal of a reference update in a
	// configurable-proxy environment, shown instead of a form that would
	// fail.
	ConfigurableMessage string
	Form                api.Reference
}

// configurableReferenceMessage is what the API answers to a reference
// update in a configurable-proxy environment.
const configurableReferenceMessage = "Reference updates are currently disabled for configurable proxy environments. To update the reference, create a new reference and reference it within a new archive deployment."

// references lists the environment's references and what each points at.
func (c *Console) references(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "References", "references")
	c.renderReferences(w, r, p, http.StatusOK, api.Reference{ResourceType: api.ResourceTypeKeyStore})
}

func (c *Console) renderReferences(w http.ResponseWriter, r *http.Request, p *page, status int, form api.Reference) {
	ctx := r.Context()
	client := p.Session.client
	names, err := client.ListReferences(ctx, p.Org, p.Env)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	d := referencesData{Form: form}
	for _, n := range names {
		if ref, err := client.GetReference(ctx, p.Org, p.Env, n); err == nil {
			d.References = append(d.References, *ref)
		}
	}
	d.Keystores, _ = client.ListKeystores(ctx, p.Org, p.Env)
	if env, err := client.GetEnvironment(ctx, p.Org, p.Env); err == nil {
		d.Configurable = env.APIProxyType == api.ProxyTypeConfigurable
	}
	if d.Configurable {
		d.ConfigurableMessage = configurableReferenceMessage
	}
	p.Data = d
	c.render(w, r, status, "references", p)
}

func referenceForm(r *http.Request) api.Reference {
	return api.Reference{
		Name:         strings.TrimSpace(r.PostFormValue("name")),
		Description:  r.PostFormValue("description"),
		ResourceType: r.PostFormValue("resourceType"),
		Refers:       r.PostFormValue("refers"),
	}
}

func (c *Console) createReference(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "References", "references")
	ref := referenceForm(r)
	if _, err := p.Session.client.CreateReference(r.Context(), p.Org, p.Env, ref); err != nil {
		p.Error = err.Error()
		c.renderReferences(w, r, p, statusOf(err), ref)
		return
	}
	done(w, r, p.EnvURL("references"), "Reference "+ref.Name+" created.")
}

// updateReference re-points a reference at another keystore.
func (c *Console) updateReference(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "References", "references")
	ref := referenceForm(r)
	ref.Name = chi.URLParam(r, "ref")
	if _, err := p.Session.client.UpdateReference(r.Context(), p.Org, p.Env, ref); err != nil {
		p.Error = err.Error()
		c.renderReferences(w, r, p, statusOf(err), api.Reference{ResourceType: api.ResourceTypeKeyStore})
		return
	}
	done(w, r, p.EnvURL("references"), "Reference "+ref.Name+" now refers to "+ref.Refers+".")
}

// referenceDeletion is the confirmation of a reference's delete.
func (c *Console) referenceDeletion(w http.ResponseWriter, r *http.Request) (*page, confirmData) {
	p := c.newPage(w, r, "Delete reference", "references")
	ref := chi.URLParam(r, "ref")
	return p, confirmData{Kind: "reference", Name: ref, Action: p.EnvURL("references", ref, "delete"), Back: p.EnvURL("references")}
}

func (c *Console) confirmDeleteReference(w http.ResponseWriter, r *http.Request) {
	p, d := c.referenceDeletion(w, r)
	c.confirm(w, r, p, d)
}

func (c *Console) deleteReference(w http.ResponseWriter, r *http.Request) {
	p, d := c.referenceDeletion(w, r)
	_, err := p.Session.client.DeleteReference(r.Context(), p.Org, p.Env, d.Name)
	c.finishDelete(w, r, p, d, err, p.EnvURL("references"), "Reference "+d.Name+" deleted.")
}

// statusOf is the HTTP status of an API refusal.
func statusOf(err error) int {
	if e, ok := apiError(err); ok {
		return e.HTTPStatus
	}
	return http.StatusBadGateway
}

type targetServerRow struct {
	api.TargetServer
	TLS string
}

// tlsSummary says in a few words how a target server speaks TLS.
func tlsSummary(t *api.TLSInfo) string {
	if t == nil || !t.Enabled {
		return "TLS off"
	}
	parts := []string{"TLS"}
	if t.ClientAuthEnabled {
		parts = append(parts, "mutual: "+t.KeyStore+" / "+t.KeyAlias)
	}
	if t.TrustStore != "" {
		parts = append(parts, "trusts "+t.TrustStore)
	}
	if t.Enforce {
		parts = append(parts, "enforced")
	}
	if t.IgnoreValidationErrors {
		parts = append(parts, "ignores validation errors")
	}
	return strings.Join(parts, ", ")
}

func (c *Console) targetServers(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Target servers", "targetservers")
	ctx := r.Context()
	names, err := p.Session.client.ListTargetServers(ctx, p.Org, p.Env)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	var rows []targetServerRow
	for _, n := range names {
		if ts, err := p.Session.client.GetTargetServer(ctx, p.Org, p.Env, n); err == nil {
			rows = append(rows, targetServerRow{TargetServer: *ts, TLS: tlsSummary(ts.SSLInfo)})
		}
	}
	p.Data = rows
	c.render(w, r, http.StatusOK, "targetservers", p)
}

// targetServerForm is the target server form, every SSLInfo field
// included.
type targetServerForm struct {
	New          bool
	Name         string
	Description  string
	Host         string
	Port         string
	Enabled      bool
	Protocol     string
	TLS          api.TLSInfo
	CommonName   string
	Wildcard     bool
	Protocols    string
	Ciphers      string
	Keystores    []string
	ProtocolList []string
}

func formFromTargetServer(ts *api.TargetServer) targetServerForm {
	f := targetServerForm{Name: ts.Name, Description: ts.Description, Host: ts.Host, Protocol: ts.Protocol, Enabled: ts.IsEnabled == nil || *ts.IsEnabled}
	if ts.Port != 0 {
		f.Port = strconv.FormatInt(ts.Port, 10)
	}
	if ts.SSLInfo != nil {
		f.TLS = *ts.SSLInfo
		f.Protocols = strings.Join(ts.SSLInfo.Protocols, ", ")
		f.Ciphers = strings.Join(ts.SSLInfo.Ciphers, ", ")
		if ts.SSLInfo.CommonName != nil {
			f.CommonName, f.Wildcard = ts.SSLInfo.CommonName.Value, ts.SSLInfo.CommonName.WildcardMatch
		}
	}
	return f
}

func (c *Console) newTargetServer(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "New target server", "targetservers")
	c.renderTargetServer(w, r, p, http.StatusOK, targetServerForm{New: true, Enabled: true, Port: "443", Protocol: "HTTP"})
}

func (c *Console) targetServer(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Target server", "targetservers")
	ts, err := p.Session.client.GetTargetServer(r.Context(), p.Org, p.Env, chi.URLParam(r, "ts"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "Target server " + ts.Name
	c.renderTargetServer(w, r, p, http.StatusOK, formFromTargetServer(ts))
}

func (c *Console) renderTargetServer(w http.ResponseWriter, r *http.Request, p *page, status int, f targetServerForm) {
	f.Keystores, _ = p.Session.client.ListKeystores(r.Context(), p.Org, p.Env)
	p.Data = f
	c.render(w, r, status, "targetserver", p)
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// saveTargetServer creates or replaces a target server; the API validates
// it, and its refusal is shown above the form, which keeps what was typed.
func (c *Console) saveTargetServer(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Target server", "targetservers")
	existing := chi.URLParam(r, "ts")
	on := func(k string) bool { return r.PostFormValue(k) == "on" }
	f := targetServerForm{
		New: existing == "", Name: strings.TrimSpace(r.PostFormValue("name")), Description: r.PostFormValue("description"),
		Host: strings.TrimSpace(r.PostFormValue("host")), Port: strings.TrimSpace(r.PostFormValue("port")),
		Enabled: on("isEnabled"), Protocol: r.PostFormValue("protocol"),
		TLS: api.TLSInfo{
			Enabled: on("sslEnabled"), Enforce: on("enforce"), ClientAuthEnabled: on("clientAuthEnabled"),
			KeyStore: strings.TrimSpace(r.PostFormValue("keyStore")), KeyAlias: strings.TrimSpace(r.PostFormValue("keyAlias")),
			TrustStore: strings.TrimSpace(r.PostFormValue("trustStore")), IgnoreValidationErrors: on("ignoreValidationErrors"),
		},
		CommonName: strings.TrimSpace(r.PostFormValue("commonName")), Wildcard: on("wildcardMatch"),
		Protocols: r.PostFormValue("protocols"), Ciphers: r.PostFormValue("ciphers"),
	}
	if existing != "" {
		f.Name = existing
	}
	ts := api.TargetServer{Name: f.Name, Description: f.Description, Host: f.Host, Protocol: f.Protocol, IsEnabled: &f.Enabled}
	if f.Port != "" {
		port, err := strconv.ParseInt(f.Port, 10, 64)
		if err != nil {
			p.Error = "Port: want a number from 1 to 65535."
			c.renderTargetServer(w, r, p, http.StatusBadRequest, f)
			return
		}
		ts.Port = port
	}
	tls := f.TLS
	tls.Protocols, tls.Ciphers = splitList(f.Protocols), splitList(f.Ciphers)
	if f.CommonName != "" || f.Wildcard {
		tls.CommonName = &api.CommonName{Value: f.CommonName, WildcardMatch: f.Wildcard}
	}
	if tls.Enabled || tls.KeyStore != "" || tls.TrustStore != "" || tls.ClientAuthEnabled {
		ts.SSLInfo = &tls
	}
	var err error
	if f.New {
		_, err = p.Session.client.CreateTargetServer(r.Context(), p.Org, p.Env, ts)
	} else {
		_, err = p.Session.client.UpdateTargetServer(r.Context(), p.Org, p.Env, ts)
	}
	if err != nil {
		p.Error = err.Error()
		c.renderTargetServer(w, r, p, statusOf(err), f)
		return
	}
	done(w, r, p.EnvURL("targetservers"), "Target server "+f.Name+" saved.")
}

// targetServerDeletion is the confirmation of a target server's delete.
func (c *Console) targetServerDeletion(w http.ResponseWriter, r *http.Request) (*page, confirmData) {
	p := c.newPage(w, r, "Delete target server", "targetservers")
	ts := chi.URLParam(r, "ts")
	return p, confirmData{Kind: "target server", Name: ts, Action: p.EnvURL("targetservers", ts, "delete"), Back: p.EnvURL("targetservers", ts)}
}

func (c *Console) confirmDeleteTargetServer(w http.ResponseWriter, r *http.Request) {
	p, d := c.targetServerDeletion(w, r)
	c.confirm(w, r, p, d)
}

func (c *Console) deleteTargetServer(w http.ResponseWriter, r *http.Request) {
	p, d := c.targetServerDeletion(w, r)
	_, err := p.Session.client.DeleteTargetServer(r.Context(), p.Org, p.Env, d.Name)
	c.finishDelete(w, r, p, d, err, p.EnvURL("targetservers"), "Target server "+d.Name+" deleted.")
}

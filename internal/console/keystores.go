package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane/api"
)

// keystoresPerPage is how many keystores the TLS Keystores page shows at
// once: an environment may hold thousands.
const keystoresPerPage = 25

// expiration is a certificate's Expiration Status: words, and a class that
// colours them.
type expiration struct {
	Words string
	// Class is "valid", "soon" (30 days or fewer), "urgent" (14 days or
	// fewer) or "expired".
	Class    string
	DaysLeft int
}

// expirationOf says whether a certificate that expires at expiryMs is
// valid, expires in N days, or has expired, as of now.
func expirationOf(now time.Time, expiryMs int64) expiration {
	days := api.DaysLeft(now, time.UnixMilli(expiryMs))
	e := expiration{DaysLeft: days}
	switch {
	case days < 0:
		e.Class = "expired"
		e.Words = "Expired " + plural(-days, "day") + " ago"
	case days == 0:
		e.Class = "urgent"
		e.Words = "Expires today"
	case days <= 14:
		e.Class = "urgent"
		e.Words = "Expires in " + plural(days, "day")
	case days <= 30:
		e.Class = "soon"
		e.Words = "Expires in " + plural(days, "day")
	default:
		e.Class = "valid"
		e.Words = "Valid, " + plural(days, "day") + " left"
	}
	return e
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// typeWords names an alias type as the seeds' page does.
func typeWords(t string) string {
	switch t {
	case api.AliasTypeKeyCert:
		return "Certificate and Key"
	case api.AliasTypeCert:
		return "Certificate Only"
	}
	return t
}

// commonName picks the CN out of a distinguished name as the API formats
// it ("CN=a, O=b").
func commonName(dn string) string {
	for _, part := range strings.Split(dn, ",") {
		if cn, ok := strings.CutPrefix(strings.TrimSpace(part), "CN="); ok {
			return cn
		}
	}
	return dn
}

type aliasRow struct {
	Name      string
	TypeWords string
	CN        string
	Issuer    string
	Expiry    int64
	Status    expiration
	Err       string
}

type keystoreRow struct {
	Name       string
	Aliases    []aliasRow
	References []string
	Deployed   []string
	Err        string
}

type keystoresData struct {
	Keystores []keystoreRow
	Page      int
	Pages     int
	Total     int
	NewName   string
	FieldErr  string
}

// keystores is the TLS Keystores page: every keystore of the page with its
// aliases, their expiration status and what uses them.
func (c *Console) keystores(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "TLS Keystores", "keystores")
	c.renderKeystores(w, r, p, http.StatusOK, keystoresData{})
}

func (c *Console) renderKeystores(w http.ResponseWriter, r *http.Request, p *page, status int, d keystoresData) {
	ctx := r.Context()
	client := p.Session.client
	names, err := client.ListKeystores(ctx, p.Org, p.Env)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	sort.Strings(names)
	d.Total = len(names)
	d.Pages = max(1, (len(names)+keystoresPerPage-1)/keystoresPerPage)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	start := (d.Page - 1) * keystoresPerPage
	names = names[start:min(start+keystoresPerPage, len(names))]

	// What uses the keystores is read while the keystores are.
	usageDone := make(chan keystoreUsage, 1)
	go func() { usageDone <- c.usage(ctx, client, p.Org, p.Env, names) }()
	d.Keystores = make([]keystoreRow, len(names))
	now := c.cfg.Now()
	parallel(len(names), func(i int) {
		row := keystoreRow{Name: names[i]}
		ks, err := client.GetKeystore(ctx, p.Org, p.Env, names[i])
		if err != nil {
			row.Err = err.Error()
			d.Keystores[i] = row
			return
		}
		sort.Strings(ks.Aliases)
		for _, a := range ks.Aliases {
			row.Aliases = append(row.Aliases, c.aliasRow(ctx, client, p.Org, p.Env, names[i], a, now))
		}
		d.Keystores[i] = row
	})
	usage := <-usageDone
	for i := range d.Keystores {
		d.Keystores[i].References = usage.refs[d.Keystores[i].Name]
		d.Keystores[i].Deployed = usage.deployed[d.Keystores[i].Name]
	}
	p.Data = d
	c.render(w, r, status, "keystores", p)
}

func (c *Console) aliasRow(ctx context.Context, client *api.Client, org, env, ks, name string, now time.Time) aliasRow {
	row := aliasRow{Name: name}
	a, err := client.GetAlias(ctx, org, env, ks, name)
	if err != nil {
		row.Err = err.Error()
		return row
	}
	row.TypeWords = typeWords(a.Type)
	if len(a.CertsInfo.CertInfo) > 0 {
		leaf := a.CertsInfo.CertInfo[0]
		row.CN = commonName(leaf.Subject)
		row.Issuer = commonName(leaf.Issuer)
		row.Expiry = leaf.ExpiryDate
		row.Status = expirationOf(now, leaf.ExpiryDate)
	}
	return row
}

// parallel runs f for 0..n-1, a few at a time: a page's keystores are
// independent reads.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// keystoreUsage is what uses the keystores of a page: references by
// keystore, and the live deployment that uses each keystore.
type keystoreUsage struct {
	refs     map[string][]string
	deployed map[string][]string
}

// usage finds the references that refer to the keystores named, and the
// live deployments that use them (from the organization's expiry view,
// which records the users of every certificate).
func (c *Console) usage(ctx context.Context, client *api.Client, org, env string, keystores []string) keystoreUsage {
	u := keystoreUsage{refs: map[string][]string{}, deployed: map[string][]string{}}
	want := map[string]bool{}
	for _, k := range keystores {
		want[k] = true
	}
	if refs, err := client.ListReferences(ctx, org, env); err == nil {
		for _, name := range refs {
			ref, err := client.GetReference(ctx, org, env, name)
			if err == nil && want[ref.Refers] {
				u.refs[ref.Refers] = append(u.refs[ref.Refers], ref.Name)
			}
		}
	}
	if !c.hasLiveDeployment(ctx, client, org, env) {
		return u
	}
	if certs, err := client.ListCertificates(ctx, org, "", 1000, ""); err == nil {
		envName := "organizations/" + org + "/environments/" + env
		seen := map[string]bool{}
		for _, ce := range certs.Certificates {
			if ce.Environment != envName && ce.Environment != env || !want[ce.Keystore] {
				continue
			}
			for _, d := range ce.UsedBy.Deployments {
				if k := ce.Keystore + "\x00" + d; !seen[k] {
					seen[k] = true
					u.deployed[ce.Keystore] = append(u.deployed[ce.Keystore], d)
				}
			}
		}
	}
	return u
}

// hasLiveDeployment reports whether the environment has a live
// deployment: its newest successful archive deployment. Without one,
// nothing deployed uses a keystore, and the organization's expiry view
// need not be read.
func (c *Console) hasLiveDeployment(ctx context.Context, client *api.Client, org, env string) bool {
	list, err := client.ListArchiveDeployments(ctx, org, env, 10, "")
	if err != nil {
		return true // unknown: look
	}
	for _, ad := range list.ArchiveDeployments {
		op, err := client.GetOperation(ctx, org, lastSegment(ad.Operation))
		if err != nil || op.Done && op.Error == nil {
			return true
		}
	}
	return list.NextPageToken != ""
}

func (c *Console) createKeystore(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "TLS Keystores", "keystores")
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, err := p.Session.client.CreateKeystore(r.Context(), p.Org, p.Env, name); err != nil {
		status := http.StatusBadRequest
		if e, ok := apiError(err); ok {
			status = e.HTTPStatus
		}
		p.Error = err.Error()
		c.renderKeystores(w, r, p, status, keystoresData{NewName: name, FieldErr: err.Error()})
		return
	}
	done(w, r, p.EnvURL("keystores", name), "Keystore "+name+" created.")
}

type keystoreData struct {
	Keystore keystoreRow
}

// keystore is one keystore's page: its aliases, and what uses it.
func (c *Console) keystore(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Keystore", "keystores")
	ks := chi.URLParam(r, "ks")
	ctx := r.Context()
	client := p.Session.client
	k, err := client.GetKeystore(ctx, p.Org, p.Env, ks)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	usage := c.usage(ctx, client, p.Org, p.Env, []string{ks})
	row := keystoreRow{Name: k.Name, References: usage.refs[ks], Deployed: usage.deployed[ks]}
	sort.Strings(k.Aliases)
	now := c.cfg.Now()
	for _, a := range k.Aliases {
		row.Aliases = append(row.Aliases, c.aliasRow(ctx, client, p.Org, p.Env, ks, a, now))
	}
	p.Title = "Keystore " + ks
	p.Data = keystoreData{Keystore: row}
	c.render(w, r, http.StatusOK, "keystore", p)
}

// confirmData is a delete confirmation: it names the resource.
type confirmData struct {
	Kind   string
	Name   string
	Action string
	Back   string
}

// keystoreDeletion is the confirmation of a keystore's delete.
func (c *Console) keystoreDeletion(w http.ResponseWriter, r *http.Request) (*page, confirmData) {
	p := c.newPage(w, r, "Delete keystore", "keystores")
	ks := chi.URLParam(r, "ks")
	return p, confirmData{Kind: "keystore", Name: ks, Action: p.EnvURL("keystores", ks, "delete"), Back: p.EnvURL("keystores", ks)}
}

func (c *Console) confirmDeleteKeystore(w http.ResponseWriter, r *http.Request) {
	p, d := c.keystoreDeletion(w, r)
	c.confirm(w, r, p, d)
}

func (c *Console) deleteKeystore(w http.ResponseWriter, r *http.Request) {
	p, d := c.keystoreDeletion(w, r)
	_, err := p.Session.client.DeleteKeystore(r.Context(), p.Org, p.Env, d.Name)
	c.finishDelete(w, r, p, d, err, p.EnvURL("keystores"), "Keystore "+d.Name+" deleted.")
}

// confirm shows the confirmation page d of a delete.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request, p *page, d confirmData) {
	p.Data = d
	c.render(w, r, http.StatusOK, "confirm", p)
}

// finishDelete ends a delete that the API answered with err: a refusal is
// shown on the confirmation page d, with the API's status and words; a
// success goes on to after, saying message.
func (c *Console) finishDelete(w http.ResponseWriter, r *http.Request, p *page, d confirmData, err error, after, message string) {
	if err == nil {
		done(w, r, after, message)
		return
	}
	status := http.StatusBadGateway
	if e, ok := apiError(err); ok {
		status = e.HTTPStatus
	}
	p.Data = d
	p.Error = err.Error()
	c.render(w, r, status, "confirm", p)
}

// Alias form types.
const (
	formKeyCert    = "keycert"
	formCertOnly   = "cert"
	formPKCS12     = "pkcs12"
	formSelfSigned = "selfsigned"
)

// aliasForm is what the + Alias form holds, kept when the API refuses it
// so that nothing typed is lost (files excepted: browsers never let a page
// fill a file input).
type aliasForm struct {
	Alias       string
	Type        string
	IgnoreExp   bool
	IgnoreNL    bool
	CommonName  string
	SANs        string
	KeySize     string
	SigAlg      string
	ValidDays   string
	Errors      map[string]string
	KeystoreURL string
}

func (c *Console) newAlias(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Add alias", "keystores")
	ks := chi.URLParam(r, "ks")
	p.Title = "Add alias to " + ks
	f := aliasForm{Type: r.URL.Query().Get("type"), KeySize: "2048", SigAlg: "SHA256withRSA", ValidDays: "365", KeystoreURL: p.EnvURL("keystores", ks)}
	if f.Type == "" {
		f.Type = formKeyCert
	}
	p.Data = f
	c.render(w, r, http.StatusOK, "alias_new", p)
}

// createAlias sends the + Alias form to the API in the format its Type
// chooses.
func (c *Console) createAlias(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Add alias", "keystores")
	ks := chi.URLParam(r, "ks")
	p.Title = "Add alias to " + ks
	f := aliasForm{
		Alias: strings.TrimSpace(r.PostFormValue("alias")), Type: r.PostFormValue("type"),
		IgnoreExp: r.PostFormValue("ignoreExpiryValidation") == "on", IgnoreNL: r.PostFormValue("ignoreNewlineValidation") == "on",
		CommonName: r.PostFormValue("commonName"), SANs: r.PostFormValue("sans"),
		KeySize: r.PostFormValue("keySize"), SigAlg: r.PostFormValue("sigAlg"), ValidDays: r.PostFormValue("validDays"),
		Errors: map[string]string{}, KeystoreURL: p.EnvURL("keystores", ks),
	}
	opts := api.AliasOptions{IgnoreExpiryValidation: f.IgnoreExp, IgnoreNewlineValidation: f.IgnoreNL}
	ctx := r.Context()
	client := p.Session.client
	password := r.PostFormValue("password")
	var err error
	switch f.Type {
	case formKeyCert, formCertOnly:
		cert, cerr := formFile(r, "certFile")
		if cerr != nil || len(cert) == 0 {
			f.Errors["certFile"] = "Certificate: choose a PEM certificate file."
			break
		}
		in := api.KeyCertFile{Cert: cert, Password: password}
		if f.Type == formKeyCert {
			key, kerr := formFile(r, "keyFile")
			if kerr != nil || len(key) == 0 {
				f.Errors["keyFile"] = "Key: choose a PEM private key file, or pick Type Certificate Only."
				break
			}
			in.Key = key
		}
		_, err = client.CreateAliasFromKeyCert(ctx, p.Org, p.Env, ks, f.Alias, in, opts)
	case formPKCS12:
		file, ferr := formFile(r, "file")
		if ferr != nil || len(file) == 0 {
			f.Errors["file"] = "PKCS#12 file: choose a .p12 or .pfx file."
			break
		}
		_, err = client.CreateAliasFromPKCS12(ctx, p.Org, p.Env, ks, f.Alias, file, password, opts)
	case formSelfSigned:
		req := api.SelfSignedCertRequest{Alias: f.Alias, KeySize: f.KeySize, SigAlg: f.SigAlg, Subject: api.CertSubject{CommonName: f.CommonName}}
		if f.ValidDays != "" {
			n, perr := strconv.Atoi(f.ValidDays)
			if perr != nil {
				f.Errors["validDays"] = "Validity: want a whole number of days."
				break
			}
			req.CertValidityInDays = n
		}
		if sans := strings.Fields(strings.ReplaceAll(f.SANs, ",", " ")); len(sans) > 0 {
			req.SubjectAlternativeDNSNames = &api.SubjectAltDNS{SubjectAlternativeName: sans}
		}
		_, err = client.CreateSelfSignedAlias(ctx, p.Org, p.Env, ks, f.Alias, req, opts)
	default:
		f.Errors["type"] = "Type: pick one of the types."
	}
	if err != nil {
		f.Errors[fieldOf(err.Error())] = err.Error()
	}
	if len(f.Errors) > 0 {
		p.Error = "The alias was not created; see the fields marked below."
		p.Data = f
		status := http.StatusBadRequest
		if e, ok := apiError(err); ok {
			status = e.HTTPStatus
		}
		c.render(w, r, status, "alias_new", p)
		return
	}
	done(w, r, p.EnvURL("keystores", ks, "aliases", f.Alias), "Alias "+f.Alias+" created.")
}

// fieldOf tells which form field an API message is about, so that the
// message is shown next to it. Messages the form has no field for go to
// "form".
func fieldOf(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "password") || strings.Contains(m, "decrypt"):
		return "password"
	case strings.Contains(m, "alias"):
		return "alias"
	case strings.Contains(m, "expired") || strings.Contains(m, "not valid until"):
		return "certFile"
	case strings.Contains(m, "does not match") || strings.Contains(m, "private key") || strings.Contains(m, "keyfile"):
		return "keyFile"
	case strings.Contains(m, "certfile") || strings.Contains(m, "certificate"):
		return "certFile"
	case strings.Contains(m, "pkcs") || strings.Contains(m, "file"):
		return "file"
	case strings.Contains(m, "commonname") || strings.Contains(m, "subject"):
		return "commonName"
	}
	return "form"
}

// formFile reads an uploaded file of the form.
func formFile(r *http.Request, name string) ([]byte, error) {
	f, _, err := r.FormFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

type certRow struct {
	api.CertInfo
	Status expiration
}

type aliasData struct {
	Keystore     string
	Alias        string
	TypeWords    string
	KeyCert      bool
	Chain        []certRow
	Configurable bool
	// ConfigurableMessage is the API's refusal of a certificate update in
	// a configurable-proxy environment, shown instead of a form that
	// would fail.
	ConfigurableMessage string
}

// configurableAliasMessage is what the API answers to an alias update in a
// configurable-proxy environment.
const configurableAliasMessage = "Alias updates are currently disabled for configurable proxy environments. To update the certificate, create a new alias and reference it within a new archive deployment."

// alias is an alias's page: its whole chain, the certificate and a CSR to
// download, and the certificate replacement where the environment allows
// it.
func (c *Console) alias(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Alias", "keystores")
	c.renderAlias(w, r, p, http.StatusOK)
}

func (c *Console) renderAlias(w http.ResponseWriter, r *http.Request, p *page, status int) {
	ks, name := chi.URLParam(r, "ks"), chi.URLParam(r, "alias")
	ctx := r.Context()
	a, err := p.Session.client.GetAlias(ctx, p.Org, p.Env, ks, name)
	if err != nil {
		if p.Error != "" {
			// The refusal being shown matters more than the alias's
			// absence.
			c.render(w, r, status, "error", p)
			return
		}
		c.fail(w, r, p, err)
		return
	}
	d := aliasData{Keystore: ks, Alias: a.Alias, TypeWords: typeWords(a.Type), KeyCert: a.Type == api.AliasTypeKeyCert}
	now := c.cfg.Now()
	for _, ci := range a.CertsInfo.CertInfo {
		d.Chain = append(d.Chain, certRow{CertInfo: ci, Status: expirationOf(now, ci.ExpiryDate)})
	}
	if env, err := p.Session.client.GetEnvironment(ctx, p.Org, p.Env); err == nil && env.APIProxyType == api.ProxyTypeConfigurable {
		d.Configurable = true
		d.ConfigurableMessage = configurableAliasMessage
	}
	p.Title = "Alias " + a.Alias
	p.Data = d
	c.render(w, r, status, "alias", p)
}

// replaceAlias replaces an alias's certificate, keeping its key.
func (c *Console) replaceAlias(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Alias", "keystores")
	ks, name := chi.URLParam(r, "ks"), chi.URLParam(r, "alias")
	cert, err := formFile(r, "certFile")
	if err != nil || len(cert) == 0 {
		p.Error = "Certificate: choose a PEM certificate file."
		c.renderAlias(w, r, p, http.StatusBadRequest)
		return
	}
	opts := api.AliasOptions{IgnoreExpiryValidation: r.PostFormValue("ignoreExpiryValidation") == "on"}
	if _, err := p.Session.client.UpdateAliasCertificate(r.Context(), p.Org, p.Env, ks, name, cert, opts); err != nil {
		p.Error = err.Error()
		status := http.StatusBadRequest
		if e, ok := apiError(err); ok {
			status = e.HTTPStatus
		}
		c.renderAlias(w, r, p, status)
		return
	}
	done(w, r, p.EnvURL("keystores", ks, "aliases", name), "Certificate of "+name+" replaced.")
}

func (c *Console) downloadCertificate(w http.ResponseWriter, r *http.Request) {
	c.download(w, r, "certificate", (*api.Client).GetAliasCertificate, "application/x-pem-file", ".pem")
}

func (c *Console) downloadCSR(w http.ResponseWriter, r *http.Request) {
	c.download(w, r, "csr", (*api.Client).GetAliasCSR, "application/pkcs10", ".csr")
}

// download answers the alias's certificate or CSR as a file.
func (c *Console) download(w http.ResponseWriter, r *http.Request, what string,
	get func(*api.Client, context.Context, string, string, string, string) ([]byte, error), contentType, ext string) {
	s := sessionOf(r)
	org, env, ks, name := chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), chi.URLParam(r, "alias")
	b, err := get(s.client, r.Context(), org, env, ks, name)
	if err != nil {
		p := c.newPage(w, r, "Alias", "keystores")
		c.fail(w, r, p, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", safeFileName(ks+"-"+name+ext)))
	_, _ = w.Write(b)
}

// safeFileName keeps the characters resource names may hold.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// aliasDeletion is the confirmation of an alias's delete.
func (c *Console) aliasDeletion(w http.ResponseWriter, r *http.Request) (p *page, d confirmData, ks, a string) {
	p = c.newPage(w, r, "Delete alias", "keystores")
	ks, a = chi.URLParam(r, "ks"), chi.URLParam(r, "alias")
	return p, confirmData{Kind: "alias", Name: ks + "/" + a, Action: p.EnvURL("keystores", ks, "aliases", a, "delete"), Back: p.EnvURL("keystores", ks, "aliases", a)}, ks, a
}

func (c *Console) confirmDeleteAlias(w http.ResponseWriter, r *http.Request) {
	p, d, _, _ := c.aliasDeletion(w, r)
	c.confirm(w, r, p, d)
}

func (c *Console) deleteAlias(w http.ResponseWriter, r *http.Request) {
	p, d, ks, a := c.aliasDeletion(w, r)
	_, err := p.Session.client.DeleteAlias(r.Context(), p.Org, p.Env, ks, a)
	c.finishDelete(w, r, p, d, err, p.EnvURL("keystores", ks), "Alias "+a+" deleted.")
}

package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// goodArchive deploys proxy mtls to dev through target server
// mtlstarget-docs, with mutual TLS from keystore ks (alias a) and trust in
// ts9: every check passes.
func goodArchive(t *testing.T, wrap string) map[string]string {
	return map[string]string{
		wrap + "src/main/apigee/apiproxies/mtls/config.yaml":         "basepath: /mtls\noperations:\n  - name: get\n    http_match: [{path_template: \"/\", method: GET}]\n    target:\n      target_server_id: mtlstarget-docs\n",
		wrap + "src/main/apigee/environments/dev/deployments.json":   `{"proxies":[{"name":"mtls"}],"sharedflows":[]}`,
		wrap + "src/main/apigee/environments/dev/targetservers.json": `[{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"protocol":"HTTP","sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ks","keyAlias":"a","trustStore":"ts9"}}]`,
	}
}

// TestConsole_DeployAFolderThenDeleteWhatItUses deploys a folder of the
// archive layout through the deploy form (its files with their paths, as
// the page's script sends them), sees it marked live and its keystore
// used by it, and has the keystore's delete refused with the API's words.
func TestConsole_DeployAFolderThenDeleteWhatItUses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	csrf := b.csrf()

	// The folder's files, each with its relative path; the browser sends
	// only base names in the file parts.
	files := goodArchive(t, "my-archive/")
	var paths []string
	var contents [][]byte
	for p, c := range files {
		paths = append(paths, p)
		contents = append(contents, []byte(c))
	}
	p := b.postFolder(dev+"/archiveDeployments", csrf, paths, contents)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Contains(t, p.Location, org+"/operations/")
	op := f.wait(t, p.Location[strings.LastIndex(p.Location, "/")+1:])
	require.Nil(t, op.Error, "%+v", op.Error)

	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Succeeded")
	require.NotContains(t, p.Body, `http-equiv="refresh"`, "a finished operation is not followed any more")

	p = b.get(dev + "/archiveDeployments")
	require.Equal(t, 1, strings.Count(p.Body, `class="live-row"`), "one deployment is live")
	live := regexp.MustCompile(`data-deployment="([^"]+)" class="live-row"`).FindStringSubmatch(p.Body)
	require.NotNil(t, live)
	require.Contains(t, op.Metadata.TargetResourceName, live[1], "the live one is the one that succeeded")

	p = b.get(dev + "/keystores")
	require.Regexp(t, `(?s)data-keystore="ks".*?live deployment.*?ref://r`, p.Body, "the TLS Keystores page says what uses ks")

	// Without the reference to it, what still holds ks is the live
	// deployment.
	_, err := f.admin.DeleteReference(context.Background(), "myorg", "dev", "r")
	require.NoError(t, err)
	p = b.post(dev+"/keystores/ks/delete", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusBadRequest, p.Status, p.Body)
	_, err = f.admin.DeleteKeystore(context.Background(), "myorg", "dev", "ks")
	apiErr, ok := err.(*api.Error)
	require.True(t, ok, "%v", err)
	require.Contains(t, p.text(), apiErr.Message, "the refusal as the API words it")
	require.Contains(t, p.text(), "is used by the live deployment")
	require.Contains(t, p.Body, "Delete keystore ks", "the confirmation still names the keystore")
}

// TestConsole_AliasTypesAndFieldErrors creates aliases of every type of
// the + Alias form, and checks that refusals land at their fields with
// what was typed kept.
func TestConsole_AliasTypesAndFieldErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	csrf := b.csrf()
	leaf := testcerts.New(t, testcerts.Options{CommonName: "p12 leaf", RSA: true})
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, "s3cret")
	require.NoError(t, err)
	form := dev + "/keystores/ks/aliases"

	p := b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "p12", "type": "pkcs12", "password": "s3cret"}, map[string][]byte{"file": p12})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	a, err := f.admin.GetAlias(context.Background(), "myorg", "dev", "ks", "p12")
	require.NoError(t, err)
	require.Equal(t, api.AliasTypeKeyCert, a.Type)

	p = b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "p12-wrong", "type": "pkcs12", "password": "nope"}, map[string][]byte{"file": p12})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `id="password-err"`, "a wrong password is shown at the password field")
	require.Contains(t, p.Body, `value="p12-wrong"`, "the typed alias stays")
	require.NotContains(t, p.Body, "nope", "the password is never echoed")

	p = b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "self", "type": "selfsigned", "commonName": "self.example",
		"sans": "self.example, www.self.example", "keySize": "2048", "sigAlg": "SHA256withRSA", "validDays": "30"}, nil)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	p = b.get(dev + "/keystores/ks/aliases/self")
	require.Contains(t, p.Body, "CN=self.example")
	require.Contains(t, p.Body, "Expires in 29 days")

	expired := testcerts.New(t, testcerts.Options{CommonName: "old", NotBefore: timeAgo(48), NotAfter: timeAgo(24)})
	p = b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "old", "type": "cert"}, map[string][]byte{"certFile": expired.CertPEM()})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `id="certFile-err"`, "an expired certificate is shown at the certificate field")
	require.Contains(t, strings.ToLower(p.text()), "expired")
	p = b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "old", "type": "cert", "ignoreExpiryValidation": "on"}, map[string][]byte{"certFile": expired.CertPEM()})
	require.Equal(t, http.StatusSeeOther, p.Status, "the expiry-check override: %s", p.Body)
	p = b.get(dev + "/keystores/ks")
	require.Contains(t, p.Body, "Expired 1 day ago")

	p = b.postMultipart(form, map[string]string{"csrf": csrf, "alias": "nokey", "type": "keycert"}, map[string][]byte{"certFile": leaf.CertPEM()})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `id="keyFile-err"`)
}

// TestConsole_ConfigurableEnvironment shows the API's exact message
// instead of a replace form that would fail, and keeps references from
// being re-pointed there.
func TestConsole_ConfigurableEnvironment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	cfg := "/console/organizations/myorg/environments/cfg"
	p := b.get(cfg + "/keystores/ks/aliases/a")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.text(), "Alias updates are currently disabled for configurable proxy environments. To update the certificate, create a new alias and reference it within a new archive deployment.")
	require.NotContains(t, p.Body, "Replace certificate")
	// The message is the API's own.
	leaf := testcerts.New(t, testcerts.Options{CommonName: "x"})
	_, err := f.admin.UpdateAliasCertificate(context.Background(), "myorg", "cfg", "ks", "a", leaf.CertPEM(), api.AliasOptions{})
	require.Error(t, err)
	require.Contains(t, p.text(), err.Error())

	// References there cannot be re-pointed either: the API's message
	// stands in for the form.
	_, err = f.admin.CreateReference(context.Background(), "myorg", "cfg", api.Reference{Name: "cr", ResourceType: api.ResourceTypeKeyStore, Refers: "ks"})
	require.NoError(t, err)
	p = b.get(cfg + "/references")
	require.NotContains(t, p.Body, "Re-point")
	_, err = f.admin.UpdateReference(context.Background(), "myorg", "cfg", api.Reference{Name: "cr", ResourceType: api.ResourceTypeKeyStore, Refers: "ks"})
	require.Error(t, err)
	require.Contains(t, p.text(), err.Error())
	require.Contains(t, p.text(), "Reference updates are currently disabled for configurable proxy environments.")

	// In a programmable environment the form is there, and replacing the
	// certificate keeps the key: a certificate of another key is refused
	// with the API's message.
	p = b.get(dev + "/keystores/ks/aliases/a")
	require.Contains(t, p.Body, "Replace certificate")
	p = b.postMultipart(dev+"/keystores/ks/aliases/a", map[string]string{"csrf": b.csrf()}, map[string][]byte{"certFile": leaf.CertPEM()})
	require.Equal(t, http.StatusBadRequest, p.Status)
	_, err = f.admin.UpdateAliasCertificate(context.Background(), "myorg", "dev", "ks", "a", leaf.CertPEM(), api.AliasOptions{})
	require.Error(t, err)
	require.Contains(t, p.text(), err.Error())
}

// TestConsole_NothingSecretReachesThePage reads every page of a populated
// environment and finds no private key, password, signed archive URL or
// token in them (the one-time display of a new token excepted).
func TestConsole_NothingSecretReachesThePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	viewer := f.token(t, api.RoleViewer)
	for _, path := range []string{
		dev + "/keystores", dev + "/keystores/ks", dev + "/keystores/ks/aliases/a", dev + "/keystores/ks/aliases/new",
		dev + "/references", dev + "/targetservers", dev + "/targetservers/t", dev + "/archiveDeployments",
		org + "/certificates", org + "/tokens", org + "/auditLogs",
		org + "/operations/" + f.failed.Name[strings.LastIndex(f.failed.Name, "/")+1:],
	} {
		p := b.get(path)
		require.Equal(t, http.StatusOK, p.Status, path)
		for _, secret := range []string{"PRIVATE KEY", f.srv.Token, viewer, "/archives/", "kp_"} {
			require.NotContains(t, p.Body, secret, "%s shows a secret", path)
		}
	}
	p := b.get(dev + "/keystores/ks/aliases/a/certificate")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "BEGIN CERTIFICATE")
	require.NotContains(t, p.Body, "PRIVATE KEY")
	require.Contains(t, p.Header.Get("Content-Disposition"), `attachment; filename="ks-a.pem"`)
	p = b.get(dev + "/keystores/ks/aliases/a/csr")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "BEGIN CERTIFICATE REQUEST")
	require.NotContains(t, p.Body, "PRIVATE KEY")
}

// TestConsole_TargetServerFormValidatesAsTheAPI sends the target server
// form with every SSLInfo field, and a bad one whose refusal keeps what was
// typed.
func TestConsole_TargetServerFormValidatesAsTheAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn(f.srv.Token)
	csrf := b.csrf()
	p := b.post(dev+"/targetservers", url.Values{"csrf": {csrf}, "name": {"full"}, "description": {"all fields"}, "host": {"full.example.com"},
		"port": {"8443"}, "protocol": {"HTTP"}, "isEnabled": {"on"}, "sslEnabled": {"on"}, "enforce": {"on"}, "clientAuthEnabled": {"on"},
		"keyStore": {"ref://r"}, "keyAlias": {"a"}, "trustStore": {"ts9"}, "ignoreValidationErrors": {"on"},
		"protocols": {"TLSv1.2, TLSv1.3"}, "ciphers": {"TLS_AES_128_GCM_SHA256"}, "commonName": {"*.example.com"}, "wildcardMatch": {"on"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	ts, err := f.admin.GetTargetServer(context.Background(), "myorg", "dev", "full")
	require.NoError(t, err)
	require.Equal(t, &api.TLSInfo{Enabled: true, Enforce: true, ClientAuthEnabled: true, KeyStore: "ref://r", KeyAlias: "a", TrustStore: "ts9",
		IgnoreValidationErrors: true, Protocols: []string{"TLSv1.2", "TLSv1.3"}, Ciphers: []string{"TLS_AES_128_GCM_SHA256"},
		CommonName: &api.CommonName{Value: "*.example.com", WildcardMatch: true}}, ts.SSLInfo)
	require.Equal(t, int64(8443), ts.Port)

	p = b.post(dev+"/targetservers", url.Values{"csrf": {csrf}, "name": {"bad"}, "host": {"bad.example.com"}, "port": {"70000"}, "description": {"typed"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	_, err = f.admin.CreateTargetServer(context.Background(), "myorg", "dev", api.TargetServer{Name: "bad", Host: "bad.example.com", Port: 70000})
	require.Error(t, err)
	require.Contains(t, p.text(), err.Error(), "the API's message")
	require.Contains(t, p.Body, `value="typed"`, "what was typed stays")

	p = b.get(dev + "/targetservers")
	require.Contains(t, p.Body, "TLS, mutual: ref://r / a, trusts ts9, enforced, ignores validation errors")
}

package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// leaks returns the forms in which a private key could leak: its DER in
// hex and base64, and each base64 line of its PEM.
func leaks(t *testing.T, c *testcerts.Cert) []string {
	der := c.KeyDER(t)
	forms := []string{hex.EncodeToString(der), base64.StdEncoding.EncodeToString(der)}
	for _, line := range strings.Split(string(c.KeyPEM(t)), "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			forms = append(forms, line)
		}
	}
	return forms
}

func TestSecrets_PrivateKeysNeverLeaveTheServer(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	srv := servertest.StartWith(t, servertest.Options{Log: log})
	b := &testBundle{srv: srv, c: &client{t: t, base: srv.URL, token: srv.Token}}
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev"}`)
	b.c.ok("POST", envPath+"/keystores", `{"name":"ks"}`)

	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	rsaLeaf := testcerts.New(t, testcerts.Options{CommonName: "rsa", Parent: ca, RSA: true})
	ecLeaf := testcerts.New(t, testcerts.Options{CommonName: "ec", Parent: ca})
	stranger := testcerts.New(t, testcerts.Options{CommonName: "stranger", RSA: true})
	b.uploadAlias(t, "ks", "rsa", true, rsaLeaf, ca)
	b.uploadAlias(t, "ks", "ec", true, ecLeaf, ca)

	// A refused upload must not echo the key either.
	ct, body := multipartBody(t, [2]string{"certFile", string(rsaLeaf.CertPEM())}, [2]string{"keyFile", string(stranger.KeyPEM(t))})
	refused := b.c.send("POST", envPath+"/keystores/ks/aliases?alias=bad&format=keycertfile", ct, body)
	require.Equal(t, 400, refused.Status)
	ct, body = multipartBody(t, [2]string{"certFile", string(rsaLeaf.CertPEM())}, [2]string{"keyFile", "-----BEGIN PRIVATE KEY-----\n" + leaks(t, stranger)[2] + "\n-----END PRIVATE KEY-----\n"})
	broken := b.c.send("POST", envPath+"/keystores/ks/aliases?alias=bad&format=keycertfile", ct, body)
	require.Equal(t, 400, broken.Status)

	var answers []string
	answers = append(answers, string(refused.Body), string(broken.Body))
	for _, path := range []string{
		envPath + "/keystores", envPath + "/keystores/ks",
		envPath + "/keystores/ks/aliases/rsa", envPath + "/keystores/ks/aliases/rsa/certificate", envPath + "/keystores/ks/aliases/rsa/csr",
		envPath + "/keystores/ks/aliases/ec", envPath + "/keystores/ks/aliases/ec/certificate", envPath + "/keystores/ks/aliases/ec/csr",
	} {
		r := b.c.do("GET", path, "")
		require.Equal(t, 200, r.Status, path)
		answers = append(answers, string(r.Body))
	}
	answers = append(answers, string(b.c.ok("DELETE", envPath+"/keystores/ks/aliases/ec", "")))

	// Every row of every table, as text.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tables, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, names, "aliases")
	var rows strings.Builder
	for _, table := range names {
		r, err := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %s t`, pgx.Identifier{table}.Sanitize()))
		require.NoError(t, err)
		texts, err := pgx.CollectRows(r, pgx.RowTo[string])
		require.NoError(t, err)
		rows.WriteString(strings.Join(texts, "\n"))
	}
	require.Contains(t, rows.String(), `\\x`, "sealed keys are stored")

	for _, c := range []*testcerts.Cert{rsaLeaf, ecLeaf, stranger} {
		for _, form := range leaks(t, c) {
			for _, a := range answers {
				require.NotContains(t, a, form, "an answer contains key material")
			}
			require.NotContains(t, rows.String(), form, "the database holds key material in the clear")
			require.NotContains(t, log.String(), form, "the log contains key material")
		}
	}
}

// TestSecrets_TokensAndSignedURLsNeverLogged drives every request that
// carries a credential (bearer tokens, right and wrong, the signed upload
// and download URLs, a password in the query) and checks that the server's
// log, a line for each of them, holds none.
func TestSecrets_TokensAndSignedURLsNeverLogged(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"CONFIGURABLE"}`)
	tok := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/myorg/tokens", `{"role":"deployer"}`))
	deployer := &client{t: t, base: b.srv.URL, token: tok.Token}

	uploadURI := b.upload(t, mtlsArchive(t, `{"enabled":false}`))
	op := decode[api.Operation](t, deployer.ok("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+uploadURI+`"}`))
	op = b.wait(t, op.Name)
	require.Nil(t, op.Error)
	dl := decode[api.GenerateDownloadURLResponse](t, deployer.ok("POST", "/v1/"+op.Metadata.TargetResourceName+":generateDownloadUrl", "{}"))
	res, err := http.Get(dl.DownloadURI)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	// A used upload URL refused, and an unknown one, are logged too.
	req, err := http.NewRequest("PUT", uploadURI, strings.NewReader("again"))
	require.NoError(t, err)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	wrong := &client{t: t, base: b.srv.URL, token: "wrong-secret-token-0123456789"}
	require.Equal(t, http.StatusUnauthorized, wrong.do("GET", "/v1/organizations", "").Status)
	require.Equal(t, http.StatusOK, b.c.do("GET", "/v1/organizations/myorg?_password=hunter2-in-the-query", "").Status)

	secrets := []string{b.srv.Token, tok.Token, "wrong-secret-token-0123456789", "hunter2-in-the-query"}
	for _, uri := range []string{uploadURI, dl.DownloadURI} {
		_, signed, ok := strings.Cut(uri, "/archives/")
		require.True(t, ok, uri)
		secrets = append(secrets, signed)
		// The signature alone, too, should the token ever be split.
		if _, sig, ok := strings.Cut(signed, "."); ok {
			secrets = append(secrets, sig)
		}
	}
	lines := logLines(t, log)
	var archiveLines int
	for _, l := range lines {
		if l["msg"] == "request" && l["route"] == "/archives/{token}" {
			archiveLines++
			require.Equal(t, "/archives/REDACTED", l["path"])
		}
	}
	require.Equal(t, 3, archiveLines, "an upload, a download and a refused upload")
	for _, s := range secrets {
		require.NotContains(t, log.String(), s, "the log holds a credential")
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	apigee "google.golang.org/api/apigee/v1"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// clientRequest is one request exactly as an Apigee client sends it: the
// method, the path and query, the Content-Type and the body bytes, built
// the way the client's own code builds them.
type clientRequest struct {
	command     string
	method      string
	path        string // with the query, as the client encodes it
	contentType string
	body        []byte
	check       func(t *testing.T, r *response)
}

// apigeecliParts builds a multipart body as apigeecli's PostHttpOctet does:
// CreateFormFile with the file's absolute path, less its extension, as the
// file name (the part then says application/octet-stream).
func apigeecliParts(t *testing.T, parts ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		fw, err := w.CreateFormFile(p[0], "/home/user/certs/"+p[0])
		require.NoError(t, err)
		_, err = fw.Write([]byte(p[1]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

// terraformParts builds a multipart body as the google provider's
// key_cert_file resource does: CreateFormField, no file name and no part
// content type, keyFile then password then certFile.
func terraformParts(t *testing.T, parts ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+p[0]+`"`)
		fw, err := w.CreatePart(h)
		require.NoError(t, err)
		_, err = fw.Write([]byte(p[1]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return "multipart/form-data; boundary=" + w.Boundary(), buf.Bytes()
}

func wantOK(t *testing.T, r *response) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
}

func wantJSON(want string) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		wantOK(t, r)
		require.JSONEq(t, want, string(r.Body))
	}
}

func wantAlias(name, sigAlg string) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		wantOK(t, r)
		a := decode[api.Alias](t, r.Body)
		require.Equal(t, name, a.Alias)
		require.Equal(t, "KEY_CERT", a.Type)
		require.Equal(t, sigAlg, a.CertsInfo.CertInfo[0].SigAlgName)
		require.Equal(t, "Yes", a.CertsInfo.CertInfo[0].IsValid)
	}
}

func wantDoneOperation(t *testing.T, r *response) {
	t.Helper()
	wantOK(t, r)
	op := decode[api.Operation](t, r.Body)
	require.True(t, op.Done, string(r.Body))
	require.Nil(t, op.Error)
}

// TestClients_ReplayApigeecliAndTerraformRequests sends, byte for byte,
// the requests apigeecli and Terraform's google provider send for the mTLS
// workflow, and checks what each client needs back.
func TestClients_ReplayApigeecliAndTerraformRequests(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	env := "/v1/organizations/myorg/environments/dev"

	ca := testcerts.New(t, testcerts.Options{CommonName: "Client CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "client.example.com", Parent: ca, RSA: true})
	const p12Password = "p12-secret-in-the-query"
	const wrongPassword = "wrong-p12-secret-in-the-query"
	pfx, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Cert}, p12Password)
	require.NoError(t, err)
	kcType, kcBody := apigeecliParts(t, [2]string{"certFile", string(leaf.CertPEM())}, [2]string{"keyFile", string(leaf.KeyPEM(t))})
	p12Type, p12Body := apigeecliParts(t, [2]string{"file", string(pfx)})
	tfType, tfBody := terraformParts(t, [2]string{"keyFile", string(leaf.KeyPEM(t))}, [2]string{"certFile", string(leaf.CertPEM())})
	tfP12Type, tfP12Body := terraformParts(t, [2]string{"password", p12Password}, [2]string{"file", string(pfx)})

	const js = "application/json"
	steps := []clientRequest{
		// apigeecli environments create --deptype ARCHIVE --fwdproxyuri ... --envtype BASE
		{"apigeecli environments create", "POST", "/v1/organizations/myorg/environments", js,
			[]byte(`{"name":"dev","deployment_type":"ARCHIVE","forwardProxyUri":"http://proxy.internal:3128","type":"BASE"}`), wantDoneOperation},
		{"apigeecli environments get", "GET", env, js, nil, func(t *testing.T, r *response) {
			wantOK(t, r)
			e := decode[map[string]any](t, r.Body)
			require.Equal(t, "ARCHIVE", e["deploymentType"])
			require.Equal(t, "BASE", e["type"])
			require.Equal(t, "http://proxy.internal:3128", e["forwardProxyUri"])
		}},
		{"apigeecli environments create --envtype CONFIGURABLE", "POST", "/v1/organizations/myorg/environments", js,
			[]byte(`{"name":"bad","type":"CONFIGURABLE"}`), func(t *testing.T, r *response) {
				require.Equal(t, 400, r.Status)
				require.Equal(t, `Invalid value at 'environment.type' (TYPE_ENUM), "CONFIGURABLE": expected one of ENVIRONMENT_TYPE_UNSPECIFIED, BASE, INTERMEDIATE, COMPREHENSIVE`, r.errorBody(t).Message)
			}},
		{"apigeecli environments list", "GET", "/v1/organizations/myorg/environments", js, nil, wantJSON(`["dev"]`)},
		{"apigeecli keystores create", "POST", env + "/keystores", js, []byte(`{"name":"ks"}`), wantJSON(`{"name":"ks","aliases":[]}`)},
		{"apigeecli keystores import (name query, no body)", "POST", env + "/keystores?name=ks2", js, nil, wantJSON(`{"name":"ks2","aliases":[]}`)},
		{"apigeecli keystores list", "GET", env + "/keystores", js, nil, wantJSON(`["ks","ks2"]`)},
		{"apigeecli keyaliases create -f keycertfile", "POST", env + "/keystores/ks/aliases?alias=kc&format=keycertfile", kcType, kcBody, wantAlias("kc", "ECDSA-SHA256")},
		{"apigeecli keyaliases create -f pkcs12 -p", "POST", env + "/keystores/ks/aliases?alias=p12&format=pkcs12&password=" + p12Password, p12Type, p12Body, wantAlias("p12", "ECDSA-SHA256")},
		{"apigeecli keyaliases create -f selfsignedcert", "POST", env + "/keystores/ks/aliases?alias=ss&format=selfsignedcert", js,
			[]byte(`{"subject":{"commonName":"ss.example.com"},"keySize":"2048","sigAlg":"SHA256withRSA","subjectAlternativeDNSNames":["ss.example.com","alt.example.com"],"certValidityInDays":"365"}`),
			func(t *testing.T, r *response) {
				wantAlias("ss", "SHA256-RSA")(t, r)
				info := decode[api.Alias](t, r.Body).CertsInfo.CertInfo[0]
				require.Equal(t, []string{"ss.example.com", "alt.example.com"}, info.SubjectAlternativeNames)
				require.Equal(t, "RSA Public Key, 2048 bits", info.PublicKey)
				require.InDelta(t, 365*24*3600*1000, info.ExpiryDate-info.ValidFrom, 0)
			}},
		{"self-signed body with a field the request does not have", "POST", env + "/keystores/ks/aliases?alias=bad&format=selfsignedcert", js,
			[]byte(`{"subject":{"commonName":"x"},"validityDays":30}`), func(t *testing.T, r *response) {
				require.Equal(t, 400, r.Status)
				require.Equal(t, `Invalid JSON payload received. Unknown name "validityDays" at 'certificate_generation_spec': Cannot find field.`, r.errorBody(t).Message)
			}},
		{"apigeecli keyaliases create -f pkcs12 with a wrong password", "POST", env + "/keystores/ks/aliases?alias=p12wrong&format=pkcs12&password=" + wrongPassword, p12Type, p12Body,
			func(t *testing.T, r *response) {
				require.Equal(t, 400, r.Status)
				require.NotContains(t, string(r.Body), wrongPassword)
				require.NotContains(t, string(r.Body), p12Password)
			}},
		{"apigeecli keyaliases list", "GET", env + "/keystores/ks/aliases", js, nil, wantJSON(`["kc","p12","ss"]`)},
		{"apigeecli keyaliases get", "GET", env + "/keystores/ks/aliases/ss", js, nil, wantAlias("ss", "SHA256-RSA")},
		{"apigeecli keyaliases getcert", "GET", env + "/keystores/ks/aliases/kc/certificate", js, nil, func(t *testing.T, r *response) {
			wantOK(t, r)
			require.Equal(t, string(leaf.CertPEM()), strings.TrimSpace(string(r.Body))+"\n")
		}},
		{"apigeecli keyaliases csr", "GET", env + "/keystores/ks/aliases/kc/csr", js, nil, func(t *testing.T, r *response) {
			wantOK(t, r)
			block, _ := pem.Decode(r.Body)
			require.NotNil(t, block)
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			require.NoError(t, err)
			require.NoError(t, csr.CheckSignature())
		}},
		{"apigeecli references create", "POST", env + "/references", js, []byte(`{"name":"ref","resourceType":"KeyStore","refers":"ks"}`),
			wantJSON(`{"name":"ref","resourceType":"KeyStore","refers":"ks"}`)},
		{"apigeecli targetservers create", "POST", env + "/targetservers", js,
			[]byte(`{"name":"ts","host":"backend.example.com","port":443,"isEnabled":true,"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://ref","keyAlias":"kc","trustStore":"ks"}}`),
			func(t *testing.T, r *response) {
				wantOK(t, r)
				require.Equal(t, "ref://ref", decode[api.TargetServer](t, r.Body).SSLInfo.KeyStore)
			}},
		{"apigeecli archives create (upload URL)", "POST", env + "/archiveDeployments:generateUploadUrl", js, nil, func(t *testing.T, r *response) {
			wantOK(t, r)
			require.NotEmpty(t, decode[api.GenerateUploadURLResponse](t, r.Body).UploadURI)
		}},
		{"archives list with a filter keyplane does not evaluate", "GET", env + "/archiveDeployments?filter=gcsUri%3D%22x%22", js, nil, func(t *testing.T, r *response) {
			require.Equal(t, 400, r.Status)
			require.Equal(t, `filter "gcsUri=\"x\"": "gcsUri" is not supported: the fields this list filters on are labels.`, r.errorBody(t).Message)
		}},

		// Terraform's google provider.
		{"terraform google_apigee_environment", "POST", "/v1/organizations/myorg/environments", js,
			[]byte(`{"apiProxyType":"PROGRAMMABLE","deploymentType":"PROXY","description":"made by terraform","displayName":"TF env","name":"tfenv","properties":{"property":[{"name":"k","value":"v"}]},"type":"COMPREHENSIVE"}`), wantDoneOperation},
		{"terraform google_apigee_environment read", "GET", "/v1/organizations/myorg/environments/tfenv", js, nil, func(t *testing.T, r *response) {
			wantOK(t, r)
			e := decode[map[string]any](t, r.Body)
			require.Equal(t, "TF env", e["displayName"])
			require.Equal(t, "COMPREHENSIVE", e["type"])
			require.Equal(t, map[string]any{"property": []any{map[string]any{"name": "k", "value": "v"}}}, e["properties"])
		}},
		{"terraform google_apigee_env_keystore", "POST", "/v1/organizations/myorg/environments/tfenv/keystores", js, []byte(`{"name":"tfks"}`), wantOK},
		{"terraform google_apigee_keystores_aliases_key_cert_file", "POST",
			"/v1/organizations/myorg/environments/tfenv/keystores/tfks/aliases?format=keycertfile&alias=tfkc&ignoreExpiryValidation=true", tfType, tfBody,
			wantAlias("tfkc", "ECDSA-SHA256")},
		{"terraform google_apigee_keystores_aliases_pkcs12", "POST",
			"/v1/organizations/myorg/environments/tfenv/keystores/tfks/aliases?format=pkcs12&alias=tfp12&ignoreExpiryValidation=true", tfP12Type, tfP12Body,
			wantAlias("tfp12", "ECDSA-SHA256")},
		{"terraform google_apigee_keystores_aliases_self_signed_cert", "POST",
			"/v1/organizations/myorg/environments/tfenv/keystores/tfks/aliases?alias=tfss&format=selfsignedcert", js,
			[]byte(`{"alias":"tfss","certValidityInDays":30,"keySize":"2048","sigAlg":"SHA256withRSA","subject":{"commonName":"tf.example.com"},"subjectAlternativeDnsNames":{"subjectAlternativeName":"tf.example.com"}}`),
			func(t *testing.T, r *response) {
				wantAlias("tfss", "SHA256-RSA")(t, r)
				require.Equal(t, []string{"tf.example.com"}, decode[api.Alias](t, r.Body).CertsInfo.CertInfo[0].SubjectAlternativeNames)
			}},
		{"terraform google_apigee_keystores_aliases_self_signed_cert read", "GET",
			"/v1/organizations/myorg/environments/tfenv/keystores/tfks/aliases/tfss", js, nil, wantAlias("tfss", "SHA256-RSA")},
		{"terraform google_apigee_env_references", "POST", "/v1/organizations/myorg/environments/tfenv/references/", js,
			[]byte(`{"name":"tfref","refers":"tfks","resourceType":"KeyStore"}`), wantJSON(`{"name":"tfref","resourceType":"KeyStore","refers":"tfks"}`)},
		{"terraform google_apigee_env_references read", "GET", "/v1/organizations/myorg/environments/tfenv/references/tfref/", js, nil,
			wantJSON(`{"name":"tfref","resourceType":"KeyStore","refers":"tfks"}`)},
		{"terraform google_apigee_target_server", "POST", "/v1/organizations/myorg/environments/tfenv/targetservers", js,
			[]byte(`{"description":"tf","host":"backend.example.com","isEnabled":true,"name":"tfts","port":"8443","protocol":"HTTP","sSLInfo":{"clientAuthEnabled":true,"enabled":true,"ignoreValidationErrors":false,"keyAlias":"tfkc","keyStore":"tfks","protocols":["TLSv1.2"],"trustStore":"tfks"}}`),
			func(t *testing.T, r *response) {
				wantOK(t, r)
				require.Equal(t, int64(8443), decode[api.TargetServer](t, r.Body).Port)
			}},
	}
	for _, s := range steps {
		var body []byte
		if s.body != nil {
			body = s.body
		}
		r := b.c.send(s.method, s.path, s.contentType, body)
		t.Run(s.command, func(t *testing.T) { s.check(t, r) })
	}

	// The pkcs12 passwords sent as apigeecli sends them, in the query, right
	// and wrong, are in no log line and no audit row.
	audit := b.c.ok("GET", "/v1/organizations/myorg/auditLogs", "")
	stored := everyRow(t, b)
	require.Contains(t, stored, "keystores/ks/aliases/p12", "the audit rows are among the rows searched")
	for _, secret := range []string{p12Password, wrongPassword} {
		require.NotContains(t, log.String(), secret)
		require.NotContains(t, string(audit), secret)
		require.NotContains(t, stored, secret)
	}
	require.Contains(t, string(audit), "keystores/ks/aliases/p12")
}

// everyRow is every row of every table of the server's database as text,
// for tests that check a secret is stored nowhere.
func everyRow(t *testing.T, b *testBundle) string {
	t.Helper()
	conn := b.sql(t)
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	var all strings.Builder
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+table+` t`)
		require.NoError(t, err)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, table)
		for _, text := range texts {
			all.WriteString(text)
			all.WriteByte('\n')
		}
	}
	return all.String()
}

// TestClients_TerraformOrganizationCreateAnswersAnOperation is
// google_apigee_organization: POST with parent and no name, then a wait on
// the Operation it gets back.
func TestClients_TerraformOrganizationCreateAnswersAnOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.c.do("POST", "/v1/organizations?parent=projects%2Ftf-project",
		`{"analyticsRegion":"us-central1","authorizedNetwork":"default","runtimeType":"CLOUD","properties":{"property":[{"name":"features.hybrid.enabled","value":"true"}]}}`)
	wantOK(t, r)
	op := decode[api.Operation](t, r.Body)
	require.True(t, op.Done)
	require.Equal(t, "INSERT", op.Metadata.OperationType)
	require.Equal(t, "organizations/tf-project", op.Metadata.TargetResourceName)
	var org map[string]any
	require.NoError(t, json.Unmarshal(op.Response, &org))
	require.Equal(t, api.OrganizationType, org["@type"])
	require.Equal(t, "tf-project", org["name"])
	require.Equal(t, "us-central1", org["analyticsRegion"])

	waited := decode[api.Operation](t, b.c.ok("GET", "/v1/"+op.Name, ""))
	require.True(t, waited.Done)
	require.JSONEq(t, string(op.Response), string(waited.Response))
	got := decode[map[string]any](t, b.c.ok("GET", "/v1/organizations/tf-project", ""))
	require.Equal(t, "CLOUD", got["runtimeType"])

	// A body name still wins, and a parent that is not a project is named.
	b.c.ok("POST", "/v1/organizations?parent=projects/p2", `{"name":"named"}`)
	b.c.ok("GET", "/v1/organizations/named", "")
	b.c.fails("POST", "/v1/organizations?parent=folders/1", `{}`, 400, "INVALID_ARGUMENT", `parent "folders/1" is invalid: use projects/{project}`)
}

// TestClients_GoClientCreatesOrganizationThroughOperations drives
// organization create with the official Go client, which waits on the
// Operation with Operations.Get.
func TestClients_GoClientCreatesOrganizationThroughOperations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := officialClient(t, b)
	ctx := context.Background()
	op, err := svc.Organizations.Create(&apigee.GoogleCloudApigeeV1Organization{
		AnalyticsRegion: "europe-west1", RuntimeType: "CLOUD", DisplayName: "Go org",
	}).Parent("projects/go-project").Context(ctx).Do()
	require.NoError(t, err)
	for !op.Done {
		op, err = svc.Organizations.Operations.Get(op.Name).Context(ctx).Do()
		require.NoError(t, err)
	}
	require.Nil(t, op.Error)
	op, err = svc.Organizations.Operations.Get(op.Name).Context(ctx).Do()
	require.NoError(t, err)
	var org apigee.GoogleCloudApigeeV1Organization
	require.NoError(t, json.Unmarshal(op.Response, &org))
	require.Equal(t, "go-project", org.Name)
	require.Equal(t, "Go org", org.DisplayName)

	got, err := svc.Organizations.Get("organizations/go-project").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "europe-west1", got.AnalyticsRegion)
}

// TestClients_ErrorsAnswerAsGoogleDoes covers what every client sees of a
// failure: details with the request id, and a method a path does not have.
func TestClients_ErrorsAnswerAsGoogleDoes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.c.sendWith("GET", "/v1/organizations/nope", "", nil, http.Header{"X-Request-Id": {"req-1234567890"}})
	require.Equal(t, 404, r.Status)
	require.JSONEq(t, `{"error":{"code":404,"message":"organization \"nope\" not found","status":"NOT_FOUND",
		"details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","requestId":"req-1234567890"}]}}`, string(r.Body))

	b.c.ok("POST", "/v1/organizations/", `{"name":"myorg"}`)
	r = b.c.do("PATCH", "/v1/organizations/myorg/", "{}")
	require.Equal(t, 404, r.Status)
	e := r.errorBody(t)
	require.Equal(t, "NOT_FOUND", e.Status)
	require.Equal(t, "Method not found.", e.Message)
	require.Len(t, e.Details, 1)
}

// TestLists_FilterArchiveDeploymentsAndOperations filters the two lists
// whose Apigee methods take an AIP-160 filter, across pages, and refuses
// what keyplane does not evaluate.
func TestLists_FilterArchiveDeploymentsAndOperations(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "CONFIGURABLE")
	var ops []api.Operation
	for _, team := range []string{"a", "b", "a"} {
		uri := b.upload(t, mtlsArchive(t, `{"enabled":false}`))
		op := decode[api.Operation](t, b.c.ok("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+uri+`","labels":{"team":"`+team+`","stage":"blue"}}`))
		ops = append(ops, b.wait(t, op.Name))
	}
	names := func(path string) []string {
		t.Helper()
		var out []string
		for token := ""; ; {
			page := decode[api.ListArchiveDeploymentsResponse](t, b.c.ok("GET", path+"&pageSize=1&pageToken="+token, ""))
			for _, d := range page.ArchiveDeployments {
				out = append(out, d.Name)
			}
			if token = page.NextPageToken; token == "" {
				return out
			}
		}
	}
	list := envPath + "/archiveDeployments?filter="
	require.Equal(t, []string{ops[2].Metadata.TargetResourceName, ops[0].Metadata.TargetResourceName},
		names(list+url.QueryEscape(`labels.team = "a"`)))
	require.Equal(t, []string{ops[1].Metadata.TargetResourceName},
		names(list+url.QueryEscape(`labels.team = b AND labels.stage = "blue"`)))
	require.Empty(t, names(list+url.QueryEscape(`labels.team = a AND labels.team = b`)))
	require.Empty(t, names(list+url.QueryEscape(`labels.stage = "green"`)))

	opList := func(filter string) []string {
		t.Helper()
		page := decode[api.ListOperationsResponse](t, b.c.ok("GET", "/v1/organizations/myorg/operations?filter="+url.QueryEscape(filter), ""))
		var out []string
		for _, op := range page.Operations {
			out = append(out, op.Name)
		}
		return out
	}
	require.Equal(t, []string{ops[1].Name}, opList(`metadata.targetResourceName = "`+ops[1].Metadata.TargetResourceName+`"`))
	require.Len(t, opList(`done = true AND metadata.state = FINISHED AND metadata.operationType = "INSERT"`), 4) // and the environment's
	require.Empty(t, opList(`done = false`))

	b.c.fails("GET", "/v1/organizations/myorg/operations?filter="+url.QueryEscape("done = true OR done = false"), "", 400, "INVALID_ARGUMENT",
		`filter "done = true OR done = false": "OR" is not supported: only comparisons joined by AND are supported`)
	b.c.fails("GET", "/v1/organizations/myorg/operations?filter="+url.QueryEscape("done = maybe"), "", 400, "INVALID_ARGUMENT",
		`filter "done = maybe" is invalid: "done" is true or false, not "maybe"`)
}

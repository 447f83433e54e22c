package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apigee "google.golang.org/api/apigee/v1"

	"github.com/keyplane/keyplane/internal/testzip"
)

// exampleBundle zips the bundle that examples/ ships, its TargetEndpoint
// pointed at proxySetup's TLS material (the references mtls-keystore-ref
// and mtls-truststore-ref, key alias my_alias), then with each old string
// replaced by its new one.
func exampleBundle(t *testing.T, oldNew ...string) []byte {
	t.Helper()
	files := testzip.Tree(t, "../../examples/mtls-programmable-proxy")
	const target = "apiproxy/targets/default.xml"
	require.Contains(t, files, target)
	files[target] = strings.NewReplacer(
		"ref://gateway-keystore-ref", "ref://mtls-keystore-ref",
		"<KeyAlias>gateway</KeyAlias>", "<KeyAlias>my_alias</KeyAlias>",
		"ref://backend-truststore-ref", "ref://mtls-truststore-ref").Replace(files[target])
	files[target] = strings.NewReplacer(oldNew...).Replace(files[target])
	return testzip.Files(t, files)
}

// missingKeystoreMessage is the error of a deployment of revision rev of
// mtls-proxy whose TargetEndpoint names keystore does-not-exist.
func missingKeystoreMessage(rev string) string {
	alias := `alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\"`
	return `generic::invalid_argument: proxy "organizations/myorg/apis/mtls-proxy/revisions/` + rev +
		`" contains invalid TLS settings in target endpoint "default": missing required private key for "` + alias +
		`"; missing required certificate(s) for "` + alias + `"`
}

// TestApigeeGoClient_ApiProxiesImportDeployGetDeployments drives the
// bundle workflow with google.golang.org/api/apigee/v1: Apis.Create sends
// the bundle as a google.api.HttpBody in JSON, Revisions.Deploy answers
// the deployment, and Revisions.GetDeployments follows it to READY or
// ERROR.
func TestApigeeGoClient_ApiProxiesImportDeployGetDeployments(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	svc := officialClient(t, b)
	ctx := context.Background()
	revisions := svc.Organizations.Environments.Apis.Revisions

	importBundle := func(zip []byte) *apigee.GoogleCloudApigeeV1ApiProxyRevision {
		rev, err := svc.Organizations.Apis.Create("organizations/myorg", &apigee.GoogleApiHttpBody{
			ContentType: "application/octet-stream", Data: base64.StdEncoding.EncodeToString(zip),
		}).Name("mtls-proxy").Action("import").Context(ctx).Do()
		require.NoError(t, err)
		return rev
	}
	deploy := func(rev string, override bool) *apigee.GoogleCloudApigeeV1Deployment {
		name := "organizations/myorg/environments/dev/apis/mtls-proxy/revisions/" + rev
		d, err := revisions.Deploy(name).Override(override).Context(ctx).Do()
		require.NoError(t, err)
		require.Equal(t, "mtls-proxy", d.ApiProxy)
		require.Equal(t, rev, d.Revision)
		require.Equal(t, "dev", d.Environment)
		for d.State == "PROGRESSING" {
			time.Sleep(20 * time.Millisecond)
			d, err = revisions.GetDeployments(name).Context(ctx).Do()
			require.NoError(t, err)
		}
		return d
	}

	first := importBundle(exampleBundle(t))
	require.Equal(t, "1", first.Revision)
	require.Equal(t, []string{"/mtls-proxy"}, first.Basepaths)
	require.Equal(t, []string{"default"}, first.TargetEndpoints)
	d := deploy("1", false)
	require.Equal(t, "READY", d.State)
	require.Empty(t, d.Errors)
	require.NotZero(t, d.DeployStartTime)

	bad := importBundle(exampleBundle(t, "ref://mtls-keystore-ref", "does-not-exist"))
	require.Equal(t, "2", bad.Revision)
	d = deploy("2", true)
	require.Equal(t, "ERROR", d.State)
	require.Len(t, d.Errors, 1)
	require.Equal(t, int64(3), d.Errors[0].Code)
	require.Equal(t, missingKeystoreMessage("2"), d.Errors[0].Message)

	proxy, err := svc.Organizations.Apis.Get("organizations/myorg/apis/mtls-proxy").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, []string{"1", "2"}, proxy.Revision)
	require.Equal(t, "2", proxy.LatestRevisionId)
	list, err := svc.Organizations.Environments.Deployments.List("organizations/myorg/environments/dev").Context(ctx).Do()
	require.NoError(t, err)
	require.NotEmpty(t, list.Deployments)
	for _, d := range list.Deployments {
		require.Equal(t, "mtls-proxy", d.ApiProxy)
	}
}

// apigeecliBundle builds the body of apigeecli's PostHttpOctet for a
// proxy bundle: one part "proxy", named by the zip's absolute path less
// its .zip, which CreateFormFile marks application/octet-stream.
func apigeecliBundle(t *testing.T, zip []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("proxy", "/home/user/build/mtls-proxy")
	require.NoError(t, err)
	_, err = fw.Write(zip)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

// pollLikeApigeecli replays the loop of apigeecli's apis.Wait: GET the
// revision's deployment in the environment (with the Content-Type its
// HttpClient always sets, and no body) until its state is no longer
// PROGRESSING, and returns the last answer. apigeecli waits 10 seconds
// between two looks; the replay does not need to.
func pollLikeApigeecli(t *testing.T, b *testBundle, path string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := b.c.send("GET", path, "application/json", nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var state map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &state), string(r.Body))
		if state["state"] != "PROGRESSING" || time.Now().After(deadline) {
			return state
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClients_ReplayApigeecliCreateBundleWait sends, byte for byte, what
// `apigeecli apis create bundle -n mtls-proxy -p mtls-proxy.zip -e dev
// --wait` sends (and with --ovr for a second revision), what `apigeecli
// apis deploy --ovr --wait` sends for a third, then what Terraform's
// google_apigee_api and google_apigee_api_deployment send, and checks what
// each client reads back.
func TestClients_ReplayApigeecliCreateBundleWait(t *testing.T) {
	t.Parallel()
	b := proxySetup(t)
	const js = "application/json"
	deployments := proxyEnvPath + "/apis/mtls-proxy/revisions/"

	// 1. ImportBundle: POST .../apis?action=import&name=... (url.Values
	// encodes the keys in order) with the multipart body.
	ct, body := apigeecliBundle(t, exampleBundle(t))
	r := b.c.send("POST", "/v1/organizations/myorg/apis?action=import&name=mtls-proxy", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	// GetRevision reads "revision" with fmt.Sprintf("%v") and strconv.Atoi.
	rev := decode[map[string]any](t, r.Body)
	require.Equal(t, "1", rev["revision"])
	require.Equal(t, "mtls-proxy", rev["name"])

	// 2. DeployProxy: POST with sequencedRollout=false always, no body and
	// the JSON Content-Type of HttpClient.
	r = b.c.send("POST", deployments+"1/deployments?sequencedRollout=false", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	started := decode[map[string]any](t, r.Body)
	require.Equal(t, "mtls-proxy", started["apiProxy"])
	require.Equal(t, "1", started["revision"])

	// 3. Wait: GET .../revisions/1/deployments until the state is READY.
	require.Equal(t, "READY", pollLikeApigeecli(t, b, deployments+"1/deployments")["state"])

	// The same with --ovr for a revision whose keystore does not exist:
	// override=true comes first in the encoded query, and the wait ends on
	// ERROR, which apigeecli reports as "proxy deployment failed with
	// status: ERROR".
	ct, body = apigeecliBundle(t, exampleBundle(t, "ref://mtls-keystore-ref", "does-not-exist"))
	r = b.c.send("POST", "/v1/organizations/myorg/apis?action=import&name=mtls-proxy", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "2", decode[map[string]any](t, r.Body)["revision"])
	r = b.c.send("POST", deployments+"2/deployments?override=true&sequencedRollout=false", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	failed := pollLikeApigeecli(t, b, deployments+"2/deployments")
	require.Equal(t, "ERROR", failed["state"])
	require.Equal(t, []any{map[string]any{"code": float64(3), "message": missingKeystoreMessage("2")}}, failed["errors"])

	// apigeecli apis deploy -n mtls-proxy -e dev --ovr --wait, after a
	// good revision 3 is imported: without --rev it reads the proxy for its
	// highest revision; --safedeploy is on by default there, so it asks for
	// the deploy change report (override=true with --ovr, no body) and
	// stops on any validation error (under "violation") or routing
	// conflict; then it deploys and waits as above.
	ct, body = apigeecliBundle(t, exampleBundle(t))
	r = b.c.send("POST", "/v1/organizations/myorg/apis?action=import&name=mtls-proxy", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = b.c.send("GET", "/v1/organizations/myorg/apis/mtls-proxy", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, []any{"1", "2", "3"}, decode[map[string]any](t, r.Body)["revision"])
	r = b.c.send("POST", deployments+"3/deployments:generateDeployChangeReport?override=true", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var report struct {
		ValidationErrors struct {
			Violation []any `json:"violation"`
		} `json:"validationErrors"`
		RoutingConflicts []any `json:"routingConflicts"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &report), string(r.Body))
	require.Empty(t, report.ValidationErrors.Violation, string(r.Body))
	require.Empty(t, report.RoutingConflicts, string(r.Body))
	r = b.c.send("POST", deployments+"3/deployments?override=true&sequencedRollout=false", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "READY", pollLikeApigeecli(t, b, deployments+"3/deployments")["state"])

	// Terraform's google_apigee_api: the raw zip with the octet-stream
	// Content-Type, the query in the resource's own order, then a read of
	// the proxy.
	r = b.c.send("POST", "/v1/organizations/myorg/apis?name=tf-proxy&action=import", "application/octet-stream", exampleBundle(t))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "1", decode[map[string]any](t, r.Body)["revision"])
	proxy := decode[map[string]any](t, b.c.ok("GET", "/v1/organizations/myorg/apis/tf-proxy", ""))
	require.Equal(t, "tf-proxy", proxy["name"])
	require.Equal(t, []any{"1"}, proxy["revision"])
	require.Equal(t, "1", proxy["latestRevisionId"])
	meta, _ := proxy["metaData"].(map[string]any)
	require.NotEmpty(t, meta["createdAt"])
	require.NotEmpty(t, meta["lastModifiedAt"])

	// google_apigee_api_deployment: override=true and an empty
	// serviceAccount, no body; its read is the same GET.
	tf := proxyEnvPath + "/apis/tf-proxy/revisions/1/deployments"
	r = b.c.send("POST", tf+"?override=true&serviceAccount=", js, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "READY", pollLikeApigeecli(t, b, tf)["state"])
}

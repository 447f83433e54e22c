package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
)

// logLine is one JSON line of the server's log.
type logLine map[string]any

// logLines parses the server's log, every line of which must be JSON.
func logLines(t *testing.T, log *servertest.LogBuffer) []logLine {
	t.Helper()
	var out []logLine
	for _, s := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var l logLine
		require.NoError(t, json.Unmarshal([]byte(s), &l), "log line is not JSON: %s", s)
		out = append(out, l)
	}
	return out
}

// waitLine waits for the one log line with message msg whose fields
// include want, and returns it.
func waitLine(t *testing.T, log *servertest.LogBuffer, msg string, want logLine) logLine {
	t.Helper()
	var found []logLine
	require.Eventually(t, func() bool {
		found = found[:0]
		for _, l := range logLines(t, log) {
			if l["msg"] != msg {
				continue
			}
			match := true
			for k, v := range want {
				if l[k] != v {
					match = false
				}
			}
			if match {
				found = append(found, l)
			}
		}
		return len(found) > 0
	}, 5*time.Second, 10*time.Millisecond, "no %q line with %v in:\n%s", msg, want, log)
	require.Len(t, found, 1, "several %q lines with %v", msg, want)
	return found[0]
}

func TestLogs_OneJSONLinePerRequest(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)

	r := b.c.sendWith("GET", "/v1/organizations/myorg", "", nil, http.Header{"X-Request-Id": {"client-id_1.2:3@x/y+z=~"}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "client-id_1.2:3@x/y+z=~", r.Header.Get("X-Request-Id"), "a sane caller id is echoed")
	line := waitLine(t, log, "request", logLine{"request_id": "client-id_1.2:3@x/y+z=~"})
	require.Equal(t, "INFO", line["level"])
	require.Equal(t, "GET", line["method"])
	require.Equal(t, "/v1/organizations/{org}", line["route"])
	require.Equal(t, "/v1/organizations/myorg", line["path"])
	require.Equal(t, 200.0, line["status"])
	require.Equal(t, "myorg", line["org"])
	require.Equal(t, "bootstrap", line["token_id"], "the administrator's bootstrap token")
	require.Equal(t, float64(len(r.Body)), line["bytes"])
	require.IsType(t, 0.0, line["duration_ms"])
	require.GreaterOrEqual(t, line["duration_ms"].(float64), 0.0)
	_, err := time.Parse(time.RFC3339Nano, line["time"].(string))
	require.NoError(t, err)

	// A token of the organization is named by its id, never by its secret.
	tok := decode[api.Token](t, b.c.ok("POST", "/v1/organizations/myorg/tokens", `{"role":"viewer"}`))
	viewer := &client{t: t, base: b.srv.URL, token: tok.Token}
	r = viewer.sendWith("GET", "/v1/organizations/myorg/environments/nope", "", nil, http.Header{"X-Request-Id": {"as-viewer"}})
	require.Equal(t, http.StatusNotFound, r.Status)
	line = waitLine(t, log, "request", logLine{"request_id": "as-viewer"})
	require.Equal(t, "organizations/myorg/tokens/"+line["token_id"].(string), tok.Name)
	require.Equal(t, 404.0, line["status"])
	require.Equal(t, "/v1/organizations/{org}/environments/{env}", line["route"])
	require.NotContains(t, log.String(), tok.Token)
	require.NotContains(t, log.String(), b.srv.Token)

	// Without a token, or outside any route, there is still a line.
	anonymous := &client{t: t, base: b.srv.URL}
	r = anonymous.sendWith("GET", "/v1/organizations", "", nil, http.Header{"X-Request-Id": {"anon"}})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	line = waitLine(t, log, "request", logLine{"request_id": "anon"})
	require.Equal(t, "", line["token_id"])
	require.Equal(t, 401.0, line["status"])
	r = b.c.sendWith("GET", "/nowhere", "", nil, http.Header{"X-Request-Id": {"lost"}})
	require.Equal(t, http.StatusNotFound, r.Status)
	line = waitLine(t, log, "request", logLine{"request_id": "lost"})
	require.Equal(t, "unmatched", line["route"])
	require.Equal(t, "/nowhere", line["path"])
}

func TestLogs_HostileRequestIDsAreReplaced(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)

	// Go's client refuses to send a line break in a header, and the server
	// refuses to read one; what it lets through is checked here.
	for _, id := range []string{
		strings.Repeat("a", 10<<10),
		strings.Repeat("b", 129),
		`x" , "level":"ERROR`,
		"with space",
		"with\ttab",
		"unicod\u00e9",
		"<script>",
		"a;b",
	} {
		r := b.c.sendWith("GET", "/v1/organizations", "", nil, http.Header{"X-Request-Id": {id}})
		require.Equal(t, http.StatusOK, r.Status)
		got := r.Header.Get("X-Request-Id")
		require.Regexp(t, generated, got, "hostile id %.40q is replaced by a generated one", id)
		waitLine(t, log, "request", logLine{"request_id": got})
		require.NotContains(t, log.String(), id, "hostile id %.40q reached the log", id)
	}
	// Without an id, one is generated; each request gets its own.
	first := b.c.do("GET", "/healthz", "").Header.Get("X-Request-Id")
	second := b.c.do("GET", "/healthz", "").Header.Get("X-Request-Id")
	require.Regexp(t, generated, first)
	require.NotEqual(t, first, second)
	// The longest sane id is kept.
	longest := strings.Repeat("c", 128)
	require.Equal(t, longest, b.c.sendWith("GET", "/healthz", "", nil, http.Header{"X-Request-Id": {longest}}).Header.Get("X-Request-Id"))
}

func TestLogs_OperationsCarryTheRequestIDOfTheirCreation(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)

	r := b.c.sendWith("POST", "/v1/organizations/myorg/environments", "application/json",
		[]byte(`{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"CONFIGURABLE"}`), http.Header{"X-Request-Id": {"env-create-1"}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	envOp := decode[api.Operation](t, r.Body)
	line := waitLine(t, log, "operation finished", logLine{"operation": envOp.Name})
	require.Equal(t, "env-create-1", line["request_id"])
	require.Equal(t, "environment_create", line["type"])
	require.Equal(t, "succeeded", line["outcome"])
	require.IsType(t, 0.0, line["duration_ms"])

	for _, c := range []struct{ requestID, ssl, outcome, level string }{
		{"deploy-good", `{"enabled":false}`, "succeeded", "INFO"},
		{"deploy-bad", `{"enabled":true,"clientAuthEnabled":true,"keyStore":"does-not-exist","keyAlias":"my_alias"}`, "failed", "INFO"},
	} {
		uri := b.upload(t, mtlsArchive(t, c.ssl))
		r := b.c.sendWith("POST", envPath+"/archiveDeployments", "application/json",
			[]byte(`{"gcsUri":"`+uri+`"}`), http.Header{"X-Request-Id": {c.requestID}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		op := b.wait(t, decode[api.Operation](t, r.Body).Name)

		started := waitLine(t, log, "operation started", logLine{"operation": op.Name})
		require.Equal(t, c.requestID, started["request_id"])
		require.Equal(t, "archive_deploy", started["type"])
		require.Equal(t, op.Metadata.TargetResourceName, started["deployment"])
		require.Equal(t, 1.0, started["attempt"])
		finished := waitLine(t, log, "operation finished", logLine{"operation": op.Name})
		require.Equal(t, c.requestID, finished["request_id"])
		require.Equal(t, "archive_deploy", finished["type"])
		require.Equal(t, c.outcome, finished["outcome"])
		require.Equal(t, c.level, finished["level"])
		require.Positive(t, finished["duration_ms"])
		if c.outcome == "failed" {
			require.Equal(t, op.Error.Message, finished["error"])
		} else {
			require.NotContains(t, finished, "error")
		}
	}
}

// TestLogs_RouteNamesAreRememberedPerRouteNotPerPath sends requests to many
// paths of a few routes: each line and metric names the route's pattern,
// and the server remembers one name per chain of patterns, not per path.
func TestLogs_RouteNamesAreRememberedPerRouteNotPerPath(t *testing.T) {
	t.Parallel()
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{Log: log})
	for i := range 30 {
		id := fmt.Sprintf("path-%d", i)
		r := b.c.sendWith("GET", fmt.Sprintf("/v1/organizations/org-%d/environments/env-%d/keystores/ks-%d", i, i, i), "", nil, http.Header{"X-Request-Id": {id}})
		require.Equal(t, http.StatusNotFound, r.Status, string(r.Body))
		line := waitLine(t, log, "request", logLine{"request_id": id})
		require.Equal(t, "/v1/organizations/{org}/environments/{env}/keystores/{ks}", line["route"])
		r = b.c.sendWith("GET", fmt.Sprintf("/nowhere/%d", i), "", nil, http.Header{"X-Request-Id": {id + "-lost"}})
		require.Equal(t, http.StatusNotFound, r.Status)
		require.Equal(t, "unmatched", waitLine(t, log, "request", logLine{"request_id": id + "-lost"})["route"])
	}
	require.LessOrEqual(t, b.srv.App.Handler.RouteNames(), 2, "one name per route, whatever the path")
}

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
)

// outageBound is how long any request may take while the database is gone.
const outageBound = 5 * time.Second

// setupOnCluster starts a server on a PostgreSQL of the test's own, which
// the test may stop or freeze, with organization myorg and environment
// dev, and an archive uploaded for later.
func setupOnCluster(t *testing.T) (*testBundle, *pgtest.Cluster, *servertest.LogBuffer, string) {
	t.Helper()
	cluster := pgtest.NewCluster(t)
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{DatabaseURL: cluster.URL(), Log: log})
	// A request that hangs fails the test rather than hang it.
	b.c.http = &http.Client{Timeout: 2 * outageBound}
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"CONFIGURABLE"}`)
	return b, cluster, log, b.upload(t, mtlsArchive(t, `{"enabled":false}`))
}

// timed sends a request and requires an answer within outageBound.
func (b *testBundle) timed(t *testing.T, method, path, body string) *response {
	t.Helper()
	start := time.Now()
	r := b.c.do(method, path, body)
	elapsed := time.Since(start)
	require.Less(t, elapsed, outageBound, "%s %s took %s", method, path, elapsed)
	return r
}

// requireDown checks what a database outage looks like from outside:
// requests that need the database answer 503 UNAVAILABLE quickly, /readyz
// fails, /healthz and /metrics answer, and the metrics say the database is
// down. uploadURI is a signed upload URL, whose token must stay out of the
// log even when its request fails.
func (b *testBundle) requireDown(t *testing.T, log *servertest.LogBuffer, uploadURI string) {
	t.Helper()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/organizations/myorg", ""},
		{"GET", envPath + "/keystores", ""},
		{"POST", envPath + "/keystores", `{"name":"during-outage"}`},
		{"GET", "/v1/organizations/myorg/operations", ""},
		{"GET", "/v1/organizations/myorg", ""},
	} {
		r := b.timed(t, c.method, c.path, c.body)
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s %s: %s", c.method, c.path, r.Body)
		e := r.errorBody(t)
		require.Equal(t, "UNAVAILABLE", e.Status)
		require.Equal(t, "the database is unavailable; try again", e.Message)
	}
	start := time.Now()
	req, err := http.NewRequest("PUT", uploadURI, strings.NewReader("zip"))
	require.NoError(t, err)
	res, err := b.c.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Less(t, time.Since(start), outageBound)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	_, token, _ := strings.Cut(uploadURI, "/archives/")
	require.NotContains(t, log.String(), token)

	require.Equal(t, http.StatusServiceUnavailable, b.timed(t, "GET", "/readyz", "").Status)
	require.Equal(t, http.StatusOK, b.timed(t, "GET", "/healthz", "").Status)
	require.Eventually(t, func() bool {
		start := time.Now()
		fams := scrape(t, b.srv)
		require.Less(t, time.Since(start), outageBound, "a scrape took too long")
		require.Contains(t, fams, "keyplane_db_pool_total_connections")
		require.Contains(t, fams, "keyplane_http_requests_total")
		return metric(t, fams, "keyplane_database_up", map[string]string{}).GetGauge().GetValue() == 0
	}, outageBound, 100*time.Millisecond, "keyplane_database_up stays 1")
}

// requireRecovered checks that the same server answers again, by itself:
// reads, writes, readiness, and a deployment through the job queue.
func (b *testBundle) requireRecovered(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		return b.c.do("GET", "/v1/organizations/myorg", "").Status == http.StatusOK
	}, 15*time.Second, 50*time.Millisecond, "the server did not recover")
	require.Equal(t, http.StatusOK, b.c.do("GET", "/readyz", "").Status)
	b.c.ok("POST", envPath+"/keystores", `{"name":"after-outage"}`)
	require.Contains(t, string(b.c.ok("GET", envPath+"/keystores", "")), "after-outage")
	op := b.deploy(t, mtlsArchive(t, `{"enabled":false}`))
	require.Nil(t, op.Error)
	fams := scrape(t, b.srv)
	require.Equal(t, 1.0, metric(t, fams, "keyplane_database_up", map[string]string{}).GetGauge().GetValue())
	require.Contains(t, fams, "keyplane_job_queue_depth")
}

// TestDatabaseStopped_Answers503ThenRecoversWithoutRestart stops the
// server's PostgreSQL (pg_ctl stop), then starts it again, under a running
// keyplane.
func TestDatabaseStopped_Answers503ThenRecoversWithoutRestart(t *testing.T) {
	t.Parallel()
	b, cluster, log, uploadURI := setupOnCluster(t)

	cluster.Stop()
	b.requireDown(t, log, uploadURI)
	waitLine(t, log, "database unresponsive: cutting short the statements in flight, failing new ones until it answers", logLine{})

	cluster.Start()
	b.requireRecovered(t)
	waitLine(t, log, "database answers again", logLine{})
}

// TestDatabaseFrozen_Answers503ThenRecoversWithoutRestart freezes the
// server's PostgreSQL (SIGSTOP: connections stay open, nothing answers,
// as with a hung host), then thaws it. Without a bound, the first request
// would wait forever.
func TestDatabaseFrozen_Answers503ThenRecoversWithoutRestart(t *testing.T) {
	t.Parallel()
	b, cluster, log, uploadURI := setupOnCluster(t)

	cluster.Freeze()
	b.requireDown(t, log, uploadURI)

	cluster.Thaw()
	b.requireRecovered(t)
}

package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/servertest"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// scrape GETs /metrics over the listener, with the metrics token, and
// parses the exposition format.
func scrape(t *testing.T, srv *servertest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second} // a hung scrape fails the test
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.MetricsToken)
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"), res.Header.Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	require.NoError(t, err)
	return fams
}

// metric returns the sample of family name whose labels are exactly labels,
// failing the test when there is none.
func metric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric family %s", name)
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) == len(labels) && func() bool {
			for k, v := range labels {
				if got[k] != v {
					return false
				}
			}
			return true
		}() {
			return m
		}
	}
	t.Fatalf("no %s%v among %d samples", name, labels, len(f.GetMetric()))
	return nil
}

func TestMetrics_ScrapeReportsRequestsOperationsQueueAndPool(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t) // creates organization myorg and environment dev, among others
	b.c.ok("GET", "/v1/organizations/myorg", "")
	b.c.do("GET", envPath+"/keystores/nope", "")
	b.c.do("GET", envPath+"/keystores/nope", "")
	b.c.do("GET", "/no/such/route/12345", "")
	ok := b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://mtls-keystore-ref","keyAlias":"my_alias","trustStore":"ref://mtls-truststore-ref"}`))
	require.Nil(t, ok.Error)
	failed := b.deploy(t, mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"does-not-exist","keyAlias":"my_alias"}`))
	require.NotNil(t, failed.Error)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"scratch"}`)
	b.c.ok("DELETE", "/v1/organizations/myorg/environments/scratch", "")

	// A deployment job not due for an hour sits in the queue.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.srv.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
		VALUES ('{}', 'keyplane.deploy', 5, 'default', 'scheduled', now() + interval '1 hour')`)
	require.NoError(t, err)

	fams := scrape(t, b.srv)

	// Requests: by route pattern, method and status; never by raw path.
	missing := map[string]string{"route": "/v1/organizations/{org}/environments/{env}/keystores/{ks}", "method": "GET", "code": "404"}
	require.Equal(t, 2.0, metric(t, fams, "keyplane_http_requests_total", missing).GetCounter().GetValue())
	require.EqualValues(t, 2, metric(t, fams, "keyplane_http_request_duration_seconds", missing).GetHistogram().GetSampleCount())
	unmatched := map[string]string{"route": "unmatched", "method": "GET", "code": "404"}
	require.Equal(t, 1.0, metric(t, fams, "keyplane_http_requests_total", unmatched).GetCounter().GetValue())
	created := map[string]string{"route": "/v1/organizations/{org}/environments/{env}/archiveDeployments", "method": "POST", "code": "200"}
	require.Equal(t, 2.0, metric(t, fams, "keyplane_http_requests_total", created).GetCounter().GetValue())
	upload := map[string]string{"route": "/archives/{token}", "method": "PUT", "code": "200"}
	require.Equal(t, 2.0, metric(t, fams, "keyplane_http_requests_total", upload).GetCounter().GetValue())
	for _, name := range []string{"keyplane_http_requests_total", "keyplane_http_request_duration_seconds"} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					require.NotContains(t, l.GetValue(), "myorg", "a raw path became a label")
					require.NotContains(t, l.GetValue(), "12345", "a raw path became a label")
				}
			}
		}
	}

	// Operations: by type and outcome, with their durations.
	for _, c := range []struct {
		kind, outcome string
		n             float64
	}{
		{"archive_deploy", "succeeded", 1}, {"archive_deploy", "failed", 1}, {"archive_deploy", "interrupted", 0},
		{"environment_create", "succeeded", 2}, {"environment_delete", "succeeded", 1},
	} {
		labels := map[string]string{"type": c.kind, "outcome": c.outcome}
		require.Equal(t, c.n, metric(t, fams, "keyplane_operations_total", labels).GetCounter().GetValue(), "%v", labels)
		if c.n > 0 {
			h := metric(t, fams, "keyplane_operation_duration_seconds", labels).GetHistogram()
			require.EqualValues(t, c.n, h.GetSampleCount(), "%v", labels)
			require.Positive(t, h.GetSampleSum(), "%v", labels)
		}
	}

	// The queue: every unfinished state, the scheduled job counted.
	for _, state := range postgres.JobStates() {
		want := 0.0
		if state == "scheduled" {
			want = 1
		}
		require.Equal(t, want, metric(t, fams, "keyplane_job_queue_depth", map[string]string{"state": state}).GetGauge().GetValue(), state)
	}

	// The database and its pool.
	none := map[string]string{}
	require.Equal(t, 1.0, metric(t, fams, "keyplane_database_up", none).GetGauge().GetValue())
	require.Equal(t, float64(postgres.DefaultMaxConns), metric(t, fams, "keyplane_db_pool_max_connections", none).GetGauge().GetValue())
	total := metric(t, fams, "keyplane_db_pool_total_connections", none).GetGauge().GetValue()
	inUse := metric(t, fams, "keyplane_db_pool_in_use_connections", none).GetGauge().GetValue()
	idle := metric(t, fams, "keyplane_db_pool_idle_connections", none).GetGauge().GetValue()
	require.GreaterOrEqual(t, total, 1.0)
	require.GreaterOrEqual(t, total, inUse+idle)
	require.Greater(t, metric(t, fams, "keyplane_db_pool_acquires_total", none).GetCounter().GetValue(), 20.0)
	for _, name := range []string{"keyplane_db_pool_empty_acquires_total", "keyplane_db_pool_acquire_wait_seconds_total", "keyplane_db_pool_canceled_acquires_total"} {
		require.Equal(t, dto.MetricType_COUNTER, fams[name].GetType(), name)
	}
	require.Contains(t, fams, "go_goroutines")
	require.Contains(t, fams, "process_start_time_seconds")
}

// On an address of their own, metrics need no token (only the monitoring
// network should reach it); on the API's address they need the metrics
// token, which no API token is.
func TestMetrics_ServedOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	b := setupWith(t, servertest.Options{MetricsAddr: addr})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the server listens on its metrics address")
	fams := servertest.Scrape(t, "http://"+addr+"/metrics")
	require.Contains(t, fams, "keyplane_database_up")
	require.Equal(t, http.StatusUnauthorized, b.c.do("GET", "/metrics", "").Status)
}

// However many scrapers come, the registry is gathered once per period:
// within it every scrape gets the same answer.
func TestMetrics_ScrapesAreCached(t *testing.T) {
	t.Parallel()
	b := setupWith(t, servertest.Options{MetricsCacheTTL: time.Hour})
	scraper := &client{t: t, base: b.srv.URL, token: b.srv.MetricsToken}
	first := scraper.ok("GET", "/metrics", "")
	for range 5 {
		b.c.ok("GET", "/v1/organizations", "")
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			require.Equal(t, string(first), string(scraper.ok("GET", "/metrics", "")))
		})
	}
	wg.Wait()
}

func TestMetrics_UnknownMethodsShareOneLabel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, m := range []string{"BREW", "WHEN", "XYZZY"} {
		b.c.do(m, "/healthz", "")
	}
	scraper := &client{t: t, base: b.srv.URL, token: b.srv.MetricsToken}
	metrics := string(scraper.ok("GET", "/metrics", ""))
	require.Contains(t, metrics, `method="OTHER"`)
	require.NotContains(t, metrics, `method="BREW"`)
}

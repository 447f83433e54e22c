package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
)

// recoverBound is how soon after the database's return a deployment that
// was in flight when it went away must be finished, by the same process.
const recoverBound = 20 * time.Second

// TestDatabaseRestart_DeploymentInFlightFinishesWithoutRestart restarts the
// server's PostgreSQL for a few seconds while a deployment validates: the
// job queue (its producer, leader election and rescuer) must resume by
// itself, so that the deployment finishes soon after the database returns,
// and a queue leader must be elected again.
func TestDatabaseRestart_DeploymentInFlightFinishesWithoutRestart(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	log := &servertest.LogBuffer{}
	b := setupWith(t, servertest.Options{DatabaseURL: cluster.URL(), Log: log,
		ValidationDelay: 2 * time.Second, JobTimeout: 5 * time.Second, RescueAfter: 6 * time.Second})
	b.c.http = &http.Client{Timeout: 2 * outageBound}
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	// The queue has elected its leader before the outage.
	require.Eventually(t, func() bool { return leaderPresent(t, b) }, 30*time.Second, 100*time.Millisecond)

	name := b.c.startDeploy(t, plainArchive(t))
	require.Eventually(t, func() bool {
		return decode[api.Operation](t, b.c.ok("GET", "/v1/"+name, "")).Metadata.State == api.StateInProgress
	}, 20*time.Second, 20*time.Millisecond)

	cluster.Stop()
	time.Sleep(4 * time.Second)
	cluster.Start()
	back := time.Now()

	var op api.Operation
	require.Eventually(t, func() bool {
		r := b.c.do("GET", "/v1/"+name, "")
		if r.Status != http.StatusOK {
			return false
		}
		op = decode[api.Operation](t, r.Body)
		return op.Done
	}, recoverBound, 100*time.Millisecond, "the deployment in flight did not finish within %s of the database's return", recoverBound)
	t.Logf("deployment in flight finished %s after the database returned", time.Since(back).Round(100*time.Millisecond))
	require.Nil(t, op.Error, "%+v", op.Error)
	require.Eventually(t, func() bool { return leaderPresent(t, b) }, recoverBound, 100*time.Millisecond, "no queue leader after the database returned")
	t.Logf("queue leader present %s after the database returned", time.Since(back).Round(100*time.Millisecond))
	require.Equal(t, http.StatusOK, b.c.do("GET", "/readyz", "").Status)
	require.Equal(t, 1.0, gauge(t, b, "keyplane_job_queue_running"))
	require.Eventually(t, func() bool { return gauge(t, b, "keyplane_job_queue_leader") == 1 }, outageBound, 100*time.Millisecond)
	// A new deployment runs too.
	require.Nil(t, b.wait(t, b.c.startDeploy(t, plainArchive(t))).Error)
}

// leaderPresent reports whether the job queue's leadership is held and not
// expired, as River records it.
func leaderPresent(t *testing.T, b *testBundle) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.srv.DatabaseURL)
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_leader WHERE expires_at > now()`).Scan(&n); err != nil {
		return false
	}
	return n > 0
}

// gauge returns the value of an unlabelled gauge or counter of a scrape.
func gauge(t *testing.T, b *testBundle, name string) float64 {
	t.Helper()
	m := metric(t, scrape(t, b.srv), name, map[string]string{})
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestMetrics_QueueHealth checks the job queue's health metrics: a leader,
// this server's client running and never restarted, and a deployment that
// runs past the job timeout counted as stuck, its job as running long.
func TestMetrics_QueueHealth(t *testing.T) {
	t.Parallel()
	b := setupWith(t, servertest.Options{ValidationDelay: time.Minute, JobTimeout: time.Second, RescueAfter: 2 * time.Second})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	require.Eventually(t, func() bool { return gauge(t, b, "keyplane_job_queue_leader") == 1 }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1.0, gauge(t, b, "keyplane_job_queue_running"))
	require.Equal(t, 0.0, gauge(t, b, "keyplane_job_queue_restarts_total"))
	require.Equal(t, 0.0, gauge(t, b, "keyplane_operations_stuck"))
	require.Equal(t, 0.0, gauge(t, b, "keyplane_job_oldest_running_seconds"))

	b.c.startDeploy(t, plainArchive(t))
	require.Eventually(t, func() bool { return gauge(t, b, "keyplane_job_oldest_running_seconds") > 0 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return gauge(t, b, "keyplane_operations_stuck") == 1 }, 10*time.Second, 100*time.Millisecond)
}

// TestReadyz_FailsWhenTheJobQueueDoesNotRun stops the server's job queue
// under it: /readyz must say so, and the running gauge drop to 0.
func TestReadyz_FailsWhenTheJobQueueDoesNotRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, http.StatusOK, b.c.do("GET", "/readyz", "").Status)
	require.NoError(t, b.srv.App.Queue.Stop(t.Context()))
	r := b.c.do("GET", "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	require.Equal(t, "not ready: the job queue is not running", r.errorBody(t).Message)
	require.Equal(t, 0.0, gauge(t, b, "keyplane_job_queue_running"))
}

// TestAudit_WritesRefusedDuringAnOutageAreRecorded stops the database
// under the server: writes are refused with 503, and their audit records,
// which cannot be written then either, are kept and written when the
// database answers again, with the time they happened.
func TestAudit_WritesRefusedDuringAnOutageAreRecorded(t *testing.T) {
	t.Parallel()
	b, cluster, log, _ := setupOnCluster(t)

	cluster.Stop()
	require.Eventually(t, func() bool {
		return b.c.do("GET", "/v1/organizations/myorg", "").Status == http.StatusServiceUnavailable
	}, outageBound, 50*time.Millisecond)
	during := time.Now()
	for range 3 {
		r := b.timed(t, "POST", envPath+"/keystores", `{"name":"during-outage"}`)
		require.Equal(t, http.StatusServiceUnavailable, r.Status)
	}
	require.Equal(t, 3, b.srv.App.Audit.Spooled())
	time.Sleep(time.Second)
	cluster.Start()
	back := time.Now()

	var logs api.ListAuditLogsResponse
	require.Eventually(t, func() bool {
		r := b.c.do("GET", "/v1/organizations/myorg/auditLogs", "")
		if r.Status != http.StatusOK {
			return false
		}
		logs = decode[api.ListAuditLogsResponse](t, r.Body)
		n := 0
		for _, l := range logs.AuditLogs {
			if l.Method == "POST" && l.Status == http.StatusServiceUnavailable {
				n++
			}
		}
		return n == 3
	}, 20*time.Second, 100*time.Millisecond, "the refused writes are not in the audit log")
	for _, l := range logs.AuditLogs {
		if l.Status != http.StatusServiceUnavailable {
			continue
		}
		require.Equal(t, "organizations/myorg/environments/dev/keystores/during-outage", l.Resource)
		at, err := time.Parse(time.RFC3339Nano, l.Time)
		require.NoError(t, err)
		require.WithinRange(t, at, during.Add(-time.Second), back, "the record keeps the time of the request")
	}
	require.Equal(t, 0, b.srv.App.Audit.Spooled())
	waitLine(t, log, "wrote the audit records kept while the database was unavailable", logLine{"written": 3.0, "dropped": 0.0})
	require.NotContains(t, log.String(), "audit log write failed")
}

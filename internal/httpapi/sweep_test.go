package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/deploy"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestSweep_DeletesUselessUploadsAndFinishesAbandonedDeployments runs the
// sweep the queue's leader runs every ten minutes.
func TestSweep_DeletesUselessUploadsAndFinishesAbandonedDeployments(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	ctx := context.Background()
	// The leader sweeps once when elected, then every ten minutes: after
	// the first sweep, the test has the database to itself.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'keyplane.sweep' AND state = 'completed'`).Scan(&n))
		return n > 0
	}, 30*time.Second, 50*time.Millisecond, "the leader sweeps when it starts")

	newest := func() uuid.UUID {
		var id uuid.UUID
		require.NoError(t, conn.QueryRow(ctx, `SELECT id FROM archive_uploads ORDER BY created_at DESC LIMIT 1`).Scan(&id))
		return id
	}
	slot := func(fill bool) uuid.UUID {
		up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
		if fill {
			r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
			require.Equal(t, 200, r.Status, string(r.Body))
		}
		return newest()
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := conn.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	opID := func(op api.Operation) string { return op.Name[strings.LastIndex(op.Name, "/")+1:] }

	// Deployments, then made to look as the cases need.
	var ops []api.Operation
	for range 5 {
		op := b.deploy(t, plainArchive(t))
		require.Nil(t, op.Error, "%+v", op.Error)
		ops = append(ops, op)
	}
	deployed, abandonedDiscarded, abandonedLost, running, young := ops[0], ops[1], ops[2], ops[3], ops[4]
	exec(`UPDATE archive_uploads SET created_at = now() - interval '30 days'`) // deployed archives stay
	for _, op := range ops[1:] {
		exec(`UPDATE operations SET state = 'IN_PROGRESS', response = NULL, created_at = now() - interval '2 minutes' WHERE uuid = $1`, opID(op))
	}
	exec(`UPDATE operations SET created_at = now() WHERE uuid = $1`, opID(young))
	job := `UPDATE river_job SET state = $2, finalized_at = $3 WHERE kind = 'keyplane.deploy' AND args->>'operation' = $1`
	exec(job, opID(abandonedDiscarded), "discarded", time.Now())
	exec(`DELETE FROM river_job WHERE kind = 'keyplane.deploy' AND args->>'operation' = $1`, opID(abandonedLost))
	exec(job, opID(running), "running", nil)
	exec(job, opID(young), "discarded", time.Now())

	expiredEmpty, freshEmpty := slot(false), slot(false)
	exec(`UPDATE archive_uploads SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredEmpty)
	oldFilled, freshFilled := slot(true), slot(true)
	exec(`UPDATE archive_uploads SET created_at = now() - interval '25 hours' WHERE id = $1`, oldFilled)

	svc, err := deploy.NewService(b.srv.App.DB, b.srv.App.DB.JobPool, deploy.Config{SigningKeys: [][]byte{[]byte("unused")}})
	require.NoError(t, err)
	res, err := svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.UploadsDeleted)
	var abandoned []string
	for _, id := range res.Abandoned {
		abandoned = append(abandoned, id.String())
	}
	require.ElementsMatch(t, []string{opID(abandonedDiscarded), opID(abandonedLost)}, abandoned)

	rows, err := conn.Query(ctx, `SELECT id FROM archive_uploads`)
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	require.NotContains(t, left, expiredEmpty)
	require.NotContains(t, left, oldFilled)
	require.Contains(t, left, freshEmpty)
	require.Contains(t, left, freshFilled)
	require.Len(t, left, 2+len(ops), "every deployed archive is kept")

	for _, op := range []api.Operation{abandonedDiscarded, abandonedLost} {
		got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+op.Name, ""))
		require.True(t, got.Done)
		require.Equal(t, api.StateFinished, got.Metadata.State)
		require.Equal(t, &api.Status{Code: 13, Message: "internal error: the deployment was abandoned; deploy the archive again"}, got.Error)
	}
	for _, op := range []api.Operation{running, young} {
		got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+op.Name, ""))
		require.False(t, got.Done, "%s is left to its job", op.Name)
	}
	got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+deployed.Name, ""))
	require.Nil(t, got.Error)

	// A second sweep finds nothing to do.
	res, err = svc.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, res.UploadsDeleted)
	require.Empty(t, res.Abandoned)
}

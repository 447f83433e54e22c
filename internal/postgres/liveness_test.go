package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// TestLiveness_AFrozenDatabaseIsCutShortAndFoundAgain: when the database
// stops answering, the statements in flight are cut short as Unavailable
// (the job queue's as timeouts, which River retries, never as
// cancellations, which it takes for its own shutdown), new ones fail at
// once instead of hanging, and once the database answers again the pool
// serves from fresh connections.
func TestLiveness_AFrozenDatabaseIsCutShortAndFoundAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgtest.NewCluster(t)
	require.NoError(t, postgres.Migrate(cluster.URL(), "up"))
	cfg, err := postgres.ParseConfig(cluster.URL())
	require.NoError(t, err)
	db, err := postgres.OpenConfig(ctx, cfg, postgres.Options{CheckInterval: 100 * time.Millisecond, CheckTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	t.Cleanup(cluster.Thaw) // before the pool closes, if the test fails while frozen
	_, err = db.ListOrganizations(ctx)
	require.NoError(t, err)
	require.True(t, db.Up())

	cluster.Freeze()
	inFlight := result(func() error { _, err := db.ListOrganizations(ctx); return err })
	jobInFlight := result(func() error { _, err := db.JobPool.Exec(ctx, `SELECT 1`); return err })
	require.Equal(t, keyplane.Unavailable, keyplane.ErrorCode(receive(t, inFlight)))
	jobErr := receive(t, jobInFlight)
	require.ErrorIs(t, jobErr, context.DeadlineExceeded)
	require.NotErrorIs(t, jobErr, context.Canceled)
	require.False(t, db.Up())

	// Still frozen: a new statement fails rather than waits.
	_, err = db.ListOrganizations(ctx)
	requireCode(t, err, keyplane.Unavailable, "the database is unavailable; try again")

	cluster.Thaw()
	require.Eventually(t, db.Up, 10*time.Second, 20*time.Millisecond)
	_, err = db.ListOrganizations(ctx)
	require.NoError(t, err)
	_, err = db.JobPool.Exec(ctx, `SELECT 1`)
	require.NoError(t, err)
}

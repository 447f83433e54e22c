package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// TestAudit_KeepsRecordsWhileTheDatabaseIsAway: a record made while the
// database is stopped is kept, not refused, and written with the time it
// was made, after the one before it, once the database is back.
func TestAudit_KeepsRecordsWhileTheDatabaseIsAway(t *testing.T) {
	ctx := context.Background()
	defer func(d time.Duration) { spoolRetry = d }(spoolRetry)
	spoolRetry = 50 * time.Millisecond
	cluster := pgtest.NewCluster(t)
	require.NoError(t, postgres.Migrate(cluster.URL(), "up"))
	db, err := postgres.Open(ctx, cluster.URL())
	require.NoError(t, err)
	t.Cleanup(db.Close)
	audit := NewAudit(db)
	t.Cleanup(audit.Close)
	record := func(resource string, at time.Time) *keyplane.AuditEntry {
		return &keyplane.AuditEntry{Org: "o", Actor: "bootstrap", Role: keyplane.RoleAdmin, Method: "DELETE",
			Resource: resource, Status: 503, Outcome: "error", Time: at}
	}

	cluster.Stop()
	made := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	require.NoError(t, audit.Record(ctx, record("first", made)), "kept, not refused")
	require.NoError(t, audit.Record(ctx, record("second", made.Add(time.Second))))
	require.Equal(t, 2, audit.Spooled())

	cluster.Start()
	require.Eventually(t, func() bool { return audit.Spooled() == 0 }, 30*time.Second, 50*time.Millisecond)
	entries, _, err := audit.List(ctx, "o", 0, "")
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "second", entries[0].Resource, "newest first, in the order made")
	require.Equal(t, "first", entries[1].Resource)
	require.True(t, made.Equal(entries[1].Time), "the time it was made, not written: %v", entries[1].Time)

	// Once closed, a record the database cannot take is refused.
	audit.Close()
	cluster.Stop()
	requireCode(t, audit.Record(ctx, record("third", time.Time{})), keyplane.Unavailable, "the database is unavailable; try again")
}

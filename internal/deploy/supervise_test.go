package deploy

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// syncBuffer is a log that the queue's goroutines write while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openDB opens a migrated database of the test's own.
func openDB(t *testing.T) *postgres.DB {
	t.Helper()
	url := pgtest.URL(t)
	require.NoError(t, postgres.Migrate(url, "up"))
	require.NoError(t, postgres.MigrateJobs(t.Context(), url))
	cfg, err := postgres.ParseConfig(url)
	require.NoError(t, err)
	db, err := postgres.OpenConfig(t.Context(), cfg, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// startQueue starts a queue over pool (the database's job pool when nil)
// that is stopped when the test ends.
func startQueue(t *testing.T, db *postgres.DB, pool *pgxpool.Pool, cfg QueueConfig) (*Queue, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	cfg.Log = slog.New(slog.NewJSONHandler(log, nil))
	if pool == nil {
		pool = db.JobPool
	}
	svc, err := NewService(db, pool, Config{SigningKeys: [][]byte{[]byte("k")}})
	require.NoError(t, err)
	q, err := NewQueue(pool, svc, cfg)
	require.NoError(t, err)
	require.ErrorIs(t, q.Err(), ErrQueueNotRunning, "not running before Start")
	require.NoError(t, q.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, q.Stop(ctx))
	})
	return q, log
}

// leads waits until a server leads the queue.
func leads(t *testing.T, db *postgres.DB, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		ok, err := db.QueueLeader(t.Context())
		return err == nil && ok
	}, within, 50*time.Millisecond, "no server leads the queue")
}

// runsJobs inserts a sweep job and waits for the queue to complete it.
func runsJobs(t *testing.T, db *postgres.DB, q *Queue) {
	t.Helper()
	res, err := q.client.Insert(t.Context(), sweepArgs{}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var state string
		err := db.Pool.QueryRow(t.Context(), `SELECT state::text FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state)
		return err == nil && state == "completed"
	}, 15*time.Second, 50*time.Millisecond, "the queue does not run jobs")
}

// TestQueue_RestartsAClientThatStoppedByItself stops River's client behind
// the queue's back, as a fatal error inside River would: the supervisor
// starts it again, and jobs run.
func TestQueue_RestartsAClientThatStoppedByItself(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	q, log := startQueue(t, db, nil, QueueConfig{SuperviseInterval: 100 * time.Millisecond})
	require.NoError(t, q.Err())
	leads(t, db, 15*time.Second)

	require.NoError(t, q.client.Stop(t.Context()))
	require.Eventually(t, func() bool { return q.restarts.Load() == 1 && q.Err() == nil }, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, log.String(), `"msg":"job queue stopped by itself; restarting it"`)
	runsJobs(t, db, q)
	leads(t, db, 15*time.Second)
}

// cutTracer cancels every statement of a pool while cut is set: what the
// database-liveness watcher once did to River's statements during an
// outage, which ended River's leader elector for good.
type cutTracer struct{ cut atomic.Bool }

func (c *cutTracer) bind(ctx context.Context) context.Context {
	if !c.cut.Load() {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx
}

func (c *cutTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return c.bind(ctx)
}
func (c *cutTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *cutTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return c.bind(ctx)
}
func (c *cutTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *cutTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *cutTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return c.bind(ctx)
}
func (c *cutTracer) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {}

// TestQueue_RestartsWhenNoServerLeads cancels River's statements long
// enough for its leader elector to give up, as it does on a cancelled
// statement: no server leads the queue any more, though the database
// answers, until the supervisor restarts the client.
func TestQueue_RestartsWhenNoServerLeads(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leadership to expire (15 s)")
	}
	t.Parallel()
	db := openDB(t)
	cfg := db.JobPool.Config()
	tracer := &cutTracer{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	q, log := startQueue(t, db, pool, QueueConfig{SuperviseInterval: 200 * time.Millisecond, LeaderlessRestart: time.Second})
	leads(t, db, 15*time.Second)

	// The elector re-elects every 5 to 6 seconds: one re-election fails.
	tracer.cut.Store(true)
	time.Sleep(7 * time.Second)
	tracer.cut.Store(false)

	require.Eventually(t, func() bool { return q.restarts.Load() >= 1 }, 40*time.Second, 100*time.Millisecond,
		"the supervisor did not restart a queue without a leader")
	require.True(t, strings.Contains(log.String(), `"msg":"job queue without a leader while the database answers; restarting it"`) ||
		strings.Contains(log.String(), `"msg":"job queue stopped by itself; restarting it"`), log.String())
	leads(t, db, 15*time.Second)
	runsJobs(t, db, q)
}

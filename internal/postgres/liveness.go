package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Default liveness checking: how often the database is pinged, and how long
// a ping may take before the database is taken for unresponsive.
const (
	DefaultCheckInterval = time.Second
	DefaultCheckTimeout  = 2 * time.Second
)

// liveness watches whether the database answers, from a connection of its
// own, and bounds every wait on it. A stopped database refuses connections
// at once, but a frozen one (a stopped process, a network that drops
// packets) would hold a request forever: no statement keyplane runs has a
// deadline, as an upload may legitimately take long. So every connect,
// acquire and statement is bound to a context that liveness cancels the
// moment a ping goes unanswered for the check timeout: what is in flight is
// cut short, and what starts while the database stays unresponsive fails at
// once, both as Unavailable. A later ping that succeeds lifts the cut and
// resets the pool, whose connections may be to a server that has since
// restarted.
//
// liveness implements the pgx and pgxpool tracer interfaces to bind each
// operation's context; it traces nothing.
type liveness struct {
	connConfig *pgx.ConnConfig // for the pinging connection: no tracer
	interval   time.Duration
	timeout    time.Duration
	log        *slog.Logger
	recovered  func()

	mu    sync.Mutex
	alive context.Context // cancelled while the database is unresponsive
	cut   context.CancelFunc
	up    bool

	stop chan struct{}
	done chan struct{}
}

func newLiveness(connConfig *pgx.ConnConfig, opt Options, recovered func()) *liveness {
	l := &liveness{
		connConfig: connConfig, interval: opt.CheckInterval, timeout: opt.CheckTimeout,
		log: opt.Log, recovered: recovered, up: true,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.alive, l.cut = context.WithCancel(context.Background())
	return l
}

// Up reports whether the last check found the database answering.
func (l *liveness) Up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

// run pings the database every interval until close.
func (l *liveness) run() {
	defer close(l.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
			defer cancel()
			_ = conn.Close(ctx)
		}
	}()
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		err := l.check(&conn)
		switch {
		case err == nil:
			l.set(true, nil)
		case unreachable(err):
			l.set(false, err)
		default:
			// The server answered, with a refusal of its own (too many
			// connections, authentication): it is there, so statements are
			// not cut; they fail or not on their own.
			l.log.Warn("database liveness check failed", "error", err)
		}
	}
}

// check pings over conn, connecting it first when needed, within the check
// timeout. A connection that failed is dropped, to be made anew next time.
func (l *liveness) check(conn **pgx.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	if *conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.connConfig)
		if err != nil {
			return err
		}
		*conn = c
	}
	if err := (*conn).Ping(ctx); err != nil {
		_ = (*conn).Close(ctx)
		*conn = nil
		return err
	}
	return nil
}

func (l *liveness) set(up bool, err error) {
	l.mu.Lock()
	changed := up != l.up
	l.up = up
	if changed && !up {
		l.cut()
	}
	if changed && up {
		l.alive, l.cut = context.WithCancel(context.Background())
	}
	l.mu.Unlock()
	switch {
	case changed && !up:
		l.log.Error("database unresponsive: cutting short the statements in flight, failing new ones until it answers", "error", err)
	case changed && up:
		l.recovered()
		l.log.Info("database answers again")
	}
}

// close stops the checks.
func (l *liveness) close() {
	close(l.stop)
	<-l.done
}

// releaseKey is the context key of the function that unbinds an operation
// from liveness.
type releaseKey struct{}

// bind returns a context that ends with ctx or when the database is found
// unresponsive, whichever comes first; release(ctx) must follow.
func (l *liveness) bind(ctx context.Context) context.Context {
	l.mu.Lock()
	alive := l.alive
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	if alive.Err() != nil {
		cancel() // before the operation starts, not in AfterFunc's goroutine
		return context.WithValue(ctx, releaseKey{}, func() {})
	}
	stop := context.AfterFunc(alive, cancel)
	return context.WithValue(ctx, releaseKey{}, func() { stop(); cancel() })
}

func release(ctx context.Context) {
	if f, ok := ctx.Value(releaseKey{}).(func()); ok {
		f()
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (l *liveness) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return l.bind(ctx)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (l *liveness) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	release(ctx)
}

// TraceBatchStart implements pgx.BatchTracer.
func (l *liveness) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return l.bind(ctx)
}

// TraceBatchQuery implements pgx.BatchTracer.
func (l *liveness) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (l *liveness) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	release(ctx)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (l *liveness) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return l.bind(ctx)
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (l *liveness) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	release(ctx)
}

// TracePrepareStart implements pgx.PrepareTracer.
func (l *liveness) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return l.bind(ctx)
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (l *liveness) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) {
	release(ctx)
}

// TraceConnectStart implements pgx.ConnectTracer.
func (l *liveness) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return l.bind(ctx)
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (l *liveness) TraceConnectEnd(ctx context.Context, _ pgx.TraceConnectEndData) {
	release(ctx)
}

// TraceAcquireStart implements pgxpool.AcquireTracer: waiting for a free
// connection, and the pool's liveness ping of an idle one, are bound too.
func (l *liveness) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return l.bind(ctx)
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (l *liveness) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	release(ctx)
}

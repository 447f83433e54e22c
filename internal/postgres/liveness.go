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
// A tracer of the pool binds each operation's context; it traces nothing.
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

// bindTimeout is bind for the job queue's statements: the cut ends the
// context as a timeout (context.DeadlineExceeded), not as a cancellation.
// River takes a cancelled statement for its own shutdown, and its leader
// elector and notifier then stop for good, leaving the queue without a
// leader (no rescuer, no periodic sweep) until the process restarts; a
// timed-out statement it retries with a backoff, as it does any failure of
// the database.
func (l *liveness) bindTimeout(ctx context.Context) context.Context {
	l.mu.Lock()
	alive := l.alive
	l.mu.Unlock()
	c := &cutContext{Context: ctx, done: make(chan struct{})}
	if err := ctx.Err(); err != nil {
		c.end(err)
		return context.WithValue(c, releaseKey{}, func() {})
	}
	if alive.Err() != nil {
		c.end(context.DeadlineExceeded)
		return context.WithValue(c, releaseKey{}, func() {})
	}
	stopParent := context.AfterFunc(ctx, func() { c.end(ctx.Err()) })
	stopAlive := context.AfterFunc(alive, func() { c.end(context.DeadlineExceeded) })
	return context.WithValue(c, releaseKey{}, func() { stopParent(); stopAlive(); c.end(context.Canceled) })
}

// cutContext is a context that ends either with its parent, with the
// parent's error, or when cut, with the error it is cut with.
type cutContext struct {
	context.Context
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

func (c *cutContext) Done() <-chan struct{} { return c.done }

func (c *cutContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// end ends the context with err, unless it has ended already.
func (c *cutContext) end(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}

func release(ctx context.Context) {
	if f, ok := ctx.Value(releaseKey{}).(func()); ok {
		f()
	}
}

// tracer binds every operation of a pool to liveness with bind, which
// cancels, or with bindTimeout, which times out.
type tracer struct {
	bind func(context.Context) context.Context
}

// TraceQueryStart implements pgx.QueryTracer.
func (t tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.bind(ctx)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	release(ctx)
}

// TraceBatchStart implements pgx.BatchTracer.
func (t tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.bind(ctx)
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (t tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	release(ctx)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return t.bind(ctx)
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	release(ctx)
}

// TracePrepareStart implements pgx.PrepareTracer.
func (t tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return t.bind(ctx)
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (t tracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) {
	release(ctx)
}

// TraceConnectStart implements pgx.ConnectTracer.
func (t tracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return t.bind(ctx)
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (t tracer) TraceConnectEnd(ctx context.Context, _ pgx.TraceConnectEndData) {
	release(ctx)
}

// TraceAcquireStart implements pgxpool.AcquireTracer: waiting for a free
// connection, and the pool's liveness ping of an idle one, are bound too.
func (t tracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return t.bind(ctx)
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (t tracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	release(ctx)
}

package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/server"
)

// statementCounter is a pgx tracer that counts the SQL statements a server
// runs, by operation. A request's operation is the label the benchmark puts
// in its opHeader, carried into the request's context by middleware, so a
// statement run for a request is counted against it; statements run outside
// any request (the job queue: deployments and River's own polling) are
// counted as background. Each statement of a batch counts, as does each
// BEGIN and COMMIT.
type statementCounter struct {
	mu         sync.Mutex
	byOp       map[string]int64
	background int64
}

// opKey is the context key of a request's operation label.
type opKey struct{}

func newStatementCounter() *statementCounter {
	return &statementCounter{byOp: map[string]int64{}}
}

func (c *statementCounter) count(ctx context.Context, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op, inRequest := ctx.Value(opKey{}).(string)
	switch {
	case !inRequest:
		c.background += n
	case op != "":
		c.byOp[op] += n
	}
}

// snapshot returns the count of op and the background count.
func (c *statementCounter) snapshot(op string) (forOp, background int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byOp[op], c.background
}

// TraceQueryStart implements pgx.QueryTracer.
func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.count(ctx, 1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer.
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer: each statement of a batch.
func (c *statementCounter) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchQueryData) {
	c.count(ctx, 1)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (c *statementCounter) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	c.count(ctx, 1)
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (c *statementCounter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// label puts the request's operation label into its context.
func (c *statementCounter) label(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), opKey{}, r.Header.Get(opHeader))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// countingServer is an in-process keyplane, wired by internal/server like
// the real one, whose pool carries a statementCounter.
type countingServer struct {
	URL     string
	counter *statementCounter
	stop    func() error
}

// startCountingServer serves the database at dbURL on a loopback port.
func startCountingServer(ctx context.Context, dbURL, masterKey, adminToken string) (*countingServer, error) {
	counter := newStatementCounter()
	// The benchmark's backends listen on loopback.
	targets, err := egress.Parse(egress.Loopback, "")
	if err != nil {
		return nil, err
	}
	app, err := server.New(ctx, server.Config{
		Targets:     targets,
		DatabaseURL: dbURL,
		MasterKey:   masterKey,
		AdminToken:  adminToken,
		Tracer:      counter,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		// As the server process: no per-organization quota (see
		// startServerProcess).
		AliasQuota: -1,
		Quotas:     deploy.Quotas{DeploymentsPerDay: -1},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		return nil, err
	}
	queueCtx, cancelQueue := context.WithCancel(context.WithoutCancel(ctx))
	if err := app.Queue.Start(queueCtx); err != nil {
		cancelQueue()
		ln.Close()
		app.Close()
		return nil, err
	}
	srv := &http.Server{Handler: counter.label(app.Handler), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() error {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(stopCtx)
		if e := <-served; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
		err = errors.Join(err, app.Queue.Stop(stopCtx))
		cancelQueue()
		app.Close()
		return err
	}
	return &countingServer{URL: "http://" + ln.Addr().String(), counter: counter, stop: stop}, nil
}

// perOp runs fn n times in a row, labelled op, and returns the statements
// counted against op per run. With background, the statements run outside
// requests meanwhile are added, less idleRate (per second) times the time
// taken: that is how a deployment's job is counted.
func (s *countingServer) perOp(ctx context.Context, op string, n int, background bool, idleRate float64, fn func(ctx context.Context) error) (float64, error) {
	before, bgBefore := s.counter.snapshot(op)
	start := time.Now()
	for range n {
		if err := fn(ctx); err != nil {
			return 0, err
		}
	}
	after, bgAfter := s.counter.snapshot(op)
	total := float64(after - before)
	if background {
		total += max(0, float64(bgAfter-bgBefore)-idleRate*time.Since(start).Seconds())
	}
	return total / float64(n), nil
}

// idleRate measures the background statements per second while nothing
// happens: the job queue polling for work.
func (s *countingServer) idleRate(ctx context.Context, d time.Duration) (float64, error) {
	_, before := s.counter.snapshot("")
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	_, after := s.counter.snapshot("")
	return float64(after-before) / d.Seconds(), nil
}

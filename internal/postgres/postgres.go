// Package postgres is keyplane's storage: plain SQL over pgx, one file per
// table group, and the schema migrations embedded in the binary.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/rawio"
	"github.com/keyplane/keyplane/migrations"
)

// DB is keyplane's storage: a pgx pool and the queries of every resource.
type DB struct {
	Pool *pgxpool.Pool
	// JobPool is the job queue's own pool (River's producer, leader
	// election, notifier and maintenance), apart from Pool so that
	// requests never wait for the queue's connections nor the queue for
	// theirs. Liveness bounds its statements too, but ends them as timeouts,
	// which River survives (see bindTimeout).
	JobPool  *pgxpool.Pool
	liveness *liveness
}

// DefaultJobMaxConns is the job queue's pool size: River's listener holds
// one connection, its producer, completer, elector and maintenance services
// take one at a time each.
const DefaultJobMaxConns = 8

// Options tune how a DB watches its database (see Up).
type Options struct {
	// Log receives the changes of the database's liveness; nil discards
	// them.
	Log *slog.Logger
	// CheckInterval is how often the database is pinged; CheckTimeout how
	// long a ping or a new connection may take before the database is taken
	// for unresponsive. Zero means DefaultCheckInterval and
	// DefaultCheckTimeout.
	CheckInterval, CheckTimeout time.Duration
}

// DefaultMaxConns is the pool size when the URL sets no pool_max_conns:
// enough for the deployment workers and concurrent requests together.
const DefaultMaxConns = 24

// ParseConfig reads a database URL into a pool configuration with
// keyplane's defaults.
func ParseConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	// Every statement is a write and a read on this connection: made as
	// raw system calls, they do not hand the thread's processor over to
	// another thread when the database takes a moment (see rawio).
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return rawio.Wrap(c), nil
	}
	return cfg, nil
}

// Open connects to the database at url. It does not migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := ParseConfig(url)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, Options{})
}

// DefaultConnectTimeout bounds making a connection when the URL sets no
// connect_timeout.
const DefaultConnectTimeout = 3 * time.Second

// OpenConfig connects with a prepared pool configuration, for callers that
// set a tracer or pool sizes, and starts watching the database's liveness
// until Close.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config, opt Options) (*DB, error) {
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	opt.CheckInterval = cmp.Or(opt.CheckInterval, DefaultCheckInterval)
	opt.CheckTimeout = cmp.Or(opt.CheckTimeout, DefaultCheckTimeout)
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	pingConfig := cfg.ConnConfig.Copy()
	pingConfig.Tracer = nil
	db := &DB{}
	db.liveness = newLiveness(pingConfig, opt, func() { db.Pool.Reset(); db.JobPool.Reset() })
	jobCfg := cfg.Copy()
	jobCfg.MaxConns = DefaultJobMaxConns
	jobCfg.MinConns, jobCfg.MinIdleConns = 0, 0
	jobCfg.ConnConfig.Tracer = tracer{bind: db.liveness.bindTimeout}
	requests := tracer{bind: db.liveness.bind}
	if cfg.ConnConfig.Tracer != nil {
		cfg.ConnConfig.Tracer = multitracer.New(requests, cfg.ConnConfig.Tracer)
	} else {
		cfg.ConnConfig.Tracer = requests
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	jobPool, err := pgxpool.NewWithConfig(ctx, jobCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db.Pool, db.JobPool = pool, jobPool
	go db.liveness.run()
	return db, nil
}

// Up reports whether the database answered its last liveness check. While
// it does not, every statement fails at once as Unavailable.
func (db *DB) Up() bool { return db.liveness.Up() }

// Close stops watching the database and closes the pool.
func (db *DB) Close() {
	db.liveness.close()
	db.Pool.Close()
	db.JobPool.Close()
}

// Ping checks that the database answers and that the schema is migrated to
// the version this binary embeds.
func (db *DB) Ping(ctx context.Context) error {
	var version int64
	var dirty bool
	err := db.Pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty)
	if err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	want, err := LatestVersion()
	if err != nil {
		return err
	}
	if dirty || version != int64(want) {
		return fmt.Errorf("postgres: schema at version %d (dirty=%t), binary needs %d", version, dirty, want)
	}
	return nil
}

// newMigrate opens golang-migrate over a database/sql handle of url.
func newMigrate(url string) (*migrate.Migrate, func(), error) {
	// Parsed as a pool URL, so that pool settings such as pool_max_conns
	// are understood rather than sent to the server.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg.ConnConfig)
	driver, err := migratepgx.WithInstance(sqlDB, &migratepgx.Config{})
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return m, func() { m.Close(); sqlDB.Close() }, nil
}

// Migrate applies migrations in direction "up" (all pending) or "down" (one
// step back).
func Migrate(url, direction string) error {
	m, done, err := newMigrate(url)
	if err != nil {
		return err
	}
	defer done()
	switch direction {
	case "up":
		err = m.Up()
	case "down":
		err = m.Steps(-1)
	default:
		return fmt.Errorf("postgres: unknown migration direction %q (up or down)", direction)
	}
	if errors.Is(err, migrate.ErrNoChange) {
		return nil
	}
	return err
}

// Version returns the schema version of the database at url.
func Version(url string) (uint, bool, error) {
	m, done, err := newMigrate(url)
	if err != nil {
		return 0, false, err
	}
	defer done()
	v, dirty, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, dirty, err
}

// LatestVersion is the newest migration the binary embeds.
func LatestVersion() (uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	v, err := src.First()
	if err != nil {
		return 0, err
	}
	for {
		next, err := src.Next(v)
		if err != nil {
			return v, nil
		}
		v = next
	}
}

// PostgreSQL error codes keyplane maps to application errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// isCode reports whether err is a PostgreSQL error with the given code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// constraint returns the name of the constraint a PostgreSQL error names.
func constraint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// wrap turns a database failure that is not an application error into
// Unavailable when the database cannot be reached, so that clients see 503
// and retry rather than a 500.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var appErr *keyplane.Error
	if errors.As(err, &appErr) {
		return err
	}
	if unreachable(err) {
		return &unavailableError{cause: err}
	}
	return err
}

// unreachable reports whether err means the database is not there.
func unreachable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01..03: admin shutdown, crash
		// shutdown, cannot connect now.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	// A statement whose context ended was cut short: by the liveness check
	// (the database stopped answering), by a job's timeout or by shutdown.
	// Either way it may succeed if tried again.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err)
}

// unavailableError is an Unavailable application error that keeps its cause
// for the log.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{keyplane.Errorf(keyplane.Unavailable, "the database is unavailable; try again"), e.cause}
}

// Package server assembles the two keyplane binaries from their parts and
// runs them until their context ends: the API server (New, storage,
// services and HTTP surface) and the gateway (NewGateway), both configured
// by one reader of flags and KEYPLANE_* variables (ReadServe, ReadGateway).
// The keyplane command and the end-to-end tests start servers through it,
// so both run the same wiring.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keyplane/keyplane/internal/auth"
	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/console"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/environment"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/httpapi"
	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/proxy"
	"github.com/keyplane/keyplane/internal/rawio"
	"github.com/keyplane/keyplane/internal/requestid"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/targetserver"
)

// Config is everything a server needs, parsed once by the caller.
type Config struct {
	DatabaseURL string
	// MasterKey seals private keys: base64 of 32 bytes, or `id:base64,...`.
	MasterKey string
	// AdminToken is accepted as an administrator's bearer token.
	AdminToken string
	// MaxBodyBytes limits API request bodies; 0 is the default.
	MaxBodyBytes int64
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once the server is asked to stop.
	ShutdownTimeout time.Duration
	Log             *slog.Logger
	// PublicURL is the base URL clients reach the server at, for the signed
	// archive URLs it hands out; empty means the URL of each request.
	PublicURL string
	// JobTimeout bounds one deployment's run; RescueAfter is how long a
	// running deployment may go on before another server presumes its
	// server dead and takes it over. Zero means the defaults.
	JobTimeout, RescueAfter time.Duration
	// ValidationDelay slows deployments down, to test crash recovery.
	ValidationDelay time.Duration
	// Tracer, when set, sees every SQL statement the server runs; the
	// benchmark counts statements per request with it.
	Tracer pgx.QueryTracer
	// TLS, when set, makes the server speak HTTPS (see LoadTLS).
	TLS *tls.Config
	// Timeouts bound how long a client may take; zero fields are defaults.
	Timeouts Timeouts
	// Quotas bound each organization's archives and deployments; zero
	// fields are the defaults (see deploy.Quotas).
	Quotas deploy.Quotas
	// AliasQuota is how many aliases one organization may hold; 0 means
	// keystore.DefaultAliasQuota, negative no limit.
	AliasQuota int
	// KeepArchives is how many of each environment's newest deployments
	// keep their archives; 0 means the default (10).
	KeepArchives int
	// MaxConcurrentUploads is how many archive uploads may stream at once;
	// 0 means the default (8).
	MaxConcurrentUploads int
	// MaxConnsPerAddr limits the connections one client address may hold
	// open at once; 0 means the default (256), negative means no limit.
	MaxConnsPerAddr int
	// Registry receives every metric the server exports on /metrics; nil
	// means a new registry.
	Registry *prometheus.Registry
	// MetricsToken is the bearer token GET /metrics needs on the API's
	// address; empty means /metrics is not served there.
	MetricsToken string
	// MetricsCacheTTL is how long one gathering of the metrics is served
	// again; 0 means httpapi.DefaultMetricsTTL, negative means never.
	MetricsCacheTTL time.Duration
	// MetricsAddr, when set, is a listen address of its own for /metrics,
	// served without a token to whoever reaches it.
	MetricsAddr string
	// Targets fences the hosts deployments may send gateway traffic to;
	// nil means the default policy (see package egress).
	Targets *egress.Policy
}

// Timeouts bound slow clients, so they cannot hold connections forever
// (see package clientlimit).
type Timeouts = clientlimit.Timeouts

// DefaultTimeouts are the API's: archives are large, so a body may take
// minutes, but never a pause of more than 30 seconds.
var DefaultTimeouts = Timeouts{
	ReadHeader: 10 * time.Second,
	BodyIdle:   30 * time.Second,
	Read:       5 * time.Minute,
	Write:      time.Minute,
	Request:    10 * time.Minute,
	Idle:       2 * time.Minute,
}

// DefaultMaxConnsPerAddr is how many connections one client address may
// hold open at once, unless configured.
const DefaultMaxConnsPerAddr = 256

// Server is an assembled keyplane: its database and its HTTP handler.
type Server struct {
	DB      *postgres.DB
	Handler *httpapi.Server
	// Console is the browser console, served at /console/ beside the API.
	Console *console.Console
	Queue   *deploy.Queue
	// Registry holds the metrics served on /metrics.
	Registry *prometheus.Registry
	// Audit is the audit log, which keeps records while the database is
	// unavailable.
	Audit *auth.Audit
	cfg   Config
	// flushLog writes the lines the log buffered, if it buffers.
	flushLog logFlusher
}

// queueDepthTimeout bounds the query behind keyplane_job_queue_depth, so
// that a scrape never waits long on a slow database.
const queueDepthTimeout = time.Second

// New migrates the database, connects and assembles the services.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set")
	}
	if cfg.AdminToken == "" {
		return nil, errors.New("no administrator token: set KEYPLANE_BOOTSTRAP_TOKEN")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// A log that buffers its lines is flushed at Close.
	flushLog, _ := cfg.Log.Handler().(logFlusher)
	// Every line logged with a request's context, or a job's that a request
	// queued, carries its request id.
	cfg.Log = slog.New(requestid.Handler(cfg.Log.Handler()))
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	keys, err := seal.ParseKeyring(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("KEYPLANE_MASTER_KEY: %w", err)
	}
	if err := postgres.Migrate(cfg.DatabaseURL, "up"); err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if err := postgres.MigrateJobs(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	poolCfg, err := postgres.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.ConnConfig.Tracer = cfg.Tracer
	db, err := postgres.OpenConfig(ctx, poolCfg, postgres.Options{Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	reg := cfg.Registry
	// The certificate expiry gauge reads the database at most once a
	// minute, however often /metrics is scraped.
	if err := registerAll(reg, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		db.Collector(), deploy.QueueCollector(db, queueDepthTimeout, cmp.Or(cfg.JobTimeout, deploy.DefaultJobTimeout), cfg.Log),
		expiry.NewCollector(db, expiry.CollectorConfig{Log: cfg.Log})); err != nil {
		db.Close()
		return nil, err
	}
	tracker := operation.NewTracker(reg, cfg.Log)
	deployments, err := deploy.NewService(db, db.JobPool, deploy.Config{
		Respond:         httpapi.OperationResponse,
		SigningKeys:     keys.DeriveAll("archive urls"),
		ValidationDelay: cfg.ValidationDelay,
		Targets:         cfg.Targets,

		MaxConcurrentUploads: cfg.MaxConcurrentUploads,
		Quotas:               cfg.Quotas,
		KeepArchives:         cfg.KeepArchives,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	proxies, err := proxy.NewService(db, db.JobPool, proxy.Config{Targets: cfg.Targets, Log: cfg.Log, Tracker: tracker,
		ValidationDelay: cfg.ValidationDelay, ArchiveBytes: cfg.Quotas.ArchiveBytes})
	if err != nil {
		db.Close()
		return nil, err
	}
	queue, err := deploy.NewQueue(db.JobPool, deployments, deploy.QueueConfig{
		JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter, Log: cfg.Log, Tracker: tracker,
		AddWorkers: proxies.Register,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := reg.Register(queue.Collector()); err != nil {
		db.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	audit := auth.NewAudit(db).WithLog(cfg.Log)
	authenticator := auth.NewAuthenticator(db, cfg.AdminToken)
	h := httpapi.New(httpapi.Config{
		Environments:  environment.NewService(db, tracker, httpapi.OperationResponse),
		Keystores:     keystore.NewService(db, keys).WithAliasQuota(aliasQuota(cfg.AliasQuota)),
		Operations:    operation.NewService(db),
		TargetServers: targetserver.NewService(db),
		Deployments:   deployments,
		Proxies:       proxies,
		Certificates:  expiry.NewService(db),
		PublicURL:     cfg.PublicURL,
		Ready:         ready(db, queue),
		Log:           cfg.Log,
		Auth:          authenticator,
		Tokens:        auth.NewTokens(db),
		Audit:         audit,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Registry:      reg,
		MetricsToken:  cfg.MetricsToken,

		MetricsCacheTTL: cfg.MetricsCacheTTL,
	})
	// The console calls the API in-process, so it has exactly the rights
	// of the token it was signed in with.
	con := console.New(console.Config{API: h, Auth: authenticator, Log: cfg.Log, PublicURL: cfg.PublicURL})
	return &Server{DB: db, Handler: h, Console: con, Queue: queue, Registry: reg, Audit: audit, cfg: cfg, flushLog: flushLog}, nil
}

// ready is the readiness check: the database answers, is migrated, and
// this server's job queue runs.
func ready(db *postgres.DB, queue *deploy.Queue) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := db.Ping(ctx); err != nil {
			return err
		}
		return queue.Err()
	}
}

// aliasQuota is the alias quota configured, with its default.
func aliasQuota(n int) int {
	if n == 0 {
		return keystore.DefaultAliasQuota
	}
	return n
}

// registerAll registers collectors in reg.
func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// Serve answers on ln until ctx ends, then stops accepting connections and
// lets in-flight requests and running deployments finish, up to
// ShutdownTimeout; deployments still running then are cancelled, and their
// jobs retried by the next server to work the queue.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	t := s.cfg.Timeouts.Or(DefaultTimeouts)
	srv := &http.Server{
		Handler:        clientlimit.Handler(console.Mount(s.Console, s.Handler), t),
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	t.Configure(srv)
	perAddr := s.cfg.MaxConnsPerAddr
	if perAddr == 0 {
		perAddr = DefaultMaxConnsPerAddr
	}
	// Reads and writes on client connections as raw system calls (see
	// rawio): a request's read, its answer's write, without handing the
	// thread's processor over.
	ln = clientlimit.Listen(rawio.Listen(ln), perAddr)
	if s.cfg.TLS != nil {
		srv.TLSConfig = s.cfg.TLS
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	// The queue outlives ctx: cancelling the context River was started with
	// would cancel the deployments it is running. It is stopped below, with
	// a grace period, like the HTTP server.
	if err := s.Queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	if s.cfg.MetricsAddr != "" {
		stop, err := s.serveMetrics(s.cfg.MetricsAddr, t)
		if err != nil {
			return err
		}
		defer stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	timeout := s.cfg.ShutdownTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Requests and deployments get the whole grace period each.
	queueErr := make(chan error, 1)
	go func() { queueErr <- s.stopQueue(shutdownCtx) }()
	if serveErr != nil {
		<-queueErr
		return serveErr
	}
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if e := <-queueErr; e != nil && err == nil {
		err = e
	}
	return err
}

// serveMetrics serves /metrics alone on addr until stop is called.
func (s *Server) serveMetrics(addr string, t Timeouts) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("KEYPLANE_METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Handler.Metrics())
	srv := &http.Server{Handler: clientlimit.Handler(mux, t), ErrorLog: slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn)}
	t.Configure(srv)
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// stopQueue lets running deployments finish until ctx ends, then cancels
// those still running: their transactions roll back and their jobs are
// retried by whichever server works the queue next.
func (s *Server) stopQueue(ctx context.Context) error {
	err := s.Queue.Stop(ctx)
	if err == nil {
		return nil
	}
	s.cfg.Log.Warn("deployments still running when the shutdown grace period ended; cancelling them", "error", err)
	cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopAndCancelTimeout)
	defer cancel()
	if err := s.Queue.StopAndCancel(cancelCtx); err != nil {
		return fmt.Errorf("stop job queue: %w", err)
	}
	return nil
}

// stopAndCancelTimeout bounds how long cancelled deployments may take to
// roll back.
const stopAndCancelTimeout = 10 * time.Second

// Close releases the database pool, and stops retrying audit records kept
// while the database is unavailable.
func (s *Server) Close() {
	s.Audit.Close()
	s.DB.Close()
	if s.flushLog != nil {
		_ = s.flushLog.Flush()
	}
}

// NewToken returns a random bearer token of 256 bits.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

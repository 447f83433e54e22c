// Package server assembles a keyplane server from its parts (storage,
// services, HTTP surface) and runs it until its context ends. The keyplane
// command and the end-to-end tests start servers through it, so both run the
// same wiring.
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
	"github.com/keyplane/keyplane/internal/console"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/environment"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/httpapi"
	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/postgres"
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
	// TLSCertFile and TLSKeyFile, when both set, make the server speak
	// HTTPS (TLS 1.2 and newer) with that PEM certificate chain and key.
	TLSCertFile, TLSKeyFile string
	// Timeouts bound how long a client may take; zero fields are defaults.
	Timeouts Timeouts
	// Registry receives every metric the server exports on /metrics; nil
	// means a new registry.
	Registry *prometheus.Registry
}

// Timeouts bound slow clients, so they cannot hold connections forever.
type Timeouts struct {
	ReadHeader time.Duration // default 10 s
	Read       time.Duration // whole request, body included; default 5 min (archives are large)
	Write      time.Duration // default 5 min
	Idle       time.Duration // keep-alive; default 2 min
}

func (t Timeouts) withDefaults() Timeouts {
	return Timeouts{
		ReadHeader: cmp.Or(t.ReadHeader, 10*time.Second),
		Read:       cmp.Or(t.Read, 5*time.Minute),
		Write:      cmp.Or(t.Write, 5*time.Minute),
		Idle:       cmp.Or(t.Idle, 2*time.Minute),
	}
}

// Server is an assembled keyplane: its database and its HTTP handler.
type Server struct {
	DB      *postgres.DB
	Handler *httpapi.Server
	// Console is the browser console, served at /console/ beside the API.
	Console *console.Console
	Queue   *deploy.Queue
	// Registry holds the metrics served on /metrics.
	Registry *prometheus.Registry
	cfg      Config
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
		db.Collector(), deploy.QueueCollector(db, queueDepthTimeout, cfg.Log),
		expiry.NewCollector(db, expiry.CollectorConfig{Log: cfg.Log})); err != nil {
		db.Close()
		return nil, err
	}
	tracker := operation.NewTracker(reg, cfg.Log)
	deployments := deploy.NewService(db, deploy.Config{
		SigningKeys:     keys.DeriveAll("archive urls"),
		ValidationDelay: cfg.ValidationDelay,
	})
	queue, err := deploy.NewQueue(db.Pool, deployments, deploy.QueueConfig{
		JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter, Log: cfg.Log, Tracker: tracker,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	authenticator := auth.NewAuthenticator(db, cfg.AdminToken)
	h := httpapi.New(httpapi.Config{
		Environments:  environment.NewService(db, tracker),
		Keystores:     keystore.NewService(db, keys),
		Operations:    operation.NewService(db),
		TargetServers: targetserver.NewService(db),
		Deployments:   deployments,
		Certificates:  expiry.NewService(db),
		PublicURL:     cfg.PublicURL,
		Ready:         db.Ping,
		Log:           cfg.Log,
		Auth:          authenticator,
		Tokens:        auth.NewTokens(db),
		Audit:         auth.NewAudit(db),
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Registry:      reg,
	})
	// The console calls the API in-process, so it has exactly the rights
	// of the token it was signed in with.
	con := console.New(console.Config{API: h, Auth: authenticator, Log: cfg.Log, PublicURL: cfg.PublicURL})
	return &Server{DB: db, Handler: h, Console: con, Queue: queue, Registry: reg, cfg: cfg}, nil
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
	t := s.cfg.Timeouts.withDefaults()
	srv := &http.Server{
		Handler:           console.Mount(s.Console, s.Handler),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLSCertFile != "" || s.cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("KEYPLANE_TLS_CERT/KEYPLANE_TLS_KEY: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	// The queue outlives ctx: cancelling the context River was started with
	// would cancel the deployments it is running. It is stopped below, with
	// a grace period, like the HTTP server.
	if err := s.Queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
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

// Close releases the database pool.
func (s *Server) Close() { s.DB.Close() }

// NewToken returns a random bearer token of 256 bits.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

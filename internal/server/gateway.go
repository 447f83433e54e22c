package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
)

// GatewayConfig is everything a gateway needs, parsed once by the caller
// (see ReadGateway).
type GatewayConfig struct {
	DatabaseURL string
	// MasterKey opens key aliases' private keys: the API server's.
	MasterKey string
	// Domain, Resync, Timeouts, MaxConnsPerAddr and Targets are the
	// gateway's (see gateway.Config); zero values are its defaults.
	Domain          string
	Resync          time.Duration
	Timeouts        clientlimit.Timeouts
	MaxConnsPerAddr int
	Targets         *egress.Policy
	// TLS, when set, makes the gateway speak HTTPS (see LoadTLS).
	TLS *tls.Config
	// ShutdownTimeout bounds how long requests in flight may take to
	// finish once the gateway is asked to stop; 0 means 30 seconds.
	ShutdownTimeout time.Duration
	Log             *slog.Logger
	// DisableUpstreamKeepAlives opens a new connection to the target for
	// every request (see gateway.Config).
	DisableUpstreamKeepAlives bool
}

// Gateway is an assembled gateway: its database and the gateway serving
// the live deployments it holds.
type Gateway struct {
	DB      *postgres.DB
	Gateway *gateway.Gateway
	cfg     GatewayConfig
}

// NewGateway migrates the database, connects and assembles a gateway.
// Gateways and API servers may start in any order: whichever comes first
// brings the schema up to date.
func NewGateway(ctx context.Context, cfg GatewayConfig) (*Gateway, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set")
	}
	keys, err := seal.ParseKeyring(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("KEYPLANE_MASTER_KEY: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := postgres.Migrate(cfg.DatabaseURL, "up"); err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	g := gateway.New(db, gateway.Config{
		Domain:          cfg.Domain,
		Resync:          cfg.Resync,
		Keys:            keys,
		Log:             cfg.Log,
		Targets:         cfg.Targets,
		Timeouts:        cfg.Timeouts,
		MaxConnsPerAddr: cfg.MaxConnsPerAddr,

		DisableUpstreamKeepAlives: cfg.DisableUpstreamKeepAlives,
	})
	return &Gateway{DB: db, Gateway: g, cfg: cfg}, nil
}

// Serve keeps the gateway's configuration current and answers on ln until
// ctx ends, then stops accepting connections and lets requests in flight
// finish, up to ShutdownTimeout.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Gateway.Run(ctx) }()
	err := g.Gateway.Serve(ctx, ln, g.cfg.TLS, cmp.Or(g.cfg.ShutdownTimeout, 30*time.Second))
	cancel()
	<-done
	return err
}

// Close releases the database pool.
func (g *Gateway) Close() { g.DB.Close() }

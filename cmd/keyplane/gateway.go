package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
)

func newGatewayCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve the live archive deployments of every environment",
		Long: `Serve the live archive deployments of every environment from the database:
a request for {org}-{env}.{domain} is routed by base path and operation to the
proxy's target, reached over TLS or mutual TLS as the deployment's SSLInfo says.
A new deployment, a re-pointed reference or an alias's new certificate reaches
the gateway within a second; when the database is unreachable it keeps serving
the last configuration it loaded. Several gateways may serve one database.

Environment:
  DATABASE_URL                PostgreSQL URL (required)
  KEYPLANE_MASTER_KEY         the server's master key (opens key aliases' private keys)
  KEYPLANE_GATEWAY_ADDR       listen address (default 127.0.0.1:8443)
  KEYPLANE_GATEWAY_DOMAIN     host suffix of environments (default localhost: myorg-dev.localhost)
  KEYPLANE_GATEWAY_TLS_CERT   PEM certificate chain: serve HTTPS (TLS 1.2+) with KEYPLANE_GATEWAY_TLS_KEY
  KEYPLANE_GATEWAY_TLS_KEY    PEM private key of KEYPLANE_GATEWAY_TLS_CERT
  KEYPLANE_GATEWAY_RESYNC     how often everything is reloaded whatever notifications said (default 30s)
  KEYPLANE_SHUTDOWN_GRACE     how long requests in flight may take to finish at shutdown (default 30s)
  KEYPLANE_LOG_FORMAT         json or text (default: text on a terminal, else json)
  KEYPLANE_LOG_LEVEL          debug, info, warn or error (default info)
  KEYPLANE_GATEWAY_TARGETS_ALLOW  CIDRs, addresses and host names (.example.com for a whole
                              domain) targets may reach although fenced by default: loopback,
                              link-local and metadata addresses are refused unless listed
                              here (make run lists 127.0.0.0/8,::1,localhost)
  KEYPLANE_GATEWAY_TARGETS_DENY   CIDRs, addresses and host names targets may never reach
  KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE  on (default) keeps connections to targets open for the
                              next request; off opens a new one for every request
  KEYPLANE_ADDR               the API server's listen address (default 127.0.0.1:8080),
                              which targets may never reach
  KEYPLANE_METRICS_ADDR       the API server's metrics address, which targets may never reach

Every connection to a target is checked against the target fence after DNS
resolution; a refused one answers 503 like any failed connection and is logged.

Slow and greedy clients:
` + clientLimitsHelp("KEYPLANE_GATEWAY_", gateway.DefaultTimeouts, gateway.DefaultMaxConnsPerAddr),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(os.Stderr, os.Getenv("KEYPLANE_LOG_FORMAT"), os.Getenv("KEYPLANE_LOG_LEVEL"))
			if err != nil {
				return usageError{err}
			}
			keys, err := seal.ParseKeyring(os.Getenv("KEYPLANE_MASTER_KEY"))
			if err != nil {
				return usageError{fmt.Errorf("KEYPLANE_MASTER_KEY: %w", err)}
			}
			url := os.Getenv("DATABASE_URL")
			if url == "" {
				return usageError{fmt.Errorf("DATABASE_URL is not set")}
			}
			durations := map[string]time.Duration{"KEYPLANE_GATEWAY_RESYNC": 30 * time.Second, "KEYPLANE_SHUTDOWN_GRACE": 30 * time.Second}
			for name := range durations {
				d, set, err := envDuration(name, true)
				if err != nil {
					return usageError{err}
				}
				if set {
					durations[name] = d
				}
			}
			targets, err := egress.Parse(os.Getenv("KEYPLANE_GATEWAY_TARGETS_ALLOW"), os.Getenv("KEYPLANE_GATEWAY_TARGETS_DENY"),
				envOr("KEYPLANE_ADDR", "127.0.0.1:8080"), os.Getenv("KEYPLANE_METRICS_ADDR"))
			if err != nil {
				return usageError{err}
			}
			timeouts, conns, err := clientLimitsFromEnv("KEYPLANE_GATEWAY_")
			if err != nil {
				return usageError{err}
			}
			keepAlive, err := envSwitch("KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE", true)
			if err != nil {
				return usageError{err}
			}
			var tlsConfig *tls.Config
			certFile, keyFile := os.Getenv("KEYPLANE_GATEWAY_TLS_CERT"), os.Getenv("KEYPLANE_GATEWAY_TLS_KEY")
			if certFile != "" || keyFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					return usageError{fmt.Errorf("KEYPLANE_GATEWAY_TLS_CERT/KEYPLANE_GATEWAY_TLS_KEY: %w", err)}
				}
				tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
			}
			// Gateways and API servers may start in any order: whichever
			// comes first brings the schema up to date.
			if err := postgres.Migrate(url, "up"); err != nil {
				return fmt.Errorf("migrate database: %w", err)
			}
			db, err := postgres.Open(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer db.Close()
			g := gateway.New(db, gateway.Config{
				Domain:          os.Getenv("KEYPLANE_GATEWAY_DOMAIN"),
				Resync:          durations["KEYPLANE_GATEWAY_RESYNC"],
				Keys:            keys,
				Log:             log,
				Targets:         targets,
				Timeouts:        timeouts,
				MaxConnsPerAddr: conns,

				DisableUpstreamKeepAlives: !keepAlive,
			})
			if os.Getenv("GOGC") == "" {
				// A gateway's heap is small and made of short-lived
				// request garbage: collecting it a quarter as often
				// costs a few MiB and saves CPU on every request.
				debug.SetGCPercent(400)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- g.Run(ctx) }()
			scheme := "http"
			if tlsConfig != nil {
				scheme = "https"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keyplane gateway serving on %s://%s\n", scheme, ln.Addr())
			err = g.Serve(ctx, ln, tlsConfig, durations["KEYPLANE_SHUTDOWN_GRACE"])
			cancel()
			<-done
			return err
		},
	}
	cmd.Flags().StringVar(&addr, "addr", envOr("KEYPLANE_GATEWAY_ADDR", "127.0.0.1:8443"), "listen address (env KEYPLANE_GATEWAY_ADDR)")
	return cmd
}

// envSwitch reads an on/off environment variable, def when it is unset.
func envSwitch(name string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(name))) {
	case "":
		return def, nil
	case "on", "true", "1", "yes":
		return true, nil
	case "off", "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want on or off", name, os.Getenv(name))
}

package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/server"
)

func newServeCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the keyplane API server",
		Long: `Run the keyplane API server. It applies pending database migrations, then serves
until interrupted; on Ctrl-C or SIGTERM it stops accepting connections and lets
in-flight requests finish.

Environment:
  DATABASE_URL              PostgreSQL URL (required)
  KEYPLANE_ADDR             listen address (default 127.0.0.1:8080)
  KEYPLANE_MASTER_KEY       base64 of 32 bytes, or id:base64,... (newest last); seals private keys
  KEYPLANE_BOOTSTRAP_TOKEN  bearer token accepted as an administrator's; generated and printed when unset
  KEYPLANE_TLS_CERT         PEM certificate chain: serve HTTPS (TLS 1.2+) with KEYPLANE_TLS_KEY
  KEYPLANE_TLS_KEY          PEM private key of KEYPLANE_TLS_CERT
  KEYPLANE_PUBLIC_URL       base URL clients reach the server at, for signed upload URLs
                            (default: the URL of each request)
  KEYPLANE_JOB_TIMEOUT      longest a deployment may run (default 1m)
  KEYPLANE_RESCUE_AFTER     how long a running deployment may go on before another server
                            presumes its server dead and takes it over (default job timeout + 30s)
  KEYPLANE_SHUTDOWN_GRACE   how long in-flight requests may take to finish at shutdown (default 30s)
  KEYPLANE_DEPLOY_DELAY     slow every deployment down by this much (for testing crash recovery)
  KEYPLANE_LOG_FORMAT       json or text (default: text when stderr is a terminal, else json)
  KEYPLANE_LOG_LEVEL        debug, info, warn or error (default info; debug adds successful
                            /healthz, /readyz and /metrics requests)
  KEYPLANE_METRICS_TOKEN    bearer token GET /metrics needs on the API's address; unset, /metrics
                            is not served there (its labels name every organization's aliases)
  KEYPLANE_METRICS_ADDR     listen address of its own for /metrics, served without a token to
                            whoever reaches it: bind it to the monitoring network only
  KEYPLANE_MAX_CONCURRENT_UPLOADS  archive uploads streaming at once (default 8); more are
                            answered 429 with Retry-After
  KEYPLANE_KEEP_ARCHIVES    deployments per environment whose archives the sweep keeps, the
                            newest (default 10; the live one's is always kept)
  KEYPLANE_QUOTA_ARCHIVE_BYTES        archive bytes one organization may store (default
                            10737418240, 10 GiB; 0 for no limit); beyond it uploads answer 429
  KEYPLANE_QUOTA_ALIASES    aliases one organization may hold (default 10000; 0 for no limit)
  KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY  archive deployments one organization may create in 24
                            hours (default 1000; 0 for no limit); beyond it 429
  KEYPLANE_GATEWAY_TARGETS_ALLOW  CIDRs, addresses and host names (.example.com for a whole
                            domain) deployments may target although fenced by default:
                            loopback, link-local and metadata addresses are refused unless
                            listed here (make run lists 127.0.0.0/8,::1,localhost)
  KEYPLANE_GATEWAY_TARGETS_DENY   CIDRs, addresses and host names deployments may never target;
                            this server's own listen address is always refused

Slow and greedy clients:
` + clientLimitsHelp("KEYPLANE_", server.DefaultTimeouts, server.DefaultMaxConnsPerAddr) + `
The log goes to stderr, one line per request and per operation start and finish;
GET /metrics serves Prometheus metrics (see KEYPLANE_METRICS_TOKEN and _ADDR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(os.Stderr, os.Getenv("KEYPLANE_LOG_FORMAT"), os.Getenv("KEYPLANE_LOG_LEVEL"))
			if err != nil {
				return usageError{err}
			}
			cfg := server.Config{
				DatabaseURL: os.Getenv("DATABASE_URL"),
				MasterKey:   os.Getenv("KEYPLANE_MASTER_KEY"),
				AdminToken:  os.Getenv("KEYPLANE_BOOTSTRAP_TOKEN"),
				PublicURL:   os.Getenv("KEYPLANE_PUBLIC_URL"),
				TLSCertFile: os.Getenv("KEYPLANE_TLS_CERT"),
				TLSKeyFile:  os.Getenv("KEYPLANE_TLS_KEY"),
				Log:         log,

				MetricsToken: os.Getenv("KEYPLANE_METRICS_TOKEN"),
				MetricsAddr:  os.Getenv("KEYPLANE_METRICS_ADDR"),
			}
			for name, d := range map[string]*time.Duration{
				"KEYPLANE_JOB_TIMEOUT":    &cfg.JobTimeout,
				"KEYPLANE_RESCUE_AFTER":   &cfg.RescueAfter,
				"KEYPLANE_DEPLOY_DELAY":   &cfg.ValidationDelay,
				"KEYPLANE_SHUTDOWN_GRACE": &cfg.ShutdownTimeout,
			} {
				parsed, set, err := envDuration(name, false)
				if err != nil {
					return usageError{err}
				}
				if set {
					*d = parsed
				}
			}
			if cfg.Targets, err = egress.Parse(os.Getenv("KEYPLANE_GATEWAY_TARGETS_ALLOW"), os.Getenv("KEYPLANE_GATEWAY_TARGETS_DENY"), addr, cfg.MetricsAddr); err != nil {
				return usageError{err}
			}
			if cfg.Timeouts, cfg.MaxConnsPerAddr, err = clientLimitsFromEnv("KEYPLANE_"); err != nil {
				return usageError{err}
			}
			var deploysPerDay int64
			for name, n := range map[string]*int64{
				"KEYPLANE_QUOTA_ARCHIVE_BYTES":       &cfg.Quotas.ArchiveBytes,
				"KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY": &deploysPerDay,
			} {
				if v := os.Getenv(name); v != "" {
					if *n, err = strconv.ParseInt(v, 10, 64); err != nil || *n < 0 {
						return usageError{fmt.Errorf("%s %q is not a number (0 for no limit)", name, v)}
					}
					if *n == 0 {
						*n = -1
					}
				}
			}
			cfg.Quotas.DeploymentsPerDay = int(deploysPerDay)
			if v := os.Getenv("KEYPLANE_QUOTA_ALIASES"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return usageError{fmt.Errorf("KEYPLANE_QUOTA_ALIASES %q is not a number (0 for no limit)", v)}
				}
				cfg.AliasQuota = cmp.Or(n, -1)
			}
			for name, n := range map[string]*int{
				"KEYPLANE_MAX_CONCURRENT_UPLOADS": &cfg.MaxConcurrentUploads,
				"KEYPLANE_KEEP_ARCHIVES":          &cfg.KeepArchives,
			} {
				if v := os.Getenv(name); v != "" {
					if *n, err = strconv.Atoi(v); err != nil || *n <= 0 {
						return usageError{fmt.Errorf("%s %q is not a positive number", name, v)}
					}
				}
			}
			generated := cfg.AdminToken == ""
			if generated {
				cfg.AdminToken = server.NewToken()
			}
			srv, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			scheme := "http"
			if cfg.TLSCertFile != "" {
				scheme = "https"
			}
			fmt.Fprintf(out, "keyplane serving on %s://%s\n", scheme, ln.Addr())
			fmt.Fprintf(out, "console: %s://%s/console/\n", scheme, ln.Addr())
			if generated {
				fmt.Fprintf(out, "admin token (set KEYPLANE_BOOTSTRAP_TOKEN to choose one): %s\n", cfg.AdminToken)
			}
			return srv.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", envOr("KEYPLANE_ADDR", "127.0.0.1:8080"), "listen address (env KEYPLANE_ADDR)")
	return cmd
}

// newLogger returns the server's logger writing to w: JSON lines, or text
// for people when format is "text" or, with no format given, when w is a
// terminal.
func newLogger(w *os.File, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("KEYPLANE_LOG_LEVEL %q is not a level: use debug, info, warn or error", level)
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("KEYPLANE_LOG_FORMAT %q is not a format: use json or text", format)
	}
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

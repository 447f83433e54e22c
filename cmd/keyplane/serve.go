package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/server"
)

func newServeCmd() *cobra.Command {
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
The log goes to stderr, one line per request and per operation start and finish,
written in batches within 50 ms (warnings and errors at once);
GET /metrics serves Prometheus metrics (see KEYPLANE_METRICS_TOKEN and _ADDR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := server.ReadServe(settingsSource(cmd, "KEYPLANE_ADDR"))
			if err != nil {
				return usageError{err}
			}
			// The log writes its lines in batches: what it holds is
			// written however the command ends.
			if f, ok := s.Config.Log.Handler().(interface{ Flush() error }); ok {
				defer func() { _ = f.Flush() }()
			}
			srv, err := server.New(cmd.Context(), s.Config)
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", s.Addr)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			scheme := schemeOf(s.Config.TLS)
			fmt.Fprintf(out, "keyplane serving on %s://%s\n", scheme, ln.Addr())
			fmt.Fprintf(out, "console: %s://%s/console/\n", scheme, ln.Addr())
			if s.TokenGenerated {
				fmt.Fprintf(out, "admin token (set KEYPLANE_BOOTSTRAP_TOKEN to choose one): %s\n", s.Config.AdminToken)
			}
			return srv.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().String("addr", server.DefaultAddr, "listen address (env KEYPLANE_ADDR)")
	return cmd
}

// settingsSource is where a command's settings come from: its --addr flag,
// when given, stands for the variable addrVar and beats it; everything
// else is read from the environment.
func settingsSource(cmd *cobra.Command, addrVar string) server.Source {
	flags := map[string]string{}
	if f := cmd.Flags().Lookup("addr"); f != nil && f.Changed {
		flags[addrVar] = f.Value.String()
	}
	return server.Source{Flags: flags}
}

// schemeOf is the scheme a server with tlsConfig answers on.
func schemeOf(tlsConfig *tls.Config) string {
	if tlsConfig != nil {
		return "https"
	}
	return "http"
}

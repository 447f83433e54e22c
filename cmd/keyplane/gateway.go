package main

import (
	"fmt"
	"net"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/server"
)

func newGatewayCmd() *cobra.Command {
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
			s, err := server.ReadGateway(settingsSource(cmd, "KEYPLANE_GATEWAY_ADDR"))
			if err != nil {
				return usageError{err}
			}
			g, err := server.NewGateway(cmd.Context(), s.Config)
			if err != nil {
				return err
			}
			defer g.Close()
			if os.Getenv("GOGC") == "" {
				// A gateway's heap is small and made of short-lived
				// request garbage: collecting it a quarter as often
				// costs a few MiB and saves CPU on every request.
				debug.SetGCPercent(400)
			}
			// No TCP keep-alive probes on client connections: the idle
			// timeout closes silent clients, and each accepted connection
			// is spared the system calls that set the probes up.
			ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(cmd.Context(), "tcp", s.Addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keyplane gateway serving on %s://%s\n", schemeOf(s.Config.TLS), ln.Addr())
			return g.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().String("addr", server.DefaultGatewayAddr, "listen address (env KEYPLANE_GATEWAY_ADDR)")
	return cmd
}

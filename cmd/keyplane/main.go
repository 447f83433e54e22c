// Command keyplane is the keyplane server and its command-line client: one
// binary that serves the API (`keyplane serve`), manages the database schema
// (`keyplane migrate`), and drives a server from CI pipelines and terminals
// (`keyplane archives deploy`, `keyplane keystores ...`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		// A pending operation is no error of the command's: it says what
		// is known, and how to learn the rest.
		if code := exitCode(err); code == exitPending {
			fmt.Fprintln(os.Stderr, "PENDING:", err)
		} else {
			fmt.Fprintln(os.Stderr, "ERROR:", err)
		}
		os.Exit(exitCode(err))
	}
}

// newRootCmd builds the whole command tree. It is a function, not a global,
// so tests can run commands in-process with their own output buffers.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "keyplane",
		Short:         "Manage the TLS material API gateways use to reach their backends",
		Long:          "keyplane serves an Apigee-compatible management API for keystores, aliases, references,\ntarget servers and archive deployments, and is also its command-line client.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newGatewayCmd(), newMigrateCmd(), newRotateMasterKeyCmd())
	addClientCommands(root)
	return root
}

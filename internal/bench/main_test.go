package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// The test binary stands in for the programs the benchmark runs as their
// own processes, chosen by this variable: "backend" is RunBackend, as
// `keyplane-bench backend` runs it; "no-gateway" answers a gateway command
// as a keyplane without one does (cobra's message for an unknown command).
const roleEnv = "KEYPLANE_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "backend":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := RunBackend(ctx, os.Args[1:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "no-gateway":
		fmt.Fprintf(os.Stderr, "ERROR: unknown command %q for %q\n", os.Args[1], "keyplane")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// backendCommand runs the test binary as the backend.
func backendCommand() (argv, env []string) {
	return []string{os.Args[0]}, []string{roleEnv + "=backend"}
}

// startTestBackend starts the backend process for a test and stops it at
// the test's end.
func startTestBackend(t *testing.T) *backend {
	t.Helper()
	argv, env := backendCommand()
	be, err := startBackend(context.Background(), argv, env, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := be.proc.stop(); err != nil {
			t.Error(err)
		}
	})
	return be
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/bench"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/server"
)

// serveEnv, when set, makes the test binary a keyplane server configured
// like `keyplane serve`: the smoke test runs it as the benchmark's server
// process, so that it does not need to build cmd/keyplane.
const serveEnv = "KEYPLANE_BENCH_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve runs a server from the environment `keyplane serve` reads, until
// SIGTERM.
func serve() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, server.Config{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		MasterKey:   os.Getenv("KEYPLANE_MASTER_KEY"),
		AdminToken:  os.Getenv("KEYPLANE_BOOTSTRAP_TOKEN"),
		Log:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", os.Getenv("KEYPLANE_ADDR"))
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// TestBench_TinyDataSet_CompletesAndWritesEveryResult runs the whole
// benchmark on a tiny data set for a few milliseconds per run: it checks
// that the benchmark works, not how fast keyplane is.
func TestBench_TinyDataSet_CompletesAndWritesEveryResult(t *testing.T) {
	if testing.Short() {
		t.Skip("the benchmark's smoke run is skipped with -short")
	}
	t.Parallel()
	base := os.Getenv(pgtest.EnvVar)
	if base == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a private PostgreSQL", pgtest.EnvVar)
	}
	dir := t.TempDir()
	var log bytes.Buffer
	start := time.Now()
	rep, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL:  base,
		Database:     fmt.Sprintf("keyplane_bench_smoke_%d", time.Now().UnixNano()),
		DropDatabase: true,
		Server:       []string{os.Args[0]},
		ServerEnv:    []string{serveEnv + "=1"},
		Keystores:    3, Aliases: 4, References: 2,
		Duration: 50 * time.Millisecond, Warmup: 10 * time.Millisecond,
		Concurrency: []int{1, 4},
		Deployments: 4, DeployConcurrency: 2,
		CertsRSA: 1, CertsEC: 1,
		LoadConcurrency: 4,
		SQLSamples:      3, SQLDeploySamples: 1,
		TempDir: dir,
		Log:     &log,
	})
	require.NoError(t, err, log.String())
	t.Logf("smoke run took %s", time.Since(start).Round(time.Millisecond))

	out := filepath.Join(dir, "bench.json")
	require.NoError(t, rep.WriteJSON(out))
	require.NoError(t, rep.WriteTable(io.Discard))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var got struct {
		Machine string `json:"machine"`
		Results []struct {
			Name     string   `json:"name"`
			RPS      float64  `json:"rps"`
			SQLPerOp *float64 `json:"sql_per_op"`
		} `json:"results"`
		PeakRSSMiB float64 `json:"peak_rss_mib"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	require.NotEmpty(t, got.Machine)
	require.Positive(t, got.PeakRSSMiB)
	names := map[string]bool{}
	for _, r := range got.Results {
		names[r.Name] = true
		require.Positive(t, r.RPS, r.Name)
		require.NotNil(t, r.SQLPerOp, r.Name)
	}
	for _, n := range bench.ResultNames() {
		require.True(t, names[n], "bench.json has no result %q", n)
	}
}

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
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/bench"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/server"
)

// serveEnv, when set, makes the test binary a keyplane server configured
// like `keyplane serve`: the smoke test runs it as the benchmark's server
// process, so that it does not need to build cmd/keyplane. backendEnv makes
// it `keyplane-bench backend`, the mTLS backend of the gateway vs nginx
// comparison.
const (
	serveEnv   = "KEYPLANE_BENCH_TEST_SERVE"
	backendEnv = "KEYPLANE_BENCH_TEST_BACKEND"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(backendEnv) == "1" {
		if err := run(context.Background(), append([]string{"backend"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// smokeProxy is a short gateway vs nginx comparison: the backend is this
// binary, nginx is used if installed (never installed by a test), and the
// gateway is left out: the test binary has none to run.
func smokeProxy() bench.ProxyConfig {
	return bench.ProxyConfig{
		Backend: []string{os.Args[0]}, BackendEnv: []string{backendEnv + "=1"},
		Connections: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2,
		// Enough to measure, few enough for the file limit of a test
		// process sharing the machine with other packages' tests.
		IdleConnections: 300,
	}
}

// nginxInstalled says whether the comparison can have an nginx half.
func nginxInstalled() bool {
	if _, err := exec.LookPath("nginx"); err == nil {
		return true
	}
	_, err := exec.LookPath("/usr/sbin/nginx")
	return err == nil
}

// checkProxySection checks the gateway vs nginx section of a report.
func checkProxySection(t *testing.T, got *bench.ProxyComparison) {
	t.Helper()
	require.NotNil(t, got)
	require.Empty(t, got.Skipped)
	require.Equal(t, 4, got.Connections)
	require.Equal(t, bench.ProxySkipped, got.Gateway.Status)
	require.Equal(t, "no gateway command was configured", got.Gateway.Reason)
	if nginxInstalled() {
		require.Equal(t, bench.ProxyMeasured, got.Nginx.Status, got.Nginx.Reason)
		require.Positive(t, got.Nginx.RPS)
		require.Zero(t, got.Nginx.Errors+got.Nginx.WarmupErrors, got.Nginx.ErrorKinds)
	} else {
		require.Equal(t, bench.ProxySkipped, got.Nginx.Status)
		require.Contains(t, got.Nginx.Reason, "nginx is not available")
	}
	require.NoError(t, got.Failure())
}

// serve runs a server from the environment `keyplane serve` reads, until
// SIGTERM.
func serve() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	targets, err := egress.Parse(os.Getenv("KEYPLANE_GATEWAY_TARGETS_ALLOW"), os.Getenv("KEYPLANE_GATEWAY_TARGETS_DENY"), os.Getenv("KEYPLANE_ADDR"))
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{
		Targets:     targets,
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

// smokeCluster skips a smoke run under -short, runs it in parallel, and
// returns the URL of the cluster its database is made on.
func smokeCluster(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the benchmark's smoke run is skipped with -short")
	}
	t.Parallel()
	base := os.Getenv(pgtest.EnvVar)
	if base == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a private PostgreSQL", pgtest.EnvVar)
	}
	return base
}

// TestBench_TinyDataSet_CompletesAndWritesEveryResult runs the whole
// benchmark on a tiny data set for a few milliseconds per run: it checks
// that the benchmark works, not how fast keyplane is.
func TestBench_TinyDataSet_CompletesAndWritesEveryResult(t *testing.T) {
	base := smokeCluster(t)
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
		Proxy:   smokeProxy(),
		TempDir: dir,
		Log:     &log,
	})
	require.NoError(t, err, log.String())
	checkProxySection(t, rep.GatewayVsNginx)
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

// TestBench_OnlyGateway_RunsTheComparisonAlone runs the gateway vs nginx
// comparison without the data set, as `-only gateway` does, and merges it
// into an existing report.
func TestBench_OnlyGateway_RunsTheComparisonAlone(t *testing.T) {
	base := smokeCluster(t)
	dir := t.TempDir()
	var log bytes.Buffer
	rep, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL:  base,
		Database:     fmt.Sprintf("keyplane_bench_gateway_smoke_%d", time.Now().UnixNano()),
		DropDatabase: true,
		Server:       []string{os.Args[0]},
		ServerEnv:    []string{serveEnv + "=1"},
		Keystores:    1, Aliases: 1,
		Only:    bench.OnlyProxies,
		Proxy:   smokeProxy(),
		TempDir: dir,
		Log:     &log,
	})
	require.NoError(t, err, log.String())
	require.Empty(t, rep.Results, "no API run without the data set")
	checkProxySection(t, rep.GatewayVsNginx)

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "gateway vs nginx (4 connections, mTLS upstream)")
	require.NotContains(t, table.String(), "baseline req/s", "the API's table is not printed")

	out := filepath.Join(dir, "bench.json")
	require.NoError(t, os.WriteFile(out, []byte(`{"machine":"earlier full run","peak_rss_mib":40.3}`), 0o644))
	require.NoError(t, rep.MergeJSON(out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var got struct {
		Machine        string                 `json:"machine"`
		PeakRSSMiB     float64                `json:"peak_rss_mib"`
		GatewayVsNginx *bench.ProxyComparison `json:"gateway_vs_nginx"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "earlier full run", got.Machine)
	require.InDelta(t, 40.3, got.PeakRSSMiB, 1e-9)
	checkProxySection(t, got.GatewayVsNginx)
}

// A run limited by Cases times, counts and checks only what it names, and
// skips the gateway's parts.
func TestBench_Cases_TimesOnlyTheNamedResultsAndBaselines(t *testing.T) {
	base := smokeCluster(t)
	var log bytes.Buffer
	rep, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL:  base,
		Database:     fmt.Sprintf("keyplane_bench_cases_smoke_%d", time.Now().UnixNano()),
		DropDatabase: true,
		Server:       []string{os.Args[0]},
		ServerEnv:    []string{serveEnv + "=1"},
		Keystores:    2, Aliases: 2, References: 1,
		Duration: 50 * time.Millisecond, Warmup: 10 * time.Millisecond,
		Concurrency: []int{1, 2},
		CertsRSA:    1, CertsEC: 1,
		LoadConcurrency: 2,
		SQLSamples:      2,
		Cases:           []string{bench.CreateAlias, bench.AliasCryptoFloor},
		Proxy:           smokeProxy(),
		TempDir:         t.TempDir(),
		Log:             &log,
	})
	require.NoError(t, err, log.String())
	names := func(rs []bench.Result) (out []string) {
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s@%d", r.Name, r.Concurrency))
		}
		return out
	}
	require.Equal(t, []string{"create_alias@1", "create_alias@2"}, names(rep.Results))
	require.Equal(t, []string{"alias_crypto_floor@1", "alias_crypto_floor@2"}, names(rep.Baselines))
	for _, r := range rep.Results {
		require.NotNil(t, r.SQLPerOp, "create_alias's statements are counted")
		require.NotNil(t, r.Ratio, "create_alias is divided by alias_crypto_floor")
	}
	require.Nil(t, rep.GatewayVsNginx, "no gateway comparison")
	require.Nil(t, rep.Runtime, "no runtime at scale")
	require.Len(t, rep.Targets, 3, "the two ratios and the statements of create_alias")
	for _, tg := range rep.Targets {
		require.Contains(t, tg.Target, bench.CreateAlias)
	}
}

// An unknown case, or cases with a part run alone, are refused before
// anything starts.
func TestBench_Cases_UnknownOrWithOnly_AreRefused(t *testing.T) {
	cfg := bench.Config{DatabaseURL: "postgres://unused", Server: []string{"unused"}, Keystores: 1, Aliases: 1,
		Cases: []string{"create_alais"}}
	_, err := bench.Run(context.Background(), cfg)
	require.ErrorContains(t, err, `case "create_alais": the cases are get_alias, `)
	cfg.Cases, cfg.Only = []string{bench.CreateAlias}, bench.OnlyProxies
	_, err = bench.Run(context.Background(), cfg)
	require.ErrorContains(t, err, `cases and only "gateway"`)
}

// -cases writes a partial report, so it must be told where.
func TestRun_CasesWithoutOut_IsRefused(t *testing.T) {
	err := run(context.Background(), []string{"-cases", "create_alias"})
	require.ErrorContains(t, err, "-cases needs -out")
}

// TestBench_OnlyReads_TimesTheReadsNextToHealthz runs the reads alone, as
// `-only reads` does: the three reads and http_healthz at each concurrency,
// their SQL statements counted, and only their targets checked.
func TestBench_OnlyReads_TimesTheReadsNextToHealthz(t *testing.T) {
	base := smokeCluster(t)
	var log bytes.Buffer
	rep, err := bench.Run(context.Background(), bench.Config{
		DatabaseURL:  base,
		Database:     fmt.Sprintf("keyplane_bench_reads_smoke_%d", time.Now().UnixNano()),
		DropDatabase: true,
		Server:       []string{os.Args[0]},
		ServerEnv:    []string{serveEnv + "=1"},
		Keystores:    2, Aliases: 2, References: 2,
		Duration: 50 * time.Millisecond, Warmup: 10 * time.Millisecond,
		Concurrency: []int{1, 4},
		Deployments: 2,
		CertsRSA:    1, CertsEC: 1,
		LoadConcurrency: 4,
		SQLSamples:      3,
		Only:            bench.OnlyReads,
		TempDir:         t.TempDir(),
		Log:             &log,
	})
	require.NoError(t, err, log.String())
	var results, baselines []string
	for _, r := range rep.Results {
		results = append(results, fmt.Sprintf("%s@%d", r.Name, r.Concurrency))
		require.Positive(t, r.RPS, r.Name)
		require.NotNil(t, r.SQLPerOp, r.Name)
		require.NotNil(t, r.Ratio, r.Name)
		require.Equal(t, "server_cpu", r.RatioOf, r.Name)
	}
	for _, r := range rep.Baselines {
		baselines = append(baselines, fmt.Sprintf("%s@%d", r.Name, r.Concurrency))
	}
	require.Equal(t, []string{"get_alias@1", "get_keystore@1", "get_operation@1", "get_alias@4", "get_keystore@4", "get_operation@4"}, results)
	require.Equal(t, []string{"http_healthz@1", "http_healthz@4"}, baselines)
	require.Nil(t, rep.GatewayVsNginx, "no gateway comparison")
	require.Len(t, rep.Targets, 6, "the reads' CPU and SQL targets alone: %v", rep.Targets)
	for _, tg := range rep.Targets {
		require.Regexp(t, `^get_(alias|keystore|operation) `, tg.Target)
	}
}

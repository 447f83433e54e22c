// Command keyplane-bench measures keyplane against the database's own
// limit: it builds keyplane, serves a fresh database keyplane_bench with it,
// loads a realistic data set through the API, times reads, writes and
// deployments over HTTP and raw pgx baselines on the same database, and
// prints one table, also written to bench.json. `make bench` runs it.
//
// The database comes from -database-url, else DATABASE_URL, else the
// private cluster of scripts/pg.sh (started if needed).
//
// It also compares `keyplane gateway` with nginx in front of the same
// mutual TLS backend, with and without keep-alive and holding idle
// connections (-only gateway runs that part alone, in about three minutes);
// `keyplane-bench backend` is that backend, which the benchmark runs as its
// own process. Last, it measures the gateway runtime with many environments
// (-only runtime runs that part alone; -runtime-envs sizes it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyplane/keyplane/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyplane-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "backend" {
		return bench.RunBackend(ctx, args[1:], os.Stdout)
	}
	fs := flag.NewFlagSet("keyplane-bench", flag.ContinueOnError)
	var (
		cfg         bench.Config
		conc        string
		serverBin   string
		out         string
		databaseURL string
		cases       string
	)
	fs.StringVar(&databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL of the cluster to use (default $DATABASE_URL, else scripts/pg.sh start)")
	fs.StringVar(&cfg.Database, "database", "", "database to drop, create and benchmark on (name must start with keyplane_bench; default keyplane_bench, or keyplane_bench_gateway with -only gateway)")
	fs.IntVar(&cfg.Keystores, "keystores", 1000, "keystores in the data set")
	fs.IntVar(&cfg.Aliases, "aliases", 100, "aliases per keystore")
	fs.IntVar(&cfg.References, "references", 1000, "references in the data set")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "how long each timed run measures")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "unmeasured warm-up before each timed run (default min(1s, duration/5))")
	fs.StringVar(&conc, "concurrency", "1,32", "concurrencies of the read and write runs, comma-separated")
	fs.IntVar(&cfg.Deployments, "deployments", 200, "deployments of the drain run")
	fs.IntVar(&cfg.DeployConcurrency, "deploy-concurrency", 16, "concurrency of the drain run")
	fs.IntVar(&cfg.CertsRSA, "certs-rsa", 50, "distinct RSA-2048 leaf chains in the pool")
	fs.IntVar(&cfg.CertsEC, "certs-ec", 50, "distinct EC P-256 leaf chains in the pool")
	fs.IntVar(&cfg.LoadConcurrency, "load-concurrency", 32, "concurrency of the data load")
	fs.IntVar(&cfg.SQLSamples, "sql-samples", 200, "requests of each kind whose SQL statements are counted")
	fs.IntVar(&cfg.SQLDeploySamples, "sql-deploy-samples", 20, "deployments whose SQL statements are counted")
	fs.StringVar(&serverBin, "server-bin", "", "keyplane binary to benchmark (default: go build ./cmd/keyplane)")
	fs.StringVar(&out, "out", "", "where to write the JSON report (default bench.json in the repository root); with -only gateway, only its section of an existing report is replaced")
	fs.StringVar(&cfg.Only, "only", "", "run one part alone: \"gateway\" compares keyplane gateway with nginx, \"runtime\" measures the gateway with -runtime-envs environments; neither loads the data set; \"reads\" times get_alias, get_keystore and get_operation next to http_healthz on -keystores × -aliases, and writes a report only where -out says")
	fs.StringVar(&cases, "cases", "", "time and count only these results and baselines of the API, comma-separated (such as create_alias,alias_crypto_floor), after loading the data set; no gateway parts; needs -out, since the report is partial")
	fs.IntVar(&cfg.Runtime.Environments, "runtime-envs", 1000, "environments of the gateway runtime at scale, measured at a tenth of them, then all (-1 skips the part)")
	fs.IntVar(&cfg.Runtime.ProxiesPerEnv, "runtime-proxies", 10, "proxies in each environment's archive for the runtime at scale")
	fs.IntVar(&cfg.Runtime.Samples, "runtime-samples", 30, "environment changes timed from notification to served, at each step of the runtime at scale")
	fs.IntVar(&cfg.Proxy.Connections, "proxy-connections", 64, "keep-alive connections to each proxy in the gateway vs nginx comparison")
	fs.DurationVar(&cfg.Proxy.Duration, "proxy-duration", 10*time.Second, "how long each proxy is measured in all, split over the rounds")
	fs.DurationVar(&cfg.Proxy.Warmup, "proxy-warmup", 2*time.Second, "unmeasured warm-up before each proxy's turn in each round")
	fs.IntVar(&cfg.Proxy.Rounds, "proxy-rounds", 2, "rounds of the comparison; each measures both proxies, in alternating order")
	fs.IntVar(&cfg.Proxy.IdleConnections, "idle-connections", 10000, "idle keep-alive client connections each proxy holds for the memory comparison (-1 skips it)")
	fs.StringVar(&cfg.Proxy.Nginx, "nginx", "", "nginx binary (default: nginx on PATH, else /usr/sbin/nginx, else Debian's package installed with apt-get when root)")
	fs.BoolVar(&cfg.Proxy.InstallNginx, "install-nginx", true, "install Debian's nginx package with apt-get when nginx is not found (root only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Database == "" {
		cfg.Database = "keyplane_bench"
		if cfg.Only != "" {
			// Leave the full run's database, kept for inspection, alone.
			cfg.Database = "keyplane_bench_" + cfg.Only
		}
	}
	if cases != "" {
		if out == "" {
			return errors.New("-cases needs -out: a partial report must not replace bench.json")
		}
		for _, name := range strings.Split(cases, ",") {
			cfg.Cases = append(cfg.Cases, strings.TrimSpace(name))
		}
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-concurrency: %q is not a number", s)
		}
		cfg.Concurrency = append(cfg.Concurrency, n)
	}

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if out == "" && cfg.Only != bench.OnlyReads {
		out = filepath.Join(root, "bench.json")
	}
	if databaseURL == "" {
		if databaseURL, err = startPrivateCluster(ctx, root); err != nil {
			return err
		}
	}
	cfg.DatabaseURL = databaseURL
	tmp, err := os.MkdirTemp("", "keyplane-bench-")
	if err != nil {
		return err
	}
	cfg.TempDir = tmp
	if serverBin == "" {
		if serverBin, err = buildKeyplane(ctx, root, tmp); err != nil {
			return err
		}
	}
	cfg.Server = []string{serverBin, "serve"}
	cfg.Proxy.Gateway = []string{serverBin, "gateway"}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find keyplane-bench itself, to run its backend: %w", err)
	}
	cfg.Proxy.Backend = []string{self, "backend"}
	cfg.Log = os.Stderr

	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		// A long run that fails late keeps what it measured, beside the
		// report rather than in it.
		partial := strings.TrimSuffix(out, ".json") + ".partial.json"
		if out != "" && rep != nil && rep.WriteJSON(partial) == nil {
			err = fmt.Errorf("%w\n(what was measured before the failure is in %s)", err, partial)
		}
		return fmt.Errorf("%w\n(the server binary and its log are in %s)", err, tmp)
	}
	_ = os.RemoveAll(tmp)
	fmt.Println()
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	write := rep.WriteJSON
	if cfg.Only == bench.OnlyProxies || cfg.Only == bench.OnlyRuntime {
		write = rep.MergeJSON
	}
	// The reads alone are a report of their own, never merged into
	// bench.json: written only where -out says.
	if out != "" {
		if err := write(out); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", out)
	}
	targets := rep.AllTargets()
	missed := 0
	for _, t := range targets {
		if !t.OK {
			missed++
		}
	}
	if missed > 0 {
		fmt.Printf("%d of %d targets missed\n", missed, len(targets))
	}
	// Failed requests are a defect, not a figure: the run fails, after
	// writing what it measured.
	return rep.Failed()
}

// moduleRoot is the folder of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/keyplane/keyplane\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run keyplane-bench inside the keyplane repository (no go.mod of github.com/keyplane/keyplane above the working directory)")
		}
		dir = parent
	}
}

// startPrivateCluster starts (or reuses) the private PostgreSQL of
// scripts/pg.sh and returns its URL.
func startPrivateCluster(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pg.sh"), "start")
	cmd.Dir, cmd.Stderr = root, os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh start: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// buildKeyplane builds ./cmd/keyplane into dir, so that the server runs as
// its own process (not under `go run`) and its memory can be read.
func buildKeyplane(ctx context.Context, root, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "keyplane")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/keyplane")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "bench: go build -o %s ./cmd/keyplane\n", bin)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build keyplane: %w", err)
	}
	return bin, nil
}

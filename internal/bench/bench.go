// Package bench measures keyplane against the database's own limit. It
// loads a realistic data set into a fresh database through the API of a
// keyplane server running as its own process, times reads, writes and
// deployments over HTTP on loopback, times raw pgx statements on the same
// database as the bound they are compared with, and counts the SQL
// statements each operation runs. Then it compares keyplane's gateway with
// nginx in front of the same mutual TLS backend, driven by one load
// generator (see ProxyConfig). cmd/keyplane-bench runs it; `make bench`
// runs that.
package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/internal/server"
)

// Config is one benchmark run.
type Config struct {
	// DatabaseURL is a PostgreSQL URL on the cluster to use; the run
	// (re)creates its own database there.
	DatabaseURL string
	// Database is the name of that database, dropped and created anew
	// (default keyplane_bench). It is left in place for inspection
	// (EXPLAIN ANALYZE) unless DropDatabase is set.
	Database     string
	DropDatabase bool
	// Server is the command that runs the server, such as
	// ["/tmp/x/keyplane", "serve"]; it is configured by the environment
	// `keyplane serve` reads (DATABASE_URL, KEYPLANE_ADDR,
	// KEYPLANE_MASTER_KEY, KEYPLANE_BOOTSTRAP_TOKEN), plus ServerEnv.
	Server    []string
	ServerEnv []string
	// The data set: Keystores keystores of Aliases aliases each, and
	// References references.
	Keystores, Aliases, References int
	// Duration is how long each timed run measures, after Warmup.
	Duration, Warmup time.Duration
	// Concurrency lists the concurrencies of the read and write runs.
	Concurrency []int
	// Deployments deployments run DeployConcurrency at a time, for the
	// drain rate.
	Deployments, DeployConcurrency int
	// CertsRSA and CertsEC size the pool of distinct chains.
	CertsRSA, CertsEC int
	// LoadConcurrency is how many requests load the data set at once.
	LoadConcurrency int
	// SQLSamples requests of each kind (SQLDeploySamples deployments) are
	// sent to the statement-counting server.
	SQLSamples, SQLDeploySamples int
	// Only, when OnlyProxies, runs the gateway vs nginx comparison alone:
	// no data set, no timed runs of the API; OnlyReads runs the API reads
	// and http_healthz alone, on a data set of Keystores keystores.
	Only string
	// Proxy is the gateway vs nginx comparison.
	Proxy ProxyConfig
	// Runtime is the gateway runtime at scale.
	Runtime RuntimeConfig
	// Cases, when not empty, limits the run to these results and
	// baselines of the API (names as bench.json spells them, such as
	// create_alias and alias_crypto_floor): the data set is loaded, the
	// others are not timed nor counted, and the gateway parts are left
	// out. It is for measuring one change quickly; its report is partial.
	Cases []string
	// TempDir holds the server's log; empty means a new temporary folder.
	TempDir string
	// Log receives progress.
	Log io.Writer
}

// OnlyProxies is the Config.Only of a run that compares the gateway with
// nginx and does nothing else; OnlyRuntime of one that measures the gateway
// runtime at scale and nothing else.
const (
	OnlyProxies = "gateway"
	OnlyRuntime = "runtime"
	// OnlyReads is the Config.Only of a run that times the three API
	// reads next to http_healthz and counts their SQL statements, and
	// nothing else: the quick loop of work on the cost of a read.
	OnlyReads = "reads"
)

func (c *Config) defaults() {
	c.Proxy.defaults()
	c.Runtime.defaults()
	if c.Database == "" {
		c.Database = "keyplane_bench"
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = min(time.Second, c.Duration/5)
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 32}
	}
	if c.Deployments == 0 {
		c.Deployments = 200
	}
	if c.DeployConcurrency == 0 {
		c.DeployConcurrency = 16
	}
	if c.CertsRSA == 0 {
		c.CertsRSA = 50
	}
	if c.CertsEC == 0 {
		c.CertsEC = 50
	}
	if c.LoadConcurrency == 0 {
		c.LoadConcurrency = 32
	}
	if c.SQLSamples == 0 {
		c.SQLSamples = 200
	}
	if c.SQLDeploySamples == 0 {
		c.SQLDeploySamples = 20
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if slices.Contains(c.Cases, GetOperation) && !slices.Contains(c.Cases, Deploy1Target) {
		// get_operation reads the operations the deployments make.
		c.Cases = append(slices.Clip(c.Cases), Deploy1Target)
	}
}

func (c *Config) check() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("no database URL")
	case len(c.Server) == 0:
		return errors.New("no server command")
	case c.Keystores < 1 || c.Aliases < 1 || c.References < 0:
		return errors.New("the data set needs at least one keystore with one alias")
	case c.Duration < 0 || c.Warmup < 0 || c.Deployments < 1 || c.DeployConcurrency < 1:
		return errors.New("durations and counts must be positive")
	case c.Only != "" && c.Only != OnlyProxies && c.Only != OnlyRuntime && c.Only != OnlyReads:
		return fmt.Errorf("only %q: the parts that run alone are %q, %q and %q", c.Only, OnlyProxies, OnlyRuntime, OnlyReads)
	case !strings.HasPrefix(c.Database, "keyplane_bench"):
		// The database is dropped: refuse to drop anything not ours.
		return fmt.Errorf("database %q: the benchmark's database name must start with keyplane_bench", c.Database)
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return fmt.Errorf("concurrency %d: must be at least 1", n)
		}
	}
	if len(c.Cases) > 0 && c.Only != "" {
		return fmt.Errorf("cases and only %q: a run is limited by one or the other", c.Only)
	}
	known := append(ResultNames(), BaselineNames()...)
	for _, name := range c.Cases {
		if !slices.Contains(known, name) {
			return fmt.Errorf("case %q: the cases are %s", name, strings.Join(known, ", "))
		}
	}
	return c.Proxy.check()
}

// wants says whether the run times or counts the result or baseline
// named name: every one unless Cases limits the run.
func (c *Config) wants(name string) bool {
	return len(c.Cases) == 0 || slices.Contains(c.Cases, name)
}

// manyTargets is the target server count of the larger deployment.
const manyTargets = 50

// Run runs the whole benchmark and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, rep: &Report{only: cfg.Only}}
	return r.rep, r.run(ctx)
}

// runner holds the state of one run.
type runner struct {
	cfg        Config
	rep        *Report
	dbURL      string
	masterKey  string
	adminToken string
	token      string
	ds         *dataset
	ops        operationLog
	probe      *cpuProbe
	// dir holds the logs and files of the processes the run starts.
	dir string
	// loadStart is the load average when the run began.
	loadStart float64
	// rtBackend is the port of the runtime part's plain-HTTP backend.
	rtBackend int
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "bench: "+format+"\n", args...)
}

func (r *runner) run(ctx context.Context) (err error) {
	cfg := r.cfg
	var pgVersion string
	if r.dbURL, pgVersion, err = recreateDatabase(ctx, cfg.DatabaseURL, cfg.Database); err != nil {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	if cfg.DropDatabase {
		defer func() { err = errors.Join(err, dropDatabase(cfg.DatabaseURL, cfg.Database)) }()
	}
	r.rep.Machine = machine(pgVersion)
	r.loadStart = loadAverage()
	r.logf("machine: %s", r.rep.Machine)

	if cfg.Only == "" || cfg.Only == OnlyReads {
		start := time.Now()
		pool, err := newCertPool(cfg.CertsRSA, cfg.CertsEC)
		if err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
		r.logf("generated %d RSA-2048 and %d EC P-256 chains in %s", cfg.CertsRSA, cfg.CertsEC, since(start))
		r.ds = &dataset{Keystores: cfg.Keystores, Aliases: cfg.Aliases, References: cfg.References, Pool: pool}
	}

	key := make([]byte, 32)
	_, _ = crand.Read(key)
	r.masterKey, r.adminToken = base64.StdEncoding.EncodeToString(key), server.NewToken()
	r.dir = cfg.TempDir
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "keyplane-bench-"); err != nil {
			return err
		}
	}
	proc, err := startServerProcess(ctx, cfg.Server, cfg.ServerEnv, r.dbURL, r.masterKey, r.adminToken, r.dir)
	if err != nil {
		return err
	}
	defer func() {
		if e := proc.stop(); e != nil {
			err = errors.Join(err, e)
		}
	}()
	r.probe = &cpuProbe{serverPID: proc.cmd.Process.Pid, database: cfg.Database}
	r.logf("server %s running on %s (pid %d, log %s)", strings.Join(cfg.Server, " "), proc.URL, proc.cmd.Process.Pid, proc.logPath)

	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	admin := &client{base: proc.URL, token: r.adminToken, http: hc}
	if cfg.Only == OnlyProxies {
		if err := r.compareProxies(ctx, admin); err != nil {
			return fmt.Errorf("gateway vs nginx: %w\n%s", err, proc.logTail(20))
		}
		return proc.stop()
	}
	if cfg.Only == OnlyRuntime {
		if err := r.runtimeScale(ctx, admin); err != nil {
			return fmt.Errorf("gateway runtime at scale: %w\n%s", err, proc.logTail(20))
		}
		return proc.stop()
	}
	if cfg.Only == OnlyReads {
		if err := r.readsAlone(ctx, admin, proc); err != nil {
			return fmt.Errorf("%w\n%s", err, proc.logTail(20))
		}
		if err := proc.stop(); err != nil {
			return err
		}
		if err := r.countStatements(ctx); err != nil {
			return fmt.Errorf("count SQL statements: %w", err)
		}
		r.compare()
		return nil
	}
	if err := r.timed(ctx, admin, proc); err != nil {
		return fmt.Errorf("%w\n%s", err, proc.logTail(20))
	}
	if r.rep.PeakRSSMiB, err = proc.peakRSS(); err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}
	r.rep.PeakRSSMiB = round(r.rep.PeakRSSMiB, 1)
	if len(cfg.Cases) > 0 {
		// The gateway's parts are not API cases: a limited run skips them.
		if err := proc.stop(); err != nil {
			return err
		}
		if err := r.countStatements(ctx); err != nil {
			return fmt.Errorf("count SQL statements: %w", err)
		}
		r.compare()
		return nil
	}
	// After the peak RSS: the comparison's deployment and the gateway's
	// reads are not part of the API's figures.
	if err := r.compareProxies(ctx, admin); err != nil {
		return fmt.Errorf("gateway vs nginx: %w\n%s", err, proc.logTail(20))
	}
	switch {
	case cfg.Runtime.Environments > 0 && len(cfg.Proxy.Gateway) == 0:
		// As in the comparison with nginx, a run without a gateway skips
		// the gateway's part and says so.
		r.rep.Runtime = &RuntimeScale{ProxiesPerEnv: cfg.Runtime.ProxiesPerEnv,
			Notes: []string{"skipped: no gateway command was configured"}}
		r.logf("runtime at scale: skipped: no gateway command was configured")
	case cfg.Runtime.Environments > 0:
		if err := r.runtimeScale(ctx, admin); err != nil {
			return fmt.Errorf("gateway runtime at scale: %w\n%s", err, proc.logTail(20))
		}
	}
	if err := proc.stop(); err != nil {
		return err
	}
	r.logf("server stopped; peak RSS %.1f MiB", r.rep.PeakRSSMiB)

	if err := r.countStatements(ctx); err != nil {
		return fmt.Errorf("count SQL statements: %w", err)
	}
	r.compare()
	return nil
}

// timed loads the data set through the server process and runs every timed
// benchmark against it.
func (r *runner) timed(ctx context.Context, admin *client, proc *serverProcess) error {
	cfg, ds := r.cfg, r.ds
	user, err := r.user(ctx, admin, proc)
	if err != nil {
		return err
	}

	// Load the first ~1,000 aliases, time GET alias, load the rest, time it
	// again: the scale comparison.
	loadStart := time.Now()
	if err := ds.loadKeystores(ctx, admin, cfg.LoadConcurrency); err != nil {
		return fmt.Errorf("load keystores: %w", err)
	}
	first := min(cfg.Keystores, max(1, 1000/cfg.Aliases))
	aliasStart := time.Now()
	if err := ds.loadAliases(ctx, admin, cfg.LoadConcurrency, first, r.cfg.Log); err != nil {
		return fmt.Errorf("load aliases: %w", err)
	}
	aliasTime := time.Since(aliasStart)
	r.logf("loaded %d keystores and %d aliases in %s", cfg.Keystores, first*cfg.Aliases, since(loadStart))
	measure1kStart := time.Now()
	if err := r.vacuum(ctx); err != nil {
		return err
	}
	if err := r.time(ctx, GetAlias1k, 1, ds.getAlias(user)); err != nil {
		return err
	}
	paused := time.Since(measure1kStart)
	aliasStart = time.Now()
	if err := ds.loadAliases(ctx, admin, cfg.LoadConcurrency, cfg.Keystores, r.cfg.Log); err != nil {
		return fmt.Errorf("load aliases: %w", err)
	}
	aliasTime += time.Since(aliasStart)
	if err := ds.loadReferences(ctx, admin, cfg.LoadConcurrency); err != nil {
		return fmt.Errorf("load references: %w", err)
	}
	total := cfg.Keystores * cfg.Aliases
	r.rep.Dataset = Dataset{
		Keystores: cfg.Keystores, AliasesPerStore: cfg.Aliases, References: cfg.References,
		AliasesAt1k: first * cfg.Aliases, AliasesTotal: total,
		LoadSeconds:     round((time.Since(loadStart) - paused).Seconds(), 1),
		AliasLoadPerSec: round(float64(total)/aliasTime.Seconds(), 0),
		DurationSeconds: cfg.Duration.Seconds(), Deployments: cfg.Deployments, DeployConcurrency: cfg.DeployConcurrency,
	}
	r.logf("loaded %d aliases (%.0f/s) and %d references in %s", total, r.rep.Dataset.AliasLoadPerSec, cfg.References, since(loadStart))
	if err := r.vacuum(ctx); err != nil {
		return err
	}
	if err := r.time(ctx, GetAlias100k, 1, ds.getAlias(user)); err != nil {
		return err
	}

	// Deployments: latency one at a time, then the drain rate. They also
	// make the operations that get_operation reads.
	deploys := []int{1, cfg.DeployConcurrency}
	if !cfg.wants(Deploy1Target) && !cfg.wants(Deploy50Targets) {
		deploys = nil
	}
	for _, conc := range deploys {
		for _, d := range []struct {
			name    string
			targets int
		}{{Deploy1Target, 1}, {Deploy50Targets, manyTargets}} {
			zip, err := ds.deployArchive(d.targets)
			if err != nil {
				return err
			}
			dep := &deployer{c: user, poll: user, env: envPath, archive: zip, ops: &r.ops}
			if conc == 1 {
				err = r.time(ctx, d.name, 1, dep.deploy)
			} else {
				err = r.timeN(ctx, d.name, conc, cfg.Deployments, dep.deploy)
			}
			if err != nil {
				return err
			}
		}
	}

	base, err := newBaselines(ctx, r.dbURL, slices.Max(cfg.Concurrency))
	if err != nil {
		return err
	}
	defer base.close()
	// Reads first, at every concurrency, each next to its baseline; then
	// the writes, which grow the keystores that get_keystore reads.
	for _, conc := range cfg.Concurrency {
		if err := r.timeBaseline(ctx, PGPointSelect, conc, base.pointSelect); err != nil {
			return err
		}
		if err := r.timeReads(ctx, user, conc); err != nil {
			return err
		}
	}
	floor, err := aliasCryptoFloor(ds.Pool, r.masterKey)
	if err != nil {
		return err
	}
	for _, conc := range cfg.Concurrency {
		if err := r.timeBaseline(ctx, PGInsert, conc, base.insert); err != nil {
			return err
		}
		if err := r.timeBaseline(ctx, AliasCryptoFloor, conc, floor); err != nil {
			return err
		}
		for _, n := range []named{{CreateAlias, ds.createAlias(user)}, {CreateReference, ds.createReference(user)}} {
			if err := r.time(ctx, n.name, conc, n.fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// user creates the benchmark's organization and the token its timed
// requests carry, and returns the client that carries it.
func (r *runner) user(ctx context.Context, admin *client, proc *serverProcess) (*client, error) {
	if err := createOrg(ctx, admin, benchOrg, benchEnv); err != nil {
		return nil, err
	}
	token, ok, err := issueToken(ctx, admin, "deployer")
	if err != nil {
		return nil, fmt.Errorf("issue a deployer token: %w", err)
	}
	r.rep.Auth = "a deployer token issued by POST /v1/organizations/{org}/tokens"
	if !ok {
		token = r.adminToken
		r.rep.Auth = "the bootstrap administrator token (the server has no token API)"
	}
	r.token = token
	r.logf("authentication: %s", r.rep.Auth)
	return &client{base: proc.URL, token: token, http: admin.http}, nil
}

// timeReads times http_healthz, then the three reads right after it at the
// same concurrency, so that each read's server CPU is compared with what
// HTTP alone cost in the same conditions.
func (r *runner) timeReads(ctx context.Context, user *client, conc int) error {
	if err := r.timeBaseline(ctx, HTTPHealthz, conc, healthz(user)); err != nil {
		return err
	}
	for _, n := range []named{
		{GetAlias, r.ds.getAlias(user)}, {GetKeystore, r.ds.getKeystore(user)}, {GetOperation, getOperation(user, r.ops.names)},
	} {
		if err := r.time(ctx, n.name, conc, n.fn); err != nil {
			return err
		}
	}
	return nil
}

// readsAlone is the run of OnlyReads: the keystores with their aliases,
// a few deployments for their operations, then the reads at every
// concurrency. Nothing else is timed.
func (r *runner) readsAlone(ctx context.Context, admin *client, proc *serverProcess) error {
	cfg, ds := r.cfg, r.ds
	user, err := r.user(ctx, admin, proc)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := ds.loadKeystores(ctx, admin, cfg.LoadConcurrency); err != nil {
		return fmt.Errorf("load keystores: %w", err)
	}
	if err := ds.loadAliases(ctx, admin, cfg.LoadConcurrency, cfg.Keystores, cfg.Log); err != nil {
		return fmt.Errorf("load aliases: %w", err)
	}
	// The deployments' target servers name their keystores through
	// references.
	if err := ds.loadReferences(ctx, admin, cfg.LoadConcurrency); err != nil {
		return fmt.Errorf("load references: %w", err)
	}
	r.rep.Dataset = Dataset{
		Keystores: cfg.Keystores, AliasesPerStore: cfg.Aliases, References: cfg.References,
		AliasesTotal: cfg.Keystores * cfg.Aliases, DurationSeconds: cfg.Duration.Seconds(),
	}
	zip, err := ds.deployArchive(1)
	if err != nil {
		return err
	}
	dep := &deployer{c: user, poll: user, env: envPath, archive: zip, ops: &r.ops}
	deployments := min(cfg.Deployments, readsDeployments)
	if err := parallel(ctx, 4, deployments, func(ctx context.Context, _ int) error { return dep.deploy(ctx, nil) }); err != nil {
		return fmt.Errorf("deployments for get_operation: %w", err)
	}
	r.logf("loaded %d aliases and made %d operations in %s", r.rep.Dataset.AliasesTotal, deployments, since(start))
	if err := r.vacuum(ctx); err != nil {
		return err
	}
	for _, conc := range cfg.Concurrency {
		if err := r.timeReads(ctx, user, conc); err != nil {
			return err
		}
	}
	return nil
}

// readsDeployments is how many deployments a run of OnlyReads makes at
// most (Config.Deployments if fewer), for get_operation to read among their
// operations.
const readsDeployments = 20

// vacuum runs VACUUM (ANALYZE) on the database after a load, as
// autovacuum would soon do: the timed runs then see a settled database,
// and autovacuum does not take CPU from them.
func (r *runner) vacuum(ctx context.Context) error {
	start := time.Now()
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	r.logf("VACUUM (ANALYZE) in %s", since(start))
	return nil
}

// named is an operation and the name of its result.
type named struct {
	name string
	fn   op
}

// time runs fn at conc for the configured duration and records it.
func (r *runner) time(ctx context.Context, name string, conc int, fn op) error {
	if !r.cfg.wants(name) {
		return nil
	}
	s, err := runFor(ctx, conc, r.cfg.Warmup, r.cfg.Duration, r.probe, fn)
	if err != nil {
		return fmt.Errorf("%s at concurrency %d: %w", name, conc, err)
	}
	r.record(&r.rep.Results, result(name, conc, s))
	return nil
}

// timeN runs fn total times at conc and records it.
func (r *runner) timeN(ctx context.Context, name string, conc, total int, fn op) error {
	if !r.cfg.wants(name) {
		return nil
	}
	s, err := runN(ctx, conc, total, r.probe, fn)
	if err != nil {
		return fmt.Errorf("%s at concurrency %d: %w", name, conc, err)
	}
	r.record(&r.rep.Results, result(name, conc, s))
	return nil
}

func (r *runner) timeBaseline(ctx context.Context, name string, conc int, fn op) error {
	if !r.cfg.wants(name) {
		return nil
	}
	s, err := runFor(ctx, conc, r.cfg.Warmup, r.cfg.Duration, r.probe, fn)
	if err != nil {
		return fmt.Errorf("%s at concurrency %d: %w", name, conc, err)
	}
	r.record(&r.rep.Baselines, result(name, conc, s))
	return nil
}

func (r *runner) record(to *[]Result, res Result) {
	*to = append(*to, res)
	r.logf("%-18s conc %3d  %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  (n=%d; CPU µs/op: server %.0f, postgres %.0f, client %.0f)",
		res.Name, res.Concurrency, res.RPS, res.P50Ms, res.P99Ms, res.N, res.CPU.ServerUs, res.CPU.PostgresUs, res.CPU.ClientUs)
}

// countStatements runs each kind of request against an in-process server
// whose pool counts statements, on the same database, and records the
// statements per operation. The server process is stopped by then, so that
// every deployment job runs here.
func (r *runner) countStatements(ctx context.Context) error {
	cs, err := startCountingServer(ctx, r.dbURL, r.masterKey, r.adminToken)
	if err != nil {
		return err
	}
	defer func() { _ = cs.stop() }()
	cu := &client{base: cs.URL, token: r.token, http: newHTTPClient()}
	idle, err := cs.idleRate(ctx, min(2*time.Second, max(100*time.Millisecond, 4*r.cfg.Duration)))
	if err != nil {
		return err
	}
	w := &worker{Rng: rand.New(rand.NewPCG(1, 2))}
	n, nd := r.cfg.SQLSamples, r.cfg.SQLDeploySamples
	perOp := map[string]float64{}
	type kind struct {
		name       string
		n          int
		background bool
		fn         op
	}
	kinds := []kind{
		{GetAlias, n, false, r.ds.getAlias(cu.withOp(GetAlias))},
		{GetKeystore, n, false, r.ds.getKeystore(cu.withOp(GetKeystore))},
		{GetOperation, n, false, getOperation(cu.withOp(GetOperation), r.ops.names)},
	}
	// A run of the reads alone counts the reads alone.
	if r.cfg.Only != OnlyReads {
		kinds = append(kinds,
			kind{CreateAlias, n, false, r.ds.createAlias(cu.withOp(CreateAlias))},
			kind{CreateReference, n, false, r.ds.createReference(cu.withOp(CreateReference))})
		for _, d := range []struct {
			name    string
			targets int
		}{{Deploy1Target, 1}, {Deploy50Targets, manyTargets}} {
			zip, err := r.ds.deployArchive(d.targets)
			if err != nil {
				return err
			}
			dep := &deployer{c: cu.withOp(d.name), poll: cu, env: envPath, archive: zip}
			kinds = append(kinds, kind{d.name, nd, true, dep.deploy})
		}
	}
	for _, k := range kinds {
		if !r.cfg.wants(k.name) {
			continue
		}
		// One run first, not counted, so that caches (the token's) are warm.
		if err := k.fn(ctx, w); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		v, err := cs.perOp(ctx, k.name, k.n, k.background, idle, func(ctx context.Context) error { return k.fn(ctx, w) })
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		perOp[k.name] = round(v, 2)
	}
	perOp[GetAlias1k], perOp[GetAlias100k] = perOp[GetAlias], perOp[GetAlias]
	for i := range r.rep.Results {
		if v, ok := perOp[r.rep.Results[i].Name]; ok {
			r.rep.Results[i].SQLPerOp = ptr(v)
		}
	}
	r.logf("SQL statements per operation: %v (job queue idle: %.1f statements/s)", perOp, idle)
	return nil
}

// compare divides each result by its baseline, checks the targets and
// writes the notes.
func (r *runner) compare() {
	rep, cfg := r.rep, r.cfg
	maxConc := slices.Max(cfg.Concurrency)
	for i := range rep.Results {
		res := &rep.Results[i]
		switch res.Name {
		case GetAlias, GetKeystore, GetOperation:
			res.compareCPU(find(rep.Baselines, HTTPHealthz, res.Concurrency), func(b *Result) float64 { return b.CPU.ServerUs })
		case CreateAlias:
			res.compareCPU(find(rep.Baselines, AliasCryptoFloor, res.Concurrency), func(b *Result) float64 { return b.CPU.ClientUs })
		case CreateReference:
			res.compareRPS(find(rep.Baselines, PGInsert, res.Concurrency))
		case GetAlias100k:
			res.compareP50(find(rep.Results, GetAlias1k, 1))
		case Deploy50Targets:
			res.compareP50(find(rep.Results, Deploy1Target, res.Concurrency))
		}
	}
	ratio := func(name string, conc int) float64 {
		if res := find(rep.Results, name, conc); res != nil && res.Ratio != nil {
			return *res.Ratio
		}
		return 0
	}
	sql := func(name string) float64 {
		if res := find(rep.Results, name, maxConc); res != nil && res.SQLPerOp != nil {
			return *res.SQLPerOp
		}
		return 0
	}
	var t []Target
	for _, name := range []string{GetAlias, GetKeystore, GetOperation} {
		t = append(t, atMost(fmt.Sprintf("%s server CPU per request ÷ http_healthz's at concurrency %d", name, maxConc), ratio(name, maxConc), 2))
	}
	for _, conc := range cfg.Concurrency {
		t = append(t, atMost(fmt.Sprintf("create_alias server CPU per request ÷ alias_crypto_floor's at concurrency %d", conc), ratio(CreateAlias, conc), 1.3))
	}
	for _, name := range []string{GetAlias, GetKeystore, GetOperation} {
		t = append(t, atMost(name+" SQL statements per request", sql(name), 2))
	}
	if cfg.Only == OnlyReads {
		// The other targets' runs did not run: their figures would be
		// zeros that pass.
		t = slices.DeleteFunc(t, func(t Target) bool { return strings.HasPrefix(t.Target, CreateAlias) })
	} else {
		t = append(t, atMost("create_alias SQL statements per request", sql(CreateAlias), 4))
		// The latency target is about one deployment's own work: at
		// concurrency 1. Under the drain run, p50 is mostly queueing (Little's
		// law: deployments in flight ÷ drain rate); the table shows it too.
		t = append(t, atMost(fmt.Sprintf("deploy create→done p50, %d targets ÷ 1 target, concurrency 1", manyTargets), ratio(Deploy50Targets, 1), 2))
		for _, name := range []string{Deploy1Target, Deploy50Targets} {
			rps := 0.0
			if res := find(rep.Results, name, cfg.DeployConcurrency); res != nil {
				rps = res.RPS
			}
			t = append(t, atLeast(fmt.Sprintf("%s: %d deployments at concurrency %d drain, per second", name, cfg.Deployments, cfg.DeployConcurrency), rps, 50))
		}
		t = append(t, atMost(fmt.Sprintf("get_alias p50 with %d aliases ÷ with %d", rep.Dataset.AliasesTotal, rep.Dataset.AliasesAt1k), ratio(GetAlias100k, 1), 1.2))
		t = append(t, atMost("server peak RSS, MiB", rep.PeakRSSMiB, 128))
	}
	if len(cfg.Cases) > 0 {
		// A limited run checks only the targets of what it measured.
		t = slices.DeleteFunc(t, func(t Target) bool {
			return !slices.ContainsFunc(cfg.Cases, func(name string) bool { return strings.Contains(t.Target, name) })
		})
	}
	rep.Targets = t

	rep.Notes = []string{
		fmt.Sprintf("req/s, p50, p99: `%s` as its own process, over HTTP on loopback with keep-alive; each run measures for %s after a %s warm-up; req/s counts requests started after the warm-up over the time until the last of them finished",
			strings.Join(cfg.Server, " "), cfg.Duration, cfg.Warmup),
		fmt.Sprintf("reads pick a random keystore, alias or operation; get_alias_1k and get_alias_100k are get_alias at concurrency 1 after %d and after %d aliases were loaded", rep.Dataset.AliasesAt1k, rep.Dataset.AliasesTotal),
		"create_alias: POST alias format=keycertfile, RSA-2048 key (PKCS#8) and a leaf + intermediate chain, into a random keystore; create_reference: POST reference to a random keystore",
		fmt.Sprintf("deploy: create→done is generateUploadUrl + PUT of the archive + POST archiveDeployments + GET operation every %s until done, for a configurable proxy whose %d target servers use mutual TLS through a reference and a truststore; at concurrency 1 for %s, then %d deployments at concurrency %d (req/s is then the drain rate)",
			pollInterval, manyTargets, cfg.Duration, cfg.Deployments, cfg.DeployConcurrency),
		"http_healthz: GET /healthz through the same HTTP client and keep-alive connections, no database and no authentication: what HTTP alone costs the server; the reads' ratio is their server CPU per request ÷ http_healthz's at the same concurrency, in the same run",
		"alias_crypto_floor: in the benchmark's own process, the cryptography of one create_alias with the server's code (parse and validate the RSA-2048 key and its leaf + intermediate chain, check the pair, marshal and seal the key under the master key, encode the chain and its certsInfo), on the same chains; create_alias's ratio is its server CPU per request ÷ this CPU per operation, at the same concurrency",
		"baselines: raw pgx on the same database, a pool of one connection per worker and prepared statements; pg_point_select reads one row by primary key from a copy of the aliases table (same rows and sizes), pg_insert inserts one RSA alias-sized row (chain, certsInfo, sealed key) into a table with only a primary key",
		fmt.Sprintf("SQL/op: counted by a pgx tracer (server.Config.Tracer) in an in-process server with the same wiring, on the same database after the timed runs (%d requests of each kind, %d deployments); a request's statements include the token lookup; a deployment's are its upload and create requests plus its job (River's statements included, River's idle polling subtracted), not its polls",
			cfg.SQLSamples, cfg.SQLDeploySamples),
		"the server runs without per-organization quotas (KEYPLANE_QUOTA_ALIASES=0, KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY=0): its one organization holds the whole data set and every timed deployment; with the alias quota on, each upload's insert also locks and reads its organization's alias count, in the same statement",
		"after each load (the first ~1,000 aliases, then the rest) the database is vacuumed and analysed, so that the timed runs see a settled database and no autovacuum",
		"peak RSS: VmHWM of the server process at the end of the timed runs (loading included)",
		"CPU µs/op: CPU time used during the measured window by the server process, by the PostgreSQL backends of the benchmark's database (not PostgreSQL's background processes) and by this process (the client; for baselines, pgx), divided by the operations measured",
		fmt.Sprintf("1-minute load average: %.2f when the run began, %.2f at the end; the machine's other work, if any, lowers every figure", r.loadStart, loadAverage()),
	}
}

// recreateDatabase drops and creates database name on the cluster of
// baseURL and returns its URL and the server's version.
func recreateDatabase(ctx context.Context, baseURL, name string) (dbURL, version string, err error) {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&version); err != nil {
		return "", "", err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
		return "", "", err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+ident); err != nil {
		return "", "", err
	}
	dbURL, err = withDatabase(baseURL, name)
	return dbURL, version, err
}

func dropDatabase(baseURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// withDatabase returns base (a postgres:// URL or a key=value string) with
// its database replaced by name.
func withDatabase(base, name string) (string, error) {
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	if strings.Contains(base, "=") {
		return base + " dbname=" + name, nil
	}
	return "", fmt.Errorf("database URL %q is neither a postgres:// URL nor key=value settings", base)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

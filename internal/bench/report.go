package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The names of the benchmark's results, as bench.json spells them.
const (
	GetAlias        = "get_alias"
	GetKeystore     = "get_keystore"
	GetOperation    = "get_operation"
	CreateAlias     = "create_alias"
	CreateReference = "create_reference"
	Deploy1Target   = "deploy_1_target"
	Deploy50Targets = "deploy_50_targets"
	GetAlias1k      = "get_alias_1k"
	GetAlias100k    = "get_alias_100k"

	// The raw pgx baselines.
	PGPointSelect = "pg_point_select"
	PGInsert      = "pg_insert"
	// HTTPHealthz is GET /healthz: HTTP alone, with no database work.
	HTTPHealthz = "http_healthz"
	// AliasCryptoFloor is the cryptography of one alias upload, done in
	// the benchmark's own process.
	AliasCryptoFloor = "alias_crypto_floor"
)

// ResultNames lists every result name a run reports.
func ResultNames() []string {
	return []string{GetAlias, GetKeystore, GetOperation, CreateAlias, CreateReference,
		Deploy1Target, Deploy50Targets, GetAlias1k, GetAlias100k}
}

// BaselineNames lists every baseline name a run reports.
func BaselineNames() []string {
	return []string{PGPointSelect, PGInsert, HTTPHealthz, AliasCryptoFloor}
}

// Report is what a run measured; it is written as bench.json.
type Report struct {
	Machine    string   `json:"machine"`
	Results    []Result `json:"results"`
	PeakRSSMiB float64  `json:"peak_rss_mib"`

	// Baselines are the raw pgx runs the results are divided by.
	Baselines []Result `json:"baselines"`
	// Targets are the targets, each with its figure and verdict.
	Targets []Target `json:"targets"`
	// Auth says which bearer token the timed requests carried.
	Auth    string   `json:"auth"`
	Dataset Dataset  `json:"dataset"`
	Notes   []string `json:"notes"`
	// GatewayVsNginx compares keyplane's gateway with nginx in front of
	// the same mutual TLS backend.
	GatewayVsNginx *ProxyComparison `json:"gateway_vs_nginx,omitempty"`
	// Runtime is the gateway runtime at scale.
	Runtime *RuntimeScale `json:"gateway_runtime_scale,omitempty"`

	// only is Config.Only: what the run was limited to.
	only string
}

// Dataset describes what was loaded and how long loading took.
type Dataset struct {
	Keystores         int     `json:"keystores"`
	AliasesPerStore   int     `json:"aliases_per_keystore"`
	References        int     `json:"references"`
	AliasesAt1k       int     `json:"aliases_at_get_alias_1k"`
	AliasesTotal      int     `json:"aliases_total"`
	LoadSeconds       float64 `json:"load_seconds"`
	AliasLoadPerSec   float64 `json:"alias_load_per_second"`
	DurationSeconds   float64 `json:"duration_seconds"`
	Deployments       int     `json:"deployments"`
	DeployConcurrency int     `json:"deploy_concurrency"`
}

// Result is one operation at one concurrency. Ratio is RPS ÷ BaselineRPS,
// except where RatioOf is "p50": then it is P50 ÷ the baseline's p50, the
// figure a latency target is about (lower is better); or "server_cpu": the
// server's CPU time per request ÷ the baseline's (lower is better).
type Result struct {
	Name        string   `json:"name"`
	Concurrency int      `json:"concurrency"`
	N           int      `json:"n"`
	RPS         float64  `json:"rps"`
	P50Ms       float64  `json:"p50_ms"`
	P99Ms       float64  `json:"p99_ms"`
	Baseline    string   `json:"baseline"`
	BaselineRPS *float64 `json:"baseline_rps"`
	Ratio       *float64 `json:"ratio"`
	RatioOf     string   `json:"ratio_of,omitempty"`
	SQLPerOp    *float64 `json:"sql_per_op"`
	// CPU is the CPU time one operation cost each party, in microseconds.
	CPU CPUPerOp `json:"cpu_us_per_op"`
}

// CPUPerOp is the CPU time of one operation, by who spent it.
type CPUPerOp struct {
	ServerUs   float64 `json:"server"`
	PostgresUs float64 `json:"postgres"`
	ClientUs   float64 `json:"client"`
}

// Target is one of the targets, checked against this run.
type Target struct {
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	// Cmp is how Value must compare with Limit: ">=" or "<=".
	Cmp   string  `json:"cmp"`
	Limit float64 `json:"limit"`
	OK    bool    `json:"ok"`
}

// atLeast and atMost make a checked target.
func atLeast(what string, v, limit float64) Target {
	return Target{Target: what, Value: round(v, 3), Cmp: ">=", Limit: limit, OK: v >= limit}
}

func atMost(what string, v, limit float64) Target {
	return Target{Target: what, Value: round(v, 3), Cmp: "<=", Limit: limit, OK: v <= limit}
}

func result(name string, conc int, s stats) Result {
	us := func(d time.Duration) float64 { return round(float64(d)/float64(time.Microsecond), 0) }
	return Result{Name: name, Concurrency: conc, N: s.N, RPS: round(s.RPS(), 1),
		P50Ms: ms(s.P50), P99Ms: ms(s.P99),
		CPU: CPUPerOp{ServerUs: us(s.CPU.server), PostgresUs: us(s.CPU.postgres), ClientUs: us(s.CPU.client)}}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, digits int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return p
}

func ptr(v float64) *float64 { return &v }

// find returns the result of name at conc, or nil.
func find(rs []Result, name string, conc int) *Result {
	for i := range rs {
		if rs[i].Name == name && rs[i].Concurrency == conc {
			return &rs[i]
		}
	}
	return nil
}

// compareRPS sets r's baseline to b, by rate.
func (r *Result) compareRPS(b *Result) {
	if b == nil || b.RPS == 0 {
		return
	}
	r.Baseline = fmt.Sprintf("%s@%d", b.Name, b.Concurrency)
	r.BaselineRPS, r.Ratio, r.RatioOf = ptr(b.RPS), ptr(round(r.RPS/b.RPS, 3)), "rps"
}

// compareCPU sets r's baseline to b, by the server's CPU time per request:
// r's server CPU ÷ baseCPU, which is b's server CPU for an HTTP baseline
// and its client CPU for one done in the benchmark's process.
func (r *Result) compareCPU(b *Result, baseCPU func(*Result) float64) {
	if b == nil || baseCPU(b) == 0 {
		return
	}
	r.Baseline = fmt.Sprintf("%s@%d", b.Name, b.Concurrency)
	r.BaselineRPS, r.Ratio, r.RatioOf = ptr(b.RPS), ptr(round(r.CPU.ServerUs/baseCPU(b), 3)), "server_cpu"
}

// compareP50 sets r's baseline to b, by median latency.
func (r *Result) compareP50(b *Result) {
	if b == nil || b.P50Ms == 0 {
		return
	}
	r.Baseline = fmt.Sprintf("%s@%d", b.Name, b.Concurrency)
	r.BaselineRPS, r.Ratio, r.RatioOf = ptr(b.RPS), ptr(round(r.P50Ms/b.P50Ms, 3)), "p50"
}

// WriteJSON writes the report to path, indented.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// MergeJSON writes the report's gateway vs nginx and runtime sections, those
// it has, into the JSON report at path, leaving its other figures as they
// were, or starts a report with those sections alone when there is none: a
// run of one part alone updates only its part of bench.json.
func (r *Report) MergeJSON(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		doc := map[string]any{"machine": r.Machine}
		if r.GatewayVsNginx != nil {
			doc["gateway_vs_nginx"] = r.GatewayVsNginx
		}
		if r.Runtime != nil {
			doc["gateway_runtime_scale"] = r.Runtime
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		return err
	}
	var old Report
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if r.GatewayVsNginx != nil {
		old.GatewayVsNginx = r.GatewayVsNginx
	}
	if r.Runtime != nil {
		old.Runtime = r.Runtime
	}
	return old.WriteJSON(path)
}

// Failed is why the run failed although it finished, or nil: requests that
// the gateway or nginx failed, or a half of that comparison that failed.
func (r *Report) Failed() error {
	return r.GatewayVsNginx.Failure()
}

// WriteTable prints the report as the table the README shows, then the
// baselines, the peak RSS and the targets, then the gateway vs nginx
// comparison.
func (r *Report) WriteTable(out io.Writer) error {
	if r.only == OnlyProxies || r.only == OnlyRuntime {
		fmt.Fprintf(out, "machine: %s\n", r.Machine)
		return r.writeProxies(out)
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "operation\tconc\treq/s\tp50 ms\tp99 ms\tbaseline\tbaseline req/s\tratio\tSQL/op\tCPU µs/op server/pg/client\t")
	for _, res := range append(append([]Result{}, r.Results...), r.Baselines...) {
		base, baseRPS, ratio, sql := "-", "-", "-", "-"
		if res.Baseline != "" {
			base = res.Baseline
		}
		if res.BaselineRPS != nil {
			baseRPS = strconv.FormatFloat(*res.BaselineRPS, 'f', 1, 64)
		}
		if res.Ratio != nil {
			ratio = strconv.FormatFloat(*res.Ratio, 'f', 2, 64)
			switch res.RatioOf {
			case "p50":
				ratio += " (p50)"
			case "server_cpu":
				ratio += " (CPU)"
			}
		}
		if res.SQLPerOp != nil {
			sql = strconv.FormatFloat(*res.SQLPerOp, 'f', 2, 64)
		}
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%.0f/%.0f/%.0f\t\n",
			res.Name, res.Concurrency, res.RPS, res.P50Ms, res.P99Ms, base, baseRPS, ratio, sql,
			res.CPU.ServerUs, res.CPU.PostgresUs, res.CPU.ClientUs)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nmachine: %s\nauth: %s\nserver peak RSS: %.1f MiB\n", r.Machine, r.Auth, r.PeakRSSMiB)
	d := r.Dataset
	fmt.Fprintf(out, "data set: %d keystores × %d aliases (%d aliases at get_alias_1k, %d in all), %d references; loaded in %.1f s (%.0f aliases/s)\n",
		d.Keystores, d.AliasesPerStore, d.AliasesAt1k, d.AliasesTotal, d.References, d.LoadSeconds, d.AliasLoadPerSec)
	fmt.Fprintln(out, "\ntargets:")
	for _, t := range r.Targets {
		verdict := "ok  "
		if !t.OK {
			verdict = "MISS"
		}
		fmt.Fprintf(out, "  %s  %s: %.3g (%s %.3g)\n", verdict, t.Target, t.Value, t.Cmp, t.Limit)
	}
	fmt.Fprintln(out, "\nnotes:")
	for _, n := range r.Notes {
		fmt.Fprintf(out, "  - %s\n", n)
	}
	return r.writeProxies(out)
}

// writeProxies prints the gateway vs nginx section and the runtime at
// scale, each with its notes.
func (r *Report) writeProxies(out io.Writer) error {
	if r.GatewayVsNginx != nil {
		if err := r.GatewayVsNginx.writeTable(out); err != nil {
			return err
		}
		for _, n := range r.GatewayVsNginx.Notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
	}
	if r.Runtime != nil {
		r.Runtime.writeTable(out)
		for _, n := range r.Runtime.Notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
	}
	return nil
}

// AllTargets is every target the run checked: the API's, the gateway vs
// nginx comparison's and the runtime's.
func (r *Report) AllTargets() []Target {
	t := slices.Clone(r.Targets)
	if r.GatewayVsNginx != nil {
		t = append(t, r.GatewayVsNginx.Targets...)
	}
	if r.Runtime != nil {
		t = append(t, r.Runtime.Targets...)
	}
	return t
}

// loadAverage is the 1-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// machine describes the machine: OS and architecture, CPUs and their
// model, memory, and the PostgreSQL version.
func machine(pgVersion string) string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); err == nil {
					mem = fmt.Sprintf(", %.0f GiB RAM", kb/(1<<20))
				}
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s/%s, %d CPUs, %s%s, PostgreSQL %s, %s; client, server and PostgreSQL on the same machine",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, mem, pgVersion, runtime.Version())
}

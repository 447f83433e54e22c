package operation

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of work an operation reports, the `type` of its log lines and
// metrics: finer than the INSERT or DELETE of its metadata.
const (
	KindArchiveDeploy     = "archive_deploy"
	KindEnvironmentCreate = "environment_create"
	KindEnvironmentDelete = "environment_delete"
	// KindProxyDeploy is the validation of an API proxy deployment: not an
	// Operation on the wire (its Deployment carries the state), but the
	// same kind of work, run by the same queue.
	KindProxyDeploy = "proxy_deploy"
)

// Outcomes of a run of an operation.
const (
	// Succeeded: the operation finished with its response.
	Succeeded = "succeeded"
	// Failed: the operation finished with an error.
	Failed = "failed"
	// Interrupted: the run ended without finishing the operation (an error
	// of keyplane's, the database gone, the job timeout, shutdown); the job
	// queue runs it again.
	Interrupted = "interrupted"
)

// Tracker reports the runs of operations: a log line when one starts and
// when it ends, and the keyplane_operations_total and
// keyplane_operation_duration_seconds metrics. A nil *Tracker reports
// nothing.
type Tracker struct {
	log      *slog.Logger
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewTracker returns a tracker logging to log, with its metrics registered
// in reg.
func NewTracker(reg prometheus.Registerer, log *slog.Logger) *Tracker {
	t := &Tracker{
		log: log,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyplane_operations_total",
			Help: "Runs of long-running operations by type and outcome (succeeded, failed, or interrupted and run again).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyplane_operation_duration_seconds",
			Help:    "How long runs of long-running operations took, by type and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14), // 1 ms to about 2 minutes
		}, []string{"type", "outcome"}),
	}
	reg.MustRegister(t.total, t.duration)
	// Every series that can occur exists from the start, so that a rate
	// over it is 0 rather than absent until the first failure. Environment
	// operations finish within their request: they only ever succeed.
	for _, outcome := range []string{Succeeded, Failed, Interrupted} {
		t.total.WithLabelValues(KindArchiveDeploy, outcome)
		t.total.WithLabelValues(KindProxyDeploy, outcome)
	}
	t.total.WithLabelValues(KindEnvironmentCreate, Succeeded)
	t.total.WithLabelValues(KindEnvironmentDelete, Succeeded)
	return t
}

// Run is one run of an operation, from Start to End.
type Run struct {
	t     *Tracker
	name  string
	kind  string
	start time.Time
}

// Start logs that a run of the operation name (organizations/{org}/
// operations/{uuid}) of the given kind starts, with attrs, and returns the
// run to End. ctx should carry the request id of the request that created
// the operation (see requestid), which the log line then carries.
func (t *Tracker) Start(ctx context.Context, name, kind string, attrs ...any) *Run {
	r := &Run{t: t, name: name, kind: kind, start: time.Now()}
	if t != nil {
		t.log.InfoContext(ctx, "operation started", append([]any{"operation", name, "type", kind}, attrs...)...)
	}
	return r
}

// End logs how the run ended and counts it. message is the operation's
// error message when it failed, or the reason it was interrupted.
func (r *Run) End(ctx context.Context, outcome, message string) {
	r.t.finish(ctx, r.name, r.kind, outcome, message, time.Since(r.start))
}

// Finished reports an operation that started and finished within one call,
// such as an environment's creation: one log line, as it has no time in
// between to be watched.
func (t *Tracker) Finished(ctx context.Context, name, kind string, started time.Time) {
	t.finish(ctx, name, kind, Succeeded, "", time.Since(started))
}

func (t *Tracker) finish(ctx context.Context, name, kind, outcome, message string, d time.Duration) {
	if t == nil {
		return
	}
	t.total.WithLabelValues(kind, outcome).Inc()
	t.duration.WithLabelValues(kind, outcome).Observe(d.Seconds())
	attrs := []any{"operation", name, "type", kind, "outcome", outcome, "duration_ms", float64(d.Microseconds()) / 1000}
	if outcome != Succeeded {
		attrs = append(attrs, "error", message)
	}
	// A failed deployment is its archive's fault, reported to its caller;
	// an interrupted one is keyplane's or its database's.
	level := slog.LevelInfo
	if outcome == Interrupted {
		level = slog.LevelWarn
	}
	t.log.Log(ctx, level, "operation finished", attrs...)
}

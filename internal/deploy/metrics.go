package deploy

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyplane/keyplane/internal/postgres"
)

// QueueCollector returns the Prometheus collector of the deployment queue's
// depth: keyplane_job_queue_depth{state}, the deployment jobs not yet
// finished by River state. Each scrape runs one query, bounded by timeout;
// while the database is down, or when the query fails or times out, the
// scrape goes on without the depth rather than fail or hang.
func QueueCollector(db *postgres.DB, timeout time.Duration, log *slog.Logger) prometheus.Collector {
	return &queueCollector{db: db, timeout: timeout, log: log, depth: prometheus.NewDesc("keyplane_job_queue_depth",
		"Deployment jobs not yet finished, by River state: available (waiting for a worker), running, retryable (failed, to be retried), scheduled (retry not yet due), pending.",
		[]string{"state"}, nil)}
}

type queueCollector struct {
	db      *postgres.DB
	timeout time.Duration
	log     *slog.Logger
	depth   *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth }

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.db.Up() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.db.CountJobs(ctx, Args{}.Kind())
	if err != nil {
		c.log.Warn("job queue depth not collected", "error", err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), state)
	}
}

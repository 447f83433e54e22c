package deploy

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector returns the Prometheus collector of the deployment
// queue's depth and health: keyplane_job_queue_depth{state}, the deployment
// jobs not yet finished by River state; keyplane_job_queue_leader, whether
// a server leads the queue (the leader rescues the jobs of dead servers and
// sweeps); keyplane_job_oldest_running_seconds, how long the oldest running
// deployment has run; and keyplane_operations_stuck, the operations still
// unfinished stuckAfter (the job timeout) after they were created. Each
// scrape runs two queries, each bounded by timeout; while the database is
// down, or when a query fails or times out, the scrape goes on without
// those figures rather than fail or hang.
func QueueCollector(db QueueSource, timeout, stuckAfter time.Duration, log *slog.Logger) prometheus.Collector {
	return &queueCollector{db: db, timeout: timeout, stuckAfter: stuckAfter, log: log,
		depth: prometheus.NewDesc("keyplane_job_queue_depth",
			"Deployment jobs not yet finished, by River state: available (waiting for a worker), running, retryable (failed, to be retried), scheduled (retry not yet due), pending.",
			[]string{"state"}, nil),
		leader: prometheus.NewDesc("keyplane_job_queue_leader",
			"1 when a server leads the job queue (and so rescues the deployments of dead servers and sweeps), 0 when none does.", nil, nil),
		oldest: prometheus.NewDesc("keyplane_job_oldest_running_seconds",
			"How long the oldest running deployment job has run in its current attempt; 0 when none runs.", nil, nil),
		stuck: prometheus.NewDesc("keyplane_operations_stuck",
			"Operations not finished longer than the job timeout after they were created.", nil, nil),
	}
}

type queueCollector struct {
	db                    QueueSource
	timeout, stuckAfter   time.Duration
	log                   *slog.Logger
	depth, leader, oldest *prometheus.Desc
	stuck                 *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.leader
	ch <- c.oldest
	ch <- c.stuck
}

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
	h, err := c.db.QueueHealth(ctx, Args{}.Kind(), c.stuckAfter)
	if err != nil {
		c.log.Warn("job queue health not collected", "error", err)
		return
	}
	leader := 0.0
	if h.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, h.OldestRunning.Seconds())
	ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, float64(h.Stuck))
}

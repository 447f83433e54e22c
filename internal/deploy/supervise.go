package deploy

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// DefaultSuperviseInterval is how often the supervisor checks the queue.
	DefaultSuperviseInterval = 2 * time.Second
	// DefaultLeaderlessRestart is how long the database may answer while
	// no server leads the queue before the supervisor restarts the client.
	// A living leader elector bids every 5 to 6 seconds, and a leadership
	// whose holder died expires within 15: twenty seconds without a leader
	// means no elector of any server is working.
	DefaultLeaderlessRestart = 20 * time.Second
	// restartStopTimeout bounds how long a restart waits, beyond the job
	// timeout, for the jobs of the client being restarted to return.
	restartStopTimeout = 10 * time.Second
)

// ErrQueueNotRunning is the readiness failure of a server whose job queue
// does not run.
var ErrQueueNotRunning = errors.New("the job queue is not running")

// supervise keeps the queue working until Stop, StopAndCancel or the end of
// ctx. River's client may stop by itself (its context ended, a fatal
// error) or go on without its leader elector, which returns for good when
// it takes a failed statement for a shutdown; either way deployments in
// flight when it happened would never be rescued and the periodic sweep
// never run. So the supervisor restarts a client that stopped by itself,
// and a client of a queue that has had no leader for LeaderlessRestart
// while the database answered (restarting starts a new elector).
func (q *Queue) supervise(ctx context.Context) {
	defer close(q.supervDone)
	tick := time.NewTicker(q.cfg.SuperviseInterval)
	defer tick.Stop()
	var leaderless time.Time
	for {
		select {
		case <-q.stopSuperv:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-q.client.Stopped():
			if !q.down.Swap(true) {
				q.cfg.Log.Error("job queue stopped by itself; restarting it")
			}
			q.restart(ctx, false)
			leaderless = time.Time{}
			continue
		default:
		}
		if !q.db.Up() {
			leaderless = time.Time{}
			continue
		}
		checkCtx, cancel := context.WithTimeout(ctx, q.cfg.SuperviseInterval)
		leader, err := q.db.QueueLeader(checkCtx)
		cancel()
		switch {
		case err != nil || leader:
			leaderless = time.Time{}
		case leaderless.IsZero():
			leaderless = time.Now()
		case time.Since(leaderless) >= q.cfg.LeaderlessRestart:
			q.cfg.Log.Error("job queue without a leader while the database answers; restarting it",
				"leaderless_for", time.Since(leaderless).Round(time.Second).String())
			q.restart(ctx, true)
			leaderless = time.Time{}
		}
	}
}

// restart starts the client again, after stopping it when it still runs:
// its running jobs get the job timeout to return, then are cancelled (and
// retried). A start that fails is tried again at the next check.
func (q *Queue) restart(ctx context.Context, stopFirst bool) {
	if stopFirst {
		stopCtx, cancel := context.WithTimeout(ctx, q.cfg.JobTimeout+restartStopTimeout)
		err := q.client.Stop(stopCtx)
		cancel()
		if err != nil {
			cancelCtx, cancel := context.WithTimeout(ctx, restartStopTimeout)
			_ = q.client.StopAndCancel(cancelCtx)
			cancel()
		}
	}
	select {
	case <-q.stopSuperv:
		return // stopping: leave it stopped
	default:
	}
	if err := q.client.Start(ctx); err != nil {
		q.down.Store(true)
		return
	}
	q.down.Store(false)
	q.restarts.Add(1)
	q.cfg.Log.Info("job queue restarted")
}

// stopSupervising ends supervise, waiting for a restart under way.
func (q *Queue) stopSupervising() {
	q.stopOnce.Do(func() { close(q.stopSuperv) })
	q.stopped.Store(true)
	if q.started.Load() {
		<-q.supervDone
	}
}

// Err reports ErrQueueNotRunning before Start, after Stop, and while the
// client has stopped by itself and could not be restarted yet.
func (q *Queue) Err() error {
	if !q.started.Load() || q.stopped.Load() || q.down.Load() {
		return ErrQueueNotRunning
	}
	return nil
}

// Collector returns the Prometheus collector of this server's job queue:
// keyplane_job_queue_running (1 while its client runs) and
// keyplane_job_queue_restarts_total (how often the supervisor restarted
// it).
func (q *Queue) Collector() prometheus.Collector {
	return &queueStateCollector{q: q,
		running: prometheus.NewDesc("keyplane_job_queue_running",
			"1 while this server's job queue client runs, 0 before it starts, after it is stopped, and when it stopped by itself and could not be restarted yet.", nil, nil),
		restarts: prometheus.NewDesc("keyplane_job_queue_restarts_total",
			"Times the supervisor restarted this server's job queue client: it had stopped by itself, or no server led the queue while the database answered.", nil, nil),
	}
}

type queueStateCollector struct {
	q                 *Queue
	running, restarts *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *queueStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.running; ch <- c.restarts }

// Collect implements prometheus.Collector.
func (c *queueStateCollector) Collect(ch chan<- prometheus.Metric) {
	running := 1.0
	if c.q.Err() != nil {
		running = 0
	}
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, running)
	ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(c.q.restarts.Load()))
}

// repeatWindow is how long an identical warning or error of River's is
// kept out of the log after it was written once: while the database is
// down, its fetch loop fails about twenty times a second.
const repeatWindow = 10 * time.Second

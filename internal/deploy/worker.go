package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/lograte"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/requestid"
	"github.com/keyplane/keyplane/internal/route"
)

// Args are the arguments of a deployment job.
type Args struct {
	Operation  uuid.UUID `json:"operation"`
	Org        string    `json:"org"`
	Env        string    `json:"env"`
	Deployment string    `json:"deployment"`
	// RequestID is the id of the request that created the deployment, for
	// the job's log lines; jobs queued before it existed have none.
	RequestID string `json:"request_id,omitempty"`
}

// Kind names the job in River's tables.
func (Args) Kind() string { return "keyplane.deploy" }

// worker runs deployment jobs.
type worker struct {
	river.WorkerDefaults[Args]
	svc     *Service
	log     *slog.Logger
	tracker *operation.Tracker
}

// Work validates the deployment and records its outcome, completing the job
// in the same transaction: an operation finishes exactly once, even when a
// job is retried after its server died.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	if a.RequestID != "" {
		ctx = requestid.With(ctx, a.RequestID)
	}
	run := w.tracker.Start(ctx, keyplane.OperationName(a.Org, a.Operation), operation.KindArchiveDeploy,
		"deployment", keyplane.EnvName(a.Org, a.Env)+"/archiveDeployments/"+a.Deployment, "attempt", job.Attempt)
	if err := w.svc.db.StartOperation(ctx, a.Operation); err != nil {
		run.End(ctx, operation.Interrupted, err.Error())
		return err
	}
	var failure *keyplane.Status
	err := w.svc.runDeployment(ctx, a.Operation, func(tx Tx) error {
		f, err := w.svc.run(ctx, tx, a)
		if err != nil {
			return err
		}
		failure = f
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx.Tx(), job)
		return err
	})
	switch {
	case errors.Is(err, keyplane.ErrOperationFinished):
		w.log.InfoContext(ctx, "deployment already finished by another worker", "operation", a.Operation)
		return nil
	case err == nil && failure == nil:
		run.End(ctx, operation.Succeeded, "")
		return nil
	case err == nil:
		run.End(ctx, operation.Failed, failure.Message)
		return nil
	case job.Attempt < job.MaxAttempts:
		run.End(ctx, operation.Interrupted, err.Error())
		return err
	}
	// The queue gives up after this attempt: finish the operation with an
	// internal error rather than leave its pollers waiting forever.
	w.log.ErrorContext(ctx, "deployment failed for good", "operation", a.Operation, "attempt", job.Attempt, "error", err)
	bg := context.WithoutCancel(ctx)
	failErr := w.svc.runDeployment(bg, a.Operation, func(tx Tx) error {
		return tx.Fail(bg, a.Operation, operation.Status(err), nil)
	})
	switch {
	case failErr == nil:
		run.End(ctx, operation.Failed, err.Error())
	case errors.Is(failErr, keyplane.ErrOperationFinished):
		w.log.InfoContext(ctx, "deployment already finished by another worker", "operation", a.Operation)
	default:
		// The sweep finishes it later.
		w.log.ErrorContext(ctx, "cannot finish a failed deployment's operation", "operation", a.Operation, "error", failErr)
		run.End(ctx, operation.Interrupted, err.Error())
	}
	return err
}

// run validates one deployment inside tx and writes its outcome: nil when
// the deployment succeeded, the operation's error when it failed. An error
// means neither was written: the job is to be retried.
func (s *Service) run(ctx context.Context, tx Tx, a Args) (*keyplane.Status, error) {
	res, warnings, verdict := s.validate(ctx, tx, a)
	if s.cfg.ValidationDelay > 0 {
		select {
		case <-time.After(s.cfg.ValidationDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if verdict != nil {
		var appErr *keyplane.Error
		if !errors.As(verdict, &appErr) || appErr.Code == keyplane.Unavailable {
			// A failure of ours, or the database going away mid-way, is no
			// verdict on the archive: let the job retry.
			return nil, verdict
		}
		failure := operation.Status(verdict)
		return failure, tx.Fail(ctx, a.Operation, failure, warnings)
	}
	// Everything is read through tx: a worker holding a proxy's revision
	// lock must not wait for a second connection from the pool.
	d, err := tx.Deployment(ctx, a.Org, a.Env, a.Deployment)
	if err != nil {
		return nil, err
	}
	body, err := s.cfg.Respond(d)
	if err != nil {
		return nil, err
	}
	return nil, tx.Succeed(ctx, a.Operation, a.Org, a.Env, a.Deployment, res.items, body, warnings)
}

// outcome is what a successful validation makes live.
type outcome struct {
	items []keyplane.DeploymentItem
}

// validate reads the archive and what it uses, in a constant number of
// queries whatever the number of target servers, and checks it. An
// application error is the verdict of a failed deployment; any other error
// is ours.
func (s *Service) validate(ctx context.Context, tx Tx, a Args) (*outcome, []string, error) {
	data, err := tx.Archive(ctx, a.Org, a.Env, a.Deployment)
	if err != nil {
		return nil, nil, err
	}
	arc, err := archive.Read(data, s.cfg.Limits)
	if err != nil {
		return nil, nil, err
	}
	bundle, err := arc.Bundle(a.Env)
	if err != nil {
		return nil, nil, err
	}
	// What gateways cannot route (a Condition that does not parse, two
	// proxies on one base path) fails here, not at runtime.
	routes, err := route.Compile(bundle)
	if err != nil {
		return nil, nil, err
	}
	snap, versions, err := archive.LoadSnapshot(ctx, tx, a.Org, a.Env, bundle, s.now())
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkTargets(ctx, routes, bundle, snap); err != nil {
		return nil, nil, err
	}
	proxies := make([]string, 0, len(bundle.Proxies))
	for _, p := range bundle.Proxies {
		proxies = append(proxies, p.Name)
	}
	current, err := tx.LockRevisions(ctx, a.Org, proxies)
	if err != nil {
		return nil, nil, err
	}
	revisions := map[string]int{}
	for _, p := range proxies {
		revisions[p] = current[p] + 1
	}
	res, err := archive.Validate(bundle, snap, revisions)
	if err != nil {
		return nil, nil, err
	}
	out := &outcome{}
	for _, p := range res.Proxies {
		out.items = append(out.items, keyplane.DeploymentItem{Kind: "proxy", Name: p.Name, Revision: p.Revision})
	}
	for _, ts := range res.TargetServers {
		out.items = append(out.items, keyplane.DeploymentItem{Kind: "targetserver", Name: ts})
	}
	for name := range snap.References {
		out.items = append(out.items, keyplane.DeploymentItem{Kind: "reference", Name: name})
	}
	for name := range snap.Keystores {
		out.items = append(out.items, keyplane.DeploymentItem{Kind: "keystore", Name: name})
	}
	for _, pin := range res.Pins {
		out.items = append(out.items, keyplane.DeploymentItem{Kind: "alias", Name: pin.Keystore + "/" + pin.Alias,
			AliasID: pin.AliasID, AliasVersion: versions[pin.AliasID]})
	}
	return out, res.Warnings, nil
}

// maxAttempts is how often a deployment is tried before its operation is
// finished with an internal error. Failures of the archive itself are not
// retried: they finish the operation at the first attempt.
const maxAttempts = 5

// DefaultJobTimeout bounds one deployment's run when QueueConfig sets no
// JobTimeout.
const DefaultJobTimeout = time.Minute

// QueueConfig tunes the job queue.
type QueueConfig struct {
	// Workers is how many deployments one server runs at once (default 8).
	Workers int
	// JobTimeout bounds one deployment's run (default 1 min).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before another server
	// takes it over, its server presumed dead (default JobTimeout + 30 s).
	RescueAfter time.Duration
	Log         *slog.Logger
	// Tracker reports each run of a deployment; nil reports none.
	Tracker *operation.Tracker
	// SuperviseInterval is how often the supervisor checks the queue
	// (default DefaultSuperviseInterval); LeaderlessRestart how long the
	// database may answer while no server leads the queue before the
	// supervisor restarts this server's client (default
	// DefaultLeaderlessRestart).
	SuperviseInterval, LeaderlessRestart time.Duration
}

// Queue is the River client that runs deployment jobs and, on the leader
// the servers sharing the database elect, the periodic sweep. A supervisor
// keeps it working (see supervise).
type Queue struct {
	client *river.Client[pgx.Tx]
	db     store
	cfg    QueueConfig

	stopOnce   sync.Once
	stopSuperv chan struct{}
	supervDone chan struct{}
	// down is set while the client is known not to run: stopped by
	// itself and not yet restarted.
	down     atomic.Bool
	started  atomic.Bool
	stopped  atomic.Bool
	restarts atomic.Int64
}

// NewQueue builds the queue over pool, running jobs with svc.
func NewQueue(pool *pgxpool.Pool, svc *Service, cfg QueueConfig) (*Queue, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = cfg.JobTimeout + 30*time.Second
	}
	cfg.SuperviseInterval = cmp.Or(cfg.SuperviseInterval, DefaultSuperviseInterval)
	cfg.LeaderlessRestart = cmp.Or(cfg.LeaderlessRestart, DefaultLeaderlessRestart)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{svc: svc, log: cfg.Log, tracker: cfg.Tracker})
	river.AddWorker(workers, &sweepWorker{svc: svc, log: cfg.Log})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    50 * time.Millisecond,
		MaxAttempts:          maxAttempts,
		PeriodicJobs:         []*river.PeriodicJob{sweepJob()},
		Logger:               slog.New(lograte.New(cfg.Log.Handler(), repeatWindow)),
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: job queue: %w", err)
	}
	return &Queue{client: client, db: svc.db, cfg: cfg,
		stopSuperv: make(chan struct{}), supervDone: make(chan struct{})}, nil
}

// Start starts working jobs, and supervising the queue, until Stop or
// StopAndCancel. Cancelling ctx stops the queue too, but abruptly,
// cancelling the jobs it is running: a server that wants its deployments
// to finish on shutdown passes a context that is never cancelled
// (context.WithoutCancel) and calls Stop.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	q.started.Store(true)
	go q.supervise(ctx)
	return nil
}

// Stop stops fetching jobs and waits for the running ones to finish. If ctx
// ends first, Stop returns its error and the jobs go on running; call
// StopAndCancel then.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopSupervising()
	return q.client.Stop(ctx)
}

// StopAndCancel stops fetching jobs, cancels the running ones and waits
// for them to return, or for ctx to end. A cancelled deployment's
// transaction rolls back and its job is retried later.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	q.stopSupervising()
	return q.client.StopAndCancel(ctx)
}

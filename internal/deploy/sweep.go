package deploy

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/keyplane/keyplane"
)

// SweepInterval is how often the queue's leader sweeps.
const SweepInterval = 10 * time.Minute

const (
	// unusedUploadLifetime is how long an archive uploaded but never
	// deployed is kept.
	unusedUploadLifetime = 24 * time.Hour
	// abandonAfter is how old an unfinished deployment must be before the
	// sweep may finish it: its job was inserted with it, so a missing job is
	// not a job about to appear.
	abandonAfter = time.Minute
)

// abandoned is how an operation whose job will not run again ends.
var abandoned = &keyplane.Status{
	Code:    keyplane.GRPCCode(keyplane.Internal),
	Message: "internal error: the deployment was abandoned; deploy the archive again",
}

// SweepResult is what one sweep did.
type SweepResult struct {
	// UploadsDeleted counts the upload slots deleted.
	UploadsDeleted int64
	// ArchivesPruned counts the archives emptied because newer deployments
	// of their environment replaced them.
	ArchivesPruned int64
	// Abandoned are the operations finished because their deployment's job
	// will not run again.
	Abandoned []uuid.UUID
}

// Sweep deletes upload slots that are of no more use (expired before
// anything was uploaded, or uploaded more than a day ago and never
// deployed), empties the archives of all but the KeepArchives newest
// deployments of each environment (and the live one), and finishes, with an internal error, every deployment whose
// job the queue discarded or cancelled or lost, so that its pollers do not
// wait forever (a server that dies on a job's last attempt leaves it so).
// The queue's leader runs it every SweepInterval.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	n, err := s.db.DeleteUnusedUploads(ctx, unusedUploadLifetime)
	if err != nil {
		return res, err
	}
	res.UploadsDeleted = n
	if res.ArchivesPruned, err = s.db.PruneArchives(ctx, s.cfg.KeepArchives); err != nil {
		return res, err
	}
	res.Abandoned, err = s.db.AbandonDeployments(ctx, Args{}.Kind(), abandonAfter, abandoned)
	return res, err
}

// sweepArgs are the arguments of the periodic sweep job.
type sweepArgs struct{}

// Kind names the job in River's tables.
func (sweepArgs) Kind() string { return "keyplane.sweep" }

// sweepWorker runs the periodic sweep.
type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	svc *Service
	log *slog.Logger
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	res, err := w.svc.Sweep(ctx)
	if err != nil {
		return err
	}
	for _, op := range res.Abandoned {
		w.log.WarnContext(ctx, "finished a deployment whose job will not run again", "operation", op)
	}
	w.log.InfoContext(ctx, "swept", "uploads_deleted", res.UploadsDeleted, "archives_pruned", res.ArchivesPruned,
		"deployments_abandoned", len(res.Abandoned))
	return nil
}

// sweepJob is the periodic job that sweeps, inserted by the leader at once
// when it is elected and then every SweepInterval. A failed sweep is not
// retried: the next one does its work.
func sweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, &river.InsertOpts{MaxAttempts: 1} },
		&river.PeriodicJobOpts{ID: "keyplane.sweep", RunOnStart: true})
}

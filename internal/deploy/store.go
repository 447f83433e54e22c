package deploy

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
)

// The storage deployments need is declared here, in the domain's types,
// and implemented by internal/postgres. A deployment's job and its
// transaction share River's pgx transaction (Tx.Tx), which is why pgx
// appears in these interfaces and nothing else of the database does.

// Store is the storage of uploads, archive deployments and their
// operations. RunDeployment runs fn in the one transaction a deployment is
// validated and recorded in, with the operation locked, over a Tx of type
// T; it returns keyplane.ErrOperationFinished, without calling fn, when
// another worker has finished the operation already.
type Store[T Tx] interface {
	store
	RunDeployment(ctx context.Context, id uuid.UUID, fn func(T) error) error
}

// store is Store without the type of its transaction, which the Service
// keeps.
type store interface {
	CreateUpload(ctx context.Context, id uuid.UUID, org, env string, expires time.Time) error
	ClaimUpload(ctx context.Context, id uuid.UUID) error
	AppendUpload(ctx context.Context, id uuid.UUID, seq int, data []byte) error
	CompleteUpload(ctx context.Context, id uuid.UUID) error
	ReleaseUpload(ctx context.Context, id uuid.UUID) error
	DeploymentArchive(ctx context.Context, uploadID uuid.UUID) ([]byte, error)

	CreateDeployment(ctx context.Context, d *keyplane.ArchiveDeployment, op *keyplane.Operation, enqueue func(pgx.Tx) error) error
	GetDeployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error)
	ListDeployments(ctx context.Context, org, env string, labels map[string]string, after keyplane.Cursor, limit int) ([]*keyplane.ArchiveDeployment, error)
	UpdateDeploymentLabels(ctx context.Context, org, env, id string, labels map[string]string) (*keyplane.ArchiveDeployment, error)
	DeleteDeployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error)
	StartOperation(ctx context.Context, id uuid.UUID) error

	// The sweep's and the quotas' reads and writes.
	DeleteUnusedUploads(ctx context.Context, filledFor time.Duration) (int64, error)
	AbandonDeployments(ctx context.Context, jobKind string, olderThan time.Duration, status *keyplane.Status) ([]uuid.UUID, error)
	PruneArchives(ctx context.Context, keep int) (int64, error)
	ArchiveBytes(ctx context.Context, org string) (int64, error)
	DeploymentsSince(ctx context.Context, org string, t time.Time) (int, error)

	// Up and QueueLeader are what the queue's supervisor watches.
	Up() bool
	QueueLeader(ctx context.Context) (bool, error)
}

// Tx is what a deployment reads and writes in its transaction: the TLS
// material it validates against (locked until it commits), the archive,
// the proxies' revisions, and the outcome.
type Tx interface {
	archive.TLSSource
	Archive(ctx context.Context, org, env, deployment string) ([]byte, error)
	Deployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error)
	LockRevisions(ctx context.Context, org string, proxies []string) (map[string]int, error)
	Succeed(ctx context.Context, opID uuid.UUID, org, env, deployment string, items []keyplane.DeploymentItem, response []byte, warnings []string) error
	Fail(ctx context.Context, opID uuid.UUID, status *keyplane.Status, warnings []string) error
	// Tx is the transaction itself, for the job queue to complete the job
	// in it.
	Tx() pgx.Tx
}

// QueueSource is what the queue's metrics read (see QueueCollector).
type QueueSource interface {
	Up() bool
	CountJobs(ctx context.Context, kind string) (map[string]int64, error)
	QueueHealth(ctx context.Context, kind string, stuckAfter time.Duration) (keyplane.QueueHealth, error)
}

package deploy

import (
	"context"
	"time"

	"github.com/keyplane/keyplane"
)

// Quotas bound what one organization may store and do, so that no tenant
// can fill the database or the job queue for the others. A zero field
// means its default; a negative one, no limit.
type Quotas struct {
	// ArchiveBytes bounds the size of the archives an organization stores
	// (pruned ones do not count); default 10 GiB.
	ArchiveBytes int64
	// DeploymentsPerDay bounds the archive deployments an organization
	// creates in any 24 hours; default 1,000.
	DeploymentsPerDay int
}

// DefaultQuotas are the quotas of an organization unless configured.
var DefaultQuotas = Quotas{ArchiveBytes: 10 << 30, DeploymentsPerDay: 1000}

// DefaultKeepArchives is how many of each environment's newest
// deployments keep their archives, unless configured.
const DefaultKeepArchives = 10

func (q Quotas) withDefaults() Quotas {
	if q.ArchiveBytes == 0 {
		q.ArchiveBytes = DefaultQuotas.ArchiveBytes
	}
	if q.DeploymentsPerDay == 0 {
		q.DeploymentsPerDay = DefaultQuotas.DeploymentsPerDay
	}
	return q
}

// checkArchiveBytes refuses an upload of size bytes (-1: unknown) once the
// organization's archives fill its quota.
func (s *Service) checkArchiveBytes(ctx context.Context, org string, size int64) error {
	quota := s.cfg.Quotas.ArchiveBytes
	if quota < 0 {
		return nil
	}
	used, err := s.db.ArchiveBytes(ctx, org)
	if err != nil {
		return err
	}
	if used+max(size, 0) > quota || used >= quota {
		return keyplane.Errorf(keyplane.ResourceExhausted,
			"quota exceeded: the archives of organization %q fill its quota of stored archive bytes (%d of %d bytes, KEYPLANE_QUOTA_ARCHIVE_BYTES); delete deployments or wait for old archives to be pruned",
			org, used, quota)
	}
	return nil
}

// checkDeploymentsPerDay refuses a deployment once the organization made
// its quota of them in the last 24 hours.
func (s *Service) checkDeploymentsPerDay(ctx context.Context, org string) error {
	quota := s.cfg.Quotas.DeploymentsPerDay
	if quota < 0 {
		return nil
	}
	n, err := s.db.DeploymentsSince(ctx, org, s.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if n >= quota {
		return keyplane.Errorf(keyplane.ResourceExhausted,
			"quota exceeded: organization %q made %d archive deployments in the last 24 hours, its quota of deployments per day (KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY)",
			org, quota)
	}
	return nil
}

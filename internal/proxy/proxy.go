// Package proxy runs API proxies in PROXY environments: bundles imported as
// numbered revisions, and their deployments, validated by a job on the
// same queue as archive deployments with the same parser, validator and
// target fence, so that a proxy deploys, fails and serves exactly as the
// same proxy inside an archive would.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/requestid"
	"github.com/keyplane/keyplane/internal/route"
)

// Store keeps API proxies, revisions and deployments (internal/postgres
// implements it), declared here in the domain's types.
// RunProxyDeployment calls fn in the transaction that settles a deployment
// still in progress, over a DeployTx of type T, or returns
// keyplane.ErrDeploymentSettled without calling it.
type Store[T DeployTx] interface {
	store
	RunProxyDeployment(ctx context.Context, org, env, proxy string, rev int, fn func(T) error) error
}

// store is Store without the type of its transaction, which the Service
// keeps.
type store interface {
	CreateProxyRevision(ctx context.Context, rev *keyplane.ProxyRevision, bundle []byte) (*keyplane.ProxyRevision, error)
	ListAPIProxies(ctx context.Context, org string) ([]keyplane.APIProxy, error)
	GetAPIProxy(ctx context.Context, org, name string) (*keyplane.APIProxy, error)
	DeleteAPIProxy(ctx context.Context, org, name string) (*keyplane.APIProxy, error)
	GetProxyRevision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error)
	ProxyRevisionBundle(ctx context.Context, org, proxy string, rev int) ([]byte, error)
	DeleteProxyRevision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error)
	// ArchiveBytes is what an organization's archives and bundles store.
	ArchiveBytes(ctx context.Context, org string) (int64, error)

	CreateProxyDeployment(ctx context.Context, d *keyplane.ProxyDeployment, enqueue func(pgx.Tx) error) (*keyplane.ProxyDeployment, error)
	GetProxyDeployment(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error)
	ListProxyDeployments(ctx context.Context, org, env, proxy string, rev int) ([]keyplane.ProxyDeployment, error)
	DeleteProxyDeployment(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error)
	// FailStuckProxyDeployment settles a deployment whose job gave up as
	// ERROR, unless it is no longer in progress.
	FailStuckProxyDeployment(ctx context.Context, org, env, proxy string, rev int, problems []keyplane.DeploymentProblem) error
}

// DeployTx is the transaction in which a deployment is validated and
// settled: the TLS material it reads (through the loader archive
// deployments read with) stays as read until it commits.
type DeployTx interface {
	archive.TLSSource
	// Tx is the transaction, for the job queue to complete the job in it.
	Tx() pgx.Tx
	Bundle(ctx context.Context) ([]byte, error)
	Deployment(ctx context.Context) (*keyplane.ProxyDeployment, error)
	// Others are the environment's READY deployments of other proxies and
	// every deployment of other revisions of this proxy.
	Others(ctx context.Context) ([]keyplane.ProxyDeployment, error)
	Ready(ctx context.Context, uses keyplane.DeploymentUses, replaced []keyplane.ProxyDeployment) error
	Fail(ctx context.Context, problems []keyplane.DeploymentProblem) error
}

// Config tunes the service.
type Config struct {
	// Limits bound imported bundles, as they bound archives.
	Limits archive.Limits
	// ArchiveBytes is the quota of bytes an organization's archives and
	// bundles may store together (deploy.Quotas.ArchiveBytes); zero means
	// the default, negative no limit.
	ArchiveBytes int64
	// Targets fences the hosts targets may name; nil means the default
	// policy, as for archive deployments.
	Targets *egress.Policy
	Log     *slog.Logger
	// Tracker reports each run of a deployment's job in the operations'
	// log lines and metrics; nil reports none.
	Tracker *operation.Tracker
	// ValidationDelay slows every deployment down by this much before it
	// is settled, as it does archive deployments. It exists to test
	// recovery from a server that dies mid-way; leave it zero otherwise.
	ValidationDelay time.Duration
}

// Service manages API proxies and their deployments.
type Service struct {
	store store
	// runDeployment is the store's RunProxyDeployment with its
	// transaction seen as a DeployTx, whatever its type.
	runDeployment func(ctx context.Context, org, env, proxy string, rev int, fn func(DeployTx) error) error
	// jobs inserts deployment jobs, in the transaction that records the
	// deployment; the deploy.Queue that Register adds the worker to works
	// them.
	jobs *river.Client[pgx.Tx]
	cfg  Config
	now  func() time.Time
}

// NewService returns a service over db, inserting the jobs that validate
// its deployments into the job queue in the database jobs connects to; a
// deploy.Queue whose QueueConfig.AddWorkers is Register runs them. T, the
// type of db's transactions, is inferred from db.
func NewService[T DeployTx](db Store[T], jobs *pgxpool.Pool, cfg Config) (*Service, error) {
	if cfg.Limits.MaxCompressed <= 0 {
		cfg.Limits.MaxCompressed = archive.DefaultLimits().MaxCompressed
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ArchiveBytes == 0 {
		cfg.ArchiveBytes = deploy.DefaultQuotas.ArchiveBytes
	}
	inserter, err := deploy.NewInserter(jobs)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return &Service{store: db, cfg: cfg, now: time.Now, jobs: inserter,
		runDeployment: func(ctx context.Context, org, env, proxy string, rev int, fn func(DeployTx) error) error {
			return db.RunProxyDeployment(ctx, org, env, proxy, rev, func(tx T) error { return fn(tx) })
		}}, nil
}

// MaxUpload is the largest bundle accepted, in bytes.
func (s *Service) MaxUpload() int64 { return s.cfg.Limits.MaxCompressed }

// Import parses and checks bundle as API proxy name, and unless
// validateOnly stores it as the proxy's next revision. A bundle that does
// not parse, or whose routes do not compile, is InvalidArgument naming the
// file, line and column.
func (s *Service) Import(ctx context.Context, org, name string, bundle []byte, validateOnly bool) (*keyplane.ProxyRevision, error) {
	if err := keyplane.CheckName("name", name); err != nil {
		return nil, err
	}
	if len(bundle) == 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "the bundle is empty: send the zipped apiproxy/ folder as the multipart part \"file\" or as the request body")
	}
	pb, err := archive.ReadProxyBundle(bundle, name, s.cfg.Limits)
	if err != nil {
		return nil, err
	}
	if _, err := route.Compile(&archive.Bundle{Proxies: []archive.Proxy{pb.Proxy}}); err != nil {
		return nil, err
	}
	rev := &keyplane.ProxyRevision{Org: org, Proxy: name, Basepaths: pb.Basepaths, Policies: pb.Policies, Resources: pb.Resources}
	for _, ep := range pb.Proxy.ProxyEndpoints {
		rev.ProxyEndpoints = append(rev.ProxyEndpoints, ep.Name)
	}
	for _, ep := range pb.Proxy.Endpoints {
		rev.TargetEndpoints = append(rev.TargetEndpoints, ep.Name)
	}
	rev.TargetServers = pb.Proxy.TargetServerIDs
	if validateOnly {
		rev.CreatedAt = s.now()
		return rev, nil
	}
	if err := s.checkQuota(ctx, org, len(bundle)); err != nil {
		return nil, err
	}
	return s.store.CreateProxyRevision(ctx, rev, bundle)
}

// checkQuota refuses to store size more bytes once the organization's
// archives and bundles fill its quota.
func (s *Service) checkQuota(ctx context.Context, org string, size int) error {
	quota := s.cfg.ArchiveBytes
	if quota < 0 {
		return nil
	}
	used, err := s.store.ArchiveBytes(ctx, org)
	if err != nil {
		return err
	}
	if used+int64(size) > quota {
		return keyplane.Errorf(keyplane.ResourceExhausted,
			"quota exceeded: the archives and API proxy bundles of organization %q would exceed its quota of stored archive bytes (%d stored, %d more, quota %d, KEYPLANE_QUOTA_ARCHIVE_BYTES); delete revisions or deployments first",
			org, used, size, quota)
	}
	return nil
}

// List returns an organization's API proxies.
func (s *Service) List(ctx context.Context, org string) ([]keyplane.APIProxy, error) {
	return s.store.ListAPIProxies(ctx, org)
}

// Get returns one API proxy.
func (s *Service) Get(ctx context.Context, org, name string) (*keyplane.APIProxy, error) {
	return s.store.GetAPIProxy(ctx, org, name)
}

// Delete deletes an API proxy and its revisions; none may be deployed.
func (s *Service) Delete(ctx context.Context, org, name string) (*keyplane.APIProxy, error) {
	return s.store.DeleteAPIProxy(ctx, org, name)
}

// Revision describes one revision.
func (s *Service) Revision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error) {
	return s.store.GetProxyRevision(ctx, org, proxy, rev)
}

// Bundle returns the zip imported as a revision.
func (s *Service) Bundle(ctx context.Context, org, proxy string, rev int) ([]byte, error) {
	return s.store.ProxyRevisionBundle(ctx, org, proxy, rev)
}

// DeleteRevision deletes a revision that is not deployed.
func (s *Service) DeleteRevision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error) {
	return s.store.DeleteProxyRevision(ctx, org, proxy, rev)
}

// Deploy records the deployment of a revision to a PROXY environment in
// state PROGRESSING and queues, in the same transaction, the job that
// validates it and makes it READY or ERROR.
func (s *Service) Deploy(ctx context.Context, org, env, proxy string, rev int, override bool) (*keyplane.ProxyDeployment, error) {
	d := &keyplane.ProxyDeployment{Org: org, Env: env, Proxy: proxy, Revision: rev, Override: override}
	args := Args{Org: org, Env: env, Proxy: proxy, Revision: rev, RequestID: requestid.From(ctx)}
	return s.store.CreateProxyDeployment(ctx, d, func(tx pgx.Tx) error {
		_, err := s.jobs.InsertTx(ctx, tx, args, nil)
		return err
	})
}

// Deployment returns the deployment of a revision to an environment.
func (s *Service) Deployment(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error) {
	return s.store.GetProxyDeployment(ctx, org, env, proxy, rev)
}

// Deployments lists deployments: of an environment, a proxy, a revision
// (empty names and a zero revision match all).
func (s *Service) Deployments(ctx context.Context, org, env, proxy string, rev int) ([]keyplane.ProxyDeployment, error) {
	return s.store.ListProxyDeployments(ctx, org, env, proxy, rev)
}

// Undeploy removes the deployment of a revision from an environment.
func (s *Service) Undeploy(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error) {
	return s.store.DeleteProxyDeployment(ctx, org, env, proxy, rev)
}

// DeployReport says what deploying a revision would change in the
// environment's routing and which base paths conflict with other proxies'
// READY deployments, as the deployment itself would decide (see
// basePathOwners). It changes nothing.
func (s *Service) DeployReport(ctx context.Context, org, env, proxy string, rev int, override bool) ([]keyplane.RouteChange, []keyplane.RouteConflict, error) {
	r, err := s.store.GetProxyRevision(ctx, org, proxy, rev)
	if err != nil {
		return nil, nil, err
	}
	deployed, err := s.store.ListProxyDeployments(ctx, org, env, "", 0)
	if err != nil {
		return nil, nil, err
	}
	to := &keyplane.ProxyDeployment{Org: org, Env: env, Proxy: proxy, Revision: rev, Basepaths: r.Basepaths}
	var changes []keyplane.RouteChange
	var conflicts []keyplane.RouteConflict
	for _, path := range r.Basepaths {
		from := servedBy(deployed, path)
		switch {
		case from == nil:
			changes = append(changes, keyplane.RouteChange{Basepath: path, To: to})
		case from.Proxy == proxy && from.Revision == rev:
		case from.Proxy == proxy || override:
			changes = append(changes, keyplane.RouteChange{Basepath: path, From: from, To: to})
		default:
			conflicts = append(conflicts, keyplane.RouteConflict{Basepath: path, With: *from})
		}
	}
	return changes, conflicts, nil
}

// UndeployReport says which base paths undeploying a revision would stop
// serving. It changes nothing.
func (s *Service) UndeployReport(ctx context.Context, org, env, proxy string, rev int) ([]keyplane.RouteChange, error) {
	d, err := s.store.GetProxyDeployment(ctx, org, env, proxy, rev)
	if err != nil {
		return nil, err
	}
	var changes []keyplane.RouteChange
	if d.State != keyplane.DeploymentReady {
		return changes, nil
	}
	for _, path := range d.Basepaths {
		changes = append(changes, keyplane.RouteChange{Basepath: path, From: d})
	}
	return changes, nil
}

// servedBy returns the READY deployment among ds that serves path, or nil.
func servedBy(ds []keyplane.ProxyDeployment, path string) *keyplane.ProxyDeployment {
	for i := range ds {
		if ds[i].State == keyplane.DeploymentReady && slices.Contains(ds[i].Basepaths, path) {
			return &ds[i]
		}
	}
	return nil
}

// Package deploy runs archive deployments: signed upload and download URLs,
// the ArchiveDeployment resource, and the background job that validates an
// archive's TLS settings and records what it made live. The job runs on a
// River queue in the same PostgreSQL database, so an accepted deployment is
// never lost and an operation whose server died is finished by another.
//
// Storage is the Store (see store.go) interface declared in this package, in
// the domain's types (package keyplane), and implemented by
// internal/postgres. Every service is built this way, though each has one
// implementation: the interface is the list of what the rules may do to the
// database, readable beside them, and it keeps the service from reaching
// into the SQL layer.
package deploy

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/listfilter"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/requestid"
)

// Config tunes deployments.
type Config struct {
	// SigningKeys sign upload and download URLs, at least one: the first
	// signs, and a URL signed under any of them is accepted (see
	// seal.Keyring.DeriveAll).
	SigningKeys [][]byte
	// UploadURLTTL is how long an upload URL may be used (default 15 min).
	UploadURLTTL time.Duration
	// DownloadURLTTL is how long a download URL may be used (default 15 min).
	DownloadURLTTL time.Duration
	// Limits bound uploaded archives.
	Limits archive.Limits
	// Quotas bound each organization's archives and deployments.
	Quotas Quotas
	// KeepArchives is how many of each environment's newest deployments
	// keep their archives (the live one always does); default 10.
	KeepArchives int
	// MaxConcurrentUploads is how many archive uploads may stream at once
	// (default 8); more are refused with ResourceExhausted.
	MaxConcurrentUploads int
	// Targets fences the hosts a deployment's targets may name; nil means
	// the default policy, which refuses loopback, link-local and metadata
	// addresses.
	Targets *egress.Policy
	// Respond encodes a successful deployment as its operation reports it
	// (httpapi.OperationResponse); deployments cannot finish without it.
	Respond operation.Encoder
	// ValidationDelay slows every deployment down by this much before it
	// commits. It exists to test recovery from a server that dies mid-way;
	// leave it zero otherwise.
	ValidationDelay time.Duration
}

// DefaultMaxConcurrentUploads is how many archive uploads stream at once
// unless configured.
const DefaultMaxConcurrentUploads = 8

// Service manages archive deployments.
type Service struct {
	db store
	// runDeployment is the store's RunDeployment with its transaction
	// seen as a Tx, whatever its type.
	runDeployment func(ctx context.Context, id uuid.UUID, fn func(Tx) error) error
	cfg           Config
	sign          signer
	// jobs inserts deployment jobs, in the transaction that records the
	// deployment; the Queue's client works them.
	jobs *river.Client[pgx.Tx]
	// uploads holds a token per upload streaming now.
	uploads chan struct{}
	now     func() time.Time
}

// NewService returns a service over db, inserting its deployment jobs
// into the job queue in the database jobs connects to (a Queue, see
// NewQueue, runs them); T, the type of db's transactions, is inferred from
// db.
func NewService[T Tx](db Store[T], jobs *pgxpool.Pool, cfg Config) (*Service, error) {
	if cfg.UploadURLTTL == 0 {
		cfg.UploadURLTTL = 15 * time.Minute
	}
	if cfg.DownloadURLTTL == 0 {
		cfg.DownloadURLTTL = 15 * time.Minute
	}
	if cfg.Limits.MaxCompressed <= 0 {
		cfg.Limits.MaxCompressed = archive.DefaultLimits().MaxCompressed
	}
	cfg.Quotas = cfg.Quotas.withDefaults()
	if cfg.KeepArchives <= 0 {
		cfg.KeepArchives = DefaultKeepArchives
	}
	if cfg.MaxConcurrentUploads <= 0 {
		cfg.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	// An insert-only client: it works no job, so it needs no worker, and
	// it gives the jobs it inserts the attempts the Queue's client allows.
	inserter, err := river.NewClient(riverpgxv5.New(jobs), &river.Config{MaxAttempts: maxAttempts})
	if err != nil {
		return nil, fmt.Errorf("deploy: job queue: %w", err)
	}
	return &Service{db: db, cfg: cfg, sign: signer{keys: cfg.SigningKeys}, now: time.Now, jobs: inserter,
		uploads: make(chan struct{}, cfg.MaxConcurrentUploads),
		runDeployment: func(ctx context.Context, id uuid.UUID, fn func(Tx) error) error {
			return db.RunDeployment(ctx, id, func(tx T) error { return fn(tx) })
		}}, nil
}

// MaxUpload is the largest archive an upload URL accepts, in bytes.
func (s *Service) MaxUpload() int64 { return s.cfg.Limits.MaxCompressed }

// ArchivePath is the path, under the server's base URL, of signed archive
// URLs.
const ArchivePath = "/archives/"

// GenerateUploadURL reserves an upload slot and returns its signed URL on
// the server at baseURL.
func (s *Service) GenerateUploadURL(ctx context.Context, org, env, baseURL string) (string, error) {
	id := uuid.New()
	expires := s.now().Add(s.cfg.UploadURLTTL)
	if err := s.db.CreateUpload(ctx, id, org, env, expires); err != nil {
		return "", err
	}
	token := s.sign.sign(claims{Purpose: "upload", ID: id, Org: org, Env: env, Expires: expires.Unix()})
	return strings.TrimRight(baseURL, "/") + ArchivePath + token, nil
}

// Upload stores the archive PUT to a signed upload URL. The URL works once,
// before it expires.
//
// The slot is claimed before a byte of body is read, so that a replayed or
// concurrent PUT to the same URL is answered at once; the body then streams
// to the database in chunks, the size limit enforced as it comes, and at
// most MaxConcurrentUploads stream at once (the rest are ResourceExhausted).
// A failed or refused upload gives its slot back. contentLength is the length the
// request announced, -1 when unknown.
func (s *Service) Upload(ctx context.Context, token string, contentLength int64, body io.Reader) error {
	c, err := s.sign.verify(token, "upload", s.now())
	if err != nil {
		return err
	}
	limit := s.cfg.Limits.MaxCompressed
	if contentLength > limit {
		return keyplane.Errorf(keyplane.RequestTooLarge, "archive exceeds the upload limit")
	}
	if err := s.checkArchiveBytes(ctx, c.Org, contentLength); err != nil {
		return err
	}
	if err := s.db.ClaimUpload(ctx, c.ID); err != nil {
		return err
	}
	var n int64
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
		n, err = s.stream(ctx, c.ID, body, limit)
	default:
		err = keyplane.Errorf(keyplane.ResourceExhausted,
			"too many archive uploads in progress (at most %d at once); retry in a few seconds", cap(s.uploads))
	}
	if err == nil && n == 0 {
		err = keyplane.Errorf(keyplane.InvalidArgument, "archive is empty: PUT the zip file as the request body")
	}
	if err == nil {
		err = s.db.CompleteUpload(ctx, c.ID)
	}
	if err != nil {
		if rerr := s.db.ReleaseUpload(context.WithoutCancel(ctx), c.ID); rerr != nil {
			return rerr
		}
	}
	return err
}

// uploadChunk is how much of an upload a server holds at once.
const uploadChunk = 256 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, uploadChunk); return &b }}

// stream copies body into slot id's chunks, and fails once more than limit
// bytes came.
func (s *Service) stream(ctx context.Context, id uuid.UUID, body io.Reader, limit int64) (int64, error) {
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	buf := *bp
	var total int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(body, buf)
		total += int64(n)
		if total > limit {
			return total, keyplane.Errorf(keyplane.RequestTooLarge, "archive exceeds the upload limit")
		}
		if n > 0 {
			if aerr := s.db.AppendUpload(ctx, id, seq, buf[:n]); aerr != nil {
				return total, aerr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return total, nil
		case err != nil:
			return total, keyplane.Errorf(keyplane.InvalidArgument, "cannot read request body: %v", err)
		}
	}
}

// Download returns the archive a signed download URL grants.
func (s *Service) Download(ctx context.Context, token string) ([]byte, error) {
	c, err := s.sign.verify(token, "download", s.now())
	if err != nil {
		return nil, err
	}
	return s.db.DeploymentArchive(ctx, c.ID)
}

// Create records a deployment of the archive uploaded to gcsURI and queues
// the job that validates it; it answers at once with the pending operation.
func (s *Service) Create(ctx context.Context, org, env, gcsURI string, labels map[string]string) (*keyplane.Operation, error) {
	if gcsURI == "" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "gcsUri is required: the uploadUri returned by generateUploadUrl")
	}
	c, err := s.parseUploadURI(gcsURI)
	if err != nil {
		return nil, err
	}
	if c.Org != org || c.Env != env {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "gcsUri was issued for environment \"organizations/%s/environments/%s\", not this one", c.Org, c.Env)
	}
	if err := checkLabels(labels); err != nil {
		return nil, err
	}
	if err := s.checkDeploymentsPerDay(ctx, org); err != nil {
		return nil, err
	}
	d := &keyplane.ArchiveDeployment{Org: org, Env: env, ID: newDeploymentID(), UploadID: c.ID, GcsURI: gcsURI, Labels: labels}
	op := operation.Pending(org, operation.TypeInsert, d.ResourceName())
	d.Operation = op.UUID
	args := Args{Operation: op.UUID, Org: org, Env: env, Deployment: d.ID, RequestID: requestid.From(ctx)}
	if err := s.db.CreateDeployment(ctx, d, op, func(tx pgx.Tx) error {
		_, err := s.jobs.InsertTx(ctx, tx, args, nil)
		return err
	}); err != nil {
		return nil, err
	}
	return op, nil
}

// parseUploadURI checks that uri is a signed upload URL of this service.
// Its expiry is not checked: it bounds the upload, not the deployment.
func (s *Service) parseUploadURI(uri string) (claims, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return claims{}, keyplane.Errorf(keyplane.InvalidArgument, "gcsUri is not a URL")
	}
	_, token, ok := strings.Cut(u.Path, ArchivePath)
	if !ok || token == "" {
		return claims{}, keyplane.Errorf(keyplane.InvalidArgument, "gcsUri must be an uploadUri returned by generateUploadUrl")
	}
	c, err := s.sign.verify(token, "upload", time.Time{})
	if err != nil {
		return claims{}, keyplane.Errorf(keyplane.InvalidArgument, "gcsUri is not an upload URL issued by this server")
	}
	return c, nil
}

// checkLabels applies Google's label rules, loosely: bounded counts and
// lengths, so a label cannot be used to store bulk data.
func checkLabels(labels map[string]string) error {
	if len(labels) > 64 {
		return keyplane.Errorf(keyplane.InvalidArgument, "labels: at most 64 labels are allowed, got %d", len(labels))
	}
	for k, v := range labels {
		if k == "" || len(k) > 63 || len(v) > 63 {
			return keyplane.Errorf(keyplane.InvalidArgument, "labels: keys must be 1-63 characters and values at most 63 (label %.70q)", k)
		}
	}
	return nil
}

// newDeploymentID returns an 18-character lowercase id, like Apigee's.
func newDeploymentID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	b[0] = alphabet[int(b[0])%26] // start with a letter
	return string(b)
}

// Get returns one deployment.
func (s *Service) Get(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error) {
	return s.db.GetDeployment(ctx, org, env, id)
}

// List returns a page of an environment's deployments, newest first.
func (s *Service) List(ctx context.Context, org, env string, pageSize int, pageToken string) ([]*keyplane.ArchiveDeployment, string, error) {
	return s.ListMatching(ctx, org, env, "", pageSize, pageToken)
}

// ListMatching returns one page of an environment's archive deployments
// that match filter, newest first. The filter compares labels
// (`labels.team = "payments" AND labels.stage = "blue"`; see package
// listfilter for the syntax). It returns the token of the next page too,
// empty on the last.
func (s *Service) ListMatching(ctx context.Context, org, env, filter string, pageSize int, pageToken string) ([]*keyplane.ArchiveDeployment, string, error) {
	conds, err := listfilter.Parse(filter, []string{"labels."})
	if err != nil {
		return nil, "", err
	}
	labels := map[string]string{}
	for _, c := range conds {
		key := strings.TrimPrefix(c.Field, "labels.")
		if v, dup := labels[key]; dup && v != c.Value {
			labels = nil // no label has two values: nothing matches
			break
		}
		labels[key] = c.Value
	}
	return keyplane.KeysetPage(pageSize, pageToken, false,
		func(after keyplane.Cursor, limit int) ([]*keyplane.ArchiveDeployment, error) {
			if labels == nil {
				return nil, nil
			}
			return s.db.ListDeployments(ctx, org, env, labels, after, limit)
		},
		func(d *keyplane.ArchiveDeployment) keyplane.Cursor {
			return keyplane.Cursor{Time: d.CreatedAt, ID: d.ID}
		})
}

// UpdateLabels replaces a deployment's labels; updateMask must be "labels"
// (or empty), the only field that may change.
func (s *Service) UpdateLabels(ctx context.Context, org, env, id, updateMask string, labels map[string]string) (*keyplane.ArchiveDeployment, error) {
	if updateMask != "" && updateMask != "labels" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "updateMask %q is not supported: only labels can be updated", updateMask)
	}
	if err := checkLabels(labels); err != nil {
		return nil, err
	}
	return s.db.UpdateDeploymentLabels(ctx, org, env, id, labels)
}

// Delete deletes a finished deployment and its archive.
func (s *Service) Delete(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error) {
	return s.db.DeleteDeployment(ctx, org, env, id)
}

// GenerateDownloadURL returns a signed URL from which the deployment's
// archive can be downloaded.
func (s *Service) GenerateDownloadURL(ctx context.Context, org, env, id, baseURL string) (string, error) {
	d, err := s.db.GetDeployment(ctx, org, env, id)
	if err != nil {
		return "", err
	}
	token := s.sign.sign(claims{Purpose: "download", ID: d.UploadID, Org: org, Env: env, Expires: s.now().Add(s.cfg.DownloadURLTTL).Unix()})
	return strings.TrimRight(baseURL, "/") + ArchivePath + token, nil
}

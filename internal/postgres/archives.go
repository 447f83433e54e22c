package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateUpload records an upload slot that expires at expires, in one
// statement, if the environment takes archive deployments.
func (db *DB) CreateUpload(ctx context.Context, id uuid.UUID, org, env string, expires time.Time) error {
	var deploymentType string
	err := db.Pool.QueryRow(ctx, `
		WITH e AS (SELECT deployment_type FROM environments WHERE org = $2 AND name = $3),
		     slot AS (INSERT INTO archive_uploads (id, org, env, expires_at)
		              SELECT $1, $2, $3, $4 FROM e WHERE e.deployment_type = 'ARCHIVE')
		SELECT deployment_type FROM e`, id, org, env, expires).Scan(&deploymentType)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || isCode(err, foreignKeyViolation):
		return envNotFound(org, env)
	case err != nil:
		return wrap(err)
	case deploymentType != keyplane.DeploymentTypeArchive:
		return notArchiveEnvironment(org, env, deploymentType)
	}
	return nil
}

// notArchiveEnvironment refuses an archive deployment, or its upload, in an
// environment of another deployment type.
func notArchiveEnvironment(org, env, deploymentType string) error {
	return keyplane.Errorf(keyplane.FailedPrecondition,
		"environment \"organizations/%s/environments/%s\" has deploymentType %s; archive deployments need an environment of deploymentType ARCHIVE",
		org, env, deploymentType)
}

// ClaimUpload makes an upload slot this upload's, once, before it expires
// and before any of the body is read: every other upload to the same URL,
// concurrent or later, is refused at once.
func (db *DB) ClaimUpload(ctx context.Context, id uuid.UUID) error {
	var expired, used, claimed bool
	err := db.Pool.QueryRow(ctx, `
		WITH slot AS (SELECT expires_at <= now() AS expired, uploaded_at IS NOT NULL OR claimed_at IS NOT NULL AS used
		              FROM archive_uploads WHERE id = $1),
		     claimed AS (UPDATE archive_uploads SET claimed_at = now()
		                 WHERE id = $1 AND uploaded_at IS NULL AND claimed_at IS NULL AND expires_at > now() RETURNING 1)
		SELECT expired, used, EXISTS (SELECT 1 FROM claimed) FROM slot`, id).Scan(&expired, &used, &claimed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return keyplane.Errorf(keyplane.NotFound, "upload URL is unknown")
	case err != nil:
		return wrap(err)
	case claimed:
		return nil
	case expired && !used:
		return keyplane.Errorf(keyplane.FailedPrecondition, "upload URL has expired; generate a new one")
	}
	// Used before this statement began, or claimed by a concurrent upload
	// that this one waited for: the slot's snapshot still shows it free.
	return keyplane.Errorf(keyplane.FailedPrecondition, "upload URL was already used; generate a new one")
}

// AppendUpload stores the next chunk, numbered seq from 0, of the archive
// a claimed slot receives.
func (db *DB) AppendUpload(ctx context.Context, id uuid.UUID, seq int, data []byte) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO archive_upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)`, id, seq, data)
	return wrap(err)
}

// CompleteUpload joins a claimed slot's chunks into its archive, inside
// the database, and drops them.
func (db *DB) CompleteUpload(ctx context.Context, id uuid.UUID) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE archive_uploads SET uploaded_at = now(),
			       data = (SELECT string_agg(data, ''::bytea ORDER BY seq) FROM archive_upload_chunks WHERE upload_id = $1)
			WHERE id = $1 AND claimed_at IS NOT NULL AND uploaded_at IS NULL`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return keyplane.Errorf(keyplane.FailedPrecondition, "upload URL was already used; generate a new one")
		}
		_, err = tx.Exec(ctx, `DELETE FROM archive_upload_chunks WHERE upload_id = $1`, id)
		return err
	})
}

// ReleaseUpload gives back a slot whose upload failed (a body too large,
// a client gone): its chunks go, and the URL may be used again until it
// expires.
func (db *DB) ReleaseUpload(ctx context.Context, id uuid.UUID) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM archive_upload_chunks WHERE upload_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE archive_uploads SET claimed_at = NULL WHERE id = $1 AND uploaded_at IS NULL`, id)
		return err
	})
}

// CreateDeployment records a deployment of an uploaded archive and its
// pending operation, and calls enqueue in the same transaction so the job
// that runs it exists exactly when the deployment does.
func (db *DB) CreateDeployment(ctx context.Context, d *keyplane.ArchiveDeployment, op *keyplane.Operation, enqueue func(pgx.Tx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// Marking the slot deployed locks it, keeps the sweep away from it
		// and is undone if anything below fails.
		var org, env, deploymentType string
		var uploaded bool
		err := tx.QueryRow(ctx, `
			UPDATE archive_uploads u SET deployed = true FROM environments e
			WHERE u.id = $1 AND e.org = u.org AND e.name = u.env
			RETURNING u.org, u.env, u.uploaded_at IS NOT NULL, e.deployment_type`, d.UploadID).
			Scan(&org, &env, &uploaded, &deploymentType)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || err == nil && (org != d.Org || env != d.Env):
			return keyplane.Errorf(keyplane.InvalidArgument, "gcsUri does not name an upload of environment %q", d.Env)
		case err != nil:
			return err
		case deploymentType != keyplane.DeploymentTypeArchive:
			return notArchiveEnvironment(org, env, deploymentType)
		case !uploaded:
			return keyplane.Errorf(keyplane.FailedPrecondition, "gcsUri: nothing was uploaded to this URL yet; PUT the archive to it first")
		}
		if err := insertOperation(ctx, tx, op); err != nil {
			return err
		}
		labels, err := json.Marshal(nonNilLabels(d.Labels))
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO archive_deployments (org, env, id, upload_id, gcs_uri, labels, operation)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at, updated_at`,
			d.Org, d.Env, d.ID, d.UploadID, d.GcsURI, labels, d.Operation).Scan(&d.CreatedAt, &d.UpdatedAt)
		if isCode(err, uniqueViolation) {
			return keyplane.Errorf(keyplane.AlreadyExists, "the archive at gcsUri is already deployed; upload it again to deploy it again")
		}
		if err != nil {
			return err
		}
		return enqueue(tx)
	})
}

func nonNilLabels(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

const deploymentColumns = `org, env, id, upload_id, gcs_uri, labels, operation, created_at, updated_at`

func scanDeployment(row pgx.Row) (*keyplane.ArchiveDeployment, error) {
	d := &keyplane.ArchiveDeployment{}
	err := row.Scan(&d.Org, &d.Env, &d.ID, &d.UploadID, &d.GcsURI, &d.Labels, &d.Operation, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

// GetDeployment reads one deployment.
func (db *DB) GetDeployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error) {
	d, err := scanDeployment(db.Pool.QueryRow(ctx,
		`SELECT `+deploymentColumns+` FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3`, org, env, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, deploymentNotFound(org, env, id)
	}
	return d, wrap(err)
}

// ListDeployments returns up to limit deployments of an environment, newest
// first, after the keyset position.
// labels, when not empty, keeps the deployments whose labels include all
// of them.
func (db *DB) ListDeployments(ctx context.Context, org, env string, labels map[string]string, after keyplane.Cursor, limit int) ([]*keyplane.ArchiveDeployment, error) {
	want, err := json.Marshal(nonNilLabels(labels))
	if err != nil {
		return nil, err
	}
	rows, err := db.Pool.Query(ctx, `
		SELECT `+deploymentColumns+` FROM archive_deployments
		WHERE org = $1 AND env = $2 AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		  AND labels @> $6::jsonb
		ORDER BY created_at DESC, id DESC LIMIT $5`, org, env, cursorTime(after), cursorID(after), limit, want)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*keyplane.ArchiveDeployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	if len(out) == 0 && after.IsZero() {
		return nil, db.parentExists(ctx, org, env)
	}
	return out, nil
}

// UpdateDeploymentLabels replaces a deployment's labels.
func (db *DB) UpdateDeploymentLabels(ctx context.Context, org, env, id string, labels map[string]string) (*keyplane.ArchiveDeployment, error) {
	b, err := json.Marshal(nonNilLabels(labels))
	if err != nil {
		return nil, err
	}
	d, err := scanDeployment(db.Pool.QueryRow(ctx, `
		UPDATE archive_deployments SET labels = $4, updated_at = now()
		WHERE org = $1 AND env = $2 AND id = $3 RETURNING `+deploymentColumns, org, env, id, b))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, deploymentNotFound(org, env, id)
	}
	return d, wrap(err)
}

// DeleteDeployment deletes a deployment, its archive and what it made live.
// A deployment whose operation is still running is kept.
func (db *DB) DeleteDeployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error) {
	var d *keyplane.ArchiveDeployment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRow(ctx, `
			SELECT `+deploymentColumns+` FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3 FOR UPDATE`, org, env, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return deploymentNotFound(org, env, id)
		}
		if err != nil {
			return err
		}
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM operations WHERE uuid = $1`, d.Operation).Scan(&state); err != nil {
			return err
		}
		if state != keyplane.StateFinished {
			return keyplane.Errorf(keyplane.FailedPrecondition,
				"archive deployment %q is still being deployed (operation %s); wait for it to finish", id, d.Operation)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3`, org, env, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM archive_uploads WHERE id = $1`, d.UploadID)
		return err
	})
	return d, err
}

// DeploymentArchive returns the archive bytes of a deployment.
func (db *DB) DeploymentArchive(ctx context.Context, uploadID uuid.UUID) ([]byte, error) {
	var data []byte
	var pruned bool
	err := db.Pool.QueryRow(ctx, `SELECT data, pruned_at IS NOT NULL FROM archive_uploads WHERE id = $1 AND data IS NOT NULL`, uploadID).Scan(&data, &pruned)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyplane.Errorf(keyplane.NotFound, "archive not found")
	}
	if err == nil && pruned {
		return nil, keyplane.Errorf(keyplane.NotFound, "archive no longer kept: only the archives of the newest deployments of each environment are")
	}
	return data, wrap(err)
}

func deploymentNotFound(org, env, id string) error {
	return keyplane.Errorf(keyplane.NotFound, "archive deployment \"organizations/%s/environments/%s/archiveDeployments/%s\" not found", org, env, id)
}

// checkNotLive refuses to delete something (kind "keystore", "alias" as
// "keystore/alias", "reference" or "targetserver") that the environment's
// live deployment uses: the running proxies rely on it.
//
// It first locks the row to be deleted (a keystore's caller has already):
// a deployment that validated the row holds a share lock on it until it
// commits, so the check waits for that deployment and then sees whether it
// made the row live. Checked before the lock, the row would be deleted from
// under a deployment that goes live a moment later.
func checkNotLive(ctx context.Context, tx pgx.Tx, org, env, kind, name, what string) error {
	var lock string
	args := []any{org, env, name}
	switch kind {
	case "alias":
		keystore, alias, _ := strings.Cut(name, "/")
		lock = `SELECT FROM aliases a JOIN keystores k ON k.id = a.keystore_id
			WHERE k.org = $1 AND k.env = $2 AND k.name = $3 AND a.name = $4 FOR UPDATE OF a`
		args = []any{org, env, keystore, alias}
	case "reference":
		lock = `SELECT FROM "references" WHERE org = $1 AND env = $2 AND name = $3 FOR UPDATE`
	case "targetserver":
		lock = `SELECT FROM target_servers WHERE org = $1 AND env = $2 AND name = $3 FOR UPDATE`
	}
	if lock != "" {
		if _, err := tx.Exec(ctx, lock, args...); err != nil {
			return err
		}
	}
	var deployment string
	err := tx.QueryRow(ctx, `
		SELECT l.deployment FROM live_deployments l
		JOIN deployment_items i ON i.org = l.org AND i.env = l.env AND i.deployment = l.deployment
		WHERE l.org = $1 AND l.env = $2 AND i.kind = $3 AND i.name = $4`, org, env, kind, name).Scan(&deployment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return keyplane.Errorf(keyplane.FailedPrecondition,
		"%s is used by the live deployment \"organizations/%s/environments/%s/archiveDeployments/%s\"; deploy an archive that does not use it first",
		what, org, env, deployment)
}

// DeleteUnusedUploads deletes the upload slots no deployment uses that are
// of no more use: expired before anything was uploaded to them, or filled
// more than filledFor ago and never deployed. It returns how many it
// deleted.
func (db *DB) DeleteUnusedUploads(ctx context.Context, filledFor time.Duration) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `
		DELETE FROM archive_uploads
		WHERE NOT deployed
		  AND (uploaded_at IS NULL AND expires_at <= now()
		       OR uploaded_at IS NOT NULL AND created_at < now() - make_interval(secs => $1))`, filledFor.Seconds())
	if err != nil {
		return 0, wrap(err)
	}
	return tag.RowsAffected(), nil
}

// AbandonDeployments finishes, with status, every unfinished operation of
// an archive deployment created more than olderThan ago whose job will not
// run again: discarded or cancelled by the job queue (after a server died
// on its last attempt, say), or gone. It returns the operations it
// finished.
func (db *DB) AbandonDeployments(ctx context.Context, jobKind string, olderThan time.Duration, status *keyplane.Status) ([]uuid.UUID, error) {
	rows, err := db.Pool.Query(ctx, `
		UPDATE operations o SET state = 'FINISHED', error_code = $3, error_message = $4, updated_at = now()
		WHERE o.state <> 'FINISHED' AND o.created_at < now() - make_interval(secs => $2)
		  AND o.target LIKE 'organizations/%/archiveDeployments/%'
		  AND NOT EXISTS (
		      SELECT 1 FROM river_job j
		      WHERE j.kind = $1 AND j.args @> jsonb_build_object('operation', o.uuid)
		        AND j.state NOT IN ('discarded', 'cancelled'))
		RETURNING o.uuid`, jobKind, olderThan.Seconds(), status.Code, status.Message)
	if err != nil {
		return nil, wrap(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	return ids, wrap(err)
}

// PruneArchives empties the archives of the finished deployments of each
// environment but the keep newest and the live one, and returns how many
// it emptied. A deployment still waiting for or undergoing validation
// keeps its archive, however many came after it. The deployments stay
// listed; their archives cannot be downloaded any more.
func (db *DB) PruneArchives(ctx context.Context, keep int) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `
		WITH ranked AS (
			SELECT d.upload_id,
			       row_number() OVER (PARTITION BY d.org, d.env ORDER BY d.created_at DESC, d.id DESC) AS n,
			       EXISTS (SELECT 1 FROM live_deployments l WHERE l.org = d.org AND l.env = d.env AND l.deployment = d.id) AS live
			FROM archive_deployments d JOIN operations o ON o.uuid = d.operation
			WHERE o.state = 'FINISHED')
		UPDATE archive_uploads u SET data = ''::bytea, pruned_at = now()
		FROM ranked r
		WHERE r.upload_id = u.id AND r.n > $1 AND NOT r.live AND u.pruned_at IS NULL AND u.data IS NOT NULL`, keep)
	if err != nil {
		return 0, wrap(err)
	}
	return tag.RowsAffected(), nil
}

// ArchiveBytes is the size of the archives an organization stores.
func (db *DB) ArchiveBytes(ctx context.Context, org string) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `
		SELECT COALESCE(sum(octet_length(data)), 0) FROM archive_uploads
		WHERE org = $1 AND data IS NOT NULL AND pruned_at IS NULL`, org).Scan(&n)
	return n, wrap(err)
}

// DeploymentsSince counts an organization's deployments created since t.
func (db *DB) DeploymentsSince(ctx context.Context, org string, t time.Time) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM archive_deployments WHERE org = $1 AND created_at >= $2`, org, t).Scan(&n)
	return n, wrap(err)
}

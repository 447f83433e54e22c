package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// StartOperation moves an operation from NOT_STARTED to IN_PROGRESS, in its
// own transaction, so that pollers see the work has begun. It is a no-op for
// an operation already in progress (a retry after a crash).
func (db *DB) StartOperation(ctx context.Context, id uuid.UUID) error {
	_, err := db.Pool.Exec(ctx, `UPDATE operations SET state = 'IN_PROGRESS', updated_at = now() WHERE uuid = $1 AND state = 'NOT_STARTED'`, id)
	return wrap(err)
}

// DeployTx is the transaction in which a deployment is validated and its
// outcome recorded: everything it reads is consistent, and everything it
// writes lands together with the operation's FINISHED state.
type DeployTx struct {
	TLSReader
	tx pgx.Tx
}

// newDeployTx reads TLS material through tx, locking what it reads until
// tx ends (see TLSReader).
func newDeployTx(tx pgx.Tx) *DeployTx {
	return &DeployTx{TLSReader: TLSReader{tx: tx, lock: true}, tx: tx}
}

// Tx is the underlying transaction, for the job queue to complete the job
// in it.
func (d *DeployTx) Tx() pgx.Tx { return d.tx }

// RunDeployment locks operation id and calls fn in one transaction. When the
// operation is already finished, fn is not called and keyplane.ErrOperationFinished
// is returned.
func (db *DB) RunDeployment(ctx context.Context, id uuid.UUID, fn func(*DeployTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM operations WHERE uuid = $1 FOR UPDATE`, id).Scan(&state); err != nil {
			return err
		}
		if state == keyplane.StateFinished {
			return keyplane.ErrOperationFinished
		}
		return fn(newDeployTx(tx))
	})
}

// ReadTLS runs fn in a transaction of its own, for reading TLS material the
// way a deployment does (to validate a target server on its own).
func (db *DB) ReadTLS(ctx context.Context, fn func(*DeployTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return fn(newDeployTx(tx)) })
}

// Archive returns the uploaded archive of a deployment.
func (d *DeployTx) Archive(ctx context.Context, org, env, deployment string) ([]byte, error) {
	var data []byte
	err := d.tx.QueryRow(ctx, `
		SELECT u.data FROM archive_deployments a JOIN archive_uploads u ON u.id = a.upload_id
		WHERE a.org = $1 AND a.env = $2 AND a.id = $3`, org, env, deployment).Scan(&data)
	return data, err
}

// Deployment reads the deployment being run.
func (d *DeployTx) Deployment(ctx context.Context, org, env, id string) (*keyplane.ArchiveDeployment, error) {
	return scanDeployment(d.tx.QueryRow(ctx,
		`SELECT `+deploymentColumns+` FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3`, org, env, id))
}

// LockRevisions locks the revision counters of an organization's proxies,
// in name order so that concurrent deployments cannot deadlock, and returns
// each proxy's current revision (0 for a proxy never deployed).
func (d *DeployTx) LockRevisions(ctx context.Context, org string, proxies []string) (map[string]int, error) {
	if _, err := d.tx.Exec(ctx, `
		INSERT INTO proxy_revisions (org, proxy, revision)
		SELECT $1, p, 0 FROM unnest($2::text[]) AS p ORDER BY p
		ON CONFLICT DO NOTHING`, org, proxies); err != nil {
		return nil, err
	}
	rows, err := d.tx.Query(ctx, `
		SELECT proxy, revision FROM proxy_revisions WHERE org = $1 AND proxy = ANY($2) ORDER BY proxy FOR UPDATE`, org, proxies)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var rev int
		if err := rows.Scan(&p, &rev); err != nil {
			return nil, err
		}
		out[p] = rev
	}
	return out, rows.Err()
}

// Succeed records a successful deployment: proxy revisions, what it made
// live and pinned, the environment's live pointer, and the operation
// FINISHED with its response and warnings. It sends one batch of a fixed
// number of statements, however many items there are.
func (d *DeployTx) Succeed(ctx context.Context, opID uuid.UUID, org, env, deployment string, items []keyplane.DeploymentItem, response []byte, warnings []string) error {
	var kinds, names []string
	var revisions, aliasIDs, aliasVersions []*int64
	for _, it := range items {
		kinds, names = append(kinds, it.Kind), append(names, it.Name)
		revisions = append(revisions, nullInt(int64(it.Revision)))
		aliasIDs, aliasVersions = append(aliasIDs, nullInt(it.AliasID)), append(aliasVersions, nullInt(it.AliasVersion))
	}
	batch := &pgx.Batch{}
	batch.Queue(`
		UPDATE proxy_revisions r SET revision = i.revision
		FROM unnest($2::text[], $3::text[], $4::bigint[]) AS i(kind, name, revision)
		WHERE i.kind = 'proxy' AND r.org = $1 AND r.proxy = i.name`, org, kinds, names, revisions)
	batch.Queue(`
		INSERT INTO deployment_items (org, env, deployment, kind, name, revision, alias_id, alias_version)
		SELECT $1, $2, $3, i.kind, i.name, i.revision, i.alias_id, i.alias_version
		FROM unnest($4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[]) AS i(kind, name, revision, alias_id, alias_version)
		ON CONFLICT DO NOTHING`, org, env, deployment, kinds, names, revisions, aliasIDs, aliasVersions)
	batch.Queue(`INSERT INTO live_deployments (org, env, deployment) VALUES ($1, $2, $3)
		ON CONFLICT (org, env) DO UPDATE SET deployment = EXCLUDED.deployment`, org, env, deployment)
	batch.Queue(`UPDATE operations SET state = 'FINISHED', response = $2, warnings = $3, updated_at = now() WHERE uuid = $1`,
		opID, response, nonNilStrings(warnings))
	batch.Queue(`UPDATE archive_deployments SET updated_at = now() WHERE org = $1 AND env = $2 AND id = $3`, org, env, deployment)
	return d.tx.SendBatch(ctx, batch).Close()
}

// Fail finishes the operation with an error, in the same write that sets
// FINISHED.
func (d *DeployTx) Fail(ctx context.Context, opID uuid.UUID, status *keyplane.Status, warnings []string) error {
	_, err := d.tx.Exec(ctx, `
		UPDATE operations SET state = 'FINISHED', error_code = $2, error_message = $3, warnings = $4, updated_at = now()
		WHERE uuid = $1`, opID, status.Code, status.Message, nonNilStrings(warnings))
	return err
}

// nullInt stores zero as SQL NULL.
func nullInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

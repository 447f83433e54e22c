package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/api"
)

// ErrOperationFinished is returned by RunDeployment when another worker has
// already finished the operation: its work must not be done twice.
var ErrOperationFinished = errors.New("postgres: operation already finished")

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
	tx pgx.Tx
}

// Tx is the underlying transaction, for the job queue to complete the job
// in it.
func (d *DeployTx) Tx() pgx.Tx { return d.tx }

// RunDeployment locks operation id and calls fn in one transaction. When the
// operation is already finished, fn is not called and ErrOperationFinished
// is returned.
func (db *DB) RunDeployment(ctx context.Context, id uuid.UUID, fn func(*DeployTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM operations WHERE uuid = $1 FOR UPDATE`, id).Scan(&state); err != nil {
			return err
		}
		if state == api.StateFinished {
			return ErrOperationFinished
		}
		return fn(&DeployTx{tx: tx})
	})
}

// ReadTLS runs fn in a transaction of its own, for reading TLS material the
// way a deployment does (to validate a target server on its own).
func (db *DB) ReadTLS(ctx context.Context, fn func(*DeployTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return fn(&DeployTx{tx: tx}) })
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
func (d *DeployTx) Deployment(ctx context.Context, org, env, id string) (*DeploymentRecord, error) {
	return scanDeployment(d.tx.QueryRow(ctx,
		`SELECT `+deploymentColumns+` FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3`, org, env, id))
}

// TargetServers loads the named target servers of an environment, and
// keeps them from being deleted until the deployment commits: a delete
// waiting for it then sees whether the deployment made them live.
func (d *DeployTx) TargetServers(ctx context.Context, org, env string, names []string) (map[string]api.TargetServer, error) {
	out := map[string]api.TargetServer{}
	if len(names) == 0 {
		return out, nil
	}
	rows, err := d.tx.Query(ctx, `
		SELECT name, body FROM target_servers WHERE org = $1 AND env = $2 AND name = ANY($3)
		ORDER BY name FOR KEY SHARE`, org, env, names)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var ts api.TargetServer
		if err := rows.Scan(&name, &ts); err != nil {
			return nil, err
		}
		out[name] = ts
	}
	return out, rows.Err()
}

// References loads the named references of an environment, and keeps them
// from being deleted until the deployment commits.
func (d *DeployTx) References(ctx context.Context, org, env string, names []string) (map[string]api.Reference, error) {
	out := map[string]api.Reference{}
	if len(names) == 0 {
		return out, nil
	}
	rows, err := d.tx.Query(ctx, `
		SELECT name, description, resource_type, refers FROM "references" WHERE org = $1 AND env = $2 AND name = ANY($3)
		ORDER BY name FOR KEY SHARE`, org, env, names)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r api.Reference
		if err := rows.Scan(&r.Name, &r.Description, &r.ResourceType, &r.Refers); err != nil {
			return nil, err
		}
		out[r.Name] = r
	}
	return out, rows.Err()
}

// AliasFacts is what deploy-time validation needs of one alias.
type AliasFacts struct {
	ID       int64
	Version  int64
	HasKey   bool
	NotAfter []time.Time // per certificate, leaf first
}

// Keystores loads, in one query, the named keystores of an environment with
// the facts of every alias of the truststores and of only the named aliases
// of the others: a deployment reads what it checks, however large the
// keystores are. A keystore is in the result whenever it exists, even when
// none of its aliases is.
//
// What it reads stays as read until the deployment commits: the keystores
// cannot be deleted, nor the aliases deleted or given a new certificate (a
// delete or replacement waits, then sees whether the deployment made them
// live). Waiting for a concurrent change, it reads the changed rows.
func (d *DeployTx) Keystores(ctx context.Context, org, env string, truststores []string, keyAliases map[string][]string) (map[string]map[string]AliasFacts, error) {
	out := map[string]map[string]AliasFacts{}
	names := slices.Clone(truststores)
	var keystores, aliases []string
	for ks, as := range keyAliases {
		names = append(names, ks)
		for _, a := range as {
			keystores, aliases = append(keystores, ks), append(aliases, a)
		}
	}
	if len(names) == 0 {
		return out, nil
	}
	// ks locks the keystores that exist; wanted finds every alias of the
	// truststores, then each wanted (keystore, alias) pair through the
	// (keystore_id, name) index; al locks those aliases and reads them.
	// UNION cannot lock rows, hence the separate al.
	rows, err := d.tx.Query(ctx, `
		WITH ks AS MATERIALIZED (
			SELECT id, name FROM keystores WHERE org = $1 AND env = $2 AND name = ANY($3)
			ORDER BY id FOR KEY SHARE
		), wanted AS (
			SELECT a.id FROM ks JOIN aliases a ON a.keystore_id = ks.id WHERE ks.name = ANY($4)
			UNION
			SELECT a.id FROM unnest($5::text[], $6::text[]) AS w(keystore, alias)
			JOIN ks ON ks.name = w.keystore
			JOIN aliases a ON a.keystore_id = ks.id AND a.name = w.alias
		), al AS MATERIALIZED (
			SELECT keystore_id, name, id, version, key_sealed IS NOT NULL AS has_key, certs_info
			FROM aliases WHERE id IN (SELECT id FROM wanted)
			ORDER BY id FOR SHARE
		)
		SELECT ks.name, al.name, al.id, al.version, al.has_key, al.certs_info
		FROM ks LEFT JOIN al ON al.keystore_id = ks.id`,
		org, env, names, truststores, keystores, aliases)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ks string
		var alias *string
		var id, version *int64
		var hasKey *bool
		var info []byte
		if err := rows.Scan(&ks, &alias, &id, &version, &hasKey, &info); err != nil {
			return nil, err
		}
		if out[ks] == nil {
			out[ks] = map[string]AliasFacts{}
		}
		if alias == nil {
			continue
		}
		var certs []struct {
			ExpiryDate int64 `json:"expiryDate,string"`
		}
		if err := json.Unmarshal(info, &certs); err != nil {
			return nil, err
		}
		f := AliasFacts{ID: *id, Version: *version, HasKey: *hasKey}
		for _, c := range certs {
			f.NotAfter = append(f.NotAfter, time.UnixMilli(c.ExpiryDate))
		}
		out[ks][*alias] = f
	}
	return out, rows.Err()
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

// DeploymentItem is one thing a successful deployment made live or checked.
type DeploymentItem struct {
	Kind         string // proxy, targetserver, reference, keystore, alias
	Name         string
	Revision     int
	AliasID      int64
	AliasVersion int64
}

// Succeed records a successful deployment: proxy revisions, what it made
// live and pinned, the environment's live pointer, and the operation
// FINISHED with its response and warnings. It sends one batch of a fixed
// number of statements, however many items there are.
func (d *DeployTx) Succeed(ctx context.Context, opID uuid.UUID, org, env, deployment string, items []DeploymentItem, response json.RawMessage, warnings []string) error {
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
		opID, []byte(response), nonNilStrings(warnings))
	batch.Queue(`UPDATE archive_deployments SET updated_at = now() WHERE org = $1 AND env = $2 AND id = $3`, org, env, deployment)
	return d.tx.SendBatch(ctx, batch).Close()
}

// Fail finishes the operation with an error, in the same write that sets
// FINISHED.
func (d *DeployTx) Fail(ctx context.Context, opID uuid.UUID, status *api.Status, warnings []string) error {
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

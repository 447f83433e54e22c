package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// API proxies, their revisions and their deployments to PROXY environments,
// as rows of migration 000010 mapped to the domain types of package
// keyplane.

// CreateProxyRevision stores bundle as the next revision of API proxy
// rev.Proxy of rev.Org, creating the proxy when it is new, and returns the
// revision with its number and time. The counter row is locked for the
// transaction, so concurrent imports get distinct numbers.
func (db *DB) CreateProxyRevision(ctx context.Context, rev *keyplane.ProxyRevision, bundle []byte) (*keyplane.ProxyRevision, error) {
	out := *rev
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO api_proxies (org, name, latest_revision) VALUES ($1, $2, 1)
			ON CONFLICT (org, name) DO UPDATE SET latest_revision = api_proxies.latest_revision + 1, updated_at = now()
			RETURNING latest_revision`, rev.Org, rev.Proxy).Scan(&out.Revision)
		if isCode(err, foreignKeyViolation) {
			return keyplane.Errorf(keyplane.NotFound, "organization %q not found", rev.Org)
		}
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO api_proxy_revisions (org, proxy, revision, bundle, basepaths, proxy_endpoints, target_endpoints, target_servers, policies, resources)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at`,
			rev.Org, rev.Proxy, out.Revision, bundle, strs(rev.Basepaths), strs(rev.ProxyEndpoints), strs(rev.TargetEndpoints),
			strs(rev.TargetServers), strs(rev.Policies), strs(rev.Resources)).Scan(&out.CreatedAt)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const proxyColumns = `p.org, p.name, p.latest_revision, p.created_at, p.updated_at,
	COALESCE((SELECT array_agg(r.revision ORDER BY r.revision) FROM api_proxy_revisions r WHERE r.org = p.org AND r.proxy = p.name), '{}')`

func scanProxy(row pgx.Row) (*keyplane.APIProxy, error) {
	var p keyplane.APIProxy
	var revs []int32
	if err := row.Scan(&p.Org, &p.Name, &p.LatestRevision, &p.CreatedAt, &p.UpdatedAt, &revs); err != nil {
		return nil, err
	}
	for _, r := range revs {
		p.Revisions = append(p.Revisions, int(r))
	}
	return &p, nil
}

// ListAPIProxies returns an organization's API proxies, by name.
func (db *DB) ListAPIProxies(ctx context.Context, org string) ([]keyplane.APIProxy, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+proxyColumns+` FROM api_proxies p WHERE p.org = $1 ORDER BY p.name`, org)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.APIProxy, error) {
		p, err := scanProxy(row)
		if err != nil {
			return keyplane.APIProxy{}, err
		}
		return *p, nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	if len(out) == 0 {
		return out, db.parentExists(ctx, org, "")
	}
	return out, nil
}

// GetAPIProxy returns one API proxy with its revision numbers.
func (db *DB) GetAPIProxy(ctx context.Context, org, name string) (*keyplane.APIProxy, error) {
	p, err := scanProxy(db.Pool.QueryRow(ctx, `SELECT `+proxyColumns+` FROM api_proxies p WHERE p.org = $1 AND p.name = $2`, org, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, proxyNotFound(org, name)
	}
	return p, wrap(err)
}

// DeleteAPIProxy deletes an API proxy with all its revisions, unless one
// of them is deployed.
func (db *DB) DeleteAPIProxy(ctx context.Context, org, name string) (*keyplane.APIProxy, error) {
	var p *keyplane.APIProxy
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanProxy(tx.QueryRow(ctx, `SELECT `+proxyColumns+` FROM api_proxies p WHERE p.org = $1 AND p.name = $2 FOR UPDATE`, org, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return proxyNotFound(org, name)
		}
		if err != nil {
			return err
		}
		if err := refuseDeployed(ctx, tx, org, name, 0, fmt.Sprintf("API proxy \"organizations/%s/apis/%s\"", org, name)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM api_proxies WHERE org = $1 AND name = $2`, org, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// refuseDeployed fails when revision rev of a proxy (any revision when rev
// is 0) is deployed anywhere, naming the deployment; what names the thing
// that was to be deleted. The revisions are locked first, so a deployment
// created meanwhile is seen.
func refuseDeployed(ctx context.Context, tx pgx.Tx, org, proxy string, rev int, what string) error {
	if _, err := tx.Exec(ctx, `SELECT FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND ($3 = 0 OR revision = $3) FOR UPDATE`, org, proxy, rev); err != nil {
		return err
	}
	var env string
	var deployed int
	err := tx.QueryRow(ctx, `
		SELECT env, revision FROM proxy_deployments WHERE org = $1 AND proxy = $2 AND ($3 = 0 OR revision = $3)
		ORDER BY env, revision LIMIT 1`, org, proxy, rev).Scan(&env, &deployed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	d := keyplane.ProxyDeployment{Org: org, Env: env, Proxy: proxy, Revision: deployed}
	return keyplane.Errorf(keyplane.FailedPrecondition, "%s cannot be deleted: it is deployed (%q); undeploy it first", what, d.Name())
}

const revisionColumns = `org, proxy, revision, created_at, basepaths, proxy_endpoints, target_endpoints, target_servers, policies, resources`

func scanRevision(row pgx.Row) (*keyplane.ProxyRevision, error) {
	var r keyplane.ProxyRevision
	err := row.Scan(&r.Org, &r.Proxy, &r.Revision, &r.CreatedAt, &r.Basepaths, &r.ProxyEndpoints, &r.TargetEndpoints,
		&r.TargetServers, &r.Policies, &r.Resources)
	return &r, err
}

// ListProxyRevisions returns the revision numbers of an API proxy, oldest
// first.
func (db *DB) ListProxyRevisions(ctx context.Context, org, proxy string) ([]int, error) {
	p, err := db.GetAPIProxy(ctx, org, proxy)
	if err != nil {
		return nil, err
	}
	return p.Revisions, nil
}

// GetProxyRevision describes one revision of an API proxy.
func (db *DB) GetProxyRevision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error) {
	r, err := scanRevision(db.Pool.QueryRow(ctx, `SELECT `+revisionColumns+` FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3`, org, proxy, rev))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, revisionNotFound(org, proxy, rev)
	}
	return r, wrap(err)
}

// ProxyRevisionBundle returns the zip imported as a revision.
func (db *DB) ProxyRevisionBundle(ctx context.Context, org, proxy string, rev int) ([]byte, error) {
	var data []byte
	err := db.Pool.QueryRow(ctx, `SELECT bundle FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3`, org, proxy, rev).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, revisionNotFound(org, proxy, rev)
	}
	return data, wrap(err)
}

// DeleteProxyRevision deletes one revision of an API proxy, unless it is
// deployed.
func (db *DB) DeleteProxyRevision(ctx context.Context, org, proxy string, rev int) (*keyplane.ProxyRevision, error) {
	var r *keyplane.ProxyRevision
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanRevision(tx.QueryRow(ctx, `SELECT `+revisionColumns+` FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3 FOR UPDATE`, org, proxy, rev))
		if errors.Is(err, pgx.ErrNoRows) {
			return revisionNotFound(org, proxy, rev)
		}
		if err != nil {
			return err
		}
		if err := refuseDeployed(ctx, tx, org, proxy, rev, fmt.Sprintf("revision %q", keyplane.RevisionName(org, proxy, rev))); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3`, org, proxy, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func proxyNotFound(org, name string) error {
	return keyplane.Errorf(keyplane.NotFound, "API proxy \"organizations/%s/apis/%s\" not found", org, name)
}

func revisionNotFound(org, proxy string, rev int) error {
	return keyplane.Errorf(keyplane.NotFound, "revision %q not found", keyplane.RevisionName(org, proxy, rev))
}

func proxyDeploymentNotFound(org, env, proxy string, rev int) error {
	return keyplane.Errorf(keyplane.NotFound, "revision %d of API proxy %q is not deployed to environment \"organizations/%s/environments/%s\"", rev, proxy, org, env)
}

// --- deployments ---

const proxyDeploymentColumns = `d.org, d.env, d.proxy, d.revision, d.state, d.errors, d.override, d.started_at, r.basepaths`

const proxyDeploymentFrom = ` FROM proxy_deployments d JOIN api_proxy_revisions r ON r.org = d.org AND r.proxy = d.proxy AND r.revision = d.revision`

func scanProxyDeployment(row pgx.Row) (*keyplane.ProxyDeployment, error) {
	var d keyplane.ProxyDeployment
	var state string
	var errs []byte
	if err := row.Scan(&d.Org, &d.Env, &d.Proxy, &d.Revision, &state, &errs, &d.Override, &d.StartedAt, &d.Basepaths); err != nil {
		return nil, err
	}
	d.State = keyplane.DeploymentState(state)
	var problems []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(errs, &problems); err != nil {
		return nil, err
	}
	for _, p := range problems {
		d.Errors = append(d.Errors, keyplane.DeploymentProblem{Code: p.Code, Message: p.Message})
	}
	return &d, nil
}

// CreateProxyDeployment records the deployment of revision d.Revision of
// API proxy d.Proxy to environment d.Env in state PROGRESSING and calls
// enqueue in the same transaction, to queue the job that validates it: a
// deployment is never recorded without its job. The environment must be a
// PROXY environment. Another revision of the proxy deployed there is
// refused unless d.Override; a revision still in progress is always
// refused; the same revision in state ERROR is deployed again.
func (db *DB) CreateProxyDeployment(ctx context.Context, d *keyplane.ProxyDeployment, enqueue func(pgx.Tx) error) (*keyplane.ProxyDeployment, error) {
	var out *keyplane.ProxyDeployment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var deploymentType string
		err := tx.QueryRow(ctx, `SELECT deployment_type FROM environments WHERE org = $1 AND name = $2 FOR SHARE`, d.Org, d.Env).Scan(&deploymentType)
		if errors.Is(err, pgx.ErrNoRows) {
			return envNotFound(d.Org, d.Env)
		}
		if err != nil {
			return err
		}
		if deploymentType != "" && deploymentType != "PROXY" {
			return keyplane.Errorf(keyplane.FailedPrecondition,
				"environment \"organizations/%s/environments/%s\" has deploymentType %s; API proxy deployments need an environment of deploymentType PROXY",
				d.Org, d.Env, deploymentType)
		}
		err = tx.QueryRow(ctx, `SELECT FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3 FOR KEY SHARE`, d.Org, d.Proxy, d.Revision).Scan()
		if errors.Is(err, pgx.ErrNoRows) {
			return revisionNotFound(d.Org, d.Proxy, d.Revision)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT revision, state FROM proxy_deployments WHERE org = $1 AND env = $2 AND proxy = $3 ORDER BY revision FOR UPDATE`, d.Org, d.Env, d.Proxy)
		if err != nil {
			return err
		}
		var revision int
		var state string
		same := ""
		var other []string
		_, err = pgx.ForEachRow(rows, []any{&revision, &state}, func() error {
			switch {
			case revision == d.Revision:
				same = state
			case state == string(keyplane.DeploymentProgressing):
				return keyplane.Errorf(keyplane.FailedPrecondition,
					"revision %d of API proxy %q is still being deployed to environment %q; wait until it is READY or ERROR", revision, d.Proxy, d.Env)
			case state == string(keyplane.DeploymentReady):
				other = append(other, fmt.Sprint(revision))
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case same == string(keyplane.DeploymentReady) || same == string(keyplane.DeploymentProgressing):
			return keyplane.Errorf(keyplane.FailedPrecondition, "revision %d of API proxy %q is already deployed to environment %q (state %s)", d.Revision, d.Proxy, d.Env, same)
		case len(other) > 0 && !d.Override:
			return keyplane.Errorf(keyplane.FailedPrecondition,
				"revision %s of API proxy %q is already deployed to environment %q; deploy with override=true to replace it", strings.Join(other, ", "), d.Proxy, d.Env)
		case same != "":
			_, err = tx.Exec(ctx, `
				UPDATE proxy_deployments SET state = 'PROGRESSING', errors = '[]', override = $5, started_at = now(), updated_at = now()
				WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4`, d.Org, d.Env, d.Proxy, d.Revision, d.Override)
		default:
			_, err = tx.Exec(ctx, `INSERT INTO proxy_deployments (org, env, proxy, revision, state, override) VALUES ($1, $2, $3, $4, 'PROGRESSING', $5)`,
				d.Org, d.Env, d.Proxy, d.Revision, d.Override)
		}
		if isCode(err, foreignKeyViolation) {
			return revisionNotFound(d.Org, d.Proxy, d.Revision)
		}
		if err != nil {
			return err
		}
		if err := enqueue(tx); err != nil {
			return err
		}
		out, err = scanProxyDeployment(tx.QueryRow(ctx, `SELECT `+proxyDeploymentColumns+proxyDeploymentFrom+`
			WHERE d.org = $1 AND d.env = $2 AND d.proxy = $3 AND d.revision = $4`, d.Org, d.Env, d.Proxy, d.Revision))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetProxyDeployment returns the deployment of a revision to an
// environment.
func (db *DB) GetProxyDeployment(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error) {
	d, err := scanProxyDeployment(db.Pool.QueryRow(ctx, `SELECT `+proxyDeploymentColumns+proxyDeploymentFrom+`
		WHERE d.org = $1 AND d.env = $2 AND d.proxy = $3 AND d.revision = $4`, org, env, proxy, rev))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := db.parentExists(ctx, org, env); err != nil {
			return nil, err
		}
		return nil, proxyDeploymentNotFound(org, env, proxy, rev)
	}
	return d, wrap(err)
}

// ListProxyDeployments returns an organization's proxy deployments, by
// environment, proxy and revision: of environment env, proxy proxy and
// revision rev, an empty name or a zero revision matching every one.
func (db *DB) ListProxyDeployments(ctx context.Context, org, env, proxy string, rev int) ([]keyplane.ProxyDeployment, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+proxyDeploymentColumns+proxyDeploymentFrom+`
		WHERE d.org = $1 AND ($2 = '' OR d.env = $2) AND ($3 = '' OR d.proxy = $3) AND ($4 = 0 OR d.revision = $4)
		ORDER BY d.env, d.proxy, d.revision`, org, env, proxy, rev)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.ProxyDeployment, error) {
		d, err := scanProxyDeployment(row)
		if err != nil {
			return keyplane.ProxyDeployment{}, err
		}
		return *d, nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	if len(out) > 0 {
		return out, nil
	}
	if proxy != "" {
		if _, err := db.GetAPIProxy(ctx, org, proxy); err != nil {
			return nil, err
		}
		if rev != 0 {
			if _, err := db.GetProxyRevision(ctx, org, proxy, rev); err != nil {
				return nil, err
			}
		}
	}
	return out, db.parentExists(ctx, org, env)
}

// DeleteProxyDeployment undeploys a revision from an environment: gateways
// stop serving it at once, and what it used may be deleted again. A
// deployment still in progress is undeployed too; its job then finds
// nothing to do.
func (db *DB) DeleteProxyDeployment(ctx context.Context, org, env, proxy string, rev int) (*keyplane.ProxyDeployment, error) {
	d, err := scanProxyDeployment(db.Pool.QueryRow(ctx, `
		WITH d AS (DELETE FROM proxy_deployments WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4 RETURNING *)
		SELECT `+proxyDeploymentColumns+` FROM d JOIN api_proxy_revisions r ON r.org = d.org AND r.proxy = d.proxy AND r.revision = d.revision`,
		org, env, proxy, rev))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := db.parentExists(ctx, org, env); err != nil {
			return nil, err
		}
		return nil, proxyDeploymentNotFound(org, env, proxy, rev)
	}
	return d, wrap(err)
}

// ProxyDeployTx is the transaction in which a proxy deployment is
// validated and settled: it reads the environment's TLS material as an
// archive deployment does (DeployTx), and writes the outcome with the
// state change.
type ProxyDeployTx struct {
	*DeployTx
	org, env, proxy string
	rev             int
}

// RunProxyDeployment locks the deployment of revision rev of proxy to env,
// and every other proxy deployment of the environment (the base paths
// they serve must not change meanwhile), and calls fn in one transaction.
// When the deployment is no longer PROGRESSING, fn is not called and
// keyplane.ErrDeploymentSettled is returned.
func (db *DB) RunProxyDeployment(ctx context.Context, org, env, proxy string, rev int, fn func(*ProxyDeployTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('keyplane.proxy-deployments'), hashtext($1 || '/' || $2))`, org, env); err != nil {
			return err
		}
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM proxy_deployments WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4 FOR UPDATE`,
			org, env, proxy, rev).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && state != string(keyplane.DeploymentProgressing) {
			return keyplane.ErrDeploymentSettled
		}
		if err != nil {
			return err
		}
		return fn(&ProxyDeployTx{DeployTx: newDeployTx(tx), org: org, env: env, proxy: proxy, rev: rev})
	})
}

// Deployment returns the deployment being run.
func (p *ProxyDeployTx) Deployment(ctx context.Context) (*keyplane.ProxyDeployment, error) {
	return scanProxyDeployment(p.tx.QueryRow(ctx, `SELECT `+proxyDeploymentColumns+proxyDeploymentFrom+`
		WHERE d.org = $1 AND d.env = $2 AND d.proxy = $3 AND d.revision = $4`, p.org, p.env, p.proxy, p.rev))
}

// Bundle returns the zip of the revision being deployed.
func (p *ProxyDeployTx) Bundle(ctx context.Context) ([]byte, error) {
	var data []byte
	err := p.tx.QueryRow(ctx, `SELECT bundle FROM api_proxy_revisions WHERE org = $1 AND proxy = $2 AND revision = $3`, p.org, p.proxy, p.rev).Scan(&data)
	return data, err
}

// Others returns, with their base paths, the environment's READY
// deployments of other proxies and every deployment of the proxy's other
// revisions.
func (p *ProxyDeployTx) Others(ctx context.Context) ([]keyplane.ProxyDeployment, error) {
	rows, err := p.tx.Query(ctx, `SELECT `+proxyDeploymentColumns+proxyDeploymentFrom+`
		WHERE d.org = $1 AND d.env = $2 AND (d.state = 'READY' OR d.proxy = $3) AND NOT (d.proxy = $3 AND d.revision = $4)
		ORDER BY d.proxy, d.revision`, p.org, p.env, p.proxy, p.rev)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.ProxyDeployment, error) {
		d, err := scanProxyDeployment(row)
		if err != nil {
			return keyplane.ProxyDeployment{}, err
		}
		return *d, nil
	})
}

// Ready settles the deployment as READY: it undeploys the deployments it
// replaces, and records what it uses.
func (p *ProxyDeployTx) Ready(ctx context.Context, uses keyplane.DeploymentUses, replaced []keyplane.ProxyDeployment) error {
	batch := &pgx.Batch{}
	for _, r := range replaced {
		batch.Queue(`DELETE FROM proxy_deployments WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4`, r.Org, r.Env, r.Proxy, r.Revision)
	}
	var kinds, names []string
	var aliasIDs, aliasVersions []*int64
	add := func(kind, name string, id, version int64) {
		kinds, names = append(kinds, kind), append(names, name)
		aliasIDs, aliasVersions = append(aliasIDs, nullInt(id)), append(aliasVersions, nullInt(version))
	}
	for _, n := range uses.TargetServers {
		add("targetserver", n, 0, 0)
	}
	for _, n := range uses.References {
		add("reference", n, 0, 0)
	}
	for _, n := range uses.Keystores {
		add("keystore", n, 0, 0)
	}
	for _, a := range uses.Aliases {
		add("alias", a.Keystore+"/"+a.Alias, a.ID, a.Version)
	}
	batch.Queue(`
		INSERT INTO proxy_deployment_items (org, env, proxy, revision, kind, name, alias_id, alias_version)
		SELECT $1, $2, $3, $4, i.kind, i.name, i.alias_id, i.alias_version
		FROM unnest($5::text[], $6::text[], $7::bigint[], $8::bigint[]) AS i(kind, name, alias_id, alias_version)
		ON CONFLICT DO NOTHING`, p.org, p.env, p.proxy, p.rev, kinds, names, aliasIDs, aliasVersions)
	batch.Queue(`UPDATE proxy_deployments SET state = 'READY', errors = '[]', updated_at = now()
		WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4`, p.org, p.env, p.proxy, p.rev)
	return p.tx.SendBatch(ctx, batch).Close()
}

// Fail settles the deployment as ERROR with problems.
func (p *ProxyDeployTx) Fail(ctx context.Context, problems []keyplane.DeploymentProblem) error {
	return failProxyDeployment(ctx, p.tx, p.org, p.env, p.proxy, p.rev, problems)
}

func failProxyDeployment(ctx context.Context, tx pgx.Tx, org, env, proxy string, rev int, problems []keyplane.DeploymentProblem) error {
	type problem struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	list := make([]problem, 0, len(problems))
	for _, p := range problems {
		list = append(list, problem{Code: p.Code, Message: p.Message})
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE proxy_deployments SET state = 'ERROR', errors = $5, updated_at = now()
		WHERE org = $1 AND env = $2 AND proxy = $3 AND revision = $4 AND state = 'PROGRESSING'`, org, env, proxy, rev, b)
	return err
}

// LiveProxies lists, for each PROXY environment with READY deployments (or
// for the one environment org/env names), the revisions it serves, by
// proxy name. Environments whose gateway host another disputes are left
// out, as LiveDeployments leaves them out.
func (db *DB) LiveProxies(ctx context.Context, org, env string) ([]keyplane.LiveProxies, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT d.org, d.env, e.api_proxy_type, array_agg(d.proxy ORDER BY d.proxy, d.revision), array_agg(d.revision ORDER BY d.proxy, d.revision)
		FROM proxy_deployments d JOIN environments e ON e.org = d.org AND e.name = d.env
		WHERE d.state = 'READY' AND ($1 = '' OR d.org = $1) AND ($2 = '' OR d.env = $2) AND NOT e.gateway_host_disputed
		GROUP BY d.org, d.env, e.api_proxy_type ORDER BY d.org, d.env`, org, env)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.LiveProxies, error) {
		var l keyplane.LiveProxies
		var names []string
		var revs []int32
		if err := row.Scan(&l.Org, &l.Env, &l.ProxyType, &names, &revs); err != nil {
			return l, err
		}
		for i := range names {
			l.Revisions = append(l.Revisions, keyplane.LiveRevision{Proxy: names[i], Revision: int(revs[i])})
		}
		return l, nil
	})
	return out, wrap(err)
}

// FailStuckProxyDeployment settles a deployment whose job gave up as
// ERROR, unless it is no longer in progress.
func (db *DB) FailStuckProxyDeployment(ctx context.Context, org, env, proxy string, rev int, problems []keyplane.DeploymentProblem) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		return failProxyDeployment(ctx, tx, org, env, proxy, rev, problems)
	})
}

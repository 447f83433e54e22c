package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// GatewayChannel is the channel on which the database announces every
// change a gateway must see, with the environment as "org/env" (see
// migration 000006).
const GatewayChannel = "keyplane_gateway"

// LiveDeployments lists the live deployment of every environment (or of
// the one environment org/env names, when both are set), without their
// archives: gateways read an archive only when the deployment is new to
// them. Environments whose gateway host another environment disputes are
// left out: serving either would hand one's clients to the other.
func (db *DB) LiveDeployments(ctx context.Context, org, env string) ([]keyplane.LiveDeployment, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT l.org, l.env, l.deployment, d.upload_id, e.api_proxy_type
		FROM live_deployments l
		JOIN archive_deployments d ON d.org = l.org AND d.env = l.env AND d.id = l.deployment
		JOIN environments e ON e.org = l.org AND e.name = l.env
		WHERE ($1 = '' OR l.org = $1) AND ($2 = '' OR l.env = $2) AND NOT e.gateway_host_disputed
		ORDER BY l.org, l.env`, org, env)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.LiveDeployment, error) {
		var l keyplane.LiveDeployment
		err := row.Scan(&l.Org, &l.Env, &l.Deployment, &l.UploadID, &l.ProxyType)
		return l, err
	})
	return out, wrap(err)
}

// HostCollisions lists the environments no gateway serves because they
// share a host, by host.
func (db *DB) HostCollisions(ctx context.Context) ([]keyplane.HostCollision, error) {
	rows, err := db.Pool.Query(ctx, `SELECT host, org, env FROM gateway_host_collisions ORDER BY host, org, env`)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[keyplane.HostCollision])
	return out, wrap(err)
}

// EnvironmentTLS reads, in one read-only snapshot and through the same
// loader as deployments (TLSReader), every target server and reference of
// an environment, then every alias of the keystores that the keystores
// function names once it has seen them.
func (db *DB) EnvironmentTLS(ctx context.Context, org, env string, keystores func(*keyplane.TLSMaterial) []string) (*keyplane.TLSMaterial, error) {
	m := &keyplane.TLSMaterial{}
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		r := TLSReader{tx: tx}
		var err error
		if m.TargetServers, err = r.TargetServers(ctx, org, env, nil); err != nil {
			return err
		}
		if m.References, err = r.References(ctx, org, env, nil); err != nil {
			return err
		}
		m.Keystores, err = r.Keystores(ctx, org, env, keystores(m), nil)
		return err
	})
	if err != nil {
		return nil, wrap(err)
	}
	return m, nil
}

// Listen holds one connection of its own, listening on GatewayChannel, and
// calls notify with each payload until ctx ends or the connection fails
// (the error is returned; the caller reconnects and resynchronises, since
// notifications sent meanwhile are lost). ready is called once listening.
func (db *DB) Listen(ctx context.Context, ready func(), notify func(payload string)) error {
	pooled, err := db.Pool.Acquire(ctx)
	if err != nil {
		return wrap(err)
	}
	// A connection that listened is not given back to the pool: it would
	// keep receiving notifications nobody reads.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+GatewayChannel); err != nil {
		return wrap(err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return wrap(err)
		}
		notify(n.Payload)
	}
}

package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/api"
)

// GatewayChannel is the channel on which the database announces every
// change a gateway must see, with the environment as "org/env" (see
// migration 000006).
const GatewayChannel = "keyplane_gateway"

// LiveDeployment is the deployment that serves an environment.
type LiveDeployment struct {
	Org, Env   string
	Deployment string
	UploadID   uuid.UUID
	// ProxyType is the environment's apiProxyType.
	ProxyType string
	// Proxies, set for a PROXY environment, are the READY API proxy
	// revisions it serves; Deployment then names them, and UploadID is
	// zero.
	Proxies []LiveRevision
}

// LiveDeployments lists the live deployment of every environment (or of
// the one environment org/env names, when both are set), without their
// archives: gateways read an archive only when the deployment is new to
// them. Environments whose gateway host another environment disputes are
// left out: serving either would hand one's clients to the other.
func (db *DB) LiveDeployments(ctx context.Context, org, env string) ([]LiveDeployment, error) {
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
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LiveDeployment, error) {
		var l LiveDeployment
		err := row.Scan(&l.Org, &l.Env, &l.Deployment, &l.UploadID, &l.ProxyType)
		return l, err
	})
	return out, wrap(err)
}

// HostCollision is an environment that shares its gateway host with
// another one, found when host names became owned.
type HostCollision struct {
	Host, Org, Env string
}

// HostCollisions lists the environments no gateway serves because they
// share a host, by host.
func (db *DB) HostCollisions(ctx context.Context) ([]HostCollision, error) {
	rows, err := db.Pool.Query(ctx, `SELECT host, org, env FROM gateway_host_collisions ORDER BY host, org, env`)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HostCollision])
	return out, wrap(err)
}

// RuntimeAlias is an alias as a gateway needs it: the chain and the sealed
// key, which the caller opens.
type RuntimeAlias struct {
	Keystore, Name string
	ChainPEM       string
	KeySealed      []byte
	KeyID          string
	Version        int64
	NotAfter       time.Time
}

// Runtime is the TLS configuration of one environment as a gateway serves
// it: every target server and reference of the environment, and every
// alias of the keystores the caller asks for.
type Runtime struct {
	TargetServers map[string]api.TargetServer
	References    map[string]api.Reference
	// Aliases are the aliases of the requested keystores, by keystore; a
	// keystore that exists is present even when it has no alias.
	Aliases map[string][]RuntimeAlias
}

// EnvironmentRuntime reads, in one read-only snapshot, an environment's
// target servers and references, then the aliases of the keystores that
// the keystores function names once it has seen them.
func (db *DB) EnvironmentRuntime(ctx context.Context, org, env string, keystores func(*Runtime) []string) (*Runtime, error) {
	rt := &Runtime{TargetServers: map[string]api.TargetServer{}, References: map[string]api.Reference{}, Aliases: map[string][]RuntimeAlias{}}
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT name, body FROM target_servers WHERE org = $1 AND env = $2`, org, env)
		if err != nil {
			return err
		}
		var name string
		var ts api.TargetServer
		if _, err := pgx.ForEachRow(rows, []any{&name, &ts}, func() error {
			rt.TargetServers[name] = ts
			ts = api.TargetServer{}
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT name, resource_type, refers FROM "references" WHERE org = $1 AND env = $2`, org, env)
		if err != nil {
			return err
		}
		var ref api.Reference
		if _, err := pgx.ForEachRow(rows, []any{&ref.Name, &ref.ResourceType, &ref.Refers}, func() error {
			rt.References[ref.Name] = ref
			return nil
		}); err != nil {
			return err
		}
		names := keystores(rt)
		if len(names) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			SELECT k.name, a.name, a.chain_pem, a.key_sealed, a.key_id, a.version, a.not_after
			FROM keystores k LEFT JOIN aliases a ON a.keystore_id = k.id
			WHERE k.org = $1 AND k.env = $2 AND k.name = ANY($3)
			ORDER BY k.name, a.name`, org, env, names)
		if err != nil {
			return err
		}
		var ks string
		var alias, chain, keyID *string
		var sealed []byte
		var version *int64
		var notAfter *time.Time
		_, err = pgx.ForEachRow(rows, []any{&ks, &alias, &chain, &sealed, &keyID, &version, &notAfter}, func() error {
			if alias == nil {
				rt.Aliases[ks] = []RuntimeAlias{}
				return nil
			}
			a := RuntimeAlias{Keystore: ks, Name: *alias, ChainPEM: *chain, Version: *version, NotAfter: *notAfter}
			if sealed != nil {
				a.KeySealed, a.KeyID = append([]byte(nil), sealed...), *keyID
			}
			rt.Aliases[ks] = append(rt.Aliases[ks], a)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, wrap(err)
	}
	return rt, nil
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

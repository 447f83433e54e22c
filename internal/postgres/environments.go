package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateEnvironment inserts an environment, created at env.CreatedAt,
// together with the finished operation that reports its creation, in one
// transaction.
func (db *DB) CreateEnvironment(ctx context.Context, org string, env *keyplane.Environment, op *keyplane.Operation) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// A host that environments created before hosts were owned still
		// dispute is taken too: the unique index leaves them out.
		tag, err := tx.Exec(ctx, `
			INSERT INTO environments (org, name, description, deployment_type, api_proxy_type, created_at, updated_at, attributes)
			SELECT $1, $2, $3, $4, $5, $6, $6, $7
			WHERE NOT EXISTS (SELECT 1 FROM environments WHERE gateway_host = lower($1 || '-' || $2) AND gateway_host_disputed)`,
			org, env.Name, env.Description, env.DeploymentType, env.APIProxyType, env.CreatedAt, extraJSON(env.Extra))
		hostTaken := err == nil && tag.RowsAffected() == 0
		switch {
		case hostTaken || isCode(err, uniqueViolation) && constraint(err) == "environments_gateway_host_key":
			return gatewayHostTaken(org, env.Name)
		case isCode(err, uniqueViolation):
			return keyplane.Errorf(keyplane.AlreadyExists, "environment %q already exists in organization %q", env.Name, org)
		case isCode(err, foreignKeyViolation):
			return keyplane.Errorf(keyplane.NotFound, "organization %q not found", org)
		case err != nil:
			return err
		}
		return insertOperation(ctx, tx, op)
	})
}

// GetEnvironment reads one environment.
func (db *DB) GetEnvironment(ctx context.Context, org, name string) (*keyplane.Environment, error) {
	return getEnvironment(ctx, db.Pool, org, name, "")
}

func getEnvironment(ctx context.Context, q queryer, org, name, lock string) (*keyplane.Environment, error) {
	env := &keyplane.Environment{Name: name}
	err := q.QueryRow(ctx, `
		SELECT description, deployment_type, api_proxy_type, created_at, updated_at, attributes
		FROM environments WHERE org = $1 AND name = $2`+lock, org, name).
		Scan(&env.Description, &env.DeploymentType, &env.APIProxyType, &env.CreatedAt, &env.LastModifiedAt, &env.Extra)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, envNotFound(org, name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return env, nil
}

// ListEnvironments returns the names of an organization's environments.
func (db *DB) ListEnvironments(ctx context.Context, org string) ([]string, error) {
	return db.children(ctx, org, "", `SELECT name FROM environments WHERE org = $1 ORDER BY name`, org)
}

// DeleteEnvironment deletes an environment that holds nothing, recording
// the operation that reports it in the same transaction; op.Response is
// filled with the deleted environment. An environment with keystores,
// references, target servers or deployments is kept: deleting it would
// silently drop TLS material. Upload slots no deployment uses are not
// worth keeping it for, and go with it.
func (db *DB) DeleteEnvironment(ctx context.Context, org, name string, op *keyplane.Operation, respond func(*keyplane.Environment) (json.RawMessage, error)) (*keyplane.Environment, error) {
	var env *keyplane.Environment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if env, err = getEnvironment(ctx, tx, org, name, " FOR UPDATE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM archive_uploads WHERE org = $1 AND env = $2 AND NOT deployed`, org, name); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM environments WHERE org = $1 AND name = $2`, org, name)
		if isCode(err, foreignKeyViolation) {
			return keyplane.Errorf(keyplane.FailedPrecondition,
				"environment %q still holds keystores, references, target servers or deployments; delete them first", name)
		}
		if err != nil {
			return err
		}
		if op.Response, err = respond(env); err != nil {
			return err
		}
		return insertOperation(ctx, tx, op)
	})
	return env, err
}

// gatewayHostTaken says that the host an environment would be served at
// belongs to another environment, without saying whose: a name in
// another organization is not this caller's to learn.
func gatewayHostTaken(org, env string) error {
	return keyplane.Errorf(keyplane.AlreadyExists,
		"environment %q cannot be created: its gateway host name %q is taken (host names are {org}-{env}, compared without case)",
		env, strings.ToLower(org+"-"+env))
}

func envNotFound(org, env string) error {
	return keyplane.Errorf(keyplane.NotFound, "environment \"organizations/%s/environments/%s\" not found", org, env)
}

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db.Pool, fn)
	return wrap(err)
}

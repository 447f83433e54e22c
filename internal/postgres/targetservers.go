package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateTargetServer inserts a target server.
func (db *DB) CreateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error {
	body, err := marshalTargetServer(ts)
	if err != nil {
		return err
	}
	_, err = db.Pool.Exec(ctx, `INSERT INTO target_servers (org, env, name, body) VALUES ($1, $2, $3, $4)`, org, env, ts.Name, body)
	switch {
	case isCode(err, uniqueViolation):
		return keyplane.Errorf(keyplane.AlreadyExists, "target server %q already exists in environment %q", ts.Name, env)
	case isCode(err, foreignKeyViolation):
		return envNotFound(org, env)
	}
	return wrap(err)
}

// GetTargetServer reads one target server.
func (db *DB) GetTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error) {
	var body []byte
	err := db.Pool.QueryRow(ctx, `SELECT body FROM target_servers WHERE org = $1 AND env = $2 AND name = $3`, org, env, name).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, targetServerNotFound(org, env, name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	ts, err := unmarshalTargetServer(body)
	return &ts, err
}

// ListTargetServers returns the names of an environment's target servers.
func (db *DB) ListTargetServers(ctx context.Context, org, env string) ([]string, error) {
	return db.children(ctx, org, env, `SELECT name FROM target_servers WHERE org = $1 AND env = $2 ORDER BY name`, org, env)
}

// UpdateTargetServer replaces a target server.
func (db *DB) UpdateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error {
	body, err := marshalTargetServer(ts)
	if err != nil {
		return err
	}
	tag, err := db.Pool.Exec(ctx, `UPDATE target_servers SET body = $4, updated_at = now() WHERE org = $1 AND env = $2 AND name = $3`,
		org, env, ts.Name, body)
	if err != nil {
		return wrap(err)
	}
	if tag.RowsAffected() == 0 {
		return targetServerNotFound(org, env, ts.Name)
	}
	return nil
}

// DeleteTargetServer deletes a target server and returns it as it was,
// unless the live deployment of its environment uses it.
func (db *DB) DeleteTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error) {
	var body []byte
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkNotLive(ctx, tx, org, env, "targetserver", name, "target server \""+name+"\""); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `DELETE FROM target_servers WHERE org = $1 AND env = $2 AND name = $3 RETURNING body`, org, env, name).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return targetServerNotFound(org, env, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ts, err := unmarshalTargetServer(body)
	return &ts, err
}

func targetServerNotFound(org, env, name string) error {
	return keyplane.Errorf(keyplane.NotFound, "target server \"organizations/%s/environments/%s/targetservers/%s\" not found", org, env, name)
}

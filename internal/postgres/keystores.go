package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateKeystore inserts an empty keystore.
func (db *DB) CreateKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	_, err := db.Pool.Exec(ctx, `INSERT INTO keystores (org, env, name) VALUES ($1, $2, $3)`, org, env, name)
	switch {
	case isCode(err, uniqueViolation):
		return nil, keyplane.Errorf(keyplane.AlreadyExists, "keystore %q already exists in environment %q", name, env)
	case isCode(err, foreignKeyViolation):
		return nil, envNotFound(org, env)
	case err != nil:
		return nil, wrap(err)
	}
	return &keyplane.Keystore{Name: name, Aliases: []string{}}, nil
}

// GetKeystore reads a keystore and the names of its aliases in one query.
func (db *DB) GetKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	return getKeystore(ctx, db.Pool, org, env, name, "")
}

func getKeystore(ctx context.Context, q queryer, org, env, name, lock string) (*keyplane.Keystore, error) {
	ks := &keyplane.Keystore{Name: name}
	err := q.QueryRow(ctx, `
		SELECT coalesce((SELECT array_agg(a.name ORDER BY a.name) FROM aliases a WHERE a.keystore_id = k.id), '{}')
		FROM keystores k WHERE k.org = $1 AND k.env = $2 AND k.name = $3`+lock,
		org, env, name).Scan(&ks.Aliases)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keystoreNotFound(org, env, name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return ks, nil
}

// ListKeystores returns the names of an environment's keystores.
func (db *DB) ListKeystores(ctx context.Context, org, env string) ([]string, error) {
	return db.children(ctx, org, env, `SELECT name FROM keystores WHERE org = $1 AND env = $2 ORDER BY name`, org, env)
}

// DeleteKeystore deletes a keystore and its aliases, unless a reference
// points at it: the reference would dangle and the next deployment through it
// would fail far from the cause. A keystore the live deployment uses is
// kept too.
func (db *DB) DeleteKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	var ks *keyplane.Keystore
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if ks, err = getKeystore(ctx, tx, org, env, name, " FOR UPDATE"); err != nil {
			return err
		}
		var ref string
		err = tx.QueryRow(ctx, `SELECT name FROM "references" WHERE org = $1 AND env = $2 AND refers = $3 ORDER BY name LIMIT 1`,
			org, env, name).Scan(&ref)
		if err == nil {
			return keyplane.Errorf(keyplane.FailedPrecondition,
				"keystore %q is used by reference \"organizations/%s/environments/%s/references/%s\"; delete or re-point the reference first",
				name, org, env, ref)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := checkNotLive(ctx, tx, org, env, "keystore", name, "keystore \""+name+"\""); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM keystores WHERE org = $1 AND env = $2 AND name = $3`, org, env, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ks, nil
}

func keystoreNotFound(org, env, name string) error {
	return keyplane.Errorf(keyplane.NotFound, "keystore \"organizations/%s/environments/%s/keystores/%s\" not found", org, env, name)
}

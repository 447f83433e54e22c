package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateReference inserts a reference; refers must name a keystore of the
// same environment.
func (db *DB) CreateReference(ctx context.Context, org, env string, ref *keyplane.Reference) error {
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO "references" (org, env, name, description, resource_type, refers)
		VALUES ($1, $2, $3, $4, $5, $6)`, org, env, ref.Name, ref.Description, ref.ResourceType, ref.Refers)
	switch {
	case isCode(err, uniqueViolation):
		return keyplane.Errorf(keyplane.AlreadyExists, "reference %q already exists in environment %q", ref.Name, env)
	case isCode(err, foreignKeyViolation):
		return refersError(org, env, ref.Refers, err)
	}
	return wrap(err)
}

// refersError explains a foreign key failure on a reference write.
func refersError(org, env, refers string, err error) error {
	if constraint(err) == "references_environment_fkey" {
		return envNotFound(org, env)
	}
	return keyplane.Errorf(keyplane.InvalidArgument,
		"refers: keystore \"organizations/%s/environments/%s/keystores/%s\" does not exist", org, env, refers)
}

// GetReference reads one reference with its environment's apiProxyType.
func (db *DB) GetReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error) {
	r := &keyplane.Reference{Name: name}
	err := db.Pool.QueryRow(ctx, `
		SELECT r.description, r.resource_type, r.refers, e.api_proxy_type
		FROM "references" r JOIN environments e ON e.org = r.org AND e.name = r.env
		WHERE r.org = $1 AND r.env = $2 AND r.name = $3`, org, env, name).
		Scan(&r.Description, &r.ResourceType, &r.Refers, &r.EnvProxyType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, referenceNotFound(org, env, name)
	}
	return r, wrap(err)
}

// ListReferences returns the names of an environment's references.
func (db *DB) ListReferences(ctx context.Context, org, env string) ([]string, error) {
	return db.children(ctx, org, env, `SELECT name FROM "references" WHERE org = $1 AND env = $2 ORDER BY name`, org, env)
}

// UpdateReference re-points a reference.
func (db *DB) UpdateReference(ctx context.Context, org, env string, ref *keyplane.Reference) error {
	tag, err := db.Pool.Exec(ctx, `
		UPDATE "references" SET description = $4, resource_type = $5, refers = $6, updated_at = now()
		WHERE org = $1 AND env = $2 AND name = $3`, org, env, ref.Name, ref.Description, ref.ResourceType, ref.Refers)
	if isCode(err, foreignKeyViolation) {
		return refersError(org, env, ref.Refers, err)
	}
	if err != nil {
		return wrap(err)
	}
	if tag.RowsAffected() == 0 {
		return referenceNotFound(org, env, ref.Name)
	}
	return nil
}

// DeleteReference deletes a reference and returns it as it was, unless the
// live deployment of its environment resolves it.
func (db *DB) DeleteReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error) {
	ref := &keyplane.Reference{Name: name}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkNotLive(ctx, tx, org, env, "reference", name, "reference \""+name+"\""); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			DELETE FROM "references" WHERE org = $1 AND env = $2 AND name = $3
			RETURNING description, resource_type, refers`, org, env, name).
			Scan(&ref.Description, &ref.ResourceType, &ref.Refers)
		if errors.Is(err, pgx.ErrNoRows) {
			return referenceNotFound(org, env, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return ref, nil
}

func referenceNotFound(org, env, name string) error {
	return keyplane.Errorf(keyplane.NotFound, "reference \"organizations/%s/environments/%s/references/%s\" not found", org, env, name)
}

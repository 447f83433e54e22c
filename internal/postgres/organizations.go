package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// CreateOrganization inserts an organization, filling in its times, and
// records op, the finished operation that reports it (none when op is
// nil), with op.Response filled by respond, in the same transaction.
//
// Organizations whose names differ only in case would claim the same
// gateway host for every environment name: the second is refused. The
// advisory lock orders concurrent creations of such names.
func (db *DB) CreateOrganization(ctx context.Context, org *keyplane.Organization, op *keyplane.Operation, respond func(*keyplane.Organization) (json.RawMessage, error)) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('organization:' || lower($1)))`, org.Name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO organizations (name, attributes) SELECT $1, $2
			WHERE NOT EXISTS (SELECT 1 FROM organizations WHERE lower(name) = lower($1) AND name <> $1)
			RETURNING created_at`, org.Name, extraJSON(org.Extra)).Scan(&org.CreatedAt)
		if err != nil {
			return err
		}
		org.LastModifiedAt = org.CreatedAt
		if op == nil {
			return nil
		}
		if op.Response, err = respond(org); err != nil {
			return err
		}
		return insertOperation(ctx, tx, op)
	})
	switch {
	case isCode(err, uniqueViolation):
		return keyplane.Errorf(keyplane.AlreadyExists, "organization %q already exists", org.Name)
	case errors.Is(err, pgx.ErrNoRows):
		return keyplane.Errorf(keyplane.AlreadyExists,
			"organization %q cannot be created: its gateway host names are taken (host names are {org}-{env}, compared without case)", org.Name)
	case err != nil:
		return wrap(err)
	}
	return nil
}

// extraJSON is the JSON object of a resource's kept fields, never null.
func extraJSON(extra map[string]json.RawMessage) []byte {
	if len(extra) == 0 {
		return []byte("{}")
	}
	b, _ := json.Marshal(extra) // raw messages that came out of a decoder
	return b
}

// GetOrganization reads one organization.
func (db *DB) GetOrganization(ctx context.Context, name string) (*keyplane.Organization, error) {
	org := &keyplane.Organization{Name: name}
	err := db.Pool.QueryRow(ctx,
		`SELECT created_at, updated_at, attributes FROM organizations WHERE name = $1`, name).Scan(&org.CreatedAt, &org.LastModifiedAt, &org.Extra)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyplane.Errorf(keyplane.NotFound, "organization %q not found", name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return org, nil
}

// ListOrganizations returns every organization's name, sorted.
func (db *DB) ListOrganizations(ctx context.Context) ([]string, error) {
	return db.names(ctx, `SELECT name FROM organizations ORDER BY name`)
}

// names runs a query that returns one text column.
func (db *DB) names(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// children lists the names of an organization's (env empty) or an
// environment's resources. An empty list is told apart from a missing
// parent, which is NotFound, with a second query only when the list is
// empty.
func (db *DB) children(ctx context.Context, org, env, sql string, args ...any) ([]string, error) {
	out, err := db.names(ctx, sql, args...)
	if err != nil || len(out) > 0 {
		return out, err
	}
	return out, db.parentExists(ctx, org, env)
}

// parentExists returns NotFound unless the organization (env empty) or the
// environment exists.
func (db *DB) parentExists(ctx context.Context, org, env string) error {
	var exists bool
	if env == "" {
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE name = $1)`, org).Scan(&exists); err != nil {
			return wrap(err)
		}
		if !exists {
			return keyplane.Errorf(keyplane.NotFound, "organization %q not found", org)
		}
		return nil
	}
	if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM environments WHERE org = $1 AND name = $2)`, org, env).Scan(&exists); err != nil {
		return wrap(err)
	}
	if !exists {
		return envNotFound(org, env)
	}
	return nil
}

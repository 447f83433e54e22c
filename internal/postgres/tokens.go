package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

const tokenColumns = `id, org, role, hash, expire_time, revoked_at, created_by, created_at`

func scanToken(row pgx.Row) (*keyplane.Token, error) {
	t := &keyplane.Token{}
	err := row.Scan(&t.ID, &t.Org, &t.Role, &t.Hash, &t.ExpireTime, &t.RevokedAt, &t.CreatedBy, &t.CreatedAt)
	return t, err
}

// CreateToken stores a token's hash and attributes. The organization must
// exist, unless it is "*" (every organization).
func (db *DB) CreateToken(ctx context.Context, t *keyplane.Token) error {
	err := db.Pool.QueryRow(ctx, `
		INSERT INTO tokens (id, org, role, hash, expire_time, created_by)
		SELECT $1, $2, $3, $4, $5, $6 WHERE $2 = '*' OR EXISTS (SELECT 1 FROM organizations WHERE name = $2)
		RETURNING created_at`, t.ID, t.Org, t.Role, t.Hash, t.ExpireTime, t.CreatedBy).Scan(&t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyplane.Errorf(keyplane.NotFound, "organization %q not found", t.Org)
	}
	return wrap(err)
}

// TokenByHash finds a token by the hash of its secret; nil when none.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*keyplane.Token, error) {
	t, err := scanToken(db.Pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return t, wrap(err)
}

// ListTokens returns up to limit tokens of an organization, newest first.
func (db *DB) ListTokens(ctx context.Context, org string, after keyplane.Cursor, limit int) ([]*keyplane.Token, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT `+tokenColumns+` FROM tokens
		WHERE org = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, org, cursorTime(after), cursorID(after), limit)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*keyplane.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, t)
	}
	return out, wrap(rows.Err())
}

// RevokeToken marks a token of org revoked and returns it.
func (db *DB) RevokeToken(ctx context.Context, org string, id uuid.UUID) (*keyplane.Token, error) {
	t, err := scanToken(db.Pool.QueryRow(ctx, `
		UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND org = $2 RETURNING `+tokenColumns, id, org))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyplane.Errorf(keyplane.NotFound, "token \"organizations/%s/tokens/%s\" not found", org, id)
	}
	return t, wrap(err)
}

// Audit appends an entry to the audit log, at a.Time when it is set (an
// entry written late, kept while the database was away), else now.
func (db *DB) Audit(ctx context.Context, a *keyplane.AuditEntry) error {
	var at *time.Time
	if !a.Time.IsZero() {
		at = &a.Time
	}
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO audit_log (org, actor, role, method, resource, status, outcome, time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()))`,
		a.Org, a.Actor, a.Role, a.Method, a.Resource, a.Status, a.Outcome, at)
	return wrap(err)
}

// ListAudit returns up to limit entries of an organization's audit log,
// newest first, with ids below before (0 for the first page).
func (db *DB) ListAudit(ctx context.Context, org string, before int64, limit int) ([]*keyplane.AuditEntry, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT id, org, actor, role, method, resource, status, outcome, time FROM audit_log
		WHERE org = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, org, before, limit)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*keyplane.AuditEntry
	for rows.Next() {
		a := &keyplane.AuditEntry{}
		if err := rows.Scan(&a.ID, &a.Org, &a.Actor, &a.Role, &a.Method, &a.Resource, &a.Status, &a.Outcome, &a.Time); err != nil {
			return nil, wrap(err)
		}
		out = append(out, a)
	}
	return out, wrap(rows.Err())
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyplane/keyplane"
)

// queryer is what both a pool and a transaction can do.
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertOperation(ctx context.Context, q queryer, op *keyplane.Operation) error {
	warnings := op.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return q.QueryRow(ctx, `
		INSERT INTO operations (uuid, org, operation_type, state, target, error_code, error_message, response, warnings)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at`,
		op.UUID, op.Org, op.Type, op.State, op.Target, op.ErrorCode, op.ErrorMessage, nullJSON(op.Response), warnings).
		Scan(&op.CreatedAt)
}

const operationColumns = `uuid, org, operation_type, state, target, error_code, error_message, response, warnings, created_at`

// scanOperation reads a row of operationColumns. The uuid is read through
// pgtype.UUID, in binary: uuid.UUID is a sql.Scanner, which pgx feeds text
// that it formats first and the scanner parses again.
func scanOperation(row pgx.Row) (*keyplane.Operation, error) {
	op := &keyplane.Operation{}
	var response []byte
	var id pgtype.UUID
	err := row.Scan(&id, &op.Org, &op.Type, &op.State, &op.Target, &op.ErrorCode, &op.ErrorMessage,
		&response, &op.Warnings, &op.CreatedAt)
	if err != nil {
		return nil, err
	}
	op.UUID, op.Response = id.Bytes, response
	return op, nil
}

// pgUUID is id as pgx encodes it in binary without allocating: uuid.UUID is
// a driver.Valuer, which pgx asks for a string and encodes as text.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// GetOperation reads one operation of an organization.
func (db *DB) GetOperation(ctx context.Context, org string, id uuid.UUID) (*keyplane.Operation, error) {
	op, err := scanOperation(db.Pool.QueryRow(ctx,
		`SELECT `+operationColumns+` FROM operations WHERE uuid = $1 AND org = $2`, pgUUID(id), org))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyplane.Errorf(keyplane.NotFound, "operation \"organizations/%s/operations/%s\" not found", org, id)
	}
	return op, wrap(err)
}

// ListOperations returns up to limit operations of an organization, newest
// first, starting after the given keyset position (zero for the first page).
func (db *DB) ListOperations(ctx context.Context, org string, f keyplane.OperationFilter, after keyplane.Cursor, limit int) ([]*keyplane.Operation, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT `+operationColumns+` FROM operations
		WHERE org = $1 AND ($2::timestamptz IS NULL OR (created_at, uuid) < ($2, $3))
		  AND ($5::boolean IS NULL OR (state = 'FINISHED') = $5)
		  AND ($6 = '' OR state = $6) AND ($7 = '' OR operation_type = $7) AND ($8 = '' OR target = $8)
		ORDER BY created_at DESC, uuid DESC LIMIT $4`,
		org, cursorTime(after), cursorID(after), limit, f.Done, f.State, f.Type, f.Target)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*keyplane.Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	if len(out) == 0 && after.IsZero() {
		return nil, db.parentExists(ctx, org, "")
	}
	return out, nil
}

// nullJSON stores an empty raw message as SQL NULL.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

package postgres

import (
	"context"
)

// CountAliases counts the aliases of an organization, for its quota.
func (db *DB) CountAliases(ctx context.Context, org string) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `
		SELECT count(*) FROM aliases a JOIN keystores k ON k.id = a.keystore_id WHERE k.org = $1`, org).Scan(&n)
	return n, wrap(err)
}

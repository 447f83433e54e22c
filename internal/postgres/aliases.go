package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyplane/keyplane"
)

// CreateAlias inserts an alias and the rows of its certificates in one
// statement. With quota > 0 the statement first locks the organization's
// row of alias_counts (kept by triggers) and inserts only while the count
// is below quota: concurrent uploads queue on that row, so together they
// never go past the quota. full reports an organization at its quota;
// nothing is stored then.
func (db *DB) CreateAlias(ctx context.Context, a *keyplane.Alias, quota int) (full bool, err error) {
	info, err := marshalCertsInfo(a.CertsInfo)
	if err != nil {
		return false, err
	}
	c := newCertificateRows(a.CertsInfo)
	args := []any{a.Org, a.Env, a.Keystore, a.Name, a.Type, a.ChainPEM, info, a.NotBefore, a.NotAfter, a.KeySealed, nullString(a.KeyID),
		c.notAfter, c.subject, c.issuer, c.serialNumber}
	var id, version pgtype.Int8
	var count int64
	if quota > 0 {
		err = db.Pool.QueryRow(ctx, createAliasUnderQuota, append(args, quota)...).Scan(&id, &version, &count)
		if err == nil && !id.Valid && count >= int64(quota) {
			return true, nil
		}
	} else {
		err = db.Pool.QueryRow(ctx, createAlias, args...).Scan(&id, &version)
	}
	if err == nil && !id.Valid {
		err = pgx.ErrNoRows
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows) || isCode(err, foreignKeyViolation): // deleted meanwhile
		return false, keystoreNotFound(a.Org, a.Env, a.Keystore)
	case isCode(err, uniqueViolation):
		return false, keyplane.Errorf(keyplane.AlreadyExists, "alias %q already exists in keystore %q", a.Name, a.Keystore)
	case err != nil:
		return false, wrap(err)
	}
	a.ID, a.Version = id.Int64, version.Int64
	return false, nil
}

// createAliasInsert inserts the alias into the keystore $1/$2/$3, with the
// rows of its certificates, FROM quota: the one-row relation that allows it.
const createAliasInsert = `
	a AS (
		INSERT INTO aliases (keystore_id, name, type, chain_pem, certs_info, not_before, not_after, key_sealed, key_id)
		SELECT k.id, $4, $5, $6, $7, $8, $9, $10, $11
		FROM keystores k, quota WHERE k.org = $1 AND k.env = $2 AND k.name = $3
		RETURNING id, version
	), certs AS (
		INSERT INTO alias_certificates (alias_id, version, idx, org, not_after, subject, issuer, serial_number)
		SELECT a.id, a.version, c.ord - 1, $1, c.not_after, c.subject, c.issuer, c.serial_number
		FROM a, unnest($12::timestamptz[], $13::text[], $14::text[], $15::text[])
			WITH ORDINALITY AS c (not_after, subject, issuer, serial_number, ord)
	)`

// createAlias has no quota; createAliasUnderQuota inserts only while the
// organization's count, locked, is below $16, and answers the count too:
// no id and a count at the quota mean the organization is full.
const (
	createAlias = `
		WITH quota AS (SELECT), ` + createAliasInsert + `
		SELECT id, version FROM a`
	createAliasUnderQuota = `
		WITH counted AS (
			SELECT n FROM alias_counts WHERE org = $1 FOR UPDATE
		), quota AS (
			SELECT FROM counted WHERE n < $16
		), ` + createAliasInsert + `
		SELECT a.id, a.version, coalesce((SELECT n FROM counted), 0) FROM (SELECT) one LEFT JOIN a ON true`
)

const aliasSelect = `
	SELECT a.id, a.type, a.chain_pem, a.certs_info, a.not_before, a.not_after, a.key_sealed, coalesce(a.key_id, ''), a.version, e.api_proxy_type
	FROM aliases a
	JOIN keystores k ON k.id = a.keystore_id
	JOIN environments e ON e.org = k.org AND e.name = k.env
	WHERE k.org = $1 AND k.env = $2 AND k.name = $3 AND a.name = $4`

// GetAlias reads one alias, with its sealed key, in one query.
func (db *DB) GetAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error) {
	a := &keyplane.Alias{Org: org, Env: env, Keystore: keystore, Name: name}
	var info []byte
	err := db.Pool.QueryRow(ctx, aliasSelect, org, env, keystore, name).
		Scan(&a.ID, &a.Type, &a.ChainPEM, &info, &a.NotBefore, &a.NotAfter, &a.KeySealed, &a.KeyID, &a.Version, &a.EnvProxyType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aliasNotFound(org, env, keystore, name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	if a.CertsInfo, err = unmarshalCertsInfo(info); err != nil {
		return nil, err
	}
	return a, nil
}

// AliasView reads what GET alias shows: the type and certsInfo, without the
// chain, the sealed key or the environment.
func (db *DB) AliasView(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error) {
	a := &keyplane.Alias{Org: org, Env: env, Keystore: keystore, Name: name}
	var info []byte
	err := db.Pool.QueryRow(ctx, `
		SELECT a.type, a.certs_info FROM aliases a JOIN keystores k ON k.id = a.keystore_id
		WHERE k.org = $1 AND k.env = $2 AND k.name = $3 AND a.name = $4`, org, env, keystore, name).Scan(&a.Type, &info)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aliasNotFound(org, env, keystore, name)
	}
	if err != nil {
		return nil, wrap(err)
	}
	a.CertsInfo, err = unmarshalCertsInfo(info)
	return a, err
}

// ReplaceAliasCertificate stores a new chain for an alias, keeping its key.
// It succeeds only if the alias is still at version a.Version, so two
// concurrent replacements cannot both win; the version is then incremented.
// The expiry view's rows of the old chain give way to the new chain's in
// the same statement.
func (db *DB) ReplaceAliasCertificate(ctx context.Context, a *keyplane.Alias) error {
	info, err := marshalCertsInfo(a.CertsInfo)
	if err != nil {
		return err
	}
	c := newCertificateRows(a.CertsInfo)
	err = db.Pool.QueryRow(ctx, `
		WITH a AS (
			UPDATE aliases SET chain_pem = $2, certs_info = $3, not_before = $4, not_after = $5,
				version = version + 1, updated_at = now()
			WHERE id = $1 AND version = $6 RETURNING id, version
		), old AS (
			DELETE FROM alias_certificates o USING a WHERE o.alias_id = a.id AND o.version < a.version
		), certs AS (
			INSERT INTO alias_certificates (alias_id, version, idx, org, not_after, subject, issuer, serial_number)
			SELECT a.id, a.version, c.ord - 1, $7, c.not_after, c.subject, c.issuer, c.serial_number
			FROM a, unnest($8::timestamptz[], $9::text[], $10::text[], $11::text[])
				WITH ORDINALITY AS c (not_after, subject, issuer, serial_number, ord)
		)
		SELECT version FROM a`,
		a.ID, a.ChainPEM, info, a.NotBefore, a.NotAfter, a.Version, a.Org,
		c.notAfter, c.subject, c.issuer, c.serialNumber).Scan(&a.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyplane.Errorf(keyplane.FailedPrecondition, "alias %q was changed or deleted concurrently; retry", a.Name)
	}
	return wrap(err)
}

// DeleteAlias deletes an alias and returns it as it was, unless the live
// deployment of its environment uses it.
func (db *DB) DeleteAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error) {
	a, err := db.GetAlias(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkNotLive(ctx, tx, org, env, "alias", keystore+"/"+name, "alias \""+name+"\" of keystore \""+keystore+"\""); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM aliases WHERE id = $1`, a.ID)
		if err == nil && tag.RowsAffected() == 0 {
			return aliasNotFound(org, env, keystore, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func aliasNotFound(org, env, keystore, name string) error {
	return keyplane.Errorf(keyplane.NotFound, "alias \"organizations/%s/environments/%s/keystores/%s/aliases/%s\" not found",
		org, env, keystore, name)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ResealBatch locks up to limit aliases whose key is sealed under one of
// the known master keys other than primary, lets reseal produce each new ciphertext, and stores
// them, all in one transaction. It returns how many it re-sealed; 0 means
// none is left. Rows locked by a concurrent batch are skipped, so several
// runs can share the work.
func (db *DB) ResealBatch(ctx context.Context, primary string, known []string, limit int, reseal func(*keyplane.SealedKey) ([]byte, error)) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT a.id, 'organizations/' || k.org || '/environments/' || k.env || '/keystores/' || k.name || '/aliases/' || a.name,
			       a.key_id, a.key_sealed
			FROM aliases a JOIN keystores k ON k.id = a.keystore_id
			WHERE a.key_id IS NOT NULL AND a.key_id <> $1 AND a.key_id = ANY($3)
			ORDER BY a.id LIMIT $2 FOR UPDATE OF a SKIP LOCKED`, primary, limit, known)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*keyplane.SealedKey, error) {
			k := &keyplane.SealedKey{}
			return k, row.Scan(&k.AliasID, &k.Name, &k.KeyID, &k.Sealed)
		})
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, k := range keys {
			sealed, err := reseal(k)
			if err != nil {
				return err
			}
			batch.Queue(`UPDATE aliases SET key_sealed = $2, key_id = $3 WHERE id = $1`, k.AliasID, sealed, primary)
		}
		n = len(keys)
		return tx.SendBatch(ctx, batch).Close()
	})
	return n, err
}

// SealedUnderOthers counts, by key id, the private keys sealed under
// master keys not in known.
func (db *DB) SealedUnderOthers(ctx context.Context, known []string) (map[string]int, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT key_id, count(*) FROM aliases WHERE key_id IS NOT NULL AND key_id <> ALL($1) GROUP BY key_id ORDER BY key_id`, known)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, wrap(err)
		}
		out[id] = n
	}
	return out, wrap(rows.Err())
}

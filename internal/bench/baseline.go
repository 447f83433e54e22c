package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	keyplane "github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/certs"
	"github.com/keyplane/keyplane/internal/seal"
)

// baselines are what the database alone can do, measured with raw pgx on
// the same database as the server and at the same concurrency: the bound
// that the server's rates are divided by.
//
//   - point select: one row by primary key from bench_select, a copy of the
//     aliases table (same rows, same sizes, same count);
//   - insert: one row of the size of an RSA alias (its chain, certsInfo and
//     sealed key) into bench_insert, which has only a primary key.
//
// The pool holds one connection per worker and statements are prepared
// (pgx's default), so nothing on the client side holds the database back.
type baselines struct {
	pool *pgxpool.Pool
	rows int64
	// insert is the row bench_insert receives, again and again.
	chainPEM  string
	certsInfo []byte
	keySealed []byte
}

// newBaselines creates the baseline tables from the aliases table, which
// must be loaded, and a pool of maxConc connections.
func newBaselines(ctx context.Context, dbURL string, maxConc int) (*baselines, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(maxConc)
	cfg.MinConns = int32(maxConc)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b := &baselines{pool: pool}
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS bench_select, bench_insert`,
		`CREATE TABLE bench_select AS
			SELECT row_number() OVER (ORDER BY id) AS id, chain_pem, certs_info, key_sealed FROM aliases`,
		`ALTER TABLE bench_select ADD PRIMARY KEY (id)`,
		`CREATE TABLE bench_insert (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			chain_pem text NOT NULL, certs_info jsonb NOT NULL, key_sealed bytea)`,
		`VACUUM ANALYZE bench_select`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			pool.Close()
			return nil, fmt.Errorf("baseline tables: %w", err)
		}
	}
	err = pool.QueryRow(ctx, `SELECT count(*) FROM bench_select`).Scan(&b.rows)
	if err == nil {
		// Alias 0 of keystore 0 has an RSA key (see dataset.chainFor).
		err = pool.QueryRow(ctx, `
			SELECT a.chain_pem, a.certs_info, a.key_sealed FROM aliases a JOIN keystores k ON k.id = a.keystore_id
			WHERE k.org = $1 AND k.env = $2 AND k.name = $3 AND a.name = $4`, benchOrg, benchEnv, keystoreName(0), aliasName(0)).
			Scan(&b.chainPEM, &b.certsInfo, &b.keySealed)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("baseline tables: %w", err)
	}
	return b, nil
}

func (b *baselines) close() { b.pool.Close() }

// pointSelect reads one random row of bench_select by primary key.
func (b *baselines) pointSelect(ctx context.Context, w *worker) error {
	var id int64
	var chainPEM string
	var info, key []byte
	return b.pool.QueryRow(ctx, `SELECT id, chain_pem, certs_info, key_sealed FROM bench_select WHERE id = $1`,
		1+w.Rng.Int64N(b.rows)).Scan(&id, &chainPEM, &info, &key)
}

// insert inserts one alias-sized row into bench_insert.
func (b *baselines) insert(ctx context.Context, _ *worker) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO bench_insert (chain_pem, certs_info, key_sealed) VALUES ($1, $2, $3)`,
		b.chainPEM, b.certsInfo, b.keySealed)
	return err
}

// aliasCryptoFloor is the cryptography one alias upload needs, done in this
// process with the server's own code and nothing else: parse and validate
// the RSA key and its chain (leaf and intermediate), check that they are a
// pair, marshal the key and seal it under the master key, and describe the
// chain (its PEM and certsInfo). What create_alias costs the server beyond
// this is HTTP, authentication, the audit and the database.
func aliasCryptoFloor(pool *certPool, masterKey string) (op, error) {
	keys, err := seal.ParseKeyring(masterKey)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, w *worker) error {
		ch := pool.RSA[w.Rng.IntN(len(pool.RSA))]
		now := time.Now()
		m, err := certs.ParseKeyCertFile(ch.CertPEM, ch.KeyPEM, "", certs.Options{Now: now})
		if err != nil {
			return err
		}
		der, err := certs.MarshalKey(m.Key)
		if err != nil {
			return err
		}
		if _, _, err := keys.Seal(der, []byte(keyplane.AliasName(benchOrg, benchEnv, "floor", "floor"))); err != nil {
			return err
		}
		_ = certs.EncodeChain(m.Chain)
		_ = certs.Info(m.Chain, now)
		return nil
	}, nil
}

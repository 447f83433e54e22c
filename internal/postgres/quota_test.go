package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// aliasCount is the organization's count as the quota reads it.
func aliasCount(t *testing.T, db *postgres.DB, org string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT n FROM alias_counts WHERE org = $1`, org).Scan(&n))
	return n
}

// storedAliases counts the organization's aliases row by row.
func storedAliases(t *testing.T, db *postgres.DB, org string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool.QueryRow(context.Background(), `
		SELECT count(*) FROM aliases a JOIN keystores k ON k.id = a.keystore_id WHERE k.org = $1`, org).Scan(&n))
	return n
}

// newCertAlias is a certificate alias to create in keystore ks of o/e.
func newCertAlias(ks, name string) *keyplane.Alias {
	now := time.Now()
	return &keyplane.Alias{Org: "o", Env: "e", Keystore: ks, Name: name, Type: keyplane.AliasTypeCert, ChainPEM: "PEM",
		CertsInfo: []keyplane.CertInfo{{Subject: "CN=x", Issuer: "CN=x", ExpiryDate: now.Add(time.Hour).UnixMilli(), SerialNumber: "01"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
}

// The count the quota reads follows every way aliases come and go: one
// inserted or deleted, many deleted with their keystore, other
// organizations untouched, a new organization at zero.
func TestAliasCounts_FollowInsertsAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	seedEnv(t, db, "p", "e")
	require.EqualValues(t, 0, aliasCount(t, db, "o"), "a new organization starts at zero")
	seedKeystore(t, db, "o", "e", "ks1", "a", "b", "c")
	seedKeystore(t, db, "o", "e", "ks2", "d", "e")
	seedKeystore(t, db, "p", "e", "ks1", "f")
	require.EqualValues(t, 5, aliasCount(t, db, "o"))
	require.EqualValues(t, 1, aliasCount(t, db, "p"))

	_, err := db.CreateAlias(ctx, newCertAlias("ks2", "g"), 0)
	require.NoError(t, err)
	require.EqualValues(t, 6, aliasCount(t, db, "o"))
	_, err = db.DeleteAlias(ctx, "o", "e", "ks1", "a")
	require.NoError(t, err)
	require.EqualValues(t, 5, aliasCount(t, db, "o"))
	exec(t, db, `DELETE FROM aliases WHERE name IN ('b', 'c')`)
	require.EqualValues(t, 3, aliasCount(t, db, "o"), "one statement deleting two aliases")
	_, err = db.DeleteKeystore(ctx, "o", "e", "ks2")
	require.NoError(t, err)
	require.EqualValues(t, 0, aliasCount(t, db, "o"), "aliases deleted with their keystore")
	require.EqualValues(t, 0, storedAliases(t, db, "o"))
	require.EqualValues(t, 1, aliasCount(t, db, "p"))
}

// Uploads that reach the quota together stop exactly at it: each waits
// for the organization's count, so the last free places go to the first
// in line and the others are told the organization is full, with nothing
// stored.
func TestCreateAlias_ConcurrentUploadsUnderAQuota_StopExactlyAtIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := postgres.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 16
	db, err := postgres.OpenConfig(ctx, cfg, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	seedEnv(t, db, "o", "e")
	seedKeystore(t, db, "o", "e", "ks", "first")
	const quota, uploads = 3, 8

	// A transaction holding the organization's count makes every upload
	// queue behind it, so that they really run at once when it ends.
	tx := begin(t, db)
	_, err = tx.Exec(ctx, `SELECT FROM alias_counts WHERE org = 'o' FOR UPDATE`)
	require.NoError(t, err)
	type outcome struct {
		full bool
		err  error
	}
	results := make(chan outcome, uploads)
	for i := range uploads {
		go func() {
			full, err := db.CreateAlias(ctx, newCertAlias("ks", fmt.Sprintf("a%d", i)), quota)
			results <- outcome{full, err}
		}()
	}
	waitForLockWait(t, db, uploads)
	require.NoError(t, tx.Rollback(ctx))

	created, full := 0, 0
	for range uploads {
		o := receive(t, results)
		require.NoError(t, o.err)
		if o.full {
			full++
		} else {
			created++
		}
	}
	require.Equal(t, quota-1, created, "the places left under the quota")
	require.Equal(t, uploads-quota+1, full)
	require.EqualValues(t, quota, storedAliases(t, db, "o"))
	require.EqualValues(t, quota, aliasCount(t, db, "o"))
}

// Under a quota, an organization that is full is told so, and a missing
// keystore is still not found; with no quota the count does not matter.
func TestCreateAlias_Quota_FullOrMissingKeystore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	seedKeystore(t, db, "o", "e", "ks", "first", "second")

	full, err := db.CreateAlias(ctx, newCertAlias("ks", "third"), 2)
	require.NoError(t, err)
	require.True(t, full)
	require.EqualValues(t, 2, storedAliases(t, db, "o"), "nothing stored")

	a := newCertAlias("ks", "third")
	full, err = db.CreateAlias(ctx, a, 3)
	require.NoError(t, err)
	require.False(t, full)
	require.NotZero(t, a.ID)
	require.EqualValues(t, 1, a.Version)

	_, err = db.CreateAlias(ctx, newCertAlias("nope", "x"), 10)
	requireCode(t, err, keyplane.NotFound, `keystore "organizations/o/environments/e/keystores/nope" not found`)
	_, err = db.CreateAlias(ctx, newCertAlias("ks", "third"), 10)
	requireCode(t, err, keyplane.AlreadyExists, `alias "third" already exists in keystore "ks"`)

	full, err = db.CreateAlias(ctx, newCertAlias("ks", "fourth"), 0)
	require.NoError(t, err)
	require.False(t, full, "no quota")
	require.EqualValues(t, 4, aliasCount(t, db, "o"))
}

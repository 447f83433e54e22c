package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// TestReplaceAliasCertificate_OneOfTwoConcurrentReplacementsWins: two
// replacements of the certificate of the same version of an alias, made
// at once, cannot both be stored: one wins, the other is told to retry,
// and the version counts one replacement.
func TestReplaceAliasCertificate_OneOfTwoConcurrentReplacementsWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	ids := seedKeystore(t, db, "o", "e", "ks", "a")

	// A transaction holding the alias's row makes both replacements queue
	// behind it, so that they really run at once when it ends.
	tx := begin(t, db)
	_, err := tx.Exec(ctx, `SELECT FROM aliases WHERE id = $1 FOR UPDATE`, ids["a"])
	require.NoError(t, err)
	first := result(func() error { return replaceCertificate(ctx, db, "o", "a", ids["a"], 1) })
	second := result(func() error { return replaceCertificate(ctx, db, "o", "a", ids["a"], 1) })
	waitForLockWait(t, db, 2)
	require.NoError(t, tx.Rollback(ctx))

	errs := []error{receive(t, first), receive(t, second)}
	if errs[0] != nil {
		errs[0], errs[1] = errs[1], errs[0]
	}
	require.NoError(t, errs[0])
	requireCode(t, errs[1], keyplane.FailedPrecondition, `alias "a" was changed or deleted concurrently; retry`)
	var version int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT version FROM aliases WHERE id = $1`, ids["a"]).Scan(&version))
	require.EqualValues(t, 2, version)
}

// TestResealBatch_ConcurrentRunsShareTheWork: a batch locks the keys it
// re-seals, and a concurrent batch skips them rather than waiting or
// re-sealing them twice; keys sealed under the primary, or under a key
// not known, are left alone.
func TestResealBatch_ConcurrentRunsShareTheWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	seedKeystore(t, db, "o", "e", "ks")
	for i := range 5 {
		seedKeyAlias(t, db, "o", "e", "ks", fmt.Sprintf("old%d", i), "old")
	}
	seedKeyAlias(t, db, "o", "e", "ks", "current", "new")
	seedKeyAlias(t, db, "o", "e", "ks", "lost", "unknown")
	known := []string{"new", "old"}
	reseal := func(k *keyplane.SealedKey) ([]byte, error) { return []byte("resealed " + k.Name), nil }

	holding := make(chan struct{})
	release, releaseNow := gate(t)
	var firstNames []string
	first := make(chan int, 1)
	go func() {
		n, err := db.ResealBatch(ctx, "new", known, 3, func(k *keyplane.SealedKey) ([]byte, error) {
			firstNames = append(firstNames, k.Name)
			if len(firstNames) == 1 {
				close(holding)
				<-release
			}
			return reseal(k)
		})
		require.NoError(t, err)
		first <- n
	}()
	<-holding
	n, err := db.ResealBatch(ctx, "new", known, 10, reseal)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the concurrent batch takes only the keys the first did not lock")
	releaseNow()
	require.Equal(t, 3, receive(t, first))
	n, err = db.ResealBatch(ctx, "new", known, 10, reseal)
	require.NoError(t, err)
	require.Zero(t, n, "none is left")

	left, err := db.SealedUnderOthers(ctx, known)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"unknown": 1}, left)
	var resealed int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM aliases WHERE key_id = 'new' AND key_sealed = convert_to('resealed ' || $1 || name, 'UTF8')`,
		"organizations/o/environments/e/keystores/ks/aliases/").Scan(&resealed))
	require.Equal(t, 5, resealed, "each key re-sealed once, bound to its own alias")
}

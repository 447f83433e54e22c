package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// TestDelete_RefusedWhileTheLiveDeploymentUsesIt: a keystore, alias,
// reference or target server the live deployment of its environment uses
// cannot be deleted, and the refusal names it and the deployment; once a
// deployment that does not use it is live, it can. What another
// environment's live deployment uses is no concern of this one's.
func TestDelete_RefusedWhileTheLiveDeploymentUsesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := deployEnv(t)
	seedEnv(t, db, "o", "other")
	seedKeystore(t, db, "o", "other", "ks", "a")
	seedDeployment(t, db, "o", "other", "elsewhere")
	seedLive(t, db, "o", "other", "elsewhere", liveItems("ks", "a", "r", "ts")...)
	seedDeployment(t, db, "o", "e", "d1")
	seedLive(t, db, "o", "e", "d1", liveItems("ks", "a", "r", "ts")...)

	const live = ` is used by the live deployment "organizations/o/environments/e/archiveDeployments/d1"; deploy an archive that does not use it first`
	deleteAlias := func() error { _, err := db.DeleteAlias(ctx, "o", "e", "ks", "a"); return err }
	deleteKeystore := func() error { _, err := db.DeleteKeystore(ctx, "o", "e", "ks"); return err }
	deleteReference := func() error { _, err := db.DeleteReference(ctx, "o", "e", "r"); return err }
	deleteTargetServer := func() error { _, err := db.DeleteTargetServer(ctx, "o", "e", "ts"); return err }
	requireCode(t, deleteAlias(), keyplane.FailedPrecondition, `alias "a" of keystore "ks"`+live)
	requireCode(t, deleteKeystore(), keyplane.FailedPrecondition, `keystore "ks"`+live)
	requireCode(t, deleteReference(), keyplane.FailedPrecondition, `reference "r"`+live)
	requireCode(t, deleteTargetServer(), keyplane.FailedPrecondition, `target server "ts"`+live)
	var rows int
	require.NoError(t, db.Pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM aliases) + (SELECT count(*) FROM keystores WHERE env = 'e')
		     + (SELECT count(*) FROM "references") + (SELECT count(*) FROM target_servers)`).Scan(&rows))
	require.Equal(t, 2+2+1+1, rows, "a refused delete deletes nothing")

	// The keystore a reference points at is kept for the reference's sake,
	// live or not.
	requireCode(t, func() error { _, err := db.DeleteKeystore(ctx, "o", "e", "trust"); return err }(), keyplane.FailedPrecondition,
		`keystore "trust" is used by reference "organizations/o/environments/e/references/r"; delete or re-point the reference first`)

	seedDeployment(t, db, "o", "e", "d2")
	seedLive(t, db, "o", "e", "d2")
	require.NoError(t, deleteAlias())
	require.NoError(t, deleteKeystore())
	require.NoError(t, deleteReference())
	require.NoError(t, deleteTargetServer())
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM aliases`).Scan(&rows))
	require.Equal(t, 1, rows, "the other environment's alias stays")
}

// TestClaimUpload_OnceEvenConcurrently: of many uploads to one upload URL
// at once, exactly one claims it; the others, and any later, are refused
// at once; an upload given back frees the URL again.
func TestClaimUpload_OnceEvenConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	id := uuid.New()
	require.NoError(t, db.CreateUpload(ctx, id, "o", "e", time.Now().Add(time.Hour)))

	const n = 8
	results := make([]<-chan error, n)
	for i := range results {
		results[i] = result(func() error { return db.ClaimUpload(ctx, id) })
	}
	claimed := 0
	for _, c := range results {
		if err := receive(t, c); err == nil {
			claimed++
		} else {
			requireCode(t, err, keyplane.FailedPrecondition, "upload URL was already used; generate a new one")
		}
	}
	require.Equal(t, 1, claimed)

	require.NoError(t, db.ReleaseUpload(ctx, id))
	require.NoError(t, db.ClaimUpload(ctx, id), "a released URL may be used again")
	require.NoError(t, db.AppendUpload(ctx, id, 0, []byte("zip")))
	require.NoError(t, db.CompleteUpload(ctx, id))
	require.NoError(t, db.ReleaseUpload(ctx, id), "giving back a complete upload frees nothing")
	requireCode(t, db.ClaimUpload(ctx, id), keyplane.FailedPrecondition, "upload URL was already used; generate a new one")

	expired := uuid.New()
	require.NoError(t, db.CreateUpload(ctx, expired, "o", "e", time.Now().Add(-time.Second)))
	requireCode(t, db.ClaimUpload(ctx, expired), keyplane.FailedPrecondition, "upload URL has expired; generate a new one")
	requireCode(t, db.ClaimUpload(ctx, uuid.New()), keyplane.NotFound, "upload URL is unknown")
}

// TestDeleteDeployment_NotWhileItsOperationRuns: a deployment still being
// deployed is kept; a finished one goes with its archive.
func TestDeleteDeployment_NotWhileItsOperationRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	op := seedDeployment(t, db, "o", "e", "d1")
	_, err := db.DeleteDeployment(ctx, "o", "e", "d1")
	requireCode(t, err, keyplane.FailedPrecondition,
		`archive deployment "d1" is still being deployed (operation `+op.String()+`); wait for it to finish`)
	exec(t, db, `UPDATE operations SET state = 'FINISHED' WHERE uuid = $1`, op)
	_, err = db.DeleteDeployment(ctx, "o", "e", "d1")
	require.NoError(t, err)
	var uploads int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM archive_uploads`).Scan(&uploads))
	require.Zero(t, uploads, "the archive goes with its deployment")
	_, err = db.DeleteDeployment(ctx, "o", "e", "d1")
	requireCode(t, err, keyplane.NotFound, `archive deployment "organizations/o/environments/e/archiveDeployments/d1" not found`)
}

// TestPruneArchives_KeepsTheNewestAndTheLive: the sweep empties the
// archives of all but the newest finished deployments of each
// environment, never the live one's nor one still to be deployed.
func TestPruneArchives_KeepsTheNewestAndTheLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	seedEnv(t, db, "o", "f")
	start := time.Now().Add(-time.Hour)
	for i, id := range []string{"d1", "d2", "d3", "d4", "d5"} {
		op := seedDeploymentAt(t, db, "o", "e", id, start.Add(time.Duration(i)*time.Minute))
		if id != "d2" {
			exec(t, db, `UPDATE operations SET state = 'FINISHED' WHERE uuid = $1`, op)
		}
	}
	seedLive(t, db, "o", "e", "d1")
	exec(t, db, `UPDATE operations SET state = 'FINISHED' WHERE uuid = $1`, seedDeploymentAt(t, db, "o", "f", "only", start))

	pruned, err := db.PruneArchives(ctx, 2)
	require.NoError(t, err)
	require.EqualValues(t, 1, pruned, "d3 alone: d5 and d4 are the newest, d2 still runs, d1 is live")
	var kept []string
	rows, err := db.Pool.Query(ctx, `SELECT d.id FROM archive_deployments d JOIN archive_uploads u ON u.id = d.upload_id
		WHERE u.pruned_at IS NULL ORDER BY d.id`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		kept = append(kept, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"d1", "d2", "d4", "d5", "only"}, kept)
	pruned, err = db.PruneArchives(ctx, 2)
	require.NoError(t, err)
	require.Zero(t, pruned, "a pruned archive is not pruned again")
}

package postgres_test

import (
	"context"
	"testing"

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

package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/postgres"
)

// deployEnv is organization o, environment e with keystore ks (alias a),
// keystore trust that reference r points at, target server ts, and
// deployment d1 waiting to run.
func deployEnv(t *testing.T) (*postgres.DB, map[string]int64) {
	t.Helper()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	ids := seedKeystore(t, db, "o", "e", "ks", "a")
	seedKeystore(t, db, "o", "e", "trust")
	seedReference(t, db, "o", "e", "r", "trust")
	seedTargetServer(t, db, "o", "e", "ts")
	return db, ids
}

// readAll reads, in a deployment's transaction, everything liveItems
// names, as deployment validation does.
func readAll(ctx context.Context, d *postgres.DeployTx) error {
	if _, err := d.Keystores(ctx, "o", "e", nil, map[string][]string{"ks": {"a"}}); err != nil {
		return err
	}
	if _, err := d.References(ctx, "o", "e", []string{"r"}); err != nil {
		return err
	}
	_, err := d.TargetServers(ctx, "o", "e", []string{"ts"})
	return err
}

// TestDeployTx_DeleteWaitsForTheDeploymentThatReadIt: a delete of what a
// running deployment has read waits for that deployment to commit, then
// sees that it made the row live and refuses. Were the live-use check made
// without waiting, the row would be deleted from under a deployment going
// live a moment later.
func TestDeployTx_DeleteWaitsForTheDeploymentThatReadIt(t *testing.T) {
	t.Parallel()
	const live = ` is used by the live deployment "organizations/o/environments/e/archiveDeployments/d1"; deploy an archive that does not use it first`
	for _, tt := range []struct {
		kind   string
		delete func(context.Context, *postgres.DB) error
		msg    string
	}{
		{"alias", func(ctx context.Context, db *postgres.DB) error {
			_, err := db.DeleteAlias(ctx, "o", "e", "ks", "a")
			return err
		}, `alias "a" of keystore "ks"` + live},
		{"keystore", func(ctx context.Context, db *postgres.DB) error {
			_, err := db.DeleteKeystore(ctx, "o", "e", "ks")
			return err
		}, `keystore "ks"` + live},
		{"reference", func(ctx context.Context, db *postgres.DB) error {
			_, err := db.DeleteReference(ctx, "o", "e", "r")
			return err
		}, `reference "r"` + live},
		{"target server", func(ctx context.Context, db *postgres.DB) error {
			_, err := db.DeleteTargetServer(ctx, "o", "e", "ts")
			return err
		}, `target server "ts"` + live},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := deployEnv(t)
			op := seedDeployment(t, db, "o", "e", "d1")
			read := make(chan struct{})
			commit, commitNow := gate(t)
			deployed := result(func() error {
				return db.RunDeployment(ctx, op, func(d *postgres.DeployTx) error {
					if err := readAll(ctx, d); err != nil {
						return err
					}
					close(read)
					<-commit
					return d.Succeed(ctx, op, "o", "e", "d1", liveItems("ks", "a", "r", "ts"), json.RawMessage(`{}`), nil)
				})
			})
			<-read
			deleted := result(func() error { return tt.delete(ctx, db) })
			waitForLockWait(t, db, 1)
			requireBlocked(t, deleted, "the delete")
			commitNow()
			require.NoError(t, receive(t, deployed))
			requireCode(t, receive(t, deleted), keyplane.FailedPrecondition, tt.msg)
		})
	}
}

// TestDeployTx_ReplacementWaitsForTheDeploymentThatReadTheAlias: an
// alias's new certificate is stored only once the deployment that read
// the old one has committed, so the version it pinned is the one it
// checked.
func TestDeployTx_ReplacementWaitsForTheDeploymentThatReadTheAlias(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, ids := deployEnv(t)
	op := seedDeployment(t, db, "o", "e", "d1")
	read := make(chan struct{})
	commit, commitNow := gate(t)
	var pinned int64
	deployed := result(func() error {
		return db.RunDeployment(ctx, op, func(d *postgres.DeployTx) error {
			facts, err := d.Keystores(ctx, "o", "e", nil, map[string][]string{"ks": {"a"}})
			if err != nil {
				return err
			}
			pinned = facts["ks"]["a"].Version
			close(read)
			<-commit
			items := []keyplane.DeploymentItem{{Kind: "alias", Name: "ks/a", AliasID: ids["a"], AliasVersion: pinned}}
			return d.Succeed(ctx, op, "o", "e", "d1", items, json.RawMessage(`{}`), nil)
		})
	})
	<-read
	replaced := result(func() error { return replaceCertificate(ctx, db, "o", "a", ids["a"], 1) })
	waitForLockWait(t, db, 1)
	requireBlocked(t, replaced, "the replacement")
	commitNow()
	require.NoError(t, receive(t, deployed))
	require.NoError(t, receive(t, replaced))

	require.EqualValues(t, 1, pinned)
	var version, itemVersion int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT a.version, i.alias_version FROM aliases a, deployment_items i
		WHERE a.id = $1 AND i.deployment = 'd1' AND i.kind = 'alias'`, ids["a"]).Scan(&version, &itemVersion))
	require.EqualValues(t, 2, version, "the replacement came after")
	require.EqualValues(t, 1, itemVersion, "the deployment pinned what it read")
}

// TestRunDeployment_RunsAnOperationOnce: two workers given the same
// operation take turns on its row; the second finds it finished and does
// not run it again.
func TestRunDeployment_RunsAnOperationOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := deployEnv(t)
	op := seedDeployment(t, db, "o", "e", "d1")
	started := make(chan struct{})
	commit, commitNow := gate(t)
	runs := 0
	first := result(func() error {
		return db.RunDeployment(ctx, op, func(d *postgres.DeployTx) error {
			runs++
			close(started)
			<-commit
			return d.Succeed(ctx, op, "o", "e", "d1", nil, json.RawMessage(`{}`), nil)
		})
	})
	<-started
	second := result(func() error {
		return db.RunDeployment(ctx, op, func(*postgres.DeployTx) error { runs++; return nil })
	})
	waitForLockWait(t, db, 1)
	commitNow()
	require.NoError(t, receive(t, first))
	require.ErrorIs(t, receive(t, second), keyplane.ErrOperationFinished)
	require.Equal(t, 1, runs)
}

// TestLockRevisions_ConcurrentDeploymentsTakeTurns: two deployments of the
// same proxy take turns on its revision counter, so they take consecutive
// revisions and never the same one.
func TestLockRevisions_ConcurrentDeploymentsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := deployEnv(t)
	op1 := seedDeployment(t, db, "o", "e", "d1")
	op2 := seedDeployment(t, db, "o", "e", "d2")
	locked1 := make(chan int, 1)
	commit1, commit1Now := gate(t)
	first := result(func() error {
		return db.RunDeployment(ctx, op1, func(d *postgres.DeployTx) error {
			revs, err := d.LockRevisions(ctx, "o", []string{"p", "q"})
			if err != nil {
				return err
			}
			locked1 <- revs["p"]
			<-commit1
			items := []keyplane.DeploymentItem{{Kind: "proxy", Name: "p", Revision: revs["p"] + 1}, {Kind: "proxy", Name: "q", Revision: revs["q"] + 1}}
			return d.Succeed(ctx, op1, "o", "e", "d1", items, json.RawMessage(`{}`), nil)
		})
	})
	require.Equal(t, 0, receive(t, locked1), "a proxy never deployed is at revision 0")

	locked2 := make(chan map[string]int, 1)
	second := result(func() error {
		return db.RunDeployment(ctx, op2, func(d *postgres.DeployTx) error {
			// The other order of names: locks are taken in name order
			// whatever the order asked, so the two cannot deadlock.
			revs, err := d.LockRevisions(ctx, "o", []string{"q", "p"})
			if err != nil {
				return err
			}
			locked2 <- revs
			items := []keyplane.DeploymentItem{{Kind: "proxy", Name: "p", Revision: revs["p"] + 1}, {Kind: "proxy", Name: "q", Revision: revs["q"] + 1}}
			return d.Succeed(ctx, op2, "o", "e", "d2", items, json.RawMessage(`{}`), nil)
		})
	})
	waitForLockWait(t, db, 1)
	requireBlocked(t, second, "the second deployment")
	commit1Now()
	require.NoError(t, receive(t, first))
	require.Equal(t, map[string]int{"p": 1, "q": 1}, receive(t, locked2), "the second reads what the first wrote")
	require.NoError(t, receive(t, second))

	var live string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT deployment FROM live_deployments WHERE org = 'o' AND env = 'e'`).Scan(&live))
	require.Equal(t, "d2", live, "the last to commit is live")
	var revs []int
	rows, err := db.Pool.Query(ctx, `SELECT revision FROM deployment_items WHERE kind = 'proxy' AND name = 'p' ORDER BY revision`)
	require.NoError(t, err)
	for rows.Next() {
		var r int
		require.NoError(t, rows.Scan(&r))
		revs = append(revs, r)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{1, 2}, revs)
}

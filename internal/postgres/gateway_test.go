package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/postgres"
)

// listen starts db.Listen and returns the payloads it receives, once it
// listens; it stops when the test ends.
func listen(t *testing.T, db *postgres.DB) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	payloads := make(chan string, 64)
	done := result(func() error {
		return db.Listen(ctx, func() { close(ready) }, func(p string) { payloads <- p })
	})
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Listen: %v", err)
	}
	return payloads
}

// TestListen_ChangesAGatewayServesNotifyTheirEnvironment: every committed
// change a gateway must see (a reference, a keystore or alias, a target
// server, the live deployment) notifies the gateway channel once, with the
// environment as "org/env"; a change rolled back, or one gateways do not
// serve, notifies nothing. After each change, a change in a sentinel
// environment must come next: nothing else was sent.
func TestListen_ChangesAGatewayServesNotifyTheirEnvironment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	seedEnv(t, db, "o", "sentinel")
	ids := seedKeystore(t, db, "o", "e", "ks", "a")
	seedDeployment(t, db, "o", "e", "d1")
	payloads := listen(t, db)
	sentinel := 0
	requireOnly := func(what, want string) {
		t.Helper()
		if want != "" {
			require.Equal(t, want, receive(t, payloads), what)
		}
		sentinel++
		exec(t, db, `INSERT INTO target_servers (org, env, name, body) VALUES ('o', 'sentinel', 's'||$1::int, '{}')`, sentinel)
		require.Equal(t, "o/sentinel", receive(t, payloads), "%s: nothing else is sent", what)
	}

	exec(t, db, `INSERT INTO "references" (org, env, name, resource_type, refers) VALUES ('o', 'e', 'r', 'KeyStore', 'ks')`)
	requireOnly("a new reference", "o/e")
	exec(t, db, `INSERT INTO keystores (org, env, name) VALUES ('o', 'e', 'ks2')`)
	requireOnly("a new keystore", "o/e")
	exec(t, db, `UPDATE "references" SET refers = 'ks2' WHERE name = 'r'`)
	requireOnly("a re-pointed reference", "o/e")
	require.NoError(t, replaceCertificate(ctx, db, "o", "a", ids["a"], 1))
	requireOnly("an alias's new certificate", "o/e")
	seedTargetServer(t, db, "o", "e", "ts")
	requireOnly("a new target server", "o/e")
	exec(t, db, `UPDATE target_servers SET body = '{"host":"other.example.com"}' WHERE org = 'o' AND env = 'e' AND name = 'ts'`)
	requireOnly("a changed target server", "o/e")
	seedLive(t, db, "o", "e", "d1")
	requireOnly("a new live deployment", "o/e")
	_, err := db.DeleteKeystore(ctx, "o", "e", "ks")
	require.NoError(t, err)
	requireOnly("a keystore deleted with its alias", "o/e")

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DELETE FROM "references" WHERE name = 'r'`)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	requireOnly("a rolled back change", "")
	seedOperation(t, db, "o", time.Time{})
	exec(t, db, `INSERT INTO organizations (name) VALUES ('p')`)
	requireOnly("an operation and an organization", "")

	// Several changes of one environment in one transaction notify it
	// once.
	tx, err = db.Pool.Begin(ctx)
	require.NoError(t, err)
	for _, sql := range []string{`DELETE FROM "references" WHERE name = 'r'`, `DELETE FROM target_servers WHERE env = 'e'`, `DELETE FROM keystores WHERE name = 'ks2'`} {
		_, err = tx.Exec(ctx, sql)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	requireOnly("three changes committed together", "o/e")
}

// TestHostCollisions_DeletingAllButOneSettlesTheHost: environments that
// share a gateway host are served by no gateway until one alone is left,
// which is then served again and announced.
func TestHostCollisions_DeletingAllButOneSettlesTheHost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	// Two environments that claimed host acme-x-dev before hosts were
	// owned, as the migration that made them owned found them.
	exec(t, db, `INSERT INTO organizations (name) VALUES ('acme'), ('acme-x')`)
	exec(t, db, `INSERT INTO environments (org, name, deployment_type, api_proxy_type, gateway_host_disputed)
		VALUES ('acme', 'x-dev', 'ARCHIVE', 'PROGRAMMABLE', true), ('acme-x', 'dev', 'ARCHIVE', 'PROGRAMMABLE', true)`)
	exec(t, db, `INSERT INTO gateway_host_collisions (host, org, env) VALUES ('acme-x-dev', 'acme', 'x-dev'), ('acme-x-dev', 'acme-x', 'dev')`)
	seedDeployment(t, db, "acme-x", "dev", "d1")
	seedLive(t, db, "acme-x", "dev", "d1")
	collisions, err := db.HostCollisions(ctx)
	require.NoError(t, err)
	require.Len(t, collisions, 2)
	live, err := db.LiveDeployments(ctx, "", "")
	require.NoError(t, err)
	require.Empty(t, live, "a disputed host is served by no one")

	payloads := listen(t, db)
	exec(t, db, `DELETE FROM environments WHERE org = 'acme' AND name = 'x-dev'`)
	require.Equal(t, "acme-x/dev", receive(t, payloads))
	collisions, err = db.HostCollisions(ctx)
	require.NoError(t, err)
	require.Empty(t, collisions)
	live, err = db.LiveDeployments(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.Equal(t, "d1", live[0].Deployment)
}

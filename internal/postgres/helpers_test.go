package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// The tests of this package build their rows with plain SQL, so that what
// they set up does not depend on the types the package's methods take;
// the few values a method under test needs are built by the functions at
// the end of this file.

// openDB opens a fresh migrated database, closed when the test ends.
func openDB(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// exec runs one statement for a test's setup.
func exec(t *testing.T, db *postgres.DB, sql string, args ...any) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

// seedEnv creates organization org, if need be, and its ARCHIVE
// environment env.
func seedEnv(t *testing.T, db *postgres.DB, org, env string) {
	t.Helper()
	exec(t, db, `INSERT INTO organizations (name) VALUES ($1) ON CONFLICT DO NOTHING`, org)
	exec(t, db, `INSERT INTO environments (org, name, deployment_type, api_proxy_type) VALUES ($1, $2, 'ARCHIVE', 'PROGRAMMABLE')`, org, env)
}

// seedKeystore creates keystore ks with the aliases named, each a
// certificate alias, and returns the aliases' ids by name.
func seedKeystore(t *testing.T, db *postgres.DB, org, env, ks string, aliases ...string) map[string]int64 {
	t.Helper()
	exec(t, db, `INSERT INTO keystores (org, env, name) VALUES ($1, $2, $3)`, org, env, ks)
	ids := map[string]int64{}
	for _, a := range aliases {
		var id int64
		err := db.Pool.QueryRow(context.Background(), `
			INSERT INTO aliases (keystore_id, name, type, chain_pem, certs_info, not_before, not_after)
			SELECT id, $4, 'CERT', 'PEM', '[]', now() - interval '1 day', now() + interval '1 year'
			FROM keystores WHERE org = $1 AND env = $2 AND name = $3 RETURNING id`, org, env, ks, a).Scan(&id)
		require.NoError(t, err)
		ids[a] = id
	}
	return ids
}

// seedKeyAlias creates a key alias in keystore ks whose private key is
// sealed under master key keyID.
func seedKeyAlias(t *testing.T, db *postgres.DB, org, env, ks, alias, keyID string) {
	t.Helper()
	exec(t, db, `
		INSERT INTO aliases (keystore_id, name, type, chain_pem, certs_info, not_before, not_after, key_sealed, key_id)
		SELECT id, $4, 'KEY_CERT', 'PEM', '[]', now(), now() + interval '1 year', 'sealed', $5
		FROM keystores WHERE org = $1 AND env = $2 AND name = $3`, org, env, ks, alias, keyID)
}

func seedReference(t *testing.T, db *postgres.DB, org, env, name, refers string) {
	t.Helper()
	exec(t, db, `INSERT INTO "references" (org, env, name, resource_type, refers) VALUES ($1, $2, $3, 'KeyStore', $4)`, org, env, name, refers)
}

func seedTargetServer(t *testing.T, db *postgres.DB, org, env, name string) {
	t.Helper()
	exec(t, db, `INSERT INTO target_servers (org, env, name, body) VALUES ($1, $2, $3, $4)`, org, env, name,
		`{"name":"`+name+`","host":"backend.example.com","port":443,"isEnabled":true}`)
}

// seedOperation records an unfinished operation of org created at
// created (now when zero) and returns its id.
func seedOperation(t *testing.T, db *postgres.DB, org string, created time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	var at *time.Time
	if !created.IsZero() {
		at = &created
	}
	exec(t, db, `INSERT INTO operations (uuid, org, operation_type, state, target, created_at)
		VALUES ($1, $2, 'insert', 'NOT_STARTED', 'organizations/'||$2||'/environments/e/archiveDeployments/d', coalesce($3, now()))`,
		id, org, at)
	return id
}

// seedDeployment records archive deployment id of an uploaded archive,
// with its unfinished operation, and returns the operation's id.
func seedDeployment(t *testing.T, db *postgres.DB, org, env, id string) uuid.UUID {
	t.Helper()
	return seedDeploymentAt(t, db, org, env, id, time.Time{})
}

// seedDeploymentAt is seedDeployment of a deployment created at created.
func seedDeploymentAt(t *testing.T, db *postgres.DB, org, env, id string, created time.Time) uuid.UUID {
	t.Helper()
	op := seedOperation(t, db, org, created)
	upload := uuid.New()
	exec(t, db, `INSERT INTO archive_uploads (id, org, env, expires_at, uploaded_at, data, deployed)
		VALUES ($1, $2, $3, now() + interval '1 hour', now(), 'zip', true)`, upload, org, env)
	var at *time.Time
	if !created.IsZero() {
		at = &created
	}
	exec(t, db, `INSERT INTO archive_deployments (org, env, id, upload_id, gcs_uri, operation, created_at)
		VALUES ($1, $2, $3, $4, 'gs://'||$3, $5, coalesce($6, now()))`, org, env, id, upload, op, at)
	return op
}

// seedLive makes deployment id the live one of its environment, using
// items, as a successful deployment would have recorded them.
func seedLive(t *testing.T, db *postgres.DB, org, env, id string, items ...keyplane.DeploymentItem) {
	t.Helper()
	for _, it := range items {
		exec(t, db, `INSERT INTO deployment_items (org, env, deployment, kind, name) VALUES ($1, $2, $3, $4, $5)`,
			org, env, id, it.Kind, it.Name)
	}
	exec(t, db, `UPDATE operations SET state = 'FINISHED' WHERE uuid = (SELECT operation FROM archive_deployments WHERE org = $1 AND env = $2 AND id = $3)`, org, env, id)
	exec(t, db, `INSERT INTO live_deployments (org, env, deployment) VALUES ($1, $2, $3)
		ON CONFLICT (org, env) DO UPDATE SET deployment = EXCLUDED.deployment`, org, env, id)
}

// requireCode checks that err is an application error with code whose
// message is msg.
func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// waitForLockWait waits until n statements of the test's database wait
// for a lock: a concurrent writer has reached the lock it must queue for.
func waitForLockWait(t *testing.T, db *postgres.DB, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var waiting int
		err := db.Pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting == n
	}, 10*time.Second, 10*time.Millisecond, "%d statements waiting for a lock", n)
}

// gate is a channel a test's goroutine waits on and the function that
// closes it. It is closed when the test ends too, before the database
// closes, so that a test failing early leaves no transaction open.
func gate(t *testing.T) (<-chan struct{}, func()) {
	t.Helper()
	c := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(c) }) }
	t.Cleanup(open)
	return c, open
}

// begin starts a transaction that is rolled back when the test ends,
// unless it ended before.
func begin(t *testing.T, db *postgres.DB) pgx.Tx {
	t.Helper()
	tx, err := db.Pool.Begin(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// result runs fn in a goroutine and returns a channel of its error.
func result(fn func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- fn() }()
	return c
}

// requireBlocked checks that c has no result yet.
func requireBlocked(t *testing.T, c <-chan error, what string) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("%s did not wait: %v", what, err)
	default:
	}
}

// receive returns the value c yields within 10 seconds.
func receive[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
		panic("unreachable")
	}
}

// The values that methods under test take.

// liveItems are what a deployment using keystore ks, its alias alias,
// reference ref and target server ts records.
func liveItems(ks, alias, ref, ts string) []keyplane.DeploymentItem {
	return []keyplane.DeploymentItem{
		{Kind: "keystore", Name: ks}, {Kind: "alias", Name: ks + "/" + alias},
		{Kind: "reference", Name: ref}, {Kind: "targetserver", Name: ts},
	}
}

// cursorOf is the keyset position of an operation in its list.
func cursorOf(op *keyplane.Operation) keyplane.Cursor {
	return keyplane.Cursor{Time: op.CreatedAt, ID: op.UUID.String()}
}

// operationID is an operation's id.
func operationID(op *keyplane.Operation) uuid.UUID { return op.UUID }

// deploymentCursor is the keyset position of a deployment in its list.
func deploymentCursor(d *keyplane.ArchiveDeployment) keyplane.Cursor {
	return keyplane.Cursor{Time: d.CreatedAt, ID: d.ID}
}

// replaceCertificate gives alias id, at version, a new chain.
func replaceCertificate(ctx context.Context, db *postgres.DB, org, name string, id, version int64) error {
	return db.ReplaceAliasCertificate(ctx, &keyplane.Alias{
		ID: id, Org: org, Name: name, Version: version, ChainPEM: "NEW PEM",
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	})
}

// createOrganization creates organization name with no operation.
func createOrganization(ctx context.Context, db *postgres.DB, name string) error {
	return db.CreateOrganization(ctx, newOrganization(name), nil, nil)
}

// newOrganization is organization name as CreateOrganization takes it.
func newOrganization(name string) *keyplane.Organization { return &keyplane.Organization{Name: name} }

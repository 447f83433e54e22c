package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/server"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// startConfigured starts a server on its own database with cfg (database,
// master key and token filled in), for tests that need settings servertest
// does not offer. stop ends Serve and returns its error; it is called at
// cleanup if the test did not.
func startConfigured(t *testing.T, cfg server.Config) (b *testBundle, stop func() error) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg.DatabaseURL = pgtest.URL(t)
	cfg.MasterKey = base64.StdEncoding.EncodeToString(key)
	cfg.AdminToken = server.NewToken()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		_ = stop()
		app.Close()
	})
	srv := &servertest.Server{URL: "http://" + ln.Addr().String(), Token: cfg.AdminToken, DatabaseURL: cfg.DatabaseURL,
		MasterKey: cfg.MasterKey, App: app}
	return &testBundle{srv: srv, c: &client{t: t, base: srv.URL, token: srv.Token}}, stop
}

// sql opens a connection to the server's database, for a test that looks
// at or changes rows behind the server's back.
func (b *testBundle) sql(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), b.srv.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// waitValidated waits until a deployment has validated and is holding its
// transaction open (the server's ValidationDelay): its last statement
// locked the proxies' revision counters, and everything it read is locked.
func waitValidated(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'
			  AND query LIKE '%FROM proxy_revisions WHERE%'`).Scan(&n))
		return n == 1
	}, 20*time.Second, 10*time.Millisecond, "the deployment validates and waits")
}

// waitBlocked waits until some statement of the server waits for a lock.
func waitBlocked(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 20*time.Second, 10*time.Millisecond, "a statement waits for a lock")
}

// operationState reads an operation's state and error straight from the
// database, for when the server is stopped.
func operationState(t *testing.T, conn *pgx.Conn, name string) (state string, code *int) {
	t.Helper()
	id := name[strings.LastIndex(name, "/")+1:]
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT state, error_code FROM operations WHERE uuid = $1`, id).Scan(&state, &code))
	return state, code
}

func TestShutdown_RunningDeploymentFinishesWithinTheGracePeriod(t *testing.T) {
	t.Parallel()
	b, stop := startConfigured(t, server.Config{ValidationDelay: time.Second, ShutdownTimeout: 30 * time.Second})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	name := b.c.startDeploy(t, plainArchive(t))
	waitValidated(t, conn)

	require.NoError(t, stop(), "SIGTERM while a deployment runs")
	state, code := operationState(t, conn, name)
	require.Equal(t, api.StateFinished, state, "the deployment finished before the server stopped")
	require.Nil(t, code)
}

func TestShutdown_DeploymentStillRunningAfterTheGracePeriodIsCancelledForRetry(t *testing.T) {
	t.Parallel()
	b, stop := startConfigured(t, server.Config{ValidationDelay: 10 * time.Minute, JobTimeout: 20 * time.Minute,
		ShutdownTimeout: 300 * time.Millisecond})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	name := b.c.startDeploy(t, plainArchive(t))
	waitValidated(t, conn)

	start := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(start), 15*time.Second)
	state, _ := operationState(t, conn, name)
	require.Equal(t, api.StateInProgress, state, "rolled back, to be finished by the next server")
	var job string
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT state FROM river_job WHERE kind = 'keyplane.deploy'`).Scan(&job))
	require.Contains(t, []string{"available", "retryable"}, job, "the job was cancelled and will run again")
}

// TestDeploy_ChangesToWhatADeploymentValidatedWaitForIt changes and deletes,
// while a deployment holds its validation open, everything it validated:
// each change waits until the deployment commits, so deletes see it live
// and are refused, and a certificate replacement lands after it.
func TestDeploy_ChangesToWhatADeploymentValidatedWaitForIt(t *testing.T) {
	t.Parallel()
	b, _ := startConfigured(t, server.Config{ValidationDelay: 2 * time.Second})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"PROGRAMMABLE"}`)
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	client := testcerts.New(t, testcerts.Options{CommonName: "client", Parent: ca})
	b.c.ok("POST", envPath+"/keystores", `{"name":"ks"}`)
	b.c.ok("POST", envPath+"/keystores", `{"name":"trust"}`)
	b.uploadAlias(t, "ks", "key", true, client, ca)
	b.uploadAlias(t, "trust", "ca", false, ca)
	b.c.ok("POST", envPath+"/references", `{"name":"ks-ref","resourceType":"KeyStore","refers":"ks"}`)
	b.c.ok("POST", envPath+"/targetservers", `{"name":"envts","host":"backend.example.com","port":443,
		"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://ks-ref","keyAlias":"key","trustStore":"trust"}}`)

	name := b.c.startDeploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/p/config.yaml":          "basepath: /p\noperations:\n  - name: get\n    target:\n      target_server_id: envts\n",
		"src/main/apigee/environments/dev/deployments.json": `{"proxies":["p"]}`,
	}))
	waitValidated(t, conn)

	newCA := testcerts.New(t, testcerts.Options{CommonName: "new ca", IsCA: true})
	ct, body := multipartBody(t, [2]string{"certFile", string(newCA.CertPEM())})
	deletes := map[string]string{
		"/keystores/ks/aliases/key": `alias "key" of keystore "ks"`,
		"/references/ks-ref":        `reference "ks-ref"`,
		"/keystores/trust":          `keystore "trust"`,
		"/targetservers/envts":      `target server "envts"`,
	}
	answers := map[string]*response{}
	var replacedBeforeDone bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	for path := range deletes {
		wg.Go(func() {
			r := b.c.do("DELETE", envPath+path, "")
			mu.Lock()
			defer mu.Unlock()
			answers[path] = r
		})
	}
	wg.Go(func() {
		r := b.c.send("PUT", envPath+"/keystores/trust/aliases/ca", ct, body)
		op := decode[api.Operation](t, b.c.ok("GET", "/v1/"+name, ""))
		mu.Lock()
		defer mu.Unlock()
		answers["PUT"] = r
		replacedBeforeDone = !op.Done
	})
	wg.Wait()

	op := b.wait(t, name)
	require.Nil(t, op.Error, "%+v", op.Error)
	live := op.Metadata.TargetResourceName
	for path, what := range deletes {
		r := answers[path]
		require.Equal(t, 400, r.Status, "DELETE %s: %s", path, r.Body)
		e := r.errorBody(t)
		require.Equal(t, "FAILED_PRECONDITION", e.Status)
		require.Equal(t, what+` is used by the live deployment "`+live+`"; deploy an archive that does not use it first`, e.Message)
	}
	require.Equal(t, 200, answers["PUT"].Status, string(answers["PUT"].Body))
	require.False(t, replacedBeforeDone, "the certificate the deployment validated was replaced before it committed")

	// The deployment pinned the version it validated; the replacement
	// came after.
	var pinned, current int64
	require.NoError(t, conn.QueryRow(context.Background(), `
		SELECT i.alias_version, a.version FROM deployment_items i JOIN aliases a ON a.id = i.alias_id
		WHERE i.kind = 'alias' AND i.name = 'trust/ca'`).Scan(&pinned, &current))
	require.Equal(t, int64(1), pinned)
	require.Equal(t, int64(2), current)
}

func TestUpload_ConcurrentUploadsToOneURLLetExactlyOneWin(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))

	// Another upload fills the slot and has not committed yet.
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	tag, err := tx.Exec(ctx, `UPDATE archive_uploads SET data = 'other', uploaded_at = now()`)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())

	answer := make(chan *response, 1)
	zipBytes := plainArchive(t)
	go func() {
		answer <- b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", zipBytes)
	}()
	waitBlocked(t, conn)
	require.NoError(t, tx.Commit(ctx))

	r := <-answer
	require.Equal(t, 400, r.Status, string(r.Body))
	e := r.errorBody(t)
	require.Equal(t, "FAILED_PRECONDITION", e.Status)
	require.Equal(t, "upload URL was already used; generate a new one", e.Message)
	var data []byte
	require.NoError(t, conn.QueryRow(ctx, `SELECT data FROM archive_uploads`).Scan(&data))
	require.Equal(t, "other", string(data), "the winner's bytes are kept")
}

func TestArchiveDeployments_RefusedInProxyEnvironments(t *testing.T) {
	t.Parallel()
	const want = `environment "organizations/myorg/environments/%s" has deploymentType PROXY; archive deployments need an environment of deploymentType ARCHIVE`

	t.Run("generateUploadUrl", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
		b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"prox"}`)
		b.c.fails("POST", "/v1/organizations/myorg/environments/prox/archiveDeployments:generateUploadUrl", "{}", 400, "FAILED_PRECONDITION",
			strings.ReplaceAll(want, "%s", "prox"))
		var n int
		require.NoError(t, b.sql(t).QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
		require.Zero(t, n, "no upload slot is left behind")
		b.c.fails("POST", "/v1/organizations/myorg/environments/nope/archiveDeployments:generateUploadUrl", "{}", 404, "NOT_FOUND",
			`environment "organizations/myorg/environments/nope" not found`)
	})

	t.Run("create", func(t *testing.T) {
		t.Parallel()
		// An upload URL issued while the environment took archives.
		b := setupEnv(t, "PROGRAMMABLE")
		up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
		r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
		require.Equal(t, 200, r.Status, string(r.Body))
		_, err := b.sql(t).Exec(context.Background(), `UPDATE environments SET deployment_type = 'PROXY' WHERE name = 'dev'`)
		require.NoError(t, err)

		b.c.fails("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+up.UploadURI+`"}`, 400, "FAILED_PRECONDITION",
			strings.ReplaceAll(want, "%s", "dev"))
		list := decode[api.ListArchiveDeploymentsResponse](t, b.c.ok("GET", envPath+"/archiveDeployments", ""))
		require.Empty(t, list.ArchiveDeployments)
	})
}

func TestEnvironments_DeleteTakesUnusedUploadSlotsAlong(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}")
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
	require.Equal(t, 200, r.Status, string(r.Body))

	b.c.ok("DELETE", envPath, "")
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
	require.Zero(t, n)

	// An environment with a deployment is kept, and so are its slots.
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	op := b.deploy(t, plainArchive(t))
	require.Nil(t, op.Error, "%+v", op.Error)
	b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}")
	b.c.fails("DELETE", envPath, "", 400, "FAILED_PRECONDITION",
		`environment "dev" still holds keystores, references, target servers or deployments; delete them first`)
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
	require.Equal(t, 2, n)
}

// TestSweep_DeletesUselessUploadsAndFinishesAbandonedDeployments runs the
// sweep the queue's leader runs every ten minutes.
func TestSweep_DeletesUselessUploadsAndFinishesAbandonedDeployments(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	ctx := context.Background()
	// The leader sweeps once when elected, then every ten minutes: after
	// the first sweep, the test has the database to itself.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'keyplane.sweep' AND state = 'completed'`).Scan(&n))
		return n > 0
	}, 30*time.Second, 50*time.Millisecond, "the leader sweeps when it starts")

	newest := func() uuid.UUID {
		var id uuid.UUID
		require.NoError(t, conn.QueryRow(ctx, `SELECT id FROM archive_uploads ORDER BY created_at DESC LIMIT 1`).Scan(&id))
		return id
	}
	slot := func(fill bool) uuid.UUID {
		up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
		if fill {
			r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
			require.Equal(t, 200, r.Status, string(r.Body))
		}
		return newest()
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := conn.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	opID := func(op api.Operation) string { return op.Name[strings.LastIndex(op.Name, "/")+1:] }

	// Deployments, then made to look as the cases need.
	var ops []api.Operation
	for range 5 {
		op := b.deploy(t, plainArchive(t))
		require.Nil(t, op.Error, "%+v", op.Error)
		ops = append(ops, op)
	}
	deployed, abandonedDiscarded, abandonedLost, running, young := ops[0], ops[1], ops[2], ops[3], ops[4]
	exec(`UPDATE archive_uploads SET created_at = now() - interval '30 days'`) // deployed archives stay
	for _, op := range ops[1:] {
		exec(`UPDATE operations SET state = 'IN_PROGRESS', response = NULL, created_at = now() - interval '2 minutes' WHERE uuid = $1`, opID(op))
	}
	exec(`UPDATE operations SET created_at = now() WHERE uuid = $1`, opID(young))
	job := `UPDATE river_job SET state = $2, finalized_at = $3 WHERE kind = 'keyplane.deploy' AND args->>'operation' = $1`
	exec(job, opID(abandonedDiscarded), "discarded", time.Now())
	exec(`DELETE FROM river_job WHERE kind = 'keyplane.deploy' AND args->>'operation' = $1`, opID(abandonedLost))
	exec(job, opID(running), "running", nil)
	exec(job, opID(young), "discarded", time.Now())

	expiredEmpty, freshEmpty := slot(false), slot(false)
	exec(`UPDATE archive_uploads SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredEmpty)
	oldFilled, freshFilled := slot(true), slot(true)
	exec(`UPDATE archive_uploads SET created_at = now() - interval '25 hours' WHERE id = $1`, oldFilled)

	svc := deploy.NewService(b.srv.App.DB, deploy.Config{SigningKeys: [][]byte{[]byte("unused")}})
	res, err := svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.UploadsDeleted)
	var abandoned []string
	for _, id := range res.Abandoned {
		abandoned = append(abandoned, id.String())
	}
	require.ElementsMatch(t, []string{opID(abandonedDiscarded), opID(abandonedLost)}, abandoned)

	rows, err := conn.Query(ctx, `SELECT id FROM archive_uploads`)
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	require.NotContains(t, left, expiredEmpty)
	require.NotContains(t, left, oldFilled)
	require.Contains(t, left, freshEmpty)
	require.Contains(t, left, freshFilled)
	require.Len(t, left, 2+len(ops), "every deployed archive is kept")

	for _, op := range []api.Operation{abandonedDiscarded, abandonedLost} {
		got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+op.Name, ""))
		require.True(t, got.Done)
		require.Equal(t, api.StateFinished, got.Metadata.State)
		require.Equal(t, &api.Status{Code: 13, Message: "internal error: the deployment was abandoned; deploy the archive again"}, got.Error)
	}
	for _, op := range []api.Operation{running, young} {
		got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+op.Name, ""))
		require.False(t, got.Done, "%s is left to its job", op.Name)
	}
	got := decode[api.Operation](t, b.c.ok("GET", "/v1/"+deployed.Name, ""))
	require.Nil(t, got.Error)

	// A second sweep finds nothing to do.
	res, err = svc.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, res.UploadsDeleted)
	require.Empty(t, res.Abandoned)
}

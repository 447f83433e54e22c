package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testzip"
)

// plainArchive deploys proxy "p" to target server "plain", without TLS:
// valid whatever the environment holds.
func plainArchive(t *testing.T) []byte {
	return testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/p/config.yaml":            "basepath: /p\noperations:\n  - name: get\n    target:\n      target_server_id: plain\n",
		"src/main/apigee/environments/dev/deployments.json":   `{"proxies":["p"]}`,
		"src/main/apigee/environments/dev/targetservers.json": `[{"name":"plain","host":"backend.example.com","port":80}]`,
	})
}

// startDeploy uploads an archive and creates its deployment, returning the
// operation's name without waiting.
func (c *client) startDeploy(t *testing.T, zipBytes []byte) string {
	t.Helper()
	up := decode[api.GenerateUploadURLResponse](t, c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	req, err := http.NewRequest("PUT", up.UploadURI, bytes.NewReader(zipBytes))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	return decode[api.Operation](t, c.ok("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+up.UploadURI+`"}`)).Name
}

// serverProcess runs the keyplane binary and returns its base URL.
func serverProcess(t *testing.T, bin string, env ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), append([]string{"KEYPLANE_ADDR=127.0.0.1:0"}, env...)...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(strings.TrimPrefix(line, "keyplane serving on ")), cmd
}

// buildServer builds the keyplane binary for tests that kill it, and
// returns it with the environment its servers share: database dbURL, the
// bootstrap token "tok" and a master key.
func buildServer(t *testing.T, dbURL string) (string, []string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keyplane")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/keyplane").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin, []string{"DATABASE_URL=" + dbURL, "KEYPLANE_BOOTSTRAP_TOKEN=tok",
		"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
}

// TestDeploy_OperationOfAKilledServerIsFinishedByAnother kills a server with
// SIGKILL while it validates and checks that another server, started on
// the same database, finishes the operation.
func TestDeploy_OperationOfAKilledServerIsFinishedByAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the job queue's rescuer")
	}
	t.Parallel()
	bin, common := buildServer(t, pgtest.URL(t))

	urlA, procA := serverProcess(t, bin, append(common, "KEYPLANE_DEPLOY_DELAY=10m", "KEYPLANE_JOB_TIMEOUT=20m")...)
	a := &client{t: t, base: urlA, token: "tok"}
	a.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	a.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	name := a.startDeploy(t, plainArchive(t))
	require.Eventually(t, func() bool {
		return decode[api.Operation](t, a.ok("GET", "/v1/"+name, "")).Metadata.State == api.StateInProgress
	}, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, procA.Process.Signal(syscall.SIGKILL))
	_ = procA.Wait()

	urlB, _ := serverProcess(t, bin, append(common, "KEYPLANE_JOB_TIMEOUT=2s", "KEYPLANE_RESCUE_AFTER=3s")...)
	b := &client{t: t, base: urlB, token: "tok"}
	var op api.Operation
	require.Eventually(t, func() bool {
		op = decode[api.Operation](t, b.ok("GET", "/v1/"+name, ""))
		return op.Done
	}, 120*time.Second, 200*time.Millisecond, "the operation is finished by the second server")
	require.Nil(t, op.Error, "%+v", op.Error)
	require.Equal(t, api.StateFinished, op.Metadata.State)
}

// TestDeploy_TwoServersRunEachOperationExactlyOnce shares one database
// between two servers and deploys one proxy 200 times through both: every
// operation finishes, and the proxy's revisions are exactly 1..200, which
// they could not be if any deployment had been applied twice.
func TestDeploy_TwoServersRunEachOperationExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys 200 archives")
	}
	t.Parallel()
	one := setupEnv(t, "PROGRAMMABLE")
	two := servertest.StartWith(t, servertest.Options{DatabaseURL: one.srv.DatabaseURL, MasterKey: one.srv.MasterKey, Token: one.srv.Token})
	clients := []*client{one.c, {t: t, base: two.URL, token: two.Token}}

	const n = 200
	archive := plainArchive(t)
	names := make(chan string, n)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := i; j < n; j += 16 {
				names <- clients[j%2].startDeploy(t, archive)
			}
		})
	}
	wg.Wait()
	close(names)
	for name := range names {
		op := one.wait(t, name)
		require.Nil(t, op.Error, "%s: %+v", name, op.Error)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, one.srv.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT revision FROM deployment_items WHERE kind = 'proxy' AND name = 'p' ORDER BY revision`)
	require.NoError(t, err)
	revisions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, revisions, n)
	for i, r := range revisions {
		require.Equal(t, int32(i+1), r, "revision %d", i+1)
	}
	var finished, jobs int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE state = 'FINISHED' AND operation_type = 'INSERT' AND target LIKE '%/archiveDeployments/%'`).Scan(&finished))
	require.Equal(t, n, finished)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'keyplane.deploy' AND state = 'completed' AND attempt = 1`).Scan(&jobs))
	require.Equal(t, n, jobs, "each job ran once")
}

// TestProxies_DeploymentOfAKilledServerIsSettledByAnother kills a server
// with SIGKILL while its job validates a proxy deployment, and checks that
// another server on the same database settles it READY, once.
func TestProxies_DeploymentOfAKilledServerIsSettledByAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the job queue's rescuer")
	}
	t.Parallel()
	dbURL := pgtest.URL(t)
	bin, common := buildServer(t, dbURL)

	urlA, procA := serverProcess(t, bin, append(common, "KEYPLANE_DEPLOY_DELAY=10m", "KEYPLANE_JOB_TIMEOUT=20m")...)
	a := &client{t: t, base: urlA, token: "tok"}
	a.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	a.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"PROXY"}`)
	r := a.send("POST", orgPath+"/apis?action=import&name=hello", "application/octet-stream", proxyBundle(t, "/hello", "http://backend.example.com", ""))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	path := proxyEnvPath + "/apis/hello/revisions/1/deployments"
	a.ok("POST", path, "")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	running := func() int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'keyplane.proxy_deploy' AND state = 'running'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return running() == 1 }, 20*time.Second, 50*time.Millisecond, "the job runs")
	require.NoError(t, procA.Process.Signal(syscall.SIGKILL))
	_ = procA.Wait()

	urlB, _ := serverProcess(t, bin, append(common, "KEYPLANE_JOB_TIMEOUT=2s", "KEYPLANE_RESCUE_AFTER=3s")...)
	b := &client{t: t, base: urlB, token: "tok"}
	var d api.Deployment
	require.Eventually(t, func() bool {
		d = decode[api.Deployment](t, b.ok("GET", path, ""))
		return d.State != api.DeploymentStateProgressing
	}, 120*time.Second, 200*time.Millisecond, "the deployment is settled by the second server")
	require.Equal(t, api.DeploymentStateReady, d.State, "%+v", d.Errors)
	var completed int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'keyplane.proxy_deploy' AND state = 'completed'`).Scan(&completed))
	require.Equal(t, 1, completed)
}

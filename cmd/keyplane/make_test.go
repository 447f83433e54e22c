package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
)

// alive reports whether the process of a pid file runs (a zombie does not).
func alive(t *testing.T, pidFile string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return pid, false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return pid, i > 0 && !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// TestMakeStop_StopsServeAndGatewayOfMakeRun runs `make run` as a reader of
// the README does, then `make stop` from elsewhere: both the API server and
// the gateway must stop, not go on against a stopped database, and `make
// run` must end cleanly.
func TestMakeStop_StopsServeAndGatewayOfMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary with make")
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	runDir := t.TempDir()
	env := append(os.Environ(),
		"DATABASE_URL="+pgtest.URL(t),
		"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KEYPLANE_BOOTSTRAP_TOKEN=tok",
		"KEYPLANE_ADDR=127.0.0.1:0", "KEYPLANE_GATEWAY_ADDR=127.0.0.1:0",
		"RUN_DIR="+runDir,
		// make stop also stops the private Postgres: here, one that does
		// not exist, not the cluster the other tests use.
		"KEYPLANE_PG_DIR="+filepath.Join(t.TempDir(), "no-cluster"))
	run := exec.Command("make", "-s", "run")
	run.Dir, run.Env = root, env
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	run.Stderr = &stderr
	out, err := run.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, run.Start())
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL) })

	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "keyplane serving on ") {
				serving <- sc.Text()
			}
		}
	}()
	select {
	case <-serving:
	case err := <-exited:
		t.Fatalf("make run ended before serving: %v\n%s", err, stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatal("make run did not serve within 3 minutes")
	}
	servePID, ok := alive(t, filepath.Join(runDir, "serve.pid"))
	require.True(t, ok, "serve runs")
	var gatewayPID int
	require.Eventually(t, func() bool {
		gatewayPID, ok = alive(t, filepath.Join(runDir, "gateway.pid"))
		return ok
	}, 30*time.Second, 50*time.Millisecond, "gateway runs")

	stop := exec.Command("make", "-s", "stop")
	stop.Dir, stop.Env = root, env
	b, err := stop.CombinedOutput()
	require.NoError(t, err, string(b))
	require.Contains(t, string(b), "stopping keyplane serve (pid "+strconv.Itoa(servePID)+")")
	require.Contains(t, string(b), "stopping keyplane gateway (pid "+strconv.Itoa(gatewayPID)+")")

	select {
	case err := <-exited:
		require.NoError(t, err, "make run ends cleanly; its stderr:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("make run still runs after make stop")
	}
	for _, pid := range []int{servePID, gatewayPID} {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		require.True(t, os.IsNotExist(err), "process %d still runs", pid)
	}
	require.NoFileExists(t, filepath.Join(runDir, "serve.pid"))
}

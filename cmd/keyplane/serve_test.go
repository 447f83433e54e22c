package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/migrations"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/servertest"
)

// buildBinary builds the keyplane command once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keyplane")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func TestMigrate_UpDownVersion(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	// Pool settings in the URL are for keyplane, not for the server.
	url := pgtest.URL(t) + "&pool_max_conns=7"
	run := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"migrate"}, args...)...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	latest, err := postgres.LatestVersion()
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("version %d", latest), run("version"))
	// One step down is the migration before the latest, which need not be
	// latest-1: numbers may be left unused.
	require.Equal(t, fmt.Sprintf("version %d", previousVersion(t, latest)), run("down"))
	require.Equal(t, fmt.Sprintf("version %d", latest), run("up"))

	cmd := exec.Command(bin, "migrate", "sideways")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `unknown migrate command "sideways"`)
}

// TestServe_InterruptLetsInFlightRequestsFinish starts the real binary,
// begins a request, interrupts the server mid-request and checks that the
// request is answered and the process exits cleanly.
func TestServe_InterruptLetsInFlightRequestsFinish(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+pgtest.URL(t)+"&pool_max_conns=7",
		"KEYPLANE_ADDR=127.0.0.1:0",
		"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KEYPLANE_BOOTSTRAP_TOKEN=tok")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "keyplane serving on http://"))
	require.NotEqual(t, line, addr, "first line names the address: %q", line)

	// One whole request first, so the connection is surely accepted (a
	// connection still in the listen backlog at the interrupt is reset,
	// as it should be); then the headers and half of the body of a second
	// request on it, then interrupt.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	reader := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	res, err := http.ReadResponse(reader, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	body := `{"name":"myorg"}`
	fmt.Fprintf(conn, "POST /v1/organizations HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:5])
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(200 * time.Millisecond)
	_, err = conn.Write([]byte(body[5:]))
	require.NoError(t, err)

	res, err = http.ReadResponse(reader, nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)

	requireCleanExit(t, cmd)
}

// requireCleanExit waits for an interrupted command, which must exit with
// status 0 within 30 seconds.
func requireCleanExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit status after SIGINT")
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not exit after SIGINT")
	}
}

func TestRotateMasterKey_Command(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	srv := servertest.Start(t)
	c := newCLI(t, srv.URL, srv.Token)
	c.ok("organizations", "create", "o")
	c.ok("environments", "create", "e", "--org", "o")
	c.ok("keystores", "create", "ks", "--org", "o", "--env", "e")
	c.ok("aliases", "create", "--org", "o", "--env", "e", "--keystore", "ks", "--alias", "a",
		"--format", "selfsignedcert", "--common-name", "a.example.com")

	rotate := func(keys string) (string, error) {
		cmd := exec.Command(bin, "rotate-master-key", "--batch-size", "10")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+srv.DatabaseURL, "KEYPLANE_MASTER_KEY="+keys)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	next := "new:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
	out, err := rotate(srv.MasterKey + "," + next)
	require.NoError(t, err)
	require.Equal(t, `1 private keys re-sealed under master key "new"`, out)
	out, err = rotate(srv.MasterKey + "," + next)
	require.NoError(t, err)
	require.Equal(t, `0 private keys re-sealed under master key "new"`, out)

	_, err = rotate("not a key")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Contains(t, string(exit.Stderr), "KEYPLANE_MASTER_KEY: master key 1 is not valid base64")
}

// previousVersion is the number of the embedded migration before latest.
func previousVersion(t *testing.T, latest uint) uint {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	var prev uint
	for _, e := range entries {
		n, err := strconv.ParseUint(strings.SplitN(e.Name(), "_", 2)[0], 10, 32)
		if err == nil && uint(n) < latest && uint(n) > prev {
			prev = uint(n)
		}
	}
	return prev
}

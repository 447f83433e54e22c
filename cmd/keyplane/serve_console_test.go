package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
)

// TestServe_PrintsTheConsoleURL checks that `keyplane serve` (and so
// `make run`) says where the console is, and that the console is there,
// embedded in the binary.
func TestServe_PrintsTheConsoleURL(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+pgtest.URL(t),
		"KEYPLANE_ADDR=127.0.0.1:0",
		"KEYPLANE_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"KEYPLANE_BOOTSTRAP_TOKEN=tok")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	r := bufio.NewReader(stdout)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	base := strings.TrimSpace(strings.TrimPrefix(first, "keyplane serving on "))
	second, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "console: "+base+"/console/\n", second)

	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(base + "/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, "/console/", res.Header.Get("Location"))
	for _, path := range []string{"/console/signin", "/console/static/console.css", "/console/static/console.js"} {
		res, err = hc.Get(base + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, path)
	}
}

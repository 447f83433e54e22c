package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProcess is keyplane running as its own process, so that its memory
// is its own: the benchmark reads its peak RSS from /proc.
type serverProcess struct {
	URL     string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startServerProcess starts argv (keyplane serve, or a stand-in) with the
// environment that configures it, on a free loopback port, and waits until
// /readyz answers. Its output goes to a log file in dir.
func startServerProcess(ctx context.Context, argv, extraEnv []string, dbURL, masterKey, adminToken, dir string) (*serverProcess, error) {
	if len(argv) == 0 {
		return nil, errors.New("no server command")
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "keyplane-server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), extraEnv...),
		"DATABASE_URL="+dbURL,
		"KEYPLANE_ADDR="+addr,
		"KEYPLANE_MASTER_KEY="+masterKey,
		"KEYPLANE_BOOTSTRAP_TOKEN="+adminToken,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %s: %w", argv[0], err)
	}
	p := &serverProcess{URL: "http://" + addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx, time.Minute); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.logTail(30))
	}
	return p, nil
}

// freeAddr finds a free loopback port. Another process could take it before
// the server binds it; on a benchmark machine that does not happen.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (p *serverProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", p.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("server exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready on %s after %s", p.URL, timeout)
		}
	}
}

// peakRSS is the process's peak resident set size (VmHWM), in MiB.
func (p *serverProcess) peakRSS() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb / 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// stop asks the server to shut down (SIGTERM) and kills it if it has not
// exited within 30 seconds.
func (p *serverProcess) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("server did not stop within 30s of SIGTERM; killed")
	}
}

// logTail returns the last n lines of the server's log.
func (p *serverProcess) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- server log (" + p.logPath + ") ---\n" + strings.Join(lines, "\n")
}

package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyplane/keyplane/internal/egress"
)

// serverProcess is a server running as its own process: keyplane, so that
// its memory is its own (the benchmark reads its peak RSS from /proc), and
// the gateway, the mTLS backend and nginx, so that each has its own CPUs'
// share as in production.
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
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(argv, append(slices.Clone(extraEnv),
		"DATABASE_URL="+dbURL,
		"KEYPLANE_ADDR="+addr,
		"KEYPLANE_MASTER_KEY="+masterKey,
		"KEYPLANE_BOOTSTRAP_TOKEN="+adminToken,
		// The benchmark's backends listen on loopback.
		"KEYPLANE_GATEWAY_TARGETS_ALLOW="+egress.Loopback,
		// One organization holds the whole data set (100,000 aliases) and
		// every timed deployment: no per-organization quota applies.
		"KEYPLANE_QUOTA_ALIASES=0",
		"KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY=0",
	), filepath.Join(dir, "keyplane-server.log"), nil)
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + addr
	if err := p.waitReady(ctx, time.Minute); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.logTail(30))
	}
	return p, nil
}

// startProcess starts argv with the benchmark's environment plus env, its
// output going to a new log file at logPath. When watch is set, standard
// output also goes through it, so that the caller can wait for a line.
func startProcess(argv, env []string, logPath string, watch *lineWatch) (*serverProcess, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if watch != nil {
		// os/exec copies the output through the watch until the child
		// closes it, so the log stays open until then.
		cmd.Stdout = io.MultiWriter(logFile, watch)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &serverProcess{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// lineWatch is a writer that finds the first line of a process's output
// holding a given text.
type lineWatch struct {
	substr string
	mu     sync.Mutex
	buf    []byte
	line   string
	found  chan struct{}
}

func newLineWatch(substr string) *lineWatch {
	return &lineWatch{substr: substr, found: make(chan struct{})}
}

// Write implements io.Writer.
func (w *lineWatch) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.line != "" {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.Contains(line, w.substr) {
			w.line, w.buf = line, nil
			close(w.found)
			return len(b), nil
		}
	}
}

// waitLine waits until the process prints the watched line and returns it.
// It fails when the process exits first, or after timeout.
func (p *serverProcess) waitLine(ctx context.Context, w *lineWatch, timeout time.Duration) (string, error) {
	select {
	case <-w.found:
		return w.line, nil
	case <-p.exited:
		// The line may have been the last thing the process wrote.
		select {
		case <-w.found:
			return w.line, nil
		default:
		}
		return "", fmt.Errorf("%s exited (%v) before printing %q", p.cmd.Path, p.waitErr, w.substr)
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(timeout):
		return "", fmt.Errorf("%s did not print %q within %s", p.cmd.Path, w.substr, timeout)
	}
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

// stop asks the process to shut down (SIGTERM) and kills it if it has not
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
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.cmd.Path)
	}
}

// logTail returns the last n lines of the process's log.
func (p *serverProcess) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- log (" + p.logPath + ") ---\n" + strings.Join(lines, "\n")
}

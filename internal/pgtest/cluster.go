package pgtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster is a PostgreSQL server of a test's own, started by scripts/pg.sh
// in a folder of its own, for tests that stop, restart or freeze the
// server under a running keyplane: the shared cluster of `make test` serves
// every other test at the same time, so it must not go away.
type Cluster struct {
	t      testing.TB
	script string
	dir    string
	url    string
}

// NewCluster creates and starts a cluster that is stopped and deleted when
// the test ends. Its URL names the database "keyplane", empty and not
// migrated. Creating one takes about a second.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Directly under the temporary folder, not in t.TempDir(): the server
	// runs as the postgres user when tests run as root, and must reach it.
	dir, err := os.MkdirTemp("", "keyplane-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{t: t, script: filepath.Join(root, "scripts", "pg.sh"), dir: dir}
	t.Cleanup(func() {
		c.signal(syscall.SIGCONT) // a frozen server cannot stop
		if _, err := c.run("destroy"); err != nil {
			t.Errorf("pgtest: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	c.url = c.Start()
	return c
}

// URL is the cluster's database URL.
func (c *Cluster) URL() string { return c.url }

// Start starts the cluster (again) and returns its URL, which stays the
// same across restarts.
func (c *Cluster) Start() string {
	c.t.Helper()
	out, err := c.run("start")
	if err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
	return strings.TrimSpace(out)
}

// Stop stops the cluster the way an administrator does (pg_ctl stop -m
// fast): sessions are terminated and new connections refused.
func (c *Cluster) Stop() {
	c.t.Helper()
	if _, err := c.run("stop"); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// Freeze stops (SIGSTOP) the server and every backend of it: connections
// stay open and new ones queue, but nothing answers, as with a hung host
// or a network that drops packets. Thaw undoes it.
func (c *Cluster) Freeze() {
	c.t.Helper()
	if n := c.signal(syscall.SIGSTOP); n == 0 {
		c.t.Fatalf("pgtest: no server process of %s to freeze", c.dir)
	}
}

// Thaw resumes (SIGCONT) a frozen cluster.
func (c *Cluster) Thaw() {
	c.t.Helper()
	c.signal(syscall.SIGCONT)
}

// signal sends sig to the postmaster first (so that it forks no new
// backend meanwhile) and then to its children, and returns how many
// processes it signalled.
func (c *Cluster) signal(sig syscall.Signal) int {
	// scripts/pg.sh keeps the data directory in <dir>/data.
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	if syscall.Kill(pid, sig) != nil {
		return 0
	}
	n := 1
	for _, child := range children(pid) {
		if syscall.Kill(child, sig) == nil {
			n++
		}
	}
	return n
}

// children returns the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// run runs scripts/pg.sh with the cluster's folder and returns its stdout.
func (c *Cluster) run(command string) (string, error) {
	cmd := exec.Command(c.script, command)
	cmd.Env = append(os.Environ(), "KEYPLANE_PG_DIR="+c.dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New("scripts/pg.sh " + command + ": " + err.Error() + "\n" + stderr.String())
	}
	return stdout.String(), nil
}

// repoRoot finds the module's root: the nearest folder up from the test's
// working directory that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

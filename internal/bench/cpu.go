package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux the benchmark runs on).
const clockTick = 10 * time.Millisecond

// cpuProbe reads the CPU time used so far by the three parties of a run:
// the server process, the PostgreSQL backends connected to the benchmark's
// database, and this process (the client). Together they say where a
// request's CPU goes, which bounds what any ratio can reach on a machine
// where all three share the CPUs.
type cpuProbe struct {
	serverPID int
	database  string
}

// cpuSample is CPU time used so far.
type cpuSample struct {
	server, postgres, client time.Duration
}

func (p *cpuProbe) sample() cpuSample {
	if p == nil {
		return cpuSample{}
	}
	s := cpuSample{server: procCPU(p.serverPID), client: selfCPU()}
	// Client backends show their database in their title, "postgres: user
	// db [local] idle"; autovacuum workers show it too, and are left out.
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	want := []byte(" " + p.database + " ")
	for _, dir := range dirs {
		title, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !bytes.HasPrefix(title, []byte("postgres: ")) || !bytes.Contains(title, want) ||
			bytes.HasPrefix(title, []byte("postgres: autovacuum")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil {
			s.postgres += procCPU(pid)
		}
	}
	return s
}

// procCPU is the user and system CPU time of a process, zero if it is gone.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perOp is the CPU time each party used per operation between a and b.
func (b cpuSample) perOp(a cpuSample, n int) cpuSample {
	if n == 0 {
		return cpuSample{}
	}
	return cpuSample{
		server:   (b.server - a.server) / time.Duration(n),
		postgres: max(0, b.postgres-a.postgres) / time.Duration(n),
		client:   (b.client - a.client) / time.Duration(n),
	}
}

// proxyProbe reads the CPU time used so far by the parties of a proxy run:
// the proxy (its process and its children: nginx's workers), the backend,
// and this process, the load generator. On a machine whose CPUs they share,
// the proxy's share per request is what decides its rate.
type proxyProbe struct {
	proxyPID, backendPID int
}

// proxyCPU is CPU time used, by party.
type proxyCPU struct {
	proxy, backend, client time.Duration
}

func (p *proxyProbe) sample() proxyCPU {
	if p == nil {
		return proxyCPU{}
	}
	return proxyCPU{proxy: treeCPU(p.proxyPID), backend: procCPU(p.backendPID), client: selfCPU()}
}

// perRequest is the CPU time each party used per request between a and b.
func (b proxyCPU) perRequest(a proxyCPU, n int) proxyCPU {
	if n == 0 {
		return proxyCPU{}
	}
	return proxyCPU{
		proxy:   max(0, b.proxy-a.proxy) / time.Duration(n),
		backend: (b.backend - a.backend) / time.Duration(n),
		client:  (b.client - a.client) / time.Duration(n),
	}
}

// treeCPU is the CPU time of process pid and of its children.
func treeCPU(pid int) time.Duration {
	total := procCPU(pid)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			// After the command name: state, then the parent's pid.
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
				total += procCPU(child)
			}
		}
	}
	return total
}

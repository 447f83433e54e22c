package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdleComparison is the memory each proxy holds for idle keep-alive client
// connections: RSS before they were opened, and while all are open and
// idle, each having carried one request.
type IdleComparison struct {
	Connections int        `json:"connections"`
	Nginx       IdleResult `json:"nginx"`
	Gateway     IdleResult `json:"gateway"`
	// GrowthRatio is the gateway's RSS growth ÷ nginx's.
	GrowthRatio *float64 `json:"growth_ratio"`
}

// IdleResult is one proxy's memory with the idle connections.
type IdleResult struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// RSS of the proxy's processes (nginx's master and workers) before
	// and with the connections, in MiB; growth per connection in KiB.
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	RSSIdleMiB   float64 `json:"rss_with_idle_mib"`
	GrowthMiB    float64 `json:"growth_mib"`
	PerConnKiB   float64 `json:"per_connection_kib"`
}

// idleSettleFirst is how long a proxy is left alone before its memory is
// read without the connections, idleSettle before it is read with them.
const (
	idleSettleFirst = 12 * time.Second
	idleSettle      = 2 * time.Second
)

// idleSources is how many loopback source addresses the idle connections
// come from, so that no per-address limit of the proxy (the gateway's
// MAX_CONNS_PER_ADDR) and no port range is what is measured.
const idleSources = 64

// measureIdle opens n connections to each proxy in turn, sends one request
// on each and reads its answer, waits a moment for the proxy to settle,
// reads the proxy's RSS, then closes them.
func (r *runner) measureIdle(ctx context.Context, targets []*proxyTarget, n int) (*IdleComparison, error) {
	cmp := &IdleComparison{Connections: n, Nginx: IdleResult{Status: ProxySkipped}, Gateway: IdleResult{Status: ProxySkipped}}
	for _, t := range targets {
		res := &cmp.Gateway
		if t.name == "nginx" {
			res = &cmp.Nginx
		}
		if err := idleRun(ctx, t, n, res); err != nil {
			res.Status, res.Reason = ProxyFailed, err.Error()
			r.logf("%s: %d idle connections: FAILED: %v", t.name, n, err)
			continue
		}
		r.logf("%-8s %d idle connections: RSS %.1f MiB before, %.1f MiB with them: %.2f KiB per connection",
			t.name, n, res.RSSBeforeMiB, res.RSSIdleMiB, res.PerConnKiB)
	}
	if cmp.Nginx.Status == ProxyMeasured && cmp.Gateway.Status == ProxyMeasured && cmp.Nginx.GrowthMiB > 0 {
		cmp.GrowthRatio = ptr(round(cmp.Gateway.GrowthMiB/cmp.Nginx.GrowthMiB, 3))
	}
	return cmp, nil
}

// idleRun measures one proxy.
func idleRun(ctx context.Context, t *proxyTarget, n int, res *IdleResult) error {
	return idleRunWith(ctx, t, n, res, func() {})
}

// idleRunWith is idleRun, calling settled when the memory is read.
func idleRunWith(ctx context.Context, t *proxyTarget, n int, res *IdleResult, settled func()) error {
	// The first reading is of a proxy left alone long enough to settle
	// after the comparison before: a gateway gives a busy spell's memory
	// back once quiet, at most every 10 s.
	if err := sleepCtx(ctx, idleSettleFirst); err != nil {
		return err
	}
	before, err := treeRSS(t.pid)
	if err != nil {
		return err
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = c.Close()
			}
		}
	}()
	req := []byte("GET " + helloPath + " HTTP/1.1\r\nHost: " + gwHost + "\r\nUser-Agent: keyplane-bench\r\n\r\n")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	next := make(chan int)
	for w := range 64 {
		wg.Go(func() {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+w%idleSources))}}
			for i := range next {
				c, err := d.DialContext(ctx, "tcp", t.addr)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				if err := oneRequest(c, req); err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
			}
		})
	}
	func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case err := <-errs:
				errs <- err
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Let the proxy finish with the requests: what stays is what idle
	// connections cost.
	if err := sleepCtx(ctx, idleSettle); err != nil {
		return err
	}
	after, err := treeRSS(t.pid)
	if err != nil {
		return err
	}
	settled()
	res.Status = ProxyMeasured
	res.RSSBeforeMiB, res.RSSIdleMiB = round(before/1024, 1), round(after/1024, 1)
	res.GrowthMiB = round((after-before)/1024, 1)
	res.PerConnKiB = round((after-before)/float64(n), 2)
	return nil
}

// oneRequest sends req on c and reads a 200 answer, leaving c open.
func oneRequest(c net.Conn, req []byte) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return fmt.Errorf("answered %d (close %v), not a kept-alive 200", resp.StatusCode, resp.Close)
	}
	return c.SetDeadline(time.Time{})
}

// treeRSS is the resident memory of process pid and its children, in KiB.
func treeRSS(pid int) (float64, error) {
	total, err := procRSS(pid)
	if err != nil {
		return 0, err
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
				kb, err := procRSS(child)
				if err == nil {
					total += kb
				}
			}
		}
	}
	return total, nil
}

// procRSS is VmRSS of pid, in KiB.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

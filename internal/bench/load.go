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
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is one run of the load generator that drives both proxies: each of
// Connections connections is a loop of keep-alive HTTP/1.1 requests, the
// next sent as soon as the previous answer is read, first for Warmup
// (unmeasured: connections open, pools fill), then for Duration.
type load struct {
	// Addr is the proxy's loopback address, host:port.
	Addr string
	// Host is the Host header, which the gateway routes by.
	Host string
	// Path is the request's path, such as /hello/helloworld.
	Path string
	// Expect, when set, is the body every answer must have: a 200 with
	// another body (a proxy's own page, say) is an error too.
	Expect           []byte
	Connections      int
	Warmup, Duration time.Duration
	// NewConnections makes every request on a connection of its own: it
	// asks the proxy to close (Connection: close), reads the answer, then
	// closes its end with a reset, so that no port is held in TIME_WAIT.
	NewConnections bool
}

// loadResult is what a load run measured. Latencies are those of the
// requests started after the warm-up that were answered 200; every other
// outcome is an error, counted by kind.
type loadResult struct {
	// Stats are the latencies and the rate; its CPU is not used, see CPU.
	Stats stats
	// CPU is the CPU time per measured request of the proxy, the backend
	// and the load generator.
	CPU proxyCPU
	// Errors counts the failed requests started after the warm-up;
	// WarmupErrors those started during it.
	Errors, WarmupErrors int
	// ErrorKinds counts every failure, warm-up included, by kind ("HTTP
	// 503", or the transport error with addresses left out).
	ErrorKinds map[string]int
	// Reconnects counts connections opened again after the proxy closed
	// one or a request failed.
	Reconnects int
	// lat holds the latencies of the measured requests, by connection,
	// so that rounds can be merged.
	lat []time.Duration
}

// ErrorSummary lists the error kinds, most frequent first.
func (r loadResult) ErrorSummary() string {
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if r.ErrorKinds[kinds[i]] != r.ErrorKinds[kinds[j]] {
			return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d× %s", r.ErrorKinds[k], k)
	}
	return strings.Join(parts, "; ")
}

// requestDeadline bounds one request past the end of the run, so that a
// proxy that stops answering cannot hang the benchmark.
const requestDeadline = 10 * time.Second

// run drives the proxy and returns the figures. Only requests started after
// the warm-up count; the elapsed time runs until the last of them was
// answered. It fails only when ctx ends: failed requests are counted, not
// returned, and a failed connection is dialled again.
func (l load) run(ctx context.Context, probe *proxyProbe) (loadResult, error) {
	if l.Connections < 1 {
		return loadResult{}, errors.New("load: at least one connection")
	}
	head := "GET " + l.Path + " HTTP/1.1\r\nHost: " + l.Host + "\r\nUser-Agent: keyplane-bench\r\nAccept: */*\r\n"
	if l.NewConnections {
		head += "Connection: close\r\n"
	}
	req := []byte(head + "\r\n")
	start := time.Now()
	measureFrom := start.Add(l.Warmup)
	end := measureFrom.Add(l.Duration)
	conns := make([]*loadConn, l.Connections)
	var wg sync.WaitGroup
	var cpuBefore proxyCPU
	wg.Go(func() {
		time.Sleep(time.Until(measureFrom))
		cpuBefore = probe.sample()
	})
	var lastDone atomic.Int64
	for i := range conns {
		c := &loadConn{addr: l.Addr, req: req, expect: l.Expect, errs: map[string]int{}, fresh: l.NewConnections}
		conns[i] = c
		wg.Go(func() {
			defer c.close()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				measured := !t0.Before(measureFrom)
				if err := c.do(end.Add(requestDeadline)); err != nil {
					c.fail(err, measured)
					continue
				}
				t1 := time.Now()
				if measured {
					c.lat = append(c.lat, t1.Sub(t0))
					storeMax(&lastDone, t1.UnixNano())
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	res := loadResult{ErrorKinds: map[string]int{}}
	lat := make([][]time.Duration, len(conns))
	for i, c := range conns {
		lat[i] = c.lat
		res.Errors += c.measuredErrs
		res.WarmupErrors += c.warmupErrs
		if !l.NewConnections {
			res.Reconnects += max(0, c.dials-1)
		}
		for k, n := range c.errs {
			res.ErrorKinds[k] += n
		}
	}
	elapsed := l.Duration
	if last := lastDone.Load(); last != 0 {
		elapsed = time.Unix(0, last).Sub(measureFrom)
	}
	res.Stats = summarize(lat, elapsed)
	res.lat = slices.Concat(lat...)
	res.CPU = probe.sample().perRequest(cpuBefore, res.Stats.N)
	return res, nil
}

// loadConn is one connection of a load run and what it measured.
type loadConn struct {
	addr   string
	req    []byte
	expect []byte
	body   bytes.Buffer
	conn   net.Conn
	br     *bufio.Reader
	dials  int
	// fresh closes the connection after every answer.
	fresh bool
	lat   []time.Duration
	// errs counts failures by kind.
	errs                     map[string]int
	warmupErrs, measuredErrs int
}

// do sends one request on the connection, dialling it first if needed, and
// reads the whole answer. An answer other than 200 is a *statusError.
func (c *loadConn) do(deadline time.Time) error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return err
		}
		c.dials++
		_ = conn.SetDeadline(deadline)
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 4096)
		} else {
			c.br.Reset(conn)
		}
	}
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return err
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil || res.Close || c.fresh {
		// The proxy closed the connection (or said it would), or each
		// request has its own: open another for the next request.
		if !res.Close && c.fresh && err == nil {
			err = errKeptAlive
		}
		c.close()
	}
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return &statusError{Method: "GET", URL: c.addr, Status: res.StatusCode}
	}
	if c.expect != nil && !bytes.Equal(c.body.Bytes(), c.expect) {
		return errUnexpectedBody
	}
	return nil
}

// errUnexpectedBody is an answer 200 whose body is not the backend's.
var errUnexpectedBody = errors.New("HTTP 200 with another body than the backend's")

// errKeptAlive is an answer to a request that asked for the connection to be
// closed which did not say it would be.
var errKeptAlive = errors.New("answer to Connection: close without Connection: close")

func (c *loadConn) close() {
	if c.conn != nil {
		if tc, ok := c.conn.(*net.TCPConn); ok && c.fresh {
			// A reset rather than a FIN: thousands of connections a
			// second would otherwise fill the port range with TIME_WAIT.
			_ = tc.SetLinger(0)
		}
		_ = c.conn.Close()
		c.conn = nil
	}
}

// fail counts err. After a failure that lost the connection, it waits a
// little before the connection is dialled again, so that a proxy that
// refuses connections is not hammered.
func (c *loadConn) fail(err error, measured bool) {
	if measured {
		c.measuredErrs++
	} else {
		c.warmupErrs++
	}
	c.errs[errorKind(err)]++
	if c.conn == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// errorKind names the kind of a failed request: the status of an answer
// other than 200, else the transport error without its addresses (which
// differ per connection).
func errorKind(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d", se.Status)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed by the proxy before an answer"
	}
	return err.Error()
}

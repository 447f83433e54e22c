// Package inbound serves HTTP/1.1 to a gateway's clients.
//
// net/http's server spends, on every request, a goroutine that watches the
// connection for the client going away, a cancelable context, and several
// buffers it keeps for as long as the connection lives. For a gateway,
// whose whole work per request is a copy, that is most of its cost, and a
// client that keeps ten thousand connections open idle holds ten thousand
// goroutines and their buffers. This server reads requests with net/http's
// own parser (http.ReadRequest, with the checks net/http's server adds) and
// calls an ordinary http.Handler, but:
//
//   - a connection waiting for its next request holds no buffer, and after
//     ParkAfter no goroutine either: it is parked in an epoll set of the
//     server's own and costs only its socket until the client speaks again
//     (Linux; elsewhere it waits on its goroutine);
//   - the client going away mid-request is noticed by one watcher for all
//     requests, which peeks at the sockets of requests running for a while,
//     rather than by a goroutine per request;
//   - the deadlines of clientlimit.Timeouts are enforced by the server
//     itself, on the connection, without wrapping every request.
//
// It speaks HTTP/1.1 (and 1.0) only, over TCP or TLS; a handler may take
// the connection over (http.Hijacker) to switch protocols.
package inbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/rawio"
)

// DefaultParkAfter is how long a kept-alive connection waits for its next
// request on its own goroutine before it is parked.
const DefaultParkAfter = 50 * time.Millisecond

// maxDrain is how much of a request body the handler left unread the
// server reads and throws away to keep the connection, as net/http does.
const maxDrain = 256 << 10

// Server serves HTTP/1.1 on the listeners given to Serve.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// Timeouts bound slow clients; every field must be set (see
	// clientlimit.Timeouts.Or).
	Timeouts clientlimit.Timeouts
	// MaxHeaderBytes bounds the request line and headers; a larger
	// request is answered 431.
	MaxHeaderBytes int
	// TLSConfig, when set, makes Serve speak TLS on every connection.
	TLSConfig *tls.Config
	// Log receives panics of the handler and failures to park.
	Log *slog.Logger
	// ParkAfter is how long an idle kept-alive connection keeps its
	// goroutine; 0 means DefaultParkAfter.
	ParkAfter time.Duration
	// MaxConnsPerAddr limits the connections one client address may hold
	// open at once, parked ones included; 0 or less means no limit.
	MaxConnsPerAddr int
	// OnQuiet, when set, is called (on a goroutine of its own) once the
	// server has served requests and then none for a second, and every
	// parked connection has been detached: the moment to give memory
	// back, say. It is called again only after more requests.
	OnQuiet func()

	init     sync.Once
	closing  atomic.Bool
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	addrs    *clientlimit.PerAddr
	poll     *poller // nil where connections cannot be parked
	stop     chan struct{}
	watching sync.WaitGroup
	lastRead atomic.Int64 // when the last request was read (Unix nanoseconds), for OnQuiet
}

func (s *Server) setup() {
	s.init.Do(func() {
		if s.ParkAfter <= 0 {
			s.ParkAfter = DefaultParkAfter
		}
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.MaxHeaderBytes <= 0 {
			s.MaxHeaderBytes = http.DefaultMaxHeaderBytes
		}
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.addrs = clientlimit.NewPerAddr(s.MaxConnsPerAddr)
		s.stop = make(chan struct{})
		p, err := newPoller(s)
		if err != nil {
			s.Log.Warn("gateway: idle connections keep their goroutine", "error", err.Error())
		}
		s.poll = p
		s.watching.Add(1)
		go s.watch()
	})
}

// Serve accepts connections on ln and serves each, until Shutdown or
// Close; it then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.setup()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	var tlsConfig *tls.Config
	if s.TLSConfig != nil {
		tlsConfig = s.TLSConfig.Clone()
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors, or a passing failure: try again
				// shortly rather than give up serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Log.Warn("gateway: accepting a connection failed", "error", err.Error(), "retry_in", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		ip, ok := s.addrs.Take(nc.RemoteAddr())
		if !ok {
			_ = nc.Close()
			continue
		}
		c := s.newConn(nc, tlsConfig, ip)
		if c == nil {
			continue
		}
		go c.serve(true)
	}
}

// Shutdown stops accepting connections, closes idle ones at once and the
// others as soon as their request is answered, and returns when none is
// left or ctx ends (then closing what is left).
func (s *Server) Shutdown(ctx context.Context) error {
	s.setup()
	s.beginClose()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		left := len(s.conns)
		for c := range s.conns {
			if c.state.Load() == stateIdle {
				// Wake the wait for a next request, which then sees the
				// server closing.
				_ = c.nc.SetReadDeadline(aLongTimeAgo)
			}
		}
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.setup()
	s.beginClose()
	s.closeAll()
	return nil
}

var aLongTimeAgo = time.Unix(1, 0)

func (s *Server) beginClose() {
	s.mu.Lock()
	first := !s.closing.Swap(true)
	for ln := range s.lns {
		_ = ln.Close()
	}
	clear(s.lns)
	s.mu.Unlock()
	if first {
		close(s.stop)
		s.watching.Wait()
		if s.poll != nil {
			s.poll.close()
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeNow()
	}
}

// watch looks, four times a second, at the requests that have been running for
// a while with their body read, and ends the context of any whose client
// has closed its connection: the target's work for it stops, as with
// net/http's server, without a goroutine per request to notice.
func (s *Server) watch() {
	defer s.watching.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	quiet := true
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			var gone []*inflight
			busy := false
			s.mu.Lock()
			for c := range s.conns {
				f := c.running.Load()
				busy = busy || f != nil || c.state.Load() == stateActive
				if f != nil && now.Sub(f.since) > 250*time.Millisecond && c.raw != nil && c.hungUp() {
					gone = append(gone, f)
				}
			}
			s.mu.Unlock()
			for _, f := range gone {
				f.cancel()
			}
			last := time.Unix(0, s.lastRead.Load())
			switch {
			case busy || now.Sub(last) < time.Second:
				quiet = false
			case !quiet && (s.poll == nil || s.poll.settled()):
				quiet = true
				if s.OnQuiet != nil {
					go s.OnQuiet()
				}
			}
		}
	}
}

// Connection states, as Shutdown and the parking need them.
const (
	stateActive int32 = iota // reading or answering a request
	stateIdle                // waiting on its goroutine for the next request
	stateParked              // waiting in the poller, with no goroutine
	stateGone                // closed or taken over by its handler
)

// conn is one client connection.
type conn struct {
	srv *Server
	// nc is what requests are read from and answers written to: the TLS
	// connection, or the TCP one.
	nc net.Conn
	// raw is the TCP socket under nc, for waiting without a buffer,
	// parking and noticing a hang-up; nil if nc has none.
	raw    syscall.RawConn
	isTLS  bool
	tls    *tls.ConnectionState
	remote string
	// ip is the client's address as the per-address limit counts it.
	ip netip.Addr

	state   atomic.Int32
	running atomic.Pointer[inflight]
	closed  sync.Once

	// What only the connection's goroutine of the moment touches.
	lr        limitedReader
	br        *bufio.Reader
	bw        *bufio.Writer
	idleUntil time.Time // when a parked connection is closed
	ready     bool      // set by readable's peek
	waited    bool      // readable's peek found nothing and waited
	peekFn    func(fd uintptr) bool
	peekBuf   [1]byte
	epollSet  bool // whether the socket is in the poller's epoll set
}

// inflight is a request the watcher may end.
type inflight struct {
	since  time.Time
	cancel context.CancelFunc
}

// newConn starts the books on a connection whose address slot is taken;
// nil means the server is closing, and nc was closed.
func (s *Server) newConn(nc net.Conn, tlsConfig *tls.Config, ip netip.Addr) *conn {
	nc = rawio.Wrap(nc)
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String(), ip: ip}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	if tlsConfig != nil {
		c.nc = tls.Server(nc, tlsConfig)
		c.isTLS = true
	}
	c.peekFn = c.peek
	c.lr.r, c.lr.n = c.nc, unlimited
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		_ = nc.Close()
		s.addrs.Release(ip)
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (c *conn) buffers() {
	if c.br == nil {
		c.br = readers.Get().(*bufio.Reader)
		c.br.Reset(&c.lr)
	}
	if c.bw == nil {
		c.bw = writers.Get().(*bufio.Writer)
		c.bw.Reset(c.nc)
	}
}

// release gives the buffers back while the connection waits; a reader
// still holding bytes (a pipelined request) is kept.
func (c *conn) release() {
	if c.br == nil || c.br.Buffered() == 0 {
		c.dropBuffers()
	}
}

// serve answers the connection's requests until it is closed, taken over
// or parked.
func (c *conn) serve(first bool) {
	if first && c.isTLS {
		tc := c.nc.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(c.srv.Timeouts.ReadHeader))
		if err := tc.Handshake(); err != nil {
			c.closeNow()
			return
		}
		st := tc.ConnectionState()
		c.tls = &st
	}
	for {
		switch c.awaitRequest(first) {
		case parkedAway:
			return // c is the poller's now: not even its buffers are touched
		case closed:
			c.dropBuffers()
			return
		}
		first = false
		if !c.serveRequest() {
			c.dropBuffers()
			return
		}
	}
}

// What awaitRequest found.
const (
	requested  = iota // the first byte of a request is there
	closed            // the connection was closed
	parkedAway        // the connection was parked
)

// awaitRequest waits for the first byte of the next request, or closes
// or parks the connection instead.
func (c *conn) awaitRequest(first bool) int {
	if c.br != nil && c.br.Buffered() > 0 {
		return requested // pipelined
	}
	s := c.srv
	now := time.Now()
	c.idleUntil = now.Add(s.Timeouts.Idle)
	if first {
		c.idleUntil = now.Add(s.Timeouts.ReadHeader)
	}
	c.state.Store(stateIdle)
	if s.closing.Load() && !first {
		c.closeNow()
		return closed
	}
	if c.isTLS || c.raw == nil {
		// TLS keeps records of its own that a peek at the socket cannot
		// see: wait by reading, with the buffers.
		c.buffers()
		_ = c.nc.SetReadDeadline(c.idleUntil)
		_, err := c.br.Peek(1)
		if err != nil {
			c.closeNow()
			return closed
		}
		c.state.Store(stateActive)
		return requested
	}
	c.release()
	wait := c.idleUntil
	if s.poll != nil {
		wait = now.Add(s.ParkAfter)
	}
	_ = c.nc.SetReadDeadline(wait)
	ready, err := c.readable()
	if ready {
		c.state.Store(stateActive)
		return requested
	}
	if errors.Is(err, errDeadline) && s.poll != nil && !s.closing.Load() && time.Now().Before(c.idleUntil) && s.poll.park(c) {
		return parkedAway
	}
	c.closeNow()
	return closed
}

var errDeadline = errors.New("deadline")

// readable waits, without a buffer, until the socket has something to
// read (or has reached its end).
func (c *conn) readable() (bool, error) {
	c.ready, c.waited = false, false
	err := c.raw.Read(c.peekFn)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = errDeadline
	}
	return c.ready, err
}

// peek is readable's look at the socket. Once the runtime's poller has
// said the socket is readable, it is taken at its word: the read that
// follows waits again in the rare case it was wrong, and the common case
// saves a system call.
func (c *conn) peek(fd uintptr) bool {
	if c.waited {
		c.ready = true
		return true
	}
	c.waited = true
	_, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
		return false
	}
	c.ready = true // a byte, the end, or an error the read will meet
	return true
}

// hungUp reports whether the client has closed its side: its socket reads
// as ended. Bytes waiting (a next request, a TLS alert) say nothing.
func (c *conn) hungUp() bool { return rawio.Look(c.raw) == rawio.Ended }

// closeNow closes the connection.
func (c *conn) closeNow() {
	c.closed.Do(func() {
		c.state.Store(stateGone)
		_ = c.nc.Close()
		c.forget()
		c.srv.addrs.Release(c.ip)
	})
}

// closeAfterAnswer closes a connection whose client may still be sending a
// body nobody read: it stops writing first and closes a moment later, so
// that the close does not destroy the answer on its way (a reset).
func (c *conn) closeAfterAnswer() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		c.closeNow()
		return
	}
	c.closed.Do(func() {
		c.state.Store(stateGone)
		c.forget()
		_ = cw.CloseWrite()
		time.AfterFunc(500*time.Millisecond, func() {
			_ = c.nc.Close()
			c.srv.addrs.Release(c.ip)
		})
	})
}

// forget drops the connection from the server's books.
func (c *conn) forget() {
	s := c.srv
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// dropBuffers gives the buffers back to their pools; only the goroutine
// serving the connection may, when it is done with it.
func (c *conn) dropBuffers() {
	if c.br != nil {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writers.Put(c.bw)
		c.bw = nil
	}
}

// limitedReader bounds what the request's head may read.
type limitedReader struct {
	r io.Reader
	n int64
}

const unlimited = 1 << 62

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// statusError is a request the server refuses before any handler sees it.
type statusError struct {
	code int
	text string
}

// serveRequest reads one request and answers it. It reports whether the
// connection may carry another.
func (c *conn) serveRequest() (keep bool) {
	s := c.srv
	c.buffers()
	start := time.Now()
	_ = c.nc.SetReadDeadline(start.Add(s.Timeouts.ReadHeader))
	// The head may read MaxHeaderBytes, and what the reader's buffer
	// holds on top, as with net/http.
	c.lr.n = int64(s.MaxHeaderBytes) + 4096 - int64(c.br.Buffered())
	// Tolerate the empty lines old clients send after a body.
	for {
		b, err := c.br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			break
		}
		_, _ = c.br.Discard(1)
	}
	req, err := http.ReadRequest(c.br)
	hitLimit := c.lr.n <= 0
	c.lr.n = unlimited
	if err == nil {
		err = check(req)
	}
	if err != nil {
		c.refuse(err, hitLimit)
		return false
	}
	s.lastRead.Store(start.UnixNano())
	end := start.Add(s.Timeouts.Request)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remote
	req.TLS = c.tls
	wantsClose := req.Close

	w := &response{c: c, req: req, header: make(http.Header, 8), writeEnd: end.Add(s.Timeouts.Write),
		contentLength: -1, wantsClose: wantsClose, http11: req.ProtoAtLeast(1, 1), head: req.Method == http.MethodHead}
	var b *body
	if req.Body != nil && req.Body != http.NoBody {
		b = &body{c: c, w: w, rc: req.Body, idle: s.Timeouts.BodyIdle, end: earliest(start.Add(s.Timeouts.Read), end),
			f: &inflight{since: start, cancel: cancel}}
		if ex := req.Header.Get("Expect"); ex != "" {
			if !strings.EqualFold(ex, "100-continue") {
				writeRefusal(c.bw, http.StatusExpectationFailed, "")
				_ = c.bw.Flush()
				c.closeAfterAnswer()
				return false
			}
			b.expect = req.ProtoAtLeast(1, 1)
		}
		w.body = b
		req.Body = b
	} else {
		c.running.Store(&inflight{since: start, cancel: cancel})
	}

	hijacked, aborted := c.run(w, req)
	c.running.Store(nil)
	if hijacked {
		return false
	}
	if aborted {
		// The handler gave up on its answer: the client must see it
		// broken, not short.
		c.closeNow()
		return false
	}
	w.finish()
	if w.failed {
		c.closeNow()
		return false
	}
	if b != nil && !b.finish() {
		w.closeAfter = true
	}
	if err := c.bw.Flush(); err != nil {
		c.closeNow()
		return false
	}
	if w.closeAfter || s.closing.Load() {
		if b != nil && !b.eof {
			c.closeAfterAnswer()
		} else {
			c.closeNow()
		}
		return false
	}
	return true
}

// run calls the handler, reporting whether it took the connection over or
// aborted its answer (panicking, as http.ErrAbortHandler says).
func (c *conn) run(w *response, req *http.Request) (hijacked, aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.Log.Error("gateway: panic serving a request", "remote", c.remote, "panic", v, "stack", string(buf))
			}
			hijacked, aborted = w.hijacked, !w.hijacked
		}
	}()
	c.srv.Handler.ServeHTTP(w, req)
	return w.hijacked, false
}

// check adds to http.ReadRequest the rules net/http's server applies.
func check(req *http.Request) error {
	if req.ProtoMajor != 1 {
		return statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// http.ReadRequest took the Host field out (refusing two of them) and
	// put its value in req.Host.
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect {
		return statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if req.Host != "" && !httpguts.ValidHostHeader(req.Host) {
		return statusError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	return nil
}

func (e statusError) Error() string { return e.text }

// refuse answers a request that could not be read, as net/http's server
// does, and closes the connection; a client that went away or never
// finished its head gets nothing.
func (c *conn) refuse(err error, hitLimit bool) {
	var se statusError
	switch {
	case hitLimit:
		writeRefusal(c.bw, http.StatusRequestHeaderFieldsTooLarge, "")
	case errors.As(err, &se):
		writeRefusal(c.bw, se.code, se.text)
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		writeRefusal(c.bw, http.StatusNotImplemented, "Unsupported transfer encoding")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isNetError(err):
		c.closeNow()
		return
	default:
		writeRefusal(c.bw, http.StatusBadRequest, "")
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.Timeouts.Write))
	_ = c.bw.Flush()
	c.closeAfterAnswer()
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// writeRefusal writes net/http's answer to a request it refuses: the
// status, and as body the status again, with text when there is some.
func writeRefusal(bw *bufio.Writer, code int, text string) {
	status := itoa3(code) + " " + http.StatusText(code)
	if text != "" && code != http.StatusNotImplemented {
		status += ": " + text
	}
	body := status
	if code == http.StatusNotImplemented {
		body = text
	}
	_, _ = bw.WriteString("HTTP/1.1 " + status + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + body)
}

func itoa3(code int) string {
	return string([]byte{byte('0' + code/100%10), byte('0' + code/10%10), byte('0' + code%10)})
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

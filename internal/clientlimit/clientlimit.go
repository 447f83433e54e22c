// Package clientlimit bounds what one HTTP client may cost a server: time
// (deadlines for the headers, for each wait on the body and for the whole
// body, for each write of the answer and for the whole exchange) and
// connections (a number per client address). Without them a client that
// sends one byte every few seconds, or announces a body and never sends
// it, holds a connection, a goroutine and, behind a gateway, a backend
// connection for as long as it likes.
//
// net/http offers only part of this: ReadTimeout counts from the first
// byte of the request, so it cannot tell a slow upload from an idle one,
// and WriteTimeout bounds the whole answer, not a client that stops
// reading. Handler adds the rest with per-read and per-write deadlines on
// the connection (http.ResponseController), and answers a request whose
// body it will not read with "Connection: close", so that net/http does
// not try to read that body before answering.
package clientlimit

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Timeouts bound how long a client may take. A zero field means the
// default that Or fills in.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// BodyIdle is the longest the server waits for the next bytes of a
	// request body.
	BodyIdle time.Duration
	// Read bounds reading the whole request body.
	Read time.Duration
	// Write is the longest one write of the answer may wait for the client
	// to read: a client that stops reading is cut off.
	Write time.Duration
	// Request bounds the whole exchange, from the headers read to the last
	// byte of the answer written; the handler's context ends then too.
	// Protocol upgrades (WebSocket) are exempt once switched.
	Request time.Duration
	// Idle bounds a keep-alive connection's wait for its next request.
	Idle time.Duration
}

// Or fills in the zero fields of t from def.
func (t Timeouts) Or(def Timeouts) Timeouts {
	return Timeouts{
		ReadHeader: cmp.Or(t.ReadHeader, def.ReadHeader),
		BodyIdle:   cmp.Or(t.BodyIdle, def.BodyIdle),
		Read:       cmp.Or(t.Read, def.Read),
		Write:      cmp.Or(t.Write, def.Write),
		Request:    cmp.Or(t.Request, def.Request),
		Idle:       cmp.Or(t.Idle, def.Idle),
	}
}

// Configure sets the deadlines net/http enforces itself on srv: headers,
// keep-alive, and the whole exchange as its write deadline, which net/http
// renews for every request (Handler's per-write deadlines never outlast
// it). The body's deadlines are Handler's. The connection outlives the
// handler's context by one Write period, so that a handler whose time ran
// out can still say so.
func (t Timeouts) Configure(srv *http.Server) {
	srv.ReadHeaderTimeout = t.ReadHeader
	srv.IdleTimeout = t.Idle
	srv.WriteTimeout = t.Request + t.Write
	srv.ReadTimeout = 0
}

// Handler enforces t's body, write and request deadlines on every request
// next serves (t must have every field set: see Or).
func Handler(next http.Handler, t Timeouts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			// A switched protocol lives as long as its two ends want.
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		end := start.Add(t.Request)
		rc := http.NewResponseController(w)
		ctx, cancel := context.WithDeadline(r.Context(), end)
		defer cancel()
		r = r.WithContext(ctx) // a copy: net/http keeps its own Body
		cw := &writer{ResponseWriter: w, rc: rc, write: t.Write, end: end.Add(t.Write), announced: r.ContentLength != 0}
		if r.Body != nil && r.Body != http.NoBody {
			cw.body = &body{ReadCloser: r.Body, rc: rc, idle: t.BodyIdle, end: earliest(start.Add(t.Read), end), after: end}
			r.Body = cw.body
		}
		next.ServeHTTP(cw, r)
	})
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// body is a request body whose every read has a deadline: BodyIdle from
// now, and never past the whole body's deadline.
type body struct {
	io.ReadCloser
	rc         *http.ResponseController
	idle       time.Duration
	end, after time.Time
	mu         sync.Mutex
	done       bool
}

func (b *body) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(earliest(time.Now().Add(b.idle), b.end))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.mu.Lock()
		b.done = true
		b.mu.Unlock()
		// net/http's watch for a client that hangs up reads on after the
		// body: only the request's deadline applies to it.
		_ = b.rc.SetReadDeadline(b.after)
	}
	return n, err
}

func (b *body) read() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// writer gives every write of the answer a deadline: Write from now, and
// never past the request's.
type writer struct {
	http.ResponseWriter
	rc          *http.ResponseController
	write       time.Duration
	end         time.Time
	body        *body
	announced   bool
	wroteHeader bool
}

func (w *writer) deadline() { _ = w.rc.SetWriteDeadline(earliest(time.Now().Add(w.write), w.end)) }

// WriteHeader answers; an error answered before the body was read closes
// the connection, rather than make net/http read (and wait for) a body
// nobody will use.
func (w *writer) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if CloseUnread(code, w.announced, w.body != nil && w.body.read()) {
			w.Header().Set("Connection", "close")
		}
		w.deadline()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.deadline()
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered, within a write deadline.
func (w *writer) Flush() {
	w.deadline()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// CloseUnread reports whether an answer must close its connection: an
// error answered before the body the request announced was read. Keeping
// the connection would make the server read, and wait for, a body nobody
// will use.
func CloseUnread(status int, announced, bodyRead bool) bool {
	return status >= 400 && announced && !bodyRead
}

// Listen returns a listener that accepts at most perAddr connections at
// once from one client address, closing any more as soon as they are
// accepted; perAddr <= 0 means no limit.
func Listen(ln net.Listener, perAddr int) net.Listener {
	if perAddr <= 0 {
		return ln
	}
	return &listener{Listener: ln, addrs: NewPerAddr(perAddr)}
}

type listener struct {
	net.Listener
	addrs *PerAddr
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := l.addrs.Take(c.RemoteAddr())
		if !ok {
			_ = c.Close()
			continue
		}
		return l.addrs.Wrap(c, ip), nil
	}
}

// PerAddr counts the connections open from each client address, for a
// server that keeps its own books on connections (see Listen for one that
// does not).
type PerAddr struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

// NewPerAddr allows max connections at once from one address; max <= 0
// means no limit.
func NewPerAddr(max int) *PerAddr {
	return &PerAddr{max: max, open: map[netip.Addr]int{}}
}

// Take counts a new connection from addr, or reports false when addr
// holds its limit already. The address returned is what Release takes
// once the connection is closed (an address that is not IP:port is not
// counted, and its zero Addr released as nothing).
func (p *PerAddr) Take(addr net.Addr) (netip.Addr, bool) {
	if p.max <= 0 {
		return netip.Addr{}, true
	}
	var ip netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		ip = ap.Addr()
	} else {
		return netip.Addr{}, true
	}
	ip = ip.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[ip] >= p.max {
		return netip.Addr{}, false
	}
	p.open[ip]++
	return ip, true
}

// Release gives back the slot Take counted.
func (p *PerAddr) Release(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[ip]--; p.open[ip] <= 0 {
		delete(p.open, ip)
	}
}

// Wrap returns c, which gives ip's slot back once, when closed.
func (p *PerAddr) Wrap(c net.Conn, ip netip.Addr) net.Conn {
	return &conn{Conn: c, addrs: p, ip: ip}
}

// conn gives its address's slot back once, when closed.
type conn struct {
	net.Conn
	once  sync.Once
	addrs *PerAddr
	ip    netip.Addr
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.addrs.Release(c.ip) })
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before closing
// one it answered with an error.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

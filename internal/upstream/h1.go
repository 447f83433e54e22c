package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/keyplane/keyplane/internal/rawio"
)

// h1Pool keeps the HTTP/1.1 connections of one transport and runs each
// request on the caller's goroutine: write the request, read the answer,
// hand the connection back when the body has been read. net/http's
// Transport gives every connection a reading and a writing goroutine and
// passes each request between them, which costs a gateway more CPU per
// request than the proxying itself; targets that choose HTTP/2, and
// protocol upgrades, still go through it.
type h1Pool struct {
	addr   string
	tls    *tls.Config // nil: plain HTTP
	dialer *net.Dialer
	opts   Options

	mu      sync.Mutex
	idle    []*h1Conn // most recently used last
	sweep   *time.Timer
	retired bool
	// spare is a connection on which the target chose HTTP/2, kept for
	// net/http's transport.
	spare net.Conn
}

// h1Conn is one kept-alive connection.
type h1Conn struct {
	conn net.Conn
	// raw is the TCP socket under conn, to see whether the target sent
	// anything while the connection was idle.
	raw       syscall.RawConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// quiet reports whether the target sent nothing since its last answer
// ended: no byte buffered, none waiting in the socket, no end of stream.
// A connection that is not quiet cannot carry another request: what is
// waiting would be taken for the next answer (a target that sent more than
// its answer's length), or the target has closed it.
func (c *h1Conn) quiet() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	return rawio.Look(c.raw) == rawio.Empty
}

// errHTTP2 says the target chose HTTP/2: net/http's transport serves it,
// from the connection on which it did.
var errHTTP2 = errors.New("upstream: the target chose HTTP/2")

// errTLSHandshakeTimeout and errHeaderTimeout carry the texts net/http's
// transport uses, which Failure recognises.
var (
	errTLSHandshakeTimeout = errors.New("net/http: TLS handshake timeout")
	errHeaderTimeout       = errors.New("net/http: timeout awaiting response headers")
)

func newH1Pool(addr string, cfg *tls.Config, o Options, dialer *net.Dialer) *h1Pool {
	p := &h1Pool{addr: addr, opts: o, dialer: dialer}
	if cfg != nil {
		cfg = cfg.Clone()
		if len(cfg.NextProtos) == 0 {
			// Offer both: a target that prefers HTTP/2 gets it, through
			// net/http's transport, from the next request on.
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		p.tls = cfg
	}
	return p
}

// get takes the most recently used idle connection, closing any that have
// been idle too long.
func (p *h1Pool) get() *h1Conn {
	for {
		p.mu.Lock()
		if len(p.idle) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		// The look at the socket is a system call: outside the lock, so
		// that requests to one target do not take turns on it.
		if time.Since(c.idleSince) < p.opts.IdleConnTimeout && c.quiet() {
			return c
		}
		_ = c.conn.Close()
	}
}

// put gives a connection back, or closes it when the pool is retired or
// full.
func (p *h1Pool) put(c *h1Conn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.retired || p.opts.DisableKeepAlives || len(p.idle) >= p.opts.MaxIdleConnsPerHost || c.br.Buffered() > 0 {
		p.mu.Unlock()
		_ = c.conn.Close()
		return
	}
	p.idle = append(p.idle, c)
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.opts.IdleConnTimeout, p.closeExpired)
	}
	p.mu.Unlock()
}

// closeExpired closes the connections idle for IdleConnTimeout, and comes
// back while any stay idle, so a target that stopped getting requests does
// not keep connections open for ever.
func (p *h1Pool) closeExpired() {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.idle[:0]
	for _, c := range p.idle {
		if time.Since(c.idleSince) >= p.opts.IdleConnTimeout {
			_ = c.conn.Close()
			continue
		}
		keep = append(keep, c)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.sweep = nil
	if len(p.idle) > 0 {
		p.sweep = time.AfterFunc(p.opts.IdleConnTimeout, p.closeExpired)
	}
}

// closeIdle closes every idle connection; with retire, the pool keeps none
// from now on.
func (p *h1Pool) closeIdle(retire bool) {
	p.mu.Lock()
	idle := slices.Clone(p.idle)
	clear(p.idle)
	p.idle = p.idle[:0]
	p.retired = p.retired || retire
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
	if spare != nil {
		_ = spare.Close()
	}
}

// dial opens a connection for HTTP/1.1. When the target chooses HTTP/2,
// it keeps the connection for net/http's transport (see dialTLS) and
// answers errHTTP2.
func (p *h1Pool) dial(ctx context.Context) (*h1Conn, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
		p.mu.Lock()
		if p.spare != nil {
			_ = p.spare.Close()
		}
		p.spare = tc
		p.mu.Unlock()
		return nil, errHTTP2
	}
	c := &h1Conn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 16<<10)}
	sock := conn
	if tc, ok := conn.(*tls.Conn); ok {
		sock = tc.NetConn()
	}
	if sc, ok := sock.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c, nil
}

// dialTLS is net/http's transport's way to TLS targets: the HTTP/2
// connection dial kept, if any, else a new one.
func (p *h1Pool) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	p.mu.Lock()
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()
	if spare != nil {
		return spare, nil
	}
	return p.connect(ctx)
}

// connect dials the target, and makes the TLS handshake when it speaks
// TLS.
func (p *h1Pool) connect(ctx context.Context) (net.Conn, error) {
	raw, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	raw = rawio.Wrap(raw)
	if p.tls == nil {
		return raw, nil
	}
	tc := tls.Client(raw, p.tls)
	hctx, cancel := context.WithTimeout(ctx, p.opts.TLSHandshakeTimeout)
	err = tc.HandshakeContext(hctx)
	timedOut := hctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
	cancel()
	if err != nil {
		_ = raw.Close()
		if timedOut {
			return nil, errTLSHandshakeTimeout
		}
		return nil, err
	}
	return tc, nil
}

// roundTrip sends req on a pooled or new connection. A request that may
// be sent twice (no body, and a method that changes nothing or an
// Idempotency-Key) and that fails on a reused connection before any answer
// (the target closed it while it was idle) is sent again, on the next
// pooled connection or a new one, as net/http does.
func (p *h1Pool) roundTrip(req *http.Request, finished func()) (*http.Response, error) {
	for {
		c := p.get()
		reused := c != nil
		if !reused {
			var err error
			if c, err = p.dial(req.Context()); err != nil {
				return nil, err
			}
		}
		resp, err := p.exchange(c, req, finished)
		if err == nil {
			return resp, nil
		}
		_ = c.conn.Close()
		if !reused || !replayable(req) || req.Context().Err() != nil || !stale(err) {
			return nil, err
		}
	}
}

// replayable reports whether req may be sent again after a failure: no
// body to send twice, and a method that changes nothing, or an
// idempotency key that makes a repeat harmless.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// stale reports whether err is what a request meets on a connection the
// target had already closed.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exchange writes req on c and reads the answer's head. The answer's body
// gives c back to the pool once read to its end; closing it earlier, or
// the request's context ending, closes c.
func (p *h1Pool) exchange(c *h1Conn, req *http.Request, finished func()) (*http.Response, error) {
	// Ending the request's context must unblock a read or write.
	stop := context.AfterFunc(req.Context(), func() { _ = c.conn.Close() })
	if p.opts.DisableKeepAlives && !req.Close {
		// Say so, so that the target closes first and keeps no idle
		// connection waiting for a request that never comes.
		req.Close = true
		defer func() { req.Close = false }()
	}
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	// The answer's head must come within ResponseHeaderTimeout of the
	// request's end; sending the request (an upload) may take longer.
	if d := p.opts.ResponseHeaderTimeout; d > 0 && err == nil {
		_ = c.conn.SetReadDeadline(time.Now().Add(d))
	}
	var resp *http.Response
	for err == nil {
		resp, err = http.ReadResponse(c.br, req)
		// Informational answers (100 Continue, 103 Early Hints) precede
		// the real one.
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if err != nil {
		stop()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return nil, errHeaderTimeout
		}
		return nil, err
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	resp.Body = &h1Body{
		body:     resp.Body,
		conn:     c,
		pool:     p,
		stop:     stop,
		reusable: !resp.Close && !req.Close,
		finished: finished,
	}
	return resp, nil
}

// h1Body is an answer's body on a pooled connection.
type h1Body struct {
	body     io.ReadCloser
	conn     *h1Conn
	pool     *h1Pool
	stop     func() bool
	reusable bool
	finished func()
	once     sync.Once
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil {
		b.once.Do(func() { b.end(err == io.EOF) })
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.once.Do(func() { b.end(b.body == http.NoBody) })
	return nil
}

// end gives the connection back when the body was read to its end on a
// connection that may be kept, and closes it otherwise.
func (b *h1Body) end(complete bool) {
	// stop is false when the context's end already closed the connection.
	if b.stop() && complete && b.reusable {
		b.pool.put(b.conn)
	} else {
		_ = b.conn.conn.Close()
	}
	b.finished()
}

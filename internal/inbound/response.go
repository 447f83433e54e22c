package inbound

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyplane/keyplane/internal/clientlimit"
)

// pendingMax is how much of an answer of unknown length is held back to
// send it with a Content-Length, as net/http does for short answers.
const pendingMax = 2 << 10

var pendings = sync.Pool{New: func() any { b := make([]byte, 0, pendingMax); return &b }}

// response is the http.ResponseWriter of one request. It also offers what
// http.ResponseController reaches for: flushing, taking the connection
// over, and the connection's deadlines.
type response struct {
	c    *conn
	req  *http.Request
	body *body

	header        http.Header
	status        int
	wroteHeader   bool // the handler chose a status
	committed     bool // the head is written
	chunked       bool
	contentLength int64 // -1: unknown
	written       int64
	closeAfter    bool
	wantsClose    bool // the client asked to close after this answer
	http11, head  bool
	hijacked      bool
	failed        bool
	err           error
	pending       *[]byte // a short answer, held until its length is known
	writeEnd      time.Time
	deadlineSet   time.Time // when deadline last moved the write deadline
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out at once, the real one later.
		w.deadline()
		bw := w.c.bw
		_, _ = bw.WriteString("HTTP/1.1 " + itoa3(code) + " " + http.StatusText(code) + "\r\n")
		if code != http.StatusContinue {
			_ = w.header.Write(bw)
		}
		_, _ = bw.WriteString("\r\n")
		w.fail(bw.Flush())
		return
	}
	w.wroteHeader, w.status = true, code
	if cl := w.header["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(textproto.TrimString(cl[0]), 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
}

// bodyless reports whether the status or the method leave no room for a
// body.
func (w *response) bodyless() bool {
	return w.head || w.status == http.StatusNoContent || w.status == http.StatusNotModified || w.status < 200
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, w.err
	}
	if w.bodyless() {
		if w.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.contentLength < 0 {
			if w.pending == nil {
				w.pending = pendings.Get().(*[]byte)
			}
			if len(*w.pending)+len(p) <= pendingMax {
				*w.pending = append(*w.pending, p...)
				return len(p), nil
			}
		}
		w.commit(false)
		if w.failed {
			return 0, w.err
		}
	}
	return w.send(p)
}

func (w *response) WriteString(s string) (int, error) {
	// io.WriteString comes here; a string's bytes are copied once.
	return w.Write([]byte(s))
}

// send writes p to the client, framed.
func (w *response) send(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.deadline()
	bw := w.c.bw
	if w.chunked {
		var scratch [20]byte
		_, _ = bw.Write(strconv.AppendInt(scratch[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.fail(err)
	return n, err
}

func (w *response) fail(err error) {
	if err != nil && !w.failed {
		w.failed, w.err = true, err
	}
}

// deadline gives the next write to the client its time: Write from now,
// never past the request's end. Writes in quick succession share one: the
// deadline is moved only once a tenth of Write has passed since it was
// last set, which spares a timer update per write.
func (w *response) deadline() {
	now := time.Now()
	limit := w.c.srv.Timeouts.Write
	if !w.deadlineSet.IsZero() && now.Sub(w.deadlineSet) < limit/10 {
		return
	}
	w.deadlineSet = now
	_ = w.c.nc.SetWriteDeadline(earliest(now.Add(limit), w.writeEnd))
}

// commit writes the head. done says the handler has returned, so that an
// answer held back has its length.
func (w *response) commit(done bool) {
	w.committed = true
	h := w.header
	switch {
	case w.bodyless():
	case w.contentLength >= 0:
	case done && len(h["Trailer"]) == 0:
		w.contentLength = w.written
		h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
	case w.http11:
		w.chunked = true
		delete(h, "Content-Length")
		h["Transfer-Encoding"] = []string{"chunked"}
	default:
		// An HTTP/1.0 client learns the end of an answer of unknown
		// length from the connection's.
		w.closeAfter = true
	}
	if clientlimit.CloseUnread(w.status, w.req.ContentLength != 0, w.body != nil && w.body.done()) {
		w.closeAfter = true
	}
	if w.wantsClose {
		w.closeAfter = true
	}
	for _, v := range h["Connection"] {
		if hasToken(v, "close") {
			w.closeAfter = true
		}
	}
	switch {
	case w.closeAfter || w.c.srv.closing.Load():
		h["Connection"] = []string{"close"}
	case !w.http11:
		h["Connection"] = []string{"keep-alive"}
	}
	w.deadline()
	bw := w.c.bw
	if w.http11 {
		_, _ = bw.WriteString("HTTP/1.1 ")
	} else {
		_, _ = bw.WriteString("HTTP/1.0 ")
	}
	_, _ = bw.WriteString(itoa3(w.status))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(http.StatusText(w.status))
	_, _ = bw.WriteString("\r\n")
	if _, ok := h["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(date())
		_, _ = bw.WriteString("\r\n")
	}
	w.fail(h.Write(bw))
	_, err := bw.WriteString("\r\n")
	w.fail(err)
	if w.pending != nil {
		if len(*w.pending) > 0 && !w.failed {
			_, _ = w.send(*w.pending)
		}
		*w.pending = (*w.pending)[:0]
		pendings.Put(w.pending)
		w.pending = nil
	}
}

// finish ends the answer when the handler returns: the head if it was not
// written, the last chunk and the trailers.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.failed {
		return
	}
	switch {
	case w.chunked:
		_, _ = w.c.bw.WriteString("0\r\n")
		if t := w.trailers(); t != nil {
			w.fail(t.Write(w.c.bw))
		}
		_, err := w.c.bw.WriteString("\r\n")
		w.fail(err)
	case w.contentLength >= 0 && w.written < w.contentLength && !w.bodyless():
		// Short of what the head announced: only a close tells the
		// client the answer is incomplete.
		w.closeAfter = true
	}
}

// trailers are the fields the head declared in Trailer, and those set
// under http.TrailerPrefix, with the values the handler gave them.
func (w *response) trailers() http.Header {
	var t http.Header
	for _, v := range w.header["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(k))
			if vv, ok := w.header[k]; ok && k != "" {
				if t == nil {
					t = http.Header{}
				}
				t[k] = vv
			}
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[textproto.CanonicalMIMEHeaderKey(name)] = vv
		}
	}
	return t
}

// Flush sends what is written so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends what is written so far, saying whether it could.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if w.failed {
		return w.err
	}
	w.deadline()
	w.fail(w.c.bw.Flush())
	return w.err
}

// Hijack hands the connection to the handler, with what was read of it
// and not consumed; the server forgets it, and its deadlines are lifted.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.committed {
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	c.running.Store(nil)
	rw := bufio.NewReadWriter(c.br, c.bw)
	c.br, c.bw = nil, nil
	c.closed.Do(func() {
		c.state.Store(stateGone)
		c.forget()
	})
	_ = c.nc.SetDeadline(time.Time{})
	// The handler's Close gives the address's slot back.
	return c.srv.addrs.Wrap(c.nc, c.ip), rw, nil
}

// SetReadDeadline and SetWriteDeadline let a handler change the
// connection's deadlines through http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex is what http.ResponseController asks for before reading
// a body while answering: this server always allows it.
func (w *response) EnableFullDuplex() error { return nil }

// hasToken reports whether a comma-separated field value holds token,
// case-insensitively.
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(textproto.TrimString(t), token) {
			return true
		}
	}
	return false
}

// body is a request body with the server's deadlines: BodyIdle for each
// read, never past the whole body's. Its first read answers a client that
// waits for "100 Continue".
type body struct {
	c      *conn
	w      *response
	rc     io.ReadCloser
	idle   time.Duration
	end    time.Time
	f      *inflight
	expect bool

	mu          sync.Mutex
	eof, closed bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.expect {
		b.expect = false
		if !b.w.committed {
			b.w.deadline()
			_, _ = b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				return 0, err
			}
		}
	}
	_ = b.c.nc.SetReadDeadline(earliest(time.Now().Add(b.idle), b.end))
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.c.running.Store(b.f) // from now on a hang-up means the client left
	}
	return n, err
}

// Close ends the handler's reading; the server reads what is left itself.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *body) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// finish reads and drops what the handler left of the body, up to
// maxDrain, so that the connection can carry the next request; it reports
// whether the body was read to its end.
func (b *body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.eof {
		return true
	}
	if b.w.closeAfter || b.expect {
		// The client was told to close, or still waits to be asked for
		// its body: do not wait for it.
		return false
	}
	_ = b.c.nc.SetReadDeadline(earliest(time.Now().Add(b.idle), b.end))
	_, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
	if err == io.EOF {
		b.eof = true
		return true
	}
	return false
}

// dates caches the Date field's value for the current second.
var dates atomic.Pointer[dateValue]

type dateValue struct {
	sec int64
	b   []byte
}

func date() []byte {
	now := time.Now()
	if d := dates.Load(); d != nil && d.sec == now.Unix() {
		return d.b
	}
	d := &dateValue{sec: now.Unix(), b: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
	dates.Store(d)
	return d.b
}

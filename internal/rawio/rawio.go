// Package rawio reads and writes stream sockets without telling Go's
// scheduler about each system call.
//
// A net.Conn's Read and Write enter the runtime's syscall state around
// read(2) and write(2). On a non-blocking socket these never block, but a
// write on loopback runs the receiver's network stack too and can take
// tens of microseconds; the runtime's monitor then takes the processor
// away from the thread in the call and wakes another, and keeps waking
// itself every 20 µs to look. For a proxy, whose whole work is such calls,
// or a server whose every request is a round trip to its database, that
// hand-over costs more than the work. Conn makes the same calls as
// raw system calls from inside syscall.RawConn's Read and Write, which
// wait on the runtime's poller exactly as net.Conn does when a socket is
// not ready, and honour its deadlines.
package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP or Unix stream connection whose Read and Write are raw
// system calls.
type Conn struct {
	net.Conn
	rc syscall.RawConn

	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

// Wrap returns c as a Conn when it is a TCP or Unix stream connection,
// else c.
func Wrap(c net.Conn) net.Conn {
	var sc syscall.Conn
	switch t := c.(type) {
	case *net.TCPConn:
		sc = t
	case *net.UnixConn:
		if a, ok := t.LocalAddr().(*net.UnixAddr); !ok || a.Net != "unix" {
			return c // datagrams are not a stream
		}
		sc = t
	default:
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &Conn{Conn: c, rc: rc}
	rw.readFn, rw.writeFn = rw.read, rw.write
	return rw
}

// NetConn is the connection it wraps.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SyscallConn is the wrapped connection's.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// CloseWrite shuts the writing side down, as the wrapped connection's
// CloseWrite does.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.opError("close", syscall.EINVAL)
}

// Listen returns a listener whose connections are Wrap's.
func Listen(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

func (c *Conn) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait on the runtime's poller
		}
		c.rn, c.rerrno = int(r), e
		return true
	}
}

// Read reads as net.Conn's Read does.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case c.rerrno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", c.rerrno))
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wbuf[c.wn])), uintptr(len(c.wbuf)-c.wn))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return false // wait on the runtime's poller
		}
		if e != 0 {
			c.werrno = e
			return true
		}
		c.wn += int(r)
	}
	return true
}

// Write writes all of p, as net.Conn's Write does.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	switch {
	case err != nil:
		return c.wn, c.opError("write", err)
	case c.werrno != 0:
		return c.wn, c.opError("write", os.NewSyscallError("write", c.werrno))
	}
	return c.wn, nil
}

// opError words an error as net.Conn's would be: a RawConn's own (a
// deadline, a closed connection) loses its "raw-" prefix.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// State is what Look found on a socket.
type State int

const (
	// Empty: nothing to read yet, and the peer has not closed its side.
	Empty State = iota
	// Waiting: bytes are there to read.
	Waiting
	// Ended: the peer closed its side (or reset the connection).
	Ended
	// Failed: the socket could not be looked at, or reports another error.
	Failed
)

// Look peeks at a socket without reading from it and without waiting.
func Look(rc syscall.RawConn) State {
	st := Failed
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			st = Waiting
		case err == nil || err == syscall.ECONNRESET:
			st = Ended
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			st = Empty
		}
		return true // never wait for readiness: this is a look
	})
	if err != nil {
		return Failed
	}
	return st
}

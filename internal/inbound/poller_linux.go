package inbound

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller holds parked connections in an epoll set of the server's own,
// each armed for one event (EPOLLONESHOT), with no goroutine and no
// buffer. A parked connection first keeps its net.Conn, so that a client
// that speaks again soon costs only a goroutine; once it has been silent
// for DetachAfter it is detached: only its socket is kept, under a
// descriptor of the poller's, and the runtime's poll descriptor and
// addresses are given back. When its client speaks again, or hangs up,
// it gets a goroutine back (and a detached one a new net.Conn); one that
// stays silent past its idle deadline is closed by a sweep.
type poller struct {
	srv  *Server
	epfd int
	// wake is a pipe whose read end is in the set, to end the loop.
	wake [2]int

	mu     sync.Mutex
	parked map[int32]parked
	done   chan struct{}
}

// parked is a parked connection: c while it keeps its net.Conn, nil once
// detached; the address its slot is counted under; when it was parked and
// when it is closed unless its client speaks (Unix nanoseconds).
type parked struct {
	c     *conn
	ip    netip.Addr
	since int64
	until int64
}

// DetachAfter is how long a parked connection keeps its net.Conn.
const DetachAfter = 500 * time.Millisecond

func newPoller(s *Server) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{srv: s, epfd: epfd, parked: map[int32]parked{}, done: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	go p.loop()
	go p.sweep()
	return p, nil
}

// armed is what a parked socket waits for. Level-triggered and armed
// once: if the client spoke between the wait's end and the arming, the
// event comes at once.
const armed = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// park takes c over, keeping its net.Conn; its goroutine must return.
// False means it could not be parked, and c is the caller's still.
func (p *poller) park(c *conn) bool {
	fd := -1
	if err := c.raw.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return false
	}
	op := syscall.EPOLL_CTL_ADD
	if c.epollSet {
		op = syscall.EPOLL_CTL_MOD
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv.closing.Load() {
		return false
	}
	c.state.Store(stateParked)
	p.parked[int32(fd)] = parked{c: c, ip: c.ip, since: time.Now().UnixNano(), until: c.idleUntil.UnixNano()}
	// From the arming on, c may be resumed by another goroutine: nothing
	// of c is touched after it.
	wasSet := c.epollSet
	c.epollSet = true
	ev := syscall.EpollEvent{Events: armed, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		delete(p.parked, int32(fd))
		c.epollSet = wasSet
		c.state.Store(stateIdle)
		p.srv.Log.Warn("gateway: parking an idle connection failed", "error", err.Error())
		return false
	}
	return true
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wake[0] {
				p.closeFDs()
				return
			}
			p.mu.Lock()
			pc, ok := p.parked[ev.Fd]
			delete(p.parked, ev.Fd)
			p.mu.Unlock()
			switch {
			case !ok:
			case pc.c != nil:
				go pc.c.resume()
			default:
				go p.reattach(int(ev.Fd), pc)
			}
		}
	}
}

// resume serves a parked connection its client spoke on again.
func (c *conn) resume() {
	c.state.Store(stateActive)
	c.serve(false)
}

// detach replaces a parked connection by its bare socket: a descriptor of
// the poller's, in the set in its place. It holds p.mu.
func (p *poller) detach(fd int32, pc parked) {
	delete(p.parked, fd)
	c := pc.c
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	c.closed.Do(func() {
		c.state.Store(stateGone)
		_ = c.nc.Close()
		c.forget()
	})
	if errno != 0 {
		p.srv.addrs.Release(pc.ip)
		return
	}
	dup := int(r)
	ev := syscall.EpollEvent{Events: armed, Fd: int32(dup)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, dup, &ev); err != nil {
		_ = syscall.Close(dup)
		p.srv.addrs.Release(pc.ip)
		return
	}
	pc.c = nil
	p.parked[int32(dup)] = pc
}

// reattach makes a detached socket a connection again and serves it.
func (p *poller) reattach(fd int, pc parked) {
	s := p.srv
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f) // a descriptor of its own, in the runtime's poller
	_ = f.Close()
	if err != nil {
		s.addrs.Release(pc.ip)
		s.Log.Warn("gateway: resuming a parked connection failed", "error", err.Error())
		return
	}
	c := s.newConn(nc, nil, pc.ip)
	if c == nil {
		return
	}
	c.resume()
}

// sweep, four times a second, detaches the connections parked for
// DetachAfter and closes those whose idle time is over.
func (p *poller) sweep() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			p.closeParked(now.UnixNano(), now.Add(-DetachAfter).UnixNano())
		}
	}
}

// closeParked closes the parked connections whose deadline is before
// until, and detaches those with a net.Conn parked before detach.
func (p *poller) closeParked(until, detach int64) {
	var closing []*conn
	p.mu.Lock()
	for fd, pc := range p.parked {
		switch {
		case pc.until < until && pc.c != nil:
			delete(p.parked, fd)
			closing = append(closing, pc.c)
		case pc.until < until:
			delete(p.parked, fd)
			_ = syscall.Close(int(fd))
			p.srv.addrs.Release(pc.ip)
		case pc.c != nil && pc.since < detach:
			p.detach(fd, pc)
		}
	}
	p.mu.Unlock()
	for _, c := range closing {
		c.closeNow()
	}
}

// close closes every parked connection and stops the poller. The server
// is closing: no connection is parked after this.
func (p *poller) close() {
	p.closeParked(1<<63-1, 0)
	close(p.done)
	_, _ = syscall.Write(p.wake[1], []byte{1})
}

// settled reports whether every parked connection is detached.
func (p *poller) settled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.parked {
		if pc.c != nil {
			return false
		}
	}
	return true
}

// count is how many connections are parked.
func (p *poller) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

func (p *poller) closeFDs() {
	_ = syscall.Close(p.wake[0])
	_ = syscall.Close(p.wake[1])
	_ = syscall.Close(p.epfd)
}

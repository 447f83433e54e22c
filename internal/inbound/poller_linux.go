package inbound

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller holds parked connections. A parked connection is only its socket:
// a descriptor in an epoll set of the server's own, armed for one event
// (EPOLLONESHOT), with no goroutine, no buffer and no net.Conn (the
// runtime's poll descriptor and addresses are given back). When its client
// speaks again, or hangs up, it becomes a net.Conn again and gets a
// goroutine; one that stays silent past its idle deadline is closed by a
// sweep.
type poller struct {
	srv  *Server
	epfd int
	// wake is a pipe whose read end is in the set, to end the loop.
	wake [2]int

	mu     sync.Mutex
	parked map[int32]parked
	done   chan struct{}
}

// parked is what a parked connection keeps: the address its slot is
// counted under, and when it is closed unless its client speaks.
type parked struct {
	ip    netip.Addr
	until int64 // Unix nanoseconds
}

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

// park takes c over: its socket stays open under a descriptor of the
// poller's, c itself is closed. False means it could not be parked, and c
// is the caller's still.
func (p *poller) park(c *conn) bool {
	fd := -1
	var dupErr error
	if err := c.raw.Control(func(f uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			dupErr = e
			return
		}
		fd = int(r)
	}); err != nil || dupErr != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv.closing.Load() {
		_ = syscall.Close(fd)
		return false
	}
	// Level-triggered and armed once: if the client spoke between the
	// wait's end and now, the event comes at once.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = syscall.Close(fd)
		p.srv.Log.Warn("gateway: parking an idle connection failed", "error", err.Error())
		return false
	}
	p.parked[int32(fd)] = parked{ip: c.ip, until: c.idleUntil.UnixNano()}
	c.closed.Do(func() {
		c.state.Store(stateGone)
		_ = c.nc.Close()
		c.forget()
	})
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
			if ok {
				go p.resume(int(ev.Fd), pc)
			}
		}
	}
}

// resume makes a parked socket a connection again and serves it.
func (p *poller) resume(fd int, pc parked) {
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
	c.state.Store(stateActive)
	c.serve(false)
}

// sweep closes the parked connections whose idle time is over, once a
// second.
func (p *poller) sweep() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			p.closeParked(now.UnixNano())
		}
	}
}

// closeParked closes the parked connections whose deadline is before
// until.
func (p *poller) closeParked(until int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for fd, pc := range p.parked {
		if pc.until < until {
			delete(p.parked, fd)
			_ = syscall.Close(int(fd))
			p.srv.addrs.Release(pc.ip)
		}
	}
}

// close closes every parked connection and stops the poller. The server
// is closing: no connection is parked after this.
func (p *poller) close() {
	p.closeParked(1<<63 - 1)
	close(p.done)
	_, _ = syscall.Write(p.wake[1], []byte{1})
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

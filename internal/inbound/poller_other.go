//go:build !linux

package inbound

import "errors"

// poller is Linux's epoll: elsewhere an idle connection waits on its
// goroutine, without buffers, until its idle deadline.
type poller struct{}

func newPoller(*Server) (*poller, error) {
	return nil, errors.New("parking idle connections needs Linux's epoll")
}

func (*poller) park(*conn) bool { return false }
func (*poller) close()          {}
func (*poller) count() int      { return 0 }
func (*poller) settled() bool   { return true }

package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/keyplane/keyplane/internal/auth"
)

// Refused tokens are audited in the administrators' log (organization
// "*"): an anonymous caller writes to no organization's log. Each entry
// costs a database write that the caller does not pay for, so they are
// rate-limited: at most one per client address per refusalInterval, and
// at most refusalBurst per refusalInterval in all. The request log still
// has every one.
const (
	refusalInterval = 10 * time.Second
	refusalBurst    = 20
	// refusalAddrs bounds the addresses remembered; beyond it the memory
	// starts afresh, which at worst lets a few more entries through.
	refusalAddrs = 10000
)

// refusals decides which refused requests are audited.
type refusals struct {
	mu          sync.Mutex
	last        map[string]time.Time
	windowStart time.Time
	inWindow    int
}

// allow reports whether a refusal from addr at now is audited.
func (l *refusals) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil || len(l.last) >= refusalAddrs {
		l.last = map[string]time.Time{}
	}
	if now.Sub(l.windowStart) >= refusalInterval {
		l.windowStart, l.inWindow = now, 0
	}
	if t, ok := l.last[addr]; ok && now.Sub(t) < refusalInterval || l.inWindow >= refusalBurst {
		return false
	}
	l.last[addr] = now
	l.inWindow++
	return true
}

// auditRefusal records a request refused for its token, when the rate
// limits allow.
func (s *Server) auditRefusal(r *http.Request, status int) {
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	if !s.refused.allow(addr, time.Now()) {
		return
	}
	s.record(r, "unauthenticated "+addr, "", status, &auditNote{org: auth.AllOrgs, outcome: "UNAUTHENTICATED"})
}

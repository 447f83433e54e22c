package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/inbound"
	"github.com/keyplane/keyplane/internal/route"
	"github.com/keyplane/keyplane/internal/upstream"
)

// ctxKey carries the chosen endpoint from ServeHTTP to the reverse proxy
// that serves protocol upgrades.
type ctxKey struct{}

// call is one request on its way to a target.
type call struct {
	env    *environment
	match  *route.Match
	target *target
	ep     *endpoint
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			c := pr.In.Context().Value(ctxKey{}).(*call)
			pr.Out.URL.Scheme = c.ep.scheme
			pr.Out.URL.Host = c.ep.hostport
			// UpstreamPath keeps the client's escaping.
			escaped := c.match.UpstreamPath()
			pr.Out.URL.Path, _ = url.PathUnescape(escaped)
			pr.Out.URL.RawPath = escaped
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = c.ep.hostHeader
			pr.SetXForwarded()
		},
		Transport: dispatch{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.upstreamFailed(w, r, r.Context().Value(ctxKey{}).(*call), err)
		},
		BufferPool: g.buffers,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := g.live.Load()
		e := s.envs[hostOf(r.Host, g.cfg.Domain)]
		if e == nil {
			switch {
			case r.URL.Path == "/healthz":
				writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			case r.URL.Path == "/readyz" && g.ready.Load():
				writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			case !g.ready.Load():
				// Nothing loaded yet (the database may be unreachable since
				// the start): nothing can be said to have no route.
				writeText(w, http.StatusServiceUnavailable, "no healthy upstream")
			default:
				noRoute(w, r)
			}
			return
		}
		m, ok := e.routes.Match(r)
		if !ok {
			noRoute(w, r)
			return
		}
		if m.Target == nil {
			// A route rule without a target: the proxy answers itself,
			// with nothing to say.
			w.WriteHeader(http.StatusOK)
			return
		}
		t := e.targets[m.Target]
		if t == nil || t.problem != "" {
			problem := "no configuration for the target"
			if t != nil {
				problem = t.problem
			}
			g.log.Warn("gateway target unreachable", "org", e.org, "env", e.env, "proxy", m.Proxy,
				"target", m.Target.Name, "problem", problem)
			status, body := upstream.Failure(errors.New(problem))
			writeText(w, status, body)
			return
		}
		c := &call{env: e, match: m, target: t, ep: t.pick()}
		if r.Header.Get("Upgrade") != "" {
			// WebSocket and other upgrades: the connection becomes the
			// target's, which the reverse proxy knows how to hand over.
			rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
			return
		}
		g.forward(w, r, c)
	})
}

// buffers lends copy buffers, which would otherwise be allocated (32 KiB)
// for every request.
type buffers struct{ pool sync.Pool }

func newBuffers() *buffers {
	return &buffers{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *buffers) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *buffers) Put(b []byte) { p.pool.Put(&b) }

// dispatch sends each request through the connection pool of the endpoint
// it was routed to.
type dispatch struct{}

func (dispatch) RoundTrip(r *http.Request) (*http.Response, error) {
	return r.Context().Value(ctxKey{}).(*call).ep.transport.RoundTrip(r)
}

// upstreamFailed answers a request the target could not be reached for,
// in the words of the runtime the seeds show, and logs which proxy, target
// and certificate problem it was.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, c *call, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away; nobody reads an answer.
		return
	}
	attrs := []any{"org", c.env.org, "env", c.env.env, "proxy", c.match.Proxy, "target", c.target.name,
		"upstream", c.ep.hostport, "error", err.Error()}
	if reason, ok := upstream.Reason(err); ok {
		attrs = append(attrs, "tls_error", reason)
	}
	status, body := upstream.Failure(err)
	g.log.Warn("gateway upstream connection failed", attrs...)
	writeText(w, status, body)
}

// writeText answers a plain-text body as Envoy does: exactly the text, no
// newline after it.
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// hostOf turns a Host header into an environment's host label: the part
// before .{domain}, without port, lower-cased.
func hostOf(host, domain string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, "."+domain)
	if !ok || strings.Contains(label, ".") {
		return ""
	}
	return label
}

// noRoute answers a request no live proxy serves, with the JSON fault
// Apigee's runtime answers.
func noRoute(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{"fault": map[string]any{
		"faultstring": "Unable to identify proxy for host: " + keyplane.Clip(r.Host, 255) + " and url: " + keyplane.Clip(r.URL.Path, 1024),
		"detail":      map[string]string{"errorcode": "messaging.adaptors.http.flow.ApplicationNotFound"},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve answers on ln until ctx ends, then stops accepting connections and
// lets requests in flight finish, for up to grace. With tlsConfig set it
// speaks HTTPS.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, grace time.Duration) error {
	srv := &inbound.Server{
		Handler:        g.Handler(),
		Timeouts:       g.cfg.Timeouts,
		MaxHeaderBytes: 64 << 10,
		TLSConfig:      tlsConfig,
		Log:            g.log,

		MaxConnsPerAddr: g.cfg.MaxConnsPerAddr,
		OnQuiet:         g.releaseMemory,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// releaseEvery is the shortest time between two releases of memory.
const releaseEvery = 10 * time.Second

// releaseMemory gives a quiet gateway's free memory back to the system:
// the garbage of a busy spell (up to four times the live heap when GOGC
// is raised for speed) need not stay with a gateway that now only holds
// idle connections. It does so at most once every releaseEvery, since the
// next configuration built takes the pages back one fault at a time; a
// release asked for sooner is made when that time is up.
func (g *Gateway) releaseMemory() {
	now := time.Now().UnixNano()
	last := g.released.Load()
	if wait := last + int64(releaseEvery) - now; last != 0 && wait > 0 {
		if g.releaseDue.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				g.releaseDue.Store(false)
				g.releaseMemory()
			})
		}
		return
	}
	if g.released.CompareAndSwap(last, now) {
		debug.FreeOSMemory()
	}
}

// Package httpapi is keyplane's HTTP surface: the router, the wire encoding
// of requests and answers, and the one mapping from application errors to
// HTTP statuses. Handlers are thin: decode, call a service, encode.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/auth"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/environment"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/proxy"
	"github.com/keyplane/keyplane/internal/requestid"
	"github.com/keyplane/keyplane/internal/targetserver"
)

// Config is what the HTTP layer is built from.
type Config struct {
	Environments  *environment.Service
	Keystores     *keystore.Service
	Operations    *operation.Service
	TargetServers *targetserver.Service
	Deployments   *deploy.Service
	// Proxies manages API proxies and their deployments.
	Proxies *proxy.Service
	// Certificates answers the organization's certificate expiry view.
	Certificates *expiry.Service
	// PublicURL is the base URL clients reach this server at, for signed
	// archive URLs; empty means the URL of each request.
	PublicURL string
	// Ready reports whether the service can answer: database reachable and
	// migrated.
	Ready func(ctx context.Context) error
	Log   *slog.Logger
	// Auth checks bearer tokens; Tokens issues them; Audit records changes.
	Auth   *auth.Authenticator
	Tokens *auth.Tokens
	Audit  *auth.Audit
	// MaxBodyBytes limits API request bodies (default 10 MiB).
	MaxBodyBytes int64
	// Registry receives the HTTP metrics; nil means a new registry.
	Registry *prometheus.Registry
	// MetricsToken, when set, is the bearer token that GET /metrics
	// needs; when empty, /metrics is not served on the API's address (see
	// Metrics for a listener of its own).
	MetricsToken string
	// MetricsCacheTTL is how long one gathering of the metrics is served
	// again; 0 means 5 s, negative means never.
	MetricsCacheTTL time.Duration
}

// Server is keyplane's HTTP handler.
type Server struct {
	cfg        Config
	log        *slog.Logger
	router     chi.Router
	metrics    *metricsCache
	refused    refusals
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	routeNames routeNames
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyplane_http_requests_total", Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyplane_http_request_duration_seconds", Help: "HTTP request latency by route, method and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "method", "code"})
	cfg.Registry.MustRegister(s.requests, s.latency)
	s.metrics = &metricsCache{reg: cfg.Registry, log: s.log.Warn, ttl: cfg.MetricsCacheTTL}
	if s.metrics.ttl == 0 {
		s.metrics.ttl = DefaultMetricsTTL
	}
	s.router = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router exposes the route table, so tests can check every route against
// openapi.yaml and the authorization matrix.
func (s *Server) Router() chi.Routes { return s.router }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)
	// observe wraps recover, so that a request that panicked is logged and
	// counted with the 500 it got.
	r.Use(s.requestID, s.observe, s.recover)
	// Apigee's clients call collections and resources with a trailing
	// slash too (Terraform posts to .../references/), and Google's front end
	// serves both spellings alike.
	r.Use(middleware.StripSlashes)
	// HEAD is answered wherever GET is, as HTTP asks (net/http drops the
	// body).
	r.Use(middleware.GetHead)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/metrics", s.metricsGate)
	r.Put(deploy.ArchivePath+"{token}", s.audited(s.uploadArchive))
	r.Get(deploy.ArchivePath+"{token}", s.downloadArchive)

	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate, s.audit)
		r.With(s.allowed(everyOrgAdmin)).Post("/organizations", s.createOrganization)
		r.Get("/organizations", s.listOrganizations)
		r.Route("/organizations/{org}", func(r chi.Router) {
			r.Use(s.allowed(orgScope))
			r.Get("/", s.getOrganization)
			r.Group(func(r chi.Router) {
				r.Use(s.allowed(orgAdmin))
				r.Post("/tokens", s.createToken)
				r.Get("/tokens", s.listTokens)
				r.Delete("/tokens/{id}", s.revokeToken)
				r.Get("/auditLogs", s.listAuditLogs)
			})
			r.Get("/operations", s.listOperations)
			r.Get("/operations/{uuid}", s.getOperation)
			r.Get("/certificates", s.listCertificates)
			s.proxyRoutes(r)
			r.Post("/environments", s.createEnvironment)
			r.Get("/environments", s.listEnvironments)
			r.Route("/environments/{env}", func(r chi.Router) {
				r.Get("/", s.getEnvironment)
				r.Delete("/", s.deleteEnvironment)
				s.keystoreRoutes(r)
				s.referenceRoutes(r)
				s.targetServerRoutes(r)
				s.archiveRoutes(r)
				s.environmentProxyRoutes(r)
			})
		})
	})
	return r
}

type ctxKey int

const (
	requestLogKey ctxKey = iota
)

// principal is the caller of an authenticated request. authenticate puts
// it in the request's log record, which observe made, rather than in a
// context of its own: one copy of the request fewer on every call.
func principal(r *http.Request) *auth.Principal {
	if info, ok := r.Context().Value(requestLogKey).(*requestLog); ok {
		return info.principal
	}
	return nil
}

// requestID gives every request an id: the caller's X-Request-Id when it is
// a sane one (see requestid.Valid), else a new one. It is echoed in
// X-Request-Id, carried by the request's context onto every log line and
// into the jobs the request queues.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), id)))
	})
}

// recover turns a panic into a logged 500 with the JSON error body, never a
// stack trace on the wire.
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler answered with, and how many
// bytes of body it wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// requestLog is what the request's log line learns while the request runs,
// from handlers deeper than observe, and the request's principal once
// authenticated.
type requestLog struct {
	tokenID   string
	principal *auth.Principal
}

// observe records each request in the metrics, labelled by route pattern
// (never by raw path, which would let callers grow the label set), and logs
// one line for it.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info := &requestLog{}
		r = r.WithContext(context.WithValue(r.Context(), requestLogKey, info))
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		if rec.status == 0 {
			rec.status = http.StatusOK // nothing written: net/http answers 200
		}
		route := s.routeNames.of(chi.RouteContext(r.Context()))
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER" // callers choose methods; labels must stay few
		}
		code := strconv.Itoa(rec.status)
		s.requests.WithLabelValues(route, method, code).Inc()
		s.latency.WithLabelValues(route, method, code).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if rec.status < 400 && quietRoutes[route] {
			level = slog.LevelDebug // probes and scrapes would drown the rest
		}
		ctx := r.Context()
		if h := s.log.Handler(); h.Enabled(ctx, level) {
			// The record is made here rather than by Logger.Log, which
			// would also capture the caller's program counter (no handler
			// of keyplane's shows it) and box every value: the line is the
			// same, at a fraction of the cost, on every request.
			line := slog.NewRecord(time.Now(), level, "request", 0)
			line.AddAttrs(slog.String("method", method), slog.String("route", route), slog.String("path", logPath(r)),
				slog.Int("status", rec.status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes), slog.String("org", keyplane.Clip(chi.URLParam(r, "org"), 255)),
				slog.String("token_id", info.tokenID))
			_ = h.Handle(ctx, line)
		}
	})
}

// routeNames remembers the route pattern of each chain of patterns chi
// matched: chi joins and rewrites the chain into a new string on every
// call, five of them deep for the API's resources, and observe needs it on
// every request.
type routeNames struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxRouteNames bounds the memo. The chains are those of the route table,
// never of a caller's path, so it is never reached; it is there so that no
// change of chi's can make the memo grow without end.
const maxRouteNames = 1024

// of is the route pattern of rc, "unmatched" when no route matched.
func (c *routeNames) of(rc *chi.Context) string {
	if rc == nil {
		return "unmatched"
	}
	var buf [256]byte
	key := buf[:0]
	for _, p := range rc.RoutePatterns {
		key = append(key, p...)
	}
	c.mu.RLock()
	route, ok := c.m[string(key)]
	c.mu.RUnlock()
	if ok {
		return route
	}
	if route = rc.RoutePattern(); route == "" {
		route = "unmatched"
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	if len(c.m) < maxRouteNames {
		c.m[string(key)] = route
	}
	c.mu.Unlock()
	return route
}

// quietRoutes are logged at debug level when they succeed.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logPath is the request's path as logs may show it: clipped, and without
// the signature of a signed archive URL, which grants access to whoever
// holds it.
func logPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, deploy.ArchivePath) {
		return deploy.ArchivePath + "REDACTED"
	}
	return clipPath(r.URL.Path)
}

// knownMethods are the methods metrics label by name.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// authenticate requires a valid bearer token on every /v1 request and puts
// its principal in the request's context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, err := s.cfg.Auth.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			s.writeError(w, r, err)
			if keyplane.ErrorCode(err) == keyplane.Unauthenticated {
				s.auditRefusal(r, http.StatusUnauthorized)
			}
			return
		}
		info, ok := r.Context().Value(requestLogKey).(*requestLog)
		if !ok {
			// observe, which makes the record, runs before every route.
			s.writeError(w, r, errors.New("authenticate: the request has no log record"))
			return
		}
		info.tokenID, info.principal = p.TokenID, p
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "error", err)
		if errors.Is(err, deploy.ErrQueueNotRunning) {
			s.writeError(w, r, keyplane.Errorf(keyplane.Unavailable, "not ready: the job queue is not running"))
			return
		}
		s.writeError(w, r, keyplane.Errorf(keyplane.Unavailable, "not ready: database unreachable or not migrated"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Package httpapi is keyplane's HTTP surface: the router, the wire encoding
// of requests and answers, and the one mapping from application errors to
// HTTP statuses. Handlers are thin: decode, call a service, encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/auth"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/environment"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/targetserver"
)

// Config is what the HTTP layer is built from.
type Config struct {
	Environments  *environment.Service
	Keystores     *keystore.Service
	Operations    *operation.Service
	TargetServers *targetserver.Service
	Deployments   *deploy.Service
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
}

// Server is keyplane's HTTP handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	router   chi.Router
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
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
		Name: "keyplane_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "method"})
	cfg.Registry.MustRegister(s.requests, s.latency)
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
	r.Use(s.requestID, s.recover, s.observe)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
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
			r.Post("/environments", s.createEnvironment)
			r.Get("/environments", s.listEnvironments)
			r.Route("/environments/{env}", func(r chi.Router) {
				r.Get("/", s.getEnvironment)
				r.Delete("/", s.deleteEnvironment)
				s.keystoreRoutes(r)
				s.referenceRoutes(r)
				s.targetServerRoutes(r)
				s.archiveRoutes(r)
			})
		})
	})
	return r
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// principal is the caller of an authenticated request.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey).(*auth.Principal)
	return p
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// requestID gives every request an id, echoed in X-Request-Id and logged
// with any failure.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
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

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
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
	return w.ResponseWriter.Write(b)
}

// observe records each request in the metrics, labelled by route pattern
// (never by raw path, which would let callers grow the label set).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER" // callers choose methods; labels must stay few
		}
		s.requests.WithLabelValues(route, method, fmt.Sprint(rec.status)).Inc()
		s.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
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
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
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
		s.writeError(w, r, keyplane.Errorf(keyplane.Unavailable, "not ready: database unreachable or not migrated"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

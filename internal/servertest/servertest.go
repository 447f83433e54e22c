// Package servertest starts a real keyplane server for tests: its own
// migrated PostgreSQL database, the full wiring of the keyplane command, and
// a real TCP listener on loopback.
package servertest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/server"
)

// Server is a running keyplane.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:41234.
	URL string
	// Token is an administrator's bearer token.
	Token string
	// DatabaseURL is the server's own database, for tests that inspect rows.
	DatabaseURL string
	// MasterKey is the key that seals private keys.
	MasterKey string
	// App is the assembled server.
	App *server.Server
	// Targets is the target fence of the server's deployments, which its
	// test gateways share.
	Targets *egress.Policy
	// MetricsToken is the bearer token /metrics needs.
	MetricsToken string
}

// Scrape fetches and parses the server's /metrics with its metrics token.
func (s *Server) Scrape(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	return scrape(t, s.URL+"/metrics", s.MetricsToken)
}

// Options adjust a test server.
type Options struct {
	// Log receives the server's log, JSON lines as `keyplane serve` writes
	// them off a terminal; nil discards it.
	Log io.Writer
	// MaxBodyBytes overrides the request body limit.
	MaxBodyBytes int64
	// DatabaseURL makes the server share an existing database (another
	// test server's) instead of getting its own.
	DatabaseURL string
	// MasterKey and Token, with DatabaseURL, make a second server of the
	// same deployment.
	MasterKey, Token string
	// Timeouts override the slow-client timeouts.
	Timeouts server.Timeouts
	// MaxConnsPerAddr overrides the connections one address may hold.
	MaxConnsPerAddr int
	// MaxConcurrentUploads overrides how many uploads may stream at once.
	MaxConcurrentUploads int
	// Quotas and KeepArchives bound what organizations store.
	Quotas       deploy.Quotas
	AliasQuota   int
	KeepArchives int
	// MetricsAddr serves /metrics on a listener of its own.
	MetricsAddr string
	// MetricsCacheTTL is how long a scrape is served again; zero means
	// never, so that tests see every change at once.
	MetricsCacheTTL time.Duration
	// TargetsAllow and TargetsDeny are the target fence's lists, as
	// KEYPLANE_GATEWAY_TARGETS_ALLOW and _DENY take them; the server's own
	// address is always refused. Test backends listen on loopback, so
	// loopback is allowed too unless StrictTargets is set.
	TargetsAllow, TargetsDeny string
	StrictTargets             bool
	// TLSCertFile and TLSKeyFile make the server speak HTTPS; URL then
	// starts with https://.
	TLSCertFile, TLSKeyFile string
	// ValidationDelay slows every deployment down, so that a test can act
	// while one is in flight.
	ValidationDelay time.Duration
	// JobTimeout and RescueAfter override the job queue's defaults.
	JobTimeout, RescueAfter time.Duration
	// PublicURL is the address the server says clients reach it at.
	PublicURL string
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a server with options.
func StartWith(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Server{
		DatabaseURL: opt.DatabaseURL,
		MasterKey:   cmp.Or(opt.MasterKey, base64.StdEncoding.EncodeToString(key)),
		Token:       cmp.Or(opt.Token, server.NewToken()),
		// The metrics token is a token of its own, never an API token.
		MetricsToken: server.NewToken(),
	}
	if s.DatabaseURL == "" {
		s.DatabaseURL = pgtest.URL(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listen: %v", err)
	}
	allow := opt.TargetsAllow
	if !opt.StrictTargets {
		allow += "," + egress.Loopback
	}
	if s.Targets, err = egress.Parse(allow, opt.TargetsDeny, ln.Addr().String()); err != nil {
		ln.Close()
		t.Fatalf("servertest: %v", err)
	}
	tlsConfig, err := server.LoadTLS(opt.TLSCertFile, opt.TLSKeyFile)
	if err != nil {
		ln.Close()
		t.Fatalf("servertest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, server.Config{
		Targets:              s.Targets,
		DatabaseURL:          s.DatabaseURL,
		MasterKey:            s.MasterKey,
		AdminToken:           s.Token,
		MaxBodyBytes:         opt.MaxBodyBytes,
		Timeouts:             opt.Timeouts,
		MaxConnsPerAddr:      opt.MaxConnsPerAddr,
		MaxConcurrentUploads: opt.MaxConcurrentUploads,
		MetricsToken:         s.MetricsToken,
		MetricsAddr:          opt.MetricsAddr,
		Quotas:               opt.Quotas,
		KeepArchives:         opt.KeepArchives,
		AliasQuota:           opt.AliasQuota,
		MetricsCacheTTL:      cmp.Or(opt.MetricsCacheTTL, -1),
		TLS:                  tlsConfig,
		ValidationDelay:      opt.ValidationDelay,
		JobTimeout:           opt.JobTimeout,
		RescueAfter:          opt.RescueAfter,
		PublicURL:            opt.PublicURL,
		Log:                  slog.New(slog.NewJSONHandler(opt.Log, nil)),
	})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("servertest: %v", err)
	}
	s.App = app
	s.URL = "http://" + ln.Addr().String()
	if opt.TLSCertFile != "" {
		s.URL = "https://" + ln.Addr().String()
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		app.Close()
	})
	return s
}

// Scrape fetches a Prometheus /metrics URL, such as a server's URL +
// "/metrics", and parses the text exposition format as Prometheus does,
// by metric name.
func Scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	return scrape(t, url, "")
}

func scrape(t testing.TB, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("servertest: scrape: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("servertest: scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("servertest: scrape %s: status %d", url, res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("servertest: scrape %s: %v", url, err)
	}
	return families
}

// Labels returns the labels of a metric by name.
func Labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Gateway is a running keyplane gateway.
type Gateway struct {
	*gateway.Gateway
	// URL is the gateway's base URL, such as http://127.0.0.1:41235.
	URL string
}

// GatewayOptions adjust a test gateway.
type GatewayOptions struct {
	// Log receives the gateway's log as JSON lines; nil discards it.
	Log io.Writer
	// Resync is the period of full reloads; zero means an hour, so that
	// what a test gateway sees quickly it learnt from notifications.
	Resync time.Duration
	// Targets is the gateway's target fence; nil means the server's.
	Targets *egress.Policy
	// Timeouts and MaxConnsPerAddr bound slow and greedy clients; zero
	// means the gateway's defaults.
	Timeouts        clientlimit.Timeouts
	MaxConnsPerAddr int
	// Store, when set, stands between the gateway and the database: the
	// gateway reads through what it returns for the database.
	Store func(gateway.Store) gateway.Store
}

// StartGateway starts a gateway serving s's database, and waits until it
// has loaded its configuration. It stops when the test ends.
func StartGateway(t testing.TB, s *Server, opt GatewayOptions) *Gateway {
	t.Helper()
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	db, err := postgres.Open(ctx, s.DatabaseURL)
	if err != nil {
		cancel()
		t.Fatalf("servertest: gateway: %v", err)
	}
	keys, err := seal.ParseKeyring(s.MasterKey)
	if err != nil {
		cancel()
		db.Close()
		t.Fatalf("servertest: gateway: %v", err)
	}
	var store gateway.Store = db
	if opt.Store != nil {
		store = opt.Store(db)
	}
	g := gateway.New(store, gateway.Config{Keys: keys, Resync: cmp.Or(opt.Resync, time.Hour), Log: slog.New(slog.NewJSONHandler(opt.Log, nil)),
		Targets: cmp.Or(opt.Targets, s.Targets), Timeouts: opt.Timeouts, MaxConnsPerAddr: opt.MaxConnsPerAddr})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		db.Close()
		t.Fatalf("servertest: gateway: listen: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = g.Run(ctx) }()
	go func() { defer wg.Done(); _ = g.Serve(ctx, ln, nil, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		db.Close()
	})
	select {
	case <-g.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("servertest: the gateway did not load its configuration within 10s")
	}
	return &Gateway{Gateway: g, URL: "http://" + ln.Addr().String()}
}

// LogBuffer collects a server's log for a test: a bytes.Buffer that the
// server's goroutines and the test may use at once.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Client is an API client of the server with its administrator's token.
func (s *Server) Client() *api.Client { return &api.Client{BaseURL: s.URL, Token: s.Token} }

// CreateEnvironments creates organization org with the given environments:
// the "server with an environment" most tests begin from.
func (s *Server) CreateEnvironments(t testing.TB, org string, envs ...api.Environment) *api.Client {
	t.Helper()
	c := s.Client()
	ctx := context.Background()
	if _, err := c.CreateOrganization(ctx, api.Organization{Name: org}); err != nil {
		t.Fatalf("create organization %s: %v", org, err)
	}
	for _, e := range envs {
		if _, err := c.CreateEnvironment(ctx, org, e); err != nil {
			t.Fatalf("create environment %s: %v", e.Name, err)
		}
	}
	return c
}

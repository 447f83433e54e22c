package expiry_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// countingSource reads through to a real database, and counts the reads.
// Its database can be swapped for an unreachable one to play an outage.
type countingSource struct {
	mu    sync.Mutex
	db    *postgres.DB
	reads int
}

func (s *countingSource) AliasExpiries(ctx context.Context) ([]keyplane.AliasExpiry, error) {
	s.mu.Lock()
	s.reads++
	db := s.db
	s.mu.Unlock()
	return db.AliasExpiries(ctx)
}

func (s *countingSource) use(db *postgres.DB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = db
}

func (s *countingSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// clock is a settable time for the collector.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testBundle is a real server holding organization myorg, environment dev
// and keystore ks, and a collector over its database on a /metrics of its
// own.
type testBundle struct {
	srv     *servertest.Server
	client  *api.Client
	source  *countingSource
	clock   *clock
	metrics string // URL of the collector's /metrics
}

const interval = time.Minute

func setup(t *testing.T, timeout time.Duration) *testBundle {
	t.Helper()
	ctx := context.Background()
	srv := servertest.Start(t)
	cl := srv.CreateEnvironments(t, "myorg", api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeProgrammable})
	_, err := cl.CreateKeystore(ctx, "myorg", "dev", "ks")
	require.NoError(t, err)

	db, err := postgres.Open(ctx, srv.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	b := &testBundle{srv: srv, client: cl, source: &countingSource{db: db}, clock: &clock{now: time.Now()}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(expiry.NewCollector(b.source, expiry.CollectorConfig{
		Interval: interval, Timeout: timeout, Now: b.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(hs.Close)
	b.metrics = hs.URL
	return b
}

// alias uploads an alias whose chain is certs, leaf first.
func (b *testBundle) alias(t *testing.T, name string, certs ...*testcerts.Cert) {
	t.Helper()
	_, err := b.client.CreateAliasFromKeyCert(context.Background(), "myorg", "dev", "ks", name,
		api.KeyCertFile{Cert: testcerts.Chain(certs...)}, api.AliasOptions{IgnoreExpiryValidation: true})
	require.NoError(t, err)
}

// scrape is what one scrape of /metrics says.
type scrape struct {
	expiry    map[string]float64 // by alias
	refreshed float64
	failures  float64
}

func (b *testBundle) scrape(t *testing.T) scrape {
	t.Helper()
	families := servertest.Scrape(t, b.metrics)
	out := scrape{expiry: map[string]float64{}}
	if f := families["keyplane_certificate_expiry_timestamp_seconds"]; f != nil {
		require.Equal(t, dto.MetricType_GAUGE, f.GetType())
		for _, m := range f.GetMetric() {
			labels := servertest.Labels(m)
			require.Equal(t, []string{"alias", "env", "keystore", "org"}, slices.Sorted(maps.Keys(labels)))
			require.Equal(t, "myorg/dev/ks", labels["org"]+"/"+labels["env"]+"/"+labels["keystore"])
			out.expiry[labels["alias"]] = m.GetGauge().GetValue()
		}
	}
	out.refreshed = families["keyplane_certificate_expiry_refresh_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue()
	out.failures = families["keyplane_certificate_expiry_refresh_failures_total"].GetMetric()[0].GetCounter().GetValue()
	return out
}

func unix(c *testcerts.Cert) float64 { return float64(c.Cert.NotAfter.Unix()) }

func TestCollector_ReadsTheDatabaseOncePerIntervalHoweverOftenScraped(t *testing.T) {
	t.Parallel()
	b := setup(t, 3*time.Second)
	now := time.Now()
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true, NotAfter: now.Add(90 * 24 * time.Hour)})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf", Parent: ca, NotAfter: now.Add(200 * 24 * time.Hour)})
	expired := testcerts.New(t, testcerts.Options{CommonName: "expired", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	b.alias(t, "chain", leaf, ca)
	b.alias(t, "expired", expired)

	want := map[string]float64{
		"chain":   unix(ca), // the intermediate expires first: it breaks the chain
		"expired": unix(expired),
	}
	for range 20 {
		require.Equal(t, want, b.scrape(t).expiry)
	}
	require.Equal(t, 1, b.source.count(), "twenty scrapes within an interval, one query")

	// A change shows once the interval has passed, not before.
	later := testcerts.New(t, testcerts.Options{CommonName: "later", NotAfter: now.Add(30 * 24 * time.Hour)})
	b.alias(t, "later", later)
	b.clock.advance(interval - time.Second)
	require.Equal(t, want, b.scrape(t).expiry)
	require.Equal(t, 1, b.source.count())

	b.clock.advance(time.Second)
	want["later"] = unix(later)
	for range 5 {
		got := b.scrape(t)
		require.Equal(t, want, got.expiry)
		require.Equal(t, float64(b.clock.Now().UnixMilli())/1000, got.refreshed)
		require.Zero(t, got.failures)
	}
	require.Equal(t, 2, b.source.count())
}

// blackHole is a TCP listener that accepts connections and never answers,
// like a database host that went away behind a firewall.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestCollector_DatabaseOutageServesTheLastValuesWithoutWaiting(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	b := setup(t, timeout)
	cert := testcerts.New(t, testcerts.Options{CommonName: "c"})
	b.alias(t, "c", cert)
	first := b.scrape(t)
	require.Equal(t, map[string]float64{"c": unix(cert)}, first.expiry)
	up := b.source.db

	ctx := context.Background()
	hanging, err := postgres.Open(ctx, "postgres://keyplane@"+blackHole(t)+"/keyplane?sslmode=disable&connect_timeout=60")
	require.NoError(t, err)
	t.Cleanup(hanging.Close)
	refused, err := postgres.Open(ctx, "postgres://keyplane@127.0.0.1:1/keyplane?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(refused.Close)

	for i, down := range []*postgres.DB{hanging, refused} {
		b.source.use(down)
		b.clock.advance(interval)
		start := time.Now()
		got := b.scrape(t)
		require.Less(t, time.Since(start), timeout+2*time.Second, "a scrape waits for the database at most the timeout")
		require.Equal(t, first.expiry, got.expiry, "the last values are served")
		require.Equal(t, first.refreshed, got.refreshed, "the refresh time tells how old they are")
		require.Equal(t, float64(i+1), got.failures)
		// Within the interval, a failed read is not retried on every scrape.
		b.scrape(t)
		require.Equal(t, 2+i, b.source.count())
	}

	// The database is back: the next interval reads it again.
	b.source.use(up)
	b.clock.advance(interval)
	got := b.scrape(t)
	require.Equal(t, first.expiry, got.expiry)
	require.Greater(t, got.refreshed, first.refreshed)
	require.Equal(t, float64(2), got.failures)
	require.Equal(t, 4, b.source.count())
}

package expiry

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyplane/keyplane"
)

// Source is what the collector reads; *postgres.DB implements it.
type Source interface {
	AliasExpiries(ctx context.Context) ([]keyplane.AliasExpiry, error)
}

// CollectorConfig adjusts a Collector; zero fields are the defaults.
type CollectorConfig struct {
	// Interval is the least time between two reads of the database
	// (default 60 s): scrapes in between are served the last snapshot.
	Interval time.Duration
	// Timeout bounds one read (default 3 s), and so how long a scrape can
	// wait for the database.
	Timeout time.Duration
	// Log receives failed reads; nil is slog.Default().
	Log *slog.Logger
	// Now is the clock that decides when a snapshot is stale; nil is
	// time.Now.
	Now func() time.Time
}

// Collector exports keyplane_certificate_expiry_timestamp_seconds, one
// series per alias, from a snapshot of every alias's expiry that it reads
// with one query at most once per interval, on the first scrape that finds
// the snapshot stale. A read that fails or times out keeps the last
// snapshot, so that a database outage never fails a scrape nor holds it
// longer than the timeout; it is retried an interval later.
type Collector struct {
	src Source
	cfg CollectorConfig

	expiry, refreshed, failures *prometheus.Desc

	mu          sync.Mutex // held during a read: concurrent scrapes wait for it
	snapshot    []keyplane.AliasExpiry
	lastAttempt time.Time
	lastSuccess time.Time
	failed      int
}

// NewCollector returns a collector over src, for a Prometheus registry.
func NewCollector(src Source, cfg CollectorConfig) *Collector {
	cfg.Interval = cmp.Or(cfg.Interval, time.Minute)
	cfg.Timeout = cmp.Or(cfg.Timeout, 3*time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Collector{
		src: src,
		cfg: cfg,
		expiry: prometheus.NewDesc("keyplane_certificate_expiry_timestamp_seconds",
			"When each alias stops working, in seconds since the epoch: the earliest expiry (NotAfter) of the certificates of its chain, "+
				"leaf and intermediates alike, since the first to expire breaks it. Read from the database at most every "+cfg.Interval.String()+".",
			[]string{"org", "env", "keystore", "alias"}, nil),
		refreshed: prometheus.NewDesc("keyplane_certificate_expiry_refresh_timestamp_seconds",
			"When keyplane_certificate_expiry_timestamp_seconds was last read from the database, in seconds since the epoch; 0 before the first success.",
			nil, nil),
		failures: prometheus.NewDesc("keyplane_certificate_expiry_refresh_failures_total",
			"Reads of the certificate expiries that failed or timed out; the previous values are served meanwhile.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiry
	ch <- c.refreshed
	ch <- c.failures
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snapshot, refreshed, failed := c.current()
	for _, a := range snapshot {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(a.NotAfter.Unix()), a.Org, a.Env, a.Keystore, a.Alias)
	}
	var at float64
	if !refreshed.IsZero() {
		at = float64(refreshed.UnixMilli()) / 1000
	}
	ch <- prometheus.MustNewConstMetric(c.refreshed, prometheus.GaugeValue, at)
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(failed))
}

// current returns the snapshot, read anew first when the last attempt is
// an interval old, with the time of the last successful read and the
// number of failed ones.
func (c *Collector) current() ([]keyplane.AliasExpiry, time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if c.lastAttempt.IsZero() || now.Sub(c.lastAttempt) >= c.cfg.Interval {
		c.lastAttempt = now
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		snapshot, err := c.src.AliasExpiries(ctx)
		cancel()
		if err != nil {
			c.failed++
			c.cfg.Log.Warn("certificate expiry metrics not refreshed; serving the previous values", "error", err)
		} else {
			c.snapshot, c.lastSuccess = snapshot, now
		}
	}
	return c.snapshot, c.lastSuccess, c.failed
}

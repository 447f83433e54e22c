package httpapi

import (
	"bytes"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/keyplane/keyplane"
)

// DefaultMetricsTTL is how long one scrape's answer is served again:
// however many scrapers there are and however many aliases the expiry
// gauge reports, the registry is gathered and encoded at most once per
// period.
const DefaultMetricsTTL = 5 * time.Second

// metricsCache serves the registry's metrics in the text exposition
// format, gathered at most once per metricsTTL.
type metricsCache struct {
	reg *prometheus.Registry
	log func(msg string, args ...any)
	ttl time.Duration

	mu      sync.Mutex
	body    []byte
	expires time.Time
}

func (c *metricsCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := c.current()
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	_, _ = w.Write(body)
}

// current returns the cached answer, or gathers a new one; scrapers that
// arrive meanwhile wait for it rather than gather too.
func (c *metricsCache) current() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body != nil && time.Now().Before(c.expires) {
		return c.body
	}
	// A collector that fails costs its own metrics, never the whole scrape.
	families, err := c.reg.Gather()
	if err != nil {
		c.log("metrics: some collectors failed", "error", err.Error())
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			c.log("metrics: cannot encode a family", "family", f.GetName(), "error", err.Error())
		}
	}
	c.body, c.expires = buf.Bytes(), time.Now().Add(c.ttl)
	return c.body
}

// Metrics is the handler of the metrics, cached, without any check: for a
// listener of their own (KEYPLANE_METRICS_ADDR) that only the monitoring
// network reaches.
func (s *Server) Metrics() http.Handler { return s.metrics }

// metricsGate serves /metrics on the API's address only to a caller that
// presents the metrics token: the expiry gauge names every organization's
// environments, keystores and aliases, which no API token may learn.
func (s *Server) metricsGate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsToken == "" {
		s.writeError(w, r, keyplane.Errorf(keyplane.NotFound,
			"metrics are not served on this address: set KEYPLANE_METRICS_TOKEN, or scrape KEYPLANE_METRICS_ADDR"))
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.cfg.MetricsToken)) != 1 {
		s.writeError(w, r, keyplane.Errorf(keyplane.Unauthenticated, "metrics need the metrics token (KEYPLANE_METRICS_TOKEN) as a bearer token"))
		return
	}
	s.metrics.ServeHTTP(w, r)
}

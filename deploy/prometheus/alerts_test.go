// Package prometheus_test checks the alerting rules keyplane ships: that
// Prometheus's own rule parser loads them, and that they read metrics a
// keyplane server serves.
package prometheus_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
)

// loadRules parses alerts.yml as Prometheus loads a rule file (strictly:
// unknown fields are errors; PromQL and templates are parsed), and returns
// its alerting rules by name.
func loadRules(t *testing.T) map[string]rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile("alerts.yml", false, model.UTF8Validation,
		parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	out := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s holds a recording rule", g.Name)
			require.NotContains(t, out, r.Alert, "alert %s is defined twice", r.Alert)
			out[r.Alert] = r
		}
	}
	return out
}

// selectors returns the names of the metrics expr reads.
func selectors(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err)
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

func TestAlerts_FileLoadsWithThePrometheusRuleParser(t *testing.T) {
	t.Parallel()
	alerts := loadRules(t)
	for _, name := range []string{
		"KeyplaneCertificateExpiresSoon", "KeyplaneCertificateExpired", "KeyplaneDatabaseUnavailable",
		"KeyplaneServerErrors", "KeyplaneDeploymentsBacklog", "KeyplaneDeploymentsInterrupted",
		"KeyplaneOperationStuck", "KeyplaneJobQueueWithoutLeader", "KeyplaneJobQueueNotRunning",
	} {
		require.Contains(t, alerts, name)
	}
	for name, r := range alerts {
		require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], name)
		require.NotEmpty(t, r.Annotations["summary"], name)
		require.NotEmpty(t, r.Annotations["description"], name)
	}
	stuck := alerts["KeyplaneOperationStuck"]
	require.Equal(t, []string{"keyplane_operations_stuck"}, selectors(t, stuck.Expr))
	require.Equal(t, "critical", stuck.Labels["severity"])
	soon := alerts["KeyplaneCertificateExpiresSoon"]
	require.Equal(t, "keyplane_certificate_expiry_timestamp_seconds - time() < 14 * 86400 > 0", soon.Expr)
	require.Equal(t, []string{"keyplane_certificate_expiry_timestamp_seconds"}, selectors(t, soon.Expr))
	for _, label := range []string{"org", "env", "keystore", "alias"} {
		require.Contains(t, soon.Annotations["summary"], "{{ $labels."+label+" }}")
	}
}

// A rule file parses just as well when it names metrics nobody exports, and
// then never fires: every metric the alerts read must be one a keyplane
// server serves.
func TestAlerts_ReadOnlyMetricsTheServerServes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	// An alias, so that the certificate expiry gauge has a series, and
	// requests, so that the request metrics have samples.
	c := srv.CreateEnvironments(t, "myorg", api.Environment{Name: "dev"})
	ctx := context.Background()
	_, err := c.CreateKeystore(ctx, "myorg", "dev", "ks")
	require.NoError(t, err)
	_, err = c.CreateSelfSignedAlias(ctx, "myorg", "dev", "ks", "a", api.SelfSignedCertRequest{
		Alias: "a", KeySize: "2048", SigAlg: "SHA256withRSA", Subject: api.CertSubject{CommonName: "a"}, CertValidityInDays: 30,
	}, api.AliasOptions{})
	require.NoError(t, err)
	hc := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.MetricsToken)
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	require.NoError(t, err)

	for name, r := range loadRules(t) {
		for _, metric := range selectors(t, r.Expr) {
			require.Contains(t, fams, metric, "alert %s reads a metric the server does not serve", name)
		}
	}
}

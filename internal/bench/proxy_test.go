package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStartGateway_KeyplaneWithoutTheCommand_IsMissingNotFailed(t *testing.T) {
	t.Parallel()
	_, err := startGateway(context.Background(), []string{os.Args[0], "gateway"}, []string{roleEnv + "=no-gateway"},
		"postgres://unused", "unused", t.TempDir())
	require.ErrorIs(t, err, errGatewayMissing)
}

func TestStartGateway_ExitsWithoutServing_FailsWithItsLog(t *testing.T) {
	t.Parallel()
	_, err := startGateway(context.Background(), []string{"sh", "-c", "echo 'cannot reach the database' >&2; exit 3", "gateway"}, nil,
		"postgres://unused", "unused", t.TempDir())
	require.Error(t, err)
	require.NotErrorIs(t, err, errGatewayMissing)
	require.ErrorContains(t, err, `exited (exit status 3) before printing "serving on"`)
	require.ErrorContains(t, err, "cannot reach the database")
}

func TestLineWatch_LineSplitAcrossWrites_IsFound(t *testing.T) {
	t.Parallel()
	w := newLineWatch("serving on")
	for _, chunk := range []string{"starting\nkeyplane gate", "way serv", "ing on http://127.0.0.1:1", "\nmore\n"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		require.Equal(t, len(chunk), n)
	}
	select {
	case <-w.found:
	default:
		t.Fatal("line not found")
	}
	require.Equal(t, "keyplane gateway serving on http://127.0.0.1:1", w.line)
}

func measured(rps, p99 float64, errs int) ProxyResult {
	return ProxyResult{Status: ProxyMeasured, N: 1000, RPS: rps, P50Ms: p99 / 2, P99Ms: p99, Errors: errs,
		CPU: ProxyCPU{ProxyUs: 1e6 * 2 / rps}}
}

func TestProxyComparison_Compare_ChecksBothTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		nginx, gateway ProxyResult
		rpsOK, p99OK   bool
		cpuOK          bool
	}{
		{"faster and as quick", measured(1000, 2, 0), measured(1100, 2, 0), true, true, true},
		{"faster, slower tail", measured(1000, 2, 0), measured(1100, 2.4, 0), true, false, true},
		{"slower and slow tail", measured(1000, 2, 0), measured(900, 2.6, 0), false, false, false},
		{"equal", measured(1000, 2, 0), measured(1000, 2, 0), true, true, true},
		{"fast but failing requests", measured(1000, 2, 0), measured(2000, 1, 3), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &ProxyComparison{Connections: 64, Nginx: tc.nginx, Gateway: tc.gateway}
			p.compare()
			require.NotNil(t, p.RPSRatio)
			require.InDelta(t, tc.gateway.RPS/tc.nginx.RPS, *p.RPSRatio, 1e-3)
			require.InDelta(t, tc.gateway.P99Ms/tc.nginx.P99Ms, *p.P99Ratio, 1e-3)
			require.Len(t, p.Targets, 3)
			require.Equal(t, "gateway req/s ÷ nginx req/s at 64 connections", p.Targets[0].Target)
			require.Equal(t, tc.rpsOK, p.Targets[0].OK)
			require.Equal(t, "gateway p99 ÷ nginx p99 at 64 connections", p.Targets[1].Target)
			require.Equal(t, tc.p99OK, p.Targets[1].OK)
			require.Equal(t, "gateway CPU µs per request ÷ nginx's at 64 connections", p.Targets[2].Target)
			require.Equal(t, tc.cpuOK, p.Targets[2].OK)
		})
	}
}

func TestProxyComparison_Compare_ScenariosAndIdleConnections(t *testing.T) {
	t.Parallel()
	p := &ProxyComparison{Connections: 64, Nginx: measured(1000, 2, 0), Gateway: measured(1000, 2, 0),
		Scenarios: []*ProxyScenario{
			{Name: ScenarioNewClientConnections, Nginx: measured(500, 4, 0), Gateway: measured(600, 4, 0)},
			{Name: ScenarioNoUpstreamKeepAlive, Nginx: measured(300, 4, 0), Gateway: measured(200, 4, 0)},
		},
		Idle: &IdleComparison{Connections: 10000, GrowthRatio: ptr(3)},
	}
	p.compare()
	require.Len(t, p.Targets, 6)
	require.Equal(t, "gateway req/s ÷ nginx req/s, new_client_connections, 64 connections", p.Targets[3].Target)
	require.True(t, p.Targets[3].OK)
	require.InDelta(t, 1.2, *p.Scenarios[0].RPSRatio, 1e-9)
	require.Equal(t, "gateway req/s ÷ nginx req/s, no_upstream_keepalive, 64 connections", p.Targets[4].Target)
	require.False(t, p.Targets[4].OK)
	require.Equal(t, "gateway RSS growth ÷ nginx's holding 10000 idle keep-alive client connections", p.Targets[5].Target)
	require.False(t, p.Targets[5].OK)

	// A failed request in a scenario fails the run, and names it.
	p.Scenarios[1].Gateway.Errors = 2
	require.ErrorContains(t, p.Failure(), "2 of gateway (no_upstream_keepalive)'s requests failed")
	var out bytes.Buffer
	require.NoError(t, p.writeTable(&out))
	require.Regexp(t, `gateway +new_client_connections +600\.0`, out.String())
}

func TestProxyComparison_OneHalfSkipped_NoRatioNoFailure(t *testing.T) {
	t.Parallel()
	p := &ProxyComparison{Connections: 64, Nginx: measured(1000, 2, 0),
		Gateway: ProxyResult{Status: ProxySkipped, Reason: "the gateway is not available: the keyplane binary has no gateway command"}}
	p.compare()
	require.Nil(t, p.RPSRatio)
	require.Nil(t, p.P99Ratio)
	require.Empty(t, p.Targets)
	require.NoError(t, p.Failure())
	var out bytes.Buffer
	require.NoError(t, p.writeTable(&out))
	require.Contains(t, out.String(), "SKIPPED gateway (keep-alive): the gateway is not available")
	require.Contains(t, out.String(), "gateway ÷ nginx: not compared (both must be measured)")
}

func TestProxyComparison_FailedRequestsOrHalf_FailTheRunLoudly(t *testing.T) {
	t.Parallel()
	gw := measured(900, 3, 2)
	gw.WarmupErrors = 1
	gw.ErrorKinds = map[string]int{"HTTP 503": 3}
	p := &ProxyComparison{Connections: 64, Nginx: ProxyResult{Status: ProxyFailed, Reason: "GET ... not answered 200"}, Gateway: gw}
	require.EqualError(t, p.Failure(), "gateway vs nginx: nginx failed: GET ... not answered 200\n"+
		"gateway vs nginx: 3 of gateway's requests failed (1 in warm-ups): 3× HTTP 503")
	var out bytes.Buffer
	require.NoError(t, p.writeTable(&out))
	require.Contains(t, out.String(), "FAILED nginx (keep-alive): GET ... not answered 200")
	require.Contains(t, out.String(), "ERRORS: 3 of gateway's requests failed (keep-alive, 1 in warm-ups): 3× HTTP 503")
	require.Nil(t, (*ProxyComparison)(nil).Failure())
}

func TestProxyComparison_WriteTable_FiguresAndVerdicts(t *testing.T) {
	t.Parallel()
	p := &ProxyComparison{Connections: 64, Nginx: measured(40000, 4, 0), Gateway: measured(42000, 4.4, 0)}
	p.Nginx.Version = "nginx/1.22.1"
	p.compare()
	var out bytes.Buffer
	require.NoError(t, p.writeTable(&out))
	s := out.String()
	require.True(t, strings.HasPrefix(s, "\ngateway vs nginx (64 connections, mTLS upstream)\n"), s)
	require.Regexp(t, `nginx +keep-alive +40000\.0 +2\.00 +4\.00 +0`, s)
	require.Regexp(t, `gateway +keep-alive +42000\.0 +2\.20 +4\.40 +0`, s)
	require.Contains(t, s, "gateway req/s ÷ nginx req/s at 64 connections: 1.050 (target >= 1.0: met)")
	require.Contains(t, s, "gateway p99 ÷ nginx p99 at 64 connections: 1.100 (target <= 1.0: MISSED)")
}

func TestReportMergeJSON_ReplacesOnlyTheGatewaySection(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bench.json")
	full := &Report{Machine: "full run", Results: []Result{{Name: GetAlias, Concurrency: 32, RPS: 13775}},
		PeakRSSMiB: 40.3, Targets: []Target{atMost("server peak RSS, MiB", 40.3, 128)},
		GatewayVsNginx: &ProxyComparison{Connections: 64, Nginx: measured(1, 1, 0)}}
	require.NoError(t, full.WriteJSON(path))

	alone := &Report{Machine: "gateway run", only: OnlyProxies,
		GatewayVsNginx: &ProxyComparison{Machine: "gateway run", Connections: 64, Nginx: measured(40000, 4, 0), Gateway: measured(42000, 4.4, 0)}}
	alone.GatewayVsNginx.compare()
	require.NoError(t, alone.MergeJSON(path))

	var got Report
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "full run", got.Machine)
	require.Equal(t, full.Results, got.Results)
	require.Equal(t, full.Targets, got.Targets)
	require.InDelta(t, 40.3, got.PeakRSSMiB, 1e-9)
	require.Equal(t, alone.GatewayVsNginx, got.GatewayVsNginx)

	// Without a report yet, the section is written alone, with its machine.
	fresh := filepath.Join(t.TempDir(), "bench.json")
	require.NoError(t, alone.MergeJSON(fresh))
	b, err = os.ReadFile(fresh)
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Len(t, doc, 2)
	require.JSONEq(t, `"gateway run"`, string(doc["machine"]))
	require.Contains(t, doc, "gateway_vs_nginx")
}

func TestProxyConfig_Defaults_AreTheIssues(t *testing.T) {
	t.Parallel()
	var c ProxyConfig
	c.defaults()
	require.Equal(t, ProxyConfig{Connections: 64, Duration: 10 * time.Second, Warmup: 2 * time.Second, Rounds: 2, IdleConnections: 10000}, c)
	require.NoError(t, c.check())
	c.Rounds = 0
	require.Error(t, c.check())
}

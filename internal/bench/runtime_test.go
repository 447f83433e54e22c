package bench

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRuntimeScale_Compare_ReloadAndMemoryTargets(t *testing.T) {
	t.Parallel()
	base := RuntimeStep{RSSMiB: 20}
	s := &RuntimeScale{Steps: []RuntimeStep{
		{Environments: 100, LiveProxies: 1000, NotifyToServedP50Ms: 8, RSSMiB: 30},
		{Environments: 1000, LiveProxies: 10000, NotifyToServedP50Ms: 9, RSSMiB: 120},
	}}
	s.compare(base)
	require.Len(t, s.Targets, 2)
	require.Equal(t, "NOTIFY → served p50 with 1000 environments ÷ with 100", s.Targets[0].Target)
	require.InDelta(t, 1.125, s.Targets[0].Value, 1e-9)
	require.True(t, s.Targets[0].OK)
	// 10 KiB per proxy at both steps: linear.
	require.Equal(t, "gateway RSS per live proxy with 1000 environments ÷ with 100", s.Targets[1].Target)
	require.InDelta(t, 1.0, s.Targets[1].Value, 1e-9)
	require.True(t, s.Targets[1].OK)
	require.InDelta(t, 10.24, *s.RSSPerProxyKiB, 1e-9)

	// A reload that grows with the environments misses.
	s.Steps[1].NotifyToServedP50Ms, s.Targets = 80, nil
	s.compare(base)
	require.False(t, s.Targets[0].OK)
}

func TestScaleArchive_HoldsEveryProxyForItsEnvironment(t *testing.T) {
	t.Parallel()
	b, err := scaleArchive(3, "e007", "g2p", 8080)
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		files[f.Name] = string(body)
	}
	require.Len(t, files, 5)
	require.JSONEq(t, `{"proxies":[{"name":"g2p0"},{"name":"g2p1"},{"name":"g2p2"}],"sharedflows":[]}`, files["src/main/apigee/environments/e007/deployments.json"])
	require.Contains(t, files["src/main/apigee/apiproxies/g2p1/config.yaml"], "basepath: /g2p1\n")
	require.Contains(t, files["src/main/apigee/environments/e007/targetservers.json"], `"port":8080`)
}

func TestFullReloads_ReadsTheGatewaysLogFromAMoment(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.log")
	require.NoError(t, os.WriteFile(path, []byte(
		`{"time":"2026-01-01T10:00:00Z","level":"INFO","msg":"gateway reloaded every environment","environments":3,"duration_ms":12.5}`+"\n"+
			`not json`+"\n"+
			`{"time":"2026-01-01T10:00:05Z","level":"WARN","msg":"something else","duration_ms":99}`+"\n"+
			`{"time":"2026-01-01T10:00:06Z","level":"INFO","msg":"gateway reloaded every environment","environments":3,"duration_ms":7.25}`+"\n"), 0o600))
	got, err := fullReloads(path, time.Date(2026, 1, 1, 10, 0, 1, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, []float64{7.25}, got)
}

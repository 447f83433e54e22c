package gateway_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

func TestGateway_FullReloadLogsItsDurationAndSize(t *testing.T) {
	t.Parallel()
	b := setup(t, api.ProxyTypeConfigurable)
	b.mtlsWorld(t)
	be := b.backend(t, nil)
	b.deploy(t, configurableArchive(b.env, be.port, ""))
	g := b.startGateway(t)
	var lines []map[string]any
	require.Eventually(t, func() bool {
		lines = g.logLines(t, "gateway reloaded every environment")
		return len(lines) > 0
	}, 10*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, lines[0]["environments"], float64(1), "the environment deployed is among those loaded")
	require.IsType(t, float64(0), lines[0]["duration_ms"])
}

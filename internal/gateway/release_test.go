package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A quiet gateway gives memory back at most once every releaseEvery.
func TestGateway_ReleasesMemoryAtMostOnceInAWhile(t *testing.T) {
	g := New(nil, Config{})
	g.releaseMemory()
	first := g.released.Load()
	require.NotZero(t, first, "the first quiet spell releases")
	g.releaseMemory()
	require.Equal(t, first, g.released.Load(), "a second one soon after does not release at once")
	require.True(t, g.releaseDue.Load(), "but is scheduled for when releaseEvery is up")
	g.releaseMemory()
	require.True(t, g.releaseDue.Load(), "once")
	g.released.Store(time.Now().Add(-releaseEvery - time.Second).UnixNano())
	g.releaseMemory()
	require.Greater(t, g.released.Load(), first, "one after releaseEvery releases")
}

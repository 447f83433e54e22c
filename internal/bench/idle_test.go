package bench

import (
	"context"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdleRun_HoldsEveryConnectionOpenAndReadsTheProxysMemory(t *testing.T) {
	t.Parallel()
	var open atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(helloBody) }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed:
				open.Add(-1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	var res IdleResult
	seen := int64(0)
	target := &proxyTarget{name: "gateway", addr: ln.Addr().String(), pid: os.Getpid()}
	// The connections are all open, idle, when the memory is read.
	err = idleRunWith(context.Background(), target, 300, &res, func() { seen = open.Load() })
	require.NoError(t, err)
	require.Equal(t, int64(300), seen)
	require.Equal(t, ProxyMeasured, res.Status)
	require.Positive(t, res.RSSBeforeMiB)
	require.Positive(t, res.RSSIdleMiB)
	require.InDelta(t, (res.RSSIdleMiB-res.RSSBeforeMiB)*1024/300, res.PerConnKiB, 0.5)
}

func TestIdleRun_ProxyThatRefusesFails(t *testing.T) {
	t.Parallel()
	addr, err := freeAddr() // nothing listens there
	require.NoError(t, err)
	var res IdleResult
	require.Error(t, idleRun(context.Background(), &proxyTarget{addr: addr, pid: os.Getpid()}, 10, &res))
}

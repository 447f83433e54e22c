package bench

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func millis(from, to int) []time.Duration {
	var d []time.Duration
	for i := from; i <= to; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	return d
}

func shuffled(d []time.Duration) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

func TestSummarize_KnownSamples_NearestRankPercentiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		samples  [][]time.Duration
		p50, p99 time.Duration
	}{
		{"1..100 ms in one connection", [][]time.Duration{shuffled(millis(1, 100))}, 50 * time.Millisecond, 99 * time.Millisecond},
		{"1..1000 ms over three connections", [][]time.Duration{shuffled(millis(1, 400)), shuffled(millis(401, 1000)), nil}, 500 * time.Millisecond, 990 * time.Millisecond},
		{"a slow tail of 2 in 100", [][]time.Duration{append(make([]time.Duration, 98), time.Second, 2*time.Second)}, 0, time.Second},
		{"one sample", [][]time.Duration{{7 * time.Millisecond}}, 7 * time.Millisecond, 7 * time.Millisecond},
		{"no sample", nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize(tc.samples, 2*time.Second)
			n := 0
			for _, c := range tc.samples {
				n += len(c)
			}
			require.Equal(t, n, s.N)
			require.Equal(t, tc.p50, s.P50)
			require.Equal(t, tc.p99, s.P99)
			require.InDelta(t, float64(n)/2, s.RPS(), 1e-9)
		})
	}
}

func TestMergeLoads_TwoRounds_FiguresOverEveryMeasuredRequest(t *testing.T) {
	t.Parallel()
	first := loadResult{
		Stats: stats{N: 50, Elapsed: time.Second}, lat: shuffled(millis(1, 50)),
		Errors: 1, WarmupErrors: 2, Reconnects: 1, ErrorKinds: map[string]int{"HTTP 503": 3},
		CPU: proxyCPU{proxy: 10 * time.Microsecond, backend: 4 * time.Microsecond, client: 2 * time.Microsecond},
	}
	second := loadResult{
		Stats: stats{N: 150, Elapsed: 3 * time.Second}, lat: shuffled(append(millis(51, 100), millis(51, 150)...)),
		Errors: 4, ErrorKinds: map[string]int{"HTTP 503": 1, "read: connection reset by peer": 3},
		CPU: proxyCPU{proxy: 30 * time.Microsecond, backend: 8 * time.Microsecond, client: 2 * time.Microsecond},
	}
	m := mergeLoads([]loadResult{first, second})
	require.Equal(t, 200, m.Stats.N)
	require.Equal(t, 4*time.Second, m.Stats.Elapsed)
	require.InDelta(t, 50, m.Stats.RPS(), 1e-9)
	// Sorted: 1..50, then 51..100 twice (interleaved), then 101..150.
	require.Equal(t, 75*time.Millisecond, m.Stats.P50)
	require.Equal(t, 148*time.Millisecond, m.Stats.P99)
	require.Equal(t, 5, m.Errors)
	require.Equal(t, 2, m.WarmupErrors)
	require.Equal(t, 1, m.Reconnects)
	require.Equal(t, map[string]int{"HTTP 503": 4, "read: connection reset by peer": 3}, m.ErrorKinds)
	// CPU per request is weighted by each round's requests.
	require.Equal(t, proxyCPU{proxy: 25 * time.Microsecond, backend: 7 * time.Microsecond, client: 2 * time.Microsecond}, m.CPU)
	require.Equal(t, "4× HTTP 503; 3× read: connection reset by peer", m.ErrorSummary())
}

// loadServer is an HTTP server on loopback that counts connections and
// answers with handler.
func loadServer(t *testing.T, handler http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = &atomic.Int64{}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), conns
}

func TestLoad_EveryAnswer200_MeasuresOverKeptAliveConnections(t *testing.T) {
	t.Parallel()
	var wrong atomic.Int64
	addr, conns := loadServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "myorg-dev.localhost" || r.URL.Path != "/hello/helloworld" || r.Method != "GET" {
			wrong.Add(1)
		}
		_, _ = w.Write(helloBody)
	})
	res, err := load{Addr: addr, Host: "myorg-dev.localhost", Path: "/hello/helloworld", Expect: helloBody, Connections: 4,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}.run(context.Background(), nil)
	require.NoError(t, err)
	require.Zero(t, wrong.Load(), "requests with another host, path or method")
	require.Positive(t, res.Stats.N)
	require.Positive(t, res.Stats.RPS())
	require.Positive(t, res.Stats.P50)
	require.GreaterOrEqual(t, res.Stats.P99, res.Stats.P50)
	require.Len(t, res.lat, res.Stats.N)
	require.Zero(t, res.Errors+res.WarmupErrors)
	require.Empty(t, res.ErrorKinds)
	require.Zero(t, res.Reconnects)
	require.EqualValues(t, 4, conns.Load(), "one connection per connection of the load, kept alive")
	// The measured time is the duration, plus the wait for the last
	// answers, which a machine busy with the rest of the suite stretches.
	require.GreaterOrEqual(t, res.Stats.Elapsed, 200*time.Millisecond)
	require.Less(t, res.Stats.Elapsed, 1200*time.Millisecond)
}

func TestLoad_SomeAnswersNot200_CountsEveryOneAsAnError(t *testing.T) {
	t.Parallel()
	var n, failed atomic.Int64
	addr, _ := loadServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%5 == 0 {
			failed.Add(1)
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(helloBody)
	})
	res, err := load{Addr: addr, Host: "h", Path: "/", Connections: 3,
		Warmup: 30 * time.Millisecond, Duration: 150 * time.Millisecond}.run(context.Background(), nil)
	require.NoError(t, err)
	require.Positive(t, res.Errors)
	require.EqualValues(t, failed.Load(), res.Errors+res.WarmupErrors, "every 503 the server sent is counted")
	require.Equal(t, map[string]int{"HTTP 503": int(failed.Load())}, res.ErrorKinds)
	require.Zero(t, res.Reconnects, "an error answer keeps the connection")
	require.Len(t, res.lat, res.Stats.N, "only 200 answers have latencies")
}

func TestLoad_Answer200WithAnotherBody_IsAnError(t *testing.T) {
	t.Parallel()
	addr, _ := loadServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"message":"Hello"}`))
	})
	res, err := load{Addr: addr, Host: "h", Path: "/", Expect: helloBody, Connections: 2,
		Warmup: 10 * time.Millisecond, Duration: 60 * time.Millisecond}.run(context.Background(), nil)
	require.NoError(t, err)
	require.Zero(t, res.Stats.N)
	require.Positive(t, res.Errors)
	require.Equal(t, map[string]int{"HTTP 200 with another body than the backend's": res.Errors + res.WarmupErrors}, res.ErrorKinds)
	require.Zero(t, res.Reconnects)
}

func TestLoad_ProxyClosesEachConnection_ReconnectsWithoutErrors(t *testing.T) {
	t.Parallel()
	addr, conns := loadServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write(helloBody)
	})
	res, err := load{Addr: addr, Host: "h", Path: "/", Connections: 2,
		Warmup: 10 * time.Millisecond, Duration: 100 * time.Millisecond}.run(context.Background(), nil)
	require.NoError(t, err)
	require.Positive(t, res.Stats.N)
	require.Zero(t, res.Errors+res.WarmupErrors, res.ErrorSummary())
	require.Positive(t, res.Reconnects)
	require.GreaterOrEqual(t, conns.Load(), int64(res.Stats.N))
}

func TestLoad_NothingListening_CountsRefusedConnections(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	res, err := load{Addr: addr, Host: "h", Path: "/", Connections: 2,
		Warmup: 10 * time.Millisecond, Duration: 60 * time.Millisecond}.run(context.Background(), nil)
	require.NoError(t, err)
	require.Zero(t, res.Stats.N)
	require.Positive(t, res.Errors)
	require.Equal(t, map[string]int{"dial: connect: connection refused": res.Errors + res.WarmupErrors}, res.ErrorKinds)
}

func TestLoad_NoConnection_IsRefused(t *testing.T) {
	t.Parallel()
	_, err := load{Addr: "127.0.0.1:1", Connections: 0}.run(context.Background(), nil)
	require.EqualError(t, err, "load: at least one connection")
}

package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one goroutine of a run; operations draw from its random source,
// so that workers do not contend on a shared one.
type worker struct {
	Rng *rand.Rand
}

// op is one request (or one create→done deployment) of a run.
type op func(ctx context.Context, w *worker) error

// stats is what one run measured.
type stats struct {
	N        int
	Elapsed  time.Duration
	P50, P99 time.Duration
	// CPU is the CPU time per operation of server, PostgreSQL and client.
	CPU cpuSample
}

// RPS is operations completed per second.
func (s stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.N) / s.Elapsed.Seconds()
}

// runFor runs fn from conc workers: first for warmup, unmeasured (to open
// connections and fill caches), then for d. Only operations started after
// the warm-up count, and the elapsed time runs until the last of them
// finished, so a slow tail lowers the rate rather than being cut off. The
// first error stops the run and is returned. Each worker measures at least
// one operation, however short d is.
func runFor(ctx context.Context, conc int, warmup, d time.Duration, probe *cpuProbe, fn op) (stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(d)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	var cpuBefore cpuSample
	wg.Go(func() {
		time.Sleep(time.Until(measureFrom))
		cpuBefore = probe.sample()
	})
	var lastDone atomic.Int64
	for i := range conc {
		w := &worker{Rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano())))}
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				// Every worker measures at least one operation, so that
				// a run shorter than one operation still has figures.
				if !t0.Before(end) && len(lat[i]) > 0 {
					return
				}
				if err := fn(ctx, w); err != nil {
					cancel(err)
					return
				}
				t1 := time.Now()
				if !t0.Before(measureFrom) {
					lat[i] = append(lat[i], t1.Sub(t0))
					storeMax(&lastDone, t1.UnixNano())
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return stats{}, err
	}
	s := summarize(lat, time.Unix(0, lastDone.Load()).Sub(measureFrom))
	s.CPU = probe.sample().perOp(cpuBefore, s.N)
	return s, nil
}

// runN runs fn total times from conc workers, as fast as they go; the
// elapsed time is the whole run's, so the rate is the drain rate.
func runN(ctx context.Context, conc, total int, probe *cpuProbe, fn op) (stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cpuBefore := probe.sample()
	start := time.Now()
	lat := make([][]time.Duration, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range conc {
		w := &worker{Rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano())))}
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(total) {
				t0 := time.Now()
				if err := fn(ctx, w); err != nil {
					cancel(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return stats{}, err
	}
	s := summarize(lat, time.Since(start))
	s.CPU = probe.sample().perOp(cpuBefore, s.N)
	return s, nil
}

// storeMax sets a to v if v is greater, however many goroutines race.
func storeMax(a *atomic.Int64, v int64) {
	for {
		prev := a.Load()
		if v <= prev || a.CompareAndSwap(prev, v) {
			return
		}
	}
}

func summarize(perWorker [][]time.Duration, elapsed time.Duration) stats {
	all := slices.Concat(perWorker...)
	slices.Sort(all)
	return stats{N: len(all), Elapsed: elapsed, P50: percentile(all, 0.50), P99: percentile(all, 0.99)}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// parallel runs fn for each index in [0, n) from conc goroutines, stopping
// at the first error; the data loader uses it.
func parallel(ctx context.Context, conc, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

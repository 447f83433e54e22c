package postgres_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// freezer is a TCP proxy to a PostgreSQL server that can be frozen: while
// frozen, it accepts connections and reads what clients send but passes
// nothing on, as a stopped server process or a network dropping packets
// would.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen chan struct{} // closed on thaw; nil when not frozen
}

// newFreezer proxies to the server that url names.
func newFreezer(t *testing.T, url string) *freezer {
	t.Helper()
	cfg, err := postgres.ParseConfig(url)
	require.NoError(t, err)
	network, addr := "tcp", net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		network, addr = "unix", cfg.ConnConfig.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.ConnConfig.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); f.thaw(); conns.Wait() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial(network, addr)
			if err != nil {
				client.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); f.pipe(server, client) }()
			go func() { defer conns.Done(); f.pipe(client, server) }()
		}
	}()
	return f
}

// pipe copies src to dst, holding each chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			frozen := f.frozen
			f.mu.Unlock()
			if frozen != nil {
				<-frozen
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen == nil {
		f.frozen = make(chan struct{})
	}
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen != nil {
		close(f.frozen)
		f.frozen = nil
	}
}

// TestLiveness_AFrozenDatabaseIsCutShortAndFoundAgain: when the database
// stops answering, the statements in flight are cut short as Unavailable
// (the job queue's as timeouts, which River retries, never as
// cancellations, which it takes for its own shutdown), new ones fail at
// once instead of hanging, and once the database answers again the pool
// serves from fresh connections.
func TestLiveness_AFrozenDatabaseIsCutShortAndFoundAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFreezer(t, pgtest.URL(t))
	cfg, err := postgres.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = "127.0.0.1", uint16(f.ln.Addr().(*net.TCPAddr).Port), nil
	db, err := postgres.OpenConfig(ctx, cfg, postgres.Options{CheckInterval: 100 * time.Millisecond, CheckTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = db.ListOrganizations(ctx)
	require.NoError(t, err)
	require.True(t, db.Up())

	f.freeze()
	inFlight := result(func() error { _, err := db.ListOrganizations(ctx); return err })
	jobInFlight := result(func() error { _, err := db.JobPool.Exec(ctx, `SELECT 1`); return err })
	require.Equal(t, keyplane.Unavailable, keyplane.ErrorCode(receive(t, inFlight)))
	jobErr := receive(t, jobInFlight)
	require.ErrorIs(t, jobErr, context.DeadlineExceeded)
	require.NotErrorIs(t, jobErr, context.Canceled)
	require.False(t, db.Up())

	// Still frozen: a new statement fails rather than waits.
	_, err = db.ListOrganizations(ctx)
	requireCode(t, err, keyplane.Unavailable, "the database is unavailable; try again")

	f.thaw()
	require.Eventually(t, db.Up, 10*time.Second, 20*time.Millisecond)
	_, err = db.ListOrganizations(ctx)
	require.NoError(t, err)
	_, err = db.JobPool.Exec(ctx, `SELECT 1`)
	require.NoError(t, err)
}

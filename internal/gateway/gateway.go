// Package gateway is keyplane's runtime: it serves the live archive
// deployments of every environment from the database, routing each request
// by host ({org}-{env}.{domain}), base path and operation to the proxy's
// target, which it reaches over TLS or mutual TLS exactly as the deployed
// SSLInfo says.
//
// A gateway holds only what is live. It loads everything at start, then
// follows the database's notifications (a new live deployment, a re-pointed
// reference, an alias's new certificate, a changed target server) and
// reloads the environment concerned within moments; a periodic full resync
// catches anything a lost connection made it miss. A reload builds a new
// configuration beside the old one and swaps it in at once: requests in
// flight finish on the configuration they started with. When the database
// is unreachable, the gateway keeps serving the last configuration it
// loaded.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/upstream"
)

// Config tunes a gateway.
type Config struct {
	// Domain is the host suffix environments are served under: a request
	// for {org}-{env}.{Domain} reaches environment env of organization
	// org. Default "localhost".
	Domain string
	// Resync is how often the whole configuration is reloaded, whatever
	// notifications said. Default 30 s.
	Resync time.Duration
	// Keys open the private keys of key aliases.
	Keys *seal.Keyring
	Log  *slog.Logger
	// Timeouts bound slow clients; zero fields are DefaultTimeouts'.
	Timeouts clientlimit.Timeouts
	// MaxConnsPerAddr limits the connections one client address may hold
	// open at once; 0 means DefaultMaxConnsPerAddr, negative no limit.
	MaxConnsPerAddr int
	// Targets fences the addresses targets may reach, checked on every
	// connection after DNS resolution; nil means the default policy, which
	// refuses loopback, link-local and metadata addresses.
	Targets *egress.Policy
	// DisableUpstreamKeepAlives opens a new connection to the target for
	// every request and closes it after the answer, for targets that must
	// not see kept-alive connections; the default keeps them.
	DisableUpstreamKeepAlives bool
}

// DefaultTimeouts are the gateway's: a client may send or read slowly,
// never pause for more than 30 seconds, and one exchange (a long poll or a
// stream included) lasts at most 10 minutes.
var DefaultTimeouts = clientlimit.Timeouts{
	ReadHeader: 10 * time.Second,
	BodyIdle:   30 * time.Second,
	Read:       5 * time.Minute,
	Write:      30 * time.Second,
	Request:    10 * time.Minute,
	Idle:       2 * time.Minute,
}

// DefaultMaxConnsPerAddr is how many connections one client address may
// hold open at once, unless configured.
const DefaultMaxConnsPerAddr = 256

// Gateway serves the live deployments of a keyplane database.
type Gateway struct {
	db         Store
	cfg        Config
	log        *slog.Logger
	transports *upstream.Transports
	buffers    *buffers
	// released is when memory was last given back (Unix nanoseconds).
	released atomic.Int64
	// releaseDue says a release asked for too soon is scheduled.
	releaseDue atomic.Bool

	// live is the configuration requests are served from, swapped whole.
	live atomic.Pointer[snapshot]
	// reload serialises reloads; bundles caches the compiled routes of
	// deployments, which never change once made.
	reload  sync.Mutex
	bundles map[string]*compiled
	// loaded is closed once a first configuration is in place.
	loaded     chan struct{}
	loadedOnce sync.Once
	ready      atomic.Bool

	// pending holds the environments ("org/env") notifications named,
	// until the reloader takes them; wake tells it there are some.
	pendingMu sync.Mutex
	pending   map[string]bool
	all       bool
	wake      chan struct{}
}

// Store is what a gateway reads of the database (internal/postgres
// implements it), declared here in the domain's types: the live
// deployments and their archives, the READY API proxy revisions of PROXY
// environments and their bundles, each environment's TLS material through
// the loader deployments validate with, and the notifications of changes.
type Store interface {
	LiveDeployments(ctx context.Context, org, env string) ([]keyplane.LiveDeployment, error)
	HostCollisions(ctx context.Context) ([]keyplane.HostCollision, error)
	DeploymentArchive(ctx context.Context, uploadID uuid.UUID) ([]byte, error)
	LiveProxies(ctx context.Context, org, env string) ([]keyplane.LiveProxies, error)
	ProxyRevisionBundle(ctx context.Context, org, proxy string, rev int) ([]byte, error)
	EnvironmentTLS(ctx context.Context, org, env string, keystores func(*keyplane.TLSMaterial) []string) (*keyplane.TLSMaterial, error)
	Listen(ctx context.Context, ready func(), notify func(payload string)) error
}

// New returns a gateway reading from db. It serves nothing (every host is
// unknown) until Run has loaded a first configuration.
func New(db Store, cfg Config) *Gateway {
	cfg.Domain = strings.ToLower(strings.Trim(cmp.Or(cfg.Domain, "localhost"), "."))
	cfg.Resync = cmp.Or(cfg.Resync, 30*time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Timeouts = cfg.Timeouts.Or(DefaultTimeouts)
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if cfg.Targets == nil {
		cfg.Targets = &egress.Policy{}
	}
	g := &Gateway{
		db:         db,
		cfg:        cfg,
		log:        cfg.Log,
		transports: upstream.NewTransports(upstream.Options{Control: cfg.Targets.Control, DisableKeepAlives: cfg.DisableUpstreamKeepAlives}),
		buffers:    newBuffers(),
		bundles:    map[string]*compiled{},
		loaded:     make(chan struct{}),
		pending:    map[string]bool{},
		wake:       make(chan struct{}, 1),
	}
	g.live.Store(&snapshot{envs: map[string]*environment{}})
	return g
}

// Loaded is closed once the gateway has loaded its first configuration.
func (g *Gateway) Loaded() <-chan struct{} { return g.loaded }

// Run loads the configuration, then keeps it current until ctx ends:
// it listens for the database's notifications, reloads the environments
// they name, and reloads everything every Config.Resync. Failures to reach
// the database are logged and retried; the last configuration stays live
// meanwhile.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.listen(ctx)
	}()
	g.requestAll()
	ticker := time.NewTicker(g.cfg.Resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			g.transports.Close()
			return nil
		case <-ticker.C:
			g.requestAll()
		case <-g.wake:
		}
		g.reloadPending(ctx)
	}
}

// listen follows the database's notifications, reconnecting with a backoff
// when the connection fails. Every (re)connection asks for a full reload,
// since whatever changed while it was away was announced to nobody.
func (g *Gateway) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := g.db.Listen(ctx, func() {
			backoff = 100 * time.Millisecond
			g.requestAll()
		}, g.requestEnv)
		if ctx.Err() != nil {
			return
		}
		g.log.Warn("gateway lost its database notifications; reconnecting", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// requestEnv asks the reloader to reload one environment, named "org/env".
func (g *Gateway) requestEnv(scope string) {
	g.pendingMu.Lock()
	g.pending[scope] = true
	g.pendingMu.Unlock()
	g.signal()
}

// requestAll asks the reloader to reload everything.
func (g *Gateway) requestAll() {
	g.pendingMu.Lock()
	g.all = true
	g.pendingMu.Unlock()
	g.signal()
}

// takePending takes the environments notifications named since the last
// reload, leaving a pending full reload asked for.
func (g *Gateway) takePending() []string {
	g.pendingMu.Lock()
	defer g.pendingMu.Unlock()
	if len(g.pending) == 0 {
		return nil
	}
	scopes := slices.Collect(maps.Keys(g.pending))
	g.pending = map[string]bool{}
	return scopes
}

// requestAgain asks for environment scope's reload again without waking
// the reloader: the full reload under way then fails, and a failed reload
// is tried again, with what is pending, after a pause.
func (g *Gateway) requestAgain(scope string) {
	g.pendingMu.Lock()
	g.pending[scope] = true
	g.pendingMu.Unlock()
}

func (g *Gateway) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// reloadPending does the reloads asked for since the last time. A failed
// reload is asked for again, after a pause, so the gateway converges once
// the database is back.
func (g *Gateway) reloadPending(ctx context.Context) {
	g.pendingMu.Lock()
	all, envs := g.all, g.pending
	g.all, g.pending = false, map[string]bool{}
	g.pendingMu.Unlock()
	if !all && len(envs) == 0 {
		return
	}
	var err error
	if all {
		start := time.Now()
		if err = g.ReloadAll(ctx); err == nil {
			// How long a whole reload takes is what bounds how stale the
			// gateway can be after a lost notification, and grows with
			// what the database holds: worth a line every resync.
			g.log.Info("gateway reloaded every environment", "environments", len(g.live.Load().envs),
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
	} else {
		for scope := range envs {
			org, env, _ := strings.Cut(scope, "/")
			if e := g.ReloadEnvironment(ctx, org, env); e != nil {
				err = errors.Join(err, e)
			}
		}
	}
	if err == nil || ctx.Err() != nil {
		return
	}
	g.log.Warn("gateway could not reload its configuration; serving the last one it loaded", "error", err)
	g.pendingMu.Lock()
	g.all = g.all || all
	for scope := range envs {
		g.pending[scope] = true
	}
	g.pendingMu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			g.signal()
		}
	}()
}

func (g *Gateway) markLoaded() {
	g.loadedOnce.Do(func() {
		g.ready.Store(true)
		close(g.loaded)
	})
}

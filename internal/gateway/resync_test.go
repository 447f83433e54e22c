package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/gateway"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// slowStore is the database as a gateway reads it, where loading the TLS
// material of an armed environment waits until the test lets it go, and
// where the test hears of each notification once the gateway has.
type slowStore struct {
	gateway.Store
	mu       sync.Mutex
	armed    map[string]chan struct{} // env -> closed to let it go
	entered  chan string
	notified chan string
}

func (s *slowStore) arm(env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed[env] = make(chan struct{})
}

func (s *slowStore) release(env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if wait := s.armed[env]; wait != nil {
		close(wait)
		delete(s.armed, env)
	}
}

func (s *slowStore) EnvironmentTLS(ctx context.Context, org, env string, keystores func(*keyplane.TLSMaterial) []string) (*keyplane.TLSMaterial, error) {
	s.mu.Lock()
	wait := s.armed[env]
	s.mu.Unlock()
	if wait != nil {
		s.entered <- env
		<-wait
	}
	return s.Store.EnvironmentTLS(ctx, org, env, keystores)
}

func (s *slowStore) Listen(ctx context.Context, ready func(), notify func(payload string)) error {
	return s.Store.Listen(ctx, ready, func(payload string) {
		notify(payload)
		select {
		case s.notified <- payload:
		default:
		}
	})
}

// TestGateway_ChangeDuringAFullReloadIsServedBeforeItEnds: a full reload
// runs for as long as everything live takes to load, seconds with
// thousands of environments. A change notified meanwhile is served as soon
// as the reload is between two environments, not when it ends, and the
// full reload, which read its list before the change, does not undo it.
func TestGateway_ChangeDuringAFullReloadIsServedBeforeItEnds(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	envs := []string{"a", "b", "c"}
	var specs []api.Environment
	for _, e := range envs {
		specs = append(specs, api.Environment{Name: e, DeploymentType: "ARCHIVE", APIProxyType: api.ProxyTypeConfigurable})
	}
	srv.CreateEnvironments(t, "myorg", specs...)
	serverCA := testcerts.New(t, testcerts.Options{CommonName: "backend CA", IsCA: true})
	clientCA := testcerts.New(t, testcerts.Options{CommonName: "client CA", IsCA: true})
	bundles := map[string]*testBundle{}
	for _, e := range envs {
		b := &testBundle{srv: srv, api: &api.Client{BaseURL: srv.URL, Token: srv.Token}, org: "myorg", env: e,
			serverCA: serverCA, clientCA: clientCA}
		b.mtlsWorld(t)
		bundles[e] = b
	}
	be := bundles["a"].backend(t, nil)
	for _, e := range envs {
		bundles[e].deploy(t, configurableArchive(e, be.port, ""))
	}

	store := &slowStore{armed: map[string]chan struct{}{}, entered: make(chan string, 4), notified: make(chan string, 16)}
	logs := &servertest.LogBuffer{}
	g := &runningGateway{log: logs, Gateway: servertest.StartGateway(t, srv, servertest.GatewayOptions{
		Log: logs, Resync: 200 * time.Millisecond,
		Store: func(db gateway.Store) gateway.Store { store.Store = db; return store },
	})}
	g.url = g.Gateway.URL
	// Registered after the gateway's own cleanup, so run before it: a
	// failed test lets the reload it holds go, and the gateway can stop.
	t.Cleanup(func() {
		for _, e := range envs {
			store.release(e)
		}
	})
	for _, e := range envs {
		status, _, _ := g.get(t, "myorg-"+e+".localhost", "/mtls/helloworld")
		require.Equal(t, http.StatusOK, status, e)
	}

	// The next full reload stops in environment a, the first it loads,
	// and will stop again in c, the last.
	store.arm("a")
	select {
	case env := <-store.entered:
		require.Equal(t, "a", env)
	case <-time.After(10 * time.Second):
		t.Fatal("no full reload came")
	}
	store.arm("c")

	// Meanwhile b gets a new deployment, with base path /v2.
	for len(store.notified) > 0 {
		<-store.notified
	}
	files := configurableArchive("b", be.port, "")
	for name, body := range files {
		files[name] = strings.ReplaceAll(body, "basepath: /mtls", "basepath: /v2")
	}
	bundles["b"].deploy(t, files)
	require.Eventually(t, func() bool {
		for {
			select {
			case p := <-store.notified:
				if p == "myorg/b" {
					return true
				}
			default:
				return false
			}
		}
	}, 10*time.Second, 10*time.Millisecond, "the gateway hears of b's deployment")

	// The full reload goes on to c, where it stops again: b's change is
	// served while the reload is still under way.
	store.release("a")
	select {
	case env := <-store.entered:
		require.Equal(t, "c", env)
	case <-time.After(10 * time.Second):
		t.Fatal("the full reload did not reach c")
	}
	status, _, _ := g.get(t, "myorg-b.localhost", "/v2/helloworld")
	require.Equal(t, http.StatusOK, status, "b's new deployment is served before the full reload ends")

	// Once the full reload ends, b keeps its new deployment.
	store.release("c")
	before := len(g.logLines(t, "gateway reloaded every environment"))
	require.Eventually(t, func() bool {
		return len(g.logLines(t, "gateway reloaded every environment")) > before
	}, 10*time.Second, 20*time.Millisecond)
	status, _, _ = g.get(t, "myorg-b.localhost", "/v2/helloworld")
	require.Equal(t, http.StatusOK, status)
	status, _, _ = g.get(t, "myorg-b.localhost", "/mtls/helloworld")
	require.Equal(t, http.StatusNotFound, status, "the old deployment of b is gone")
	for _, e := range []string{"a", "c"} {
		status, _, _ := g.get(t, "myorg-"+e+".localhost", "/mtls/helloworld")
		require.Equal(t, http.StatusOK, status, e)
	}
}

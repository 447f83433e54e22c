package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/certs"
	"github.com/keyplane/keyplane/internal/route"
	"github.com/keyplane/keyplane/internal/upstream"
)

// snapshot is one whole configuration: the environments served, by the
// host label {org}-{env}.
type snapshot struct {
	envs map[string]*environment
}

// environment is what a gateway serves for one environment: the routes of
// its live deployment and each route target, resolved.
type environment struct {
	org, env   string
	deployment string
	routes     *route.Table
	targets    map[*route.Target]*target
}

// target is a route target as requests reach it: its endpoints (several
// for a load-balanced target), or the reason it cannot be reached.
type target struct {
	proxy, name string
	endpoints   []*endpoint
	next        atomic.Uint64
	// problem, when set, is why the target cannot be reached (a missing
	// keystore, an unresolvable reference, invalid TLS settings): requests
	// to it answer 503 with it.
	problem string
}

// endpoint is one server of a target.
type endpoint struct {
	scheme   string // http or https
	hostport string
	host     string
	// hostHeader is the Host of requests: host, with the port unless it
	// is the scheme's default.
	hostHeader string
	// server is the target server's name, "" for a target URL.
	server    string
	transport http.RoundTripper
	key       upstream.Key
}

// pick chooses the next endpoint, round robin.
func (t *target) pick() *endpoint {
	if len(t.endpoints) == 1 {
		return t.endpoints[0]
	}
	return t.endpoints[int((t.next.Add(1)-1)%uint64(len(t.endpoints)))]
}

// compiled is a live deployment's archive, parsed and compiled once.
type compiled struct {
	bundle *archive.Bundle
	routes *route.Table
}

// ReloadAll reloads every live environment and drops those no longer live.
func (g *Gateway) ReloadAll(ctx context.Context) error { return g.reloadLive(ctx, "", "") }

// ReloadEnvironment reloads one environment, or drops it when nothing is
// live there any more.
func (g *Gateway) ReloadEnvironment(ctx context.Context, org, env string) error {
	return g.reloadLive(ctx, org, env)
}

// reloadLive rebuilds what is live in environment org/env, or everywhere
// when both are empty, and swaps the result in. An environment that fails
// to build keeps its last configuration, if it had one: one broken
// environment must not take the others down.
func (g *Gateway) reloadLive(ctx context.Context, org, env string) error {
	g.reload.Lock()
	defer g.reload.Unlock()
	return g.reloadLocked(ctx, org, env, nil)
}

// reloadLocked is reloadLive with g.reload held. building, when a full
// reload is under way, holds the environments it has built but not yet
// swapped in: their upstream transports must outlive this reload's swap.
//
// A full reload takes time in proportion to everything live (seconds with
// thousands of environments), and what it read at its start is as old as
// that. Changes notified meanwhile are not left waiting for it: between
// two environments it reloads each environment a notification named, on
// its own and swapped in at once, and then keeps that fresher
// configuration instead of building the environment from what it read.
func (g *Gateway) reloadLocked(ctx context.Context, org, env string, building map[string]*environment) error {
	live, err := g.db.LiveDeployments(ctx, org, env)
	if err != nil {
		return err
	}
	proxies, err := g.db.LiveProxies(ctx, org, env)
	if err != nil {
		return err
	}
	for _, p := range proxies {
		live = append(live, keyplane.LiveDeployment{Org: p.Org, Env: p.Env, ProxyType: p.ProxyType,
			Deployment: proxiesKey(p.Revisions), Proxies: p.Revisions})
	}
	all := org == "" && env == ""
	old := g.live.Load().envs
	envs := map[string]*environment{}
	if !all {
		envs = maps.Clone(old)
		if e := envs[hostLabel(org, env)]; e != nil && e.org == org && e.env == env {
			delete(envs, hostLabel(org, env))
		}
	}
	var problems []string
	shared := map[string]bool{}
	// fresh holds the host labels of environments reloaded on their own
	// while this full reload ran.
	fresh := map[string]bool{}
	for _, l := range live {
		if all {
			for _, scope := range g.takePending() {
				o, e, _ := strings.Cut(scope, "/")
				if err := g.reloadLocked(ctx, o, e, envs); err != nil {
					problems = append(problems, err.Error())
					g.requestAgain(scope)
					continue
				}
				fresh[hostLabel(o, e)] = true
			}
		}
		label := hostLabel(l.Org, l.Env)
		if fresh[label] {
			continue
		}
		if taken := envs[label]; taken != nil || shared[label] {
			// The database gives every host one owner; should two
			// environments still meet here, neither is served.
			if taken != nil {
				g.sharedLabel(taken, l)
			}
			delete(envs, label)
			shared[label] = true
			continue
		}
		e, err := g.build(ctx, l)
		if err != nil {
			problems = append(problems, err.Error())
			if prev := old[label]; prev != nil {
				envs[label] = prev
			}
			continue
		}
		envs[label] = e
	}
	if all {
		current := g.live.Load().envs
		for label := range fresh {
			if e := current[label]; e != nil {
				envs[label] = e
			} else {
				delete(envs, label)
			}
		}
		// Compiled archives of deployments no longer live go.
		keep := map[string]bool{}
		for _, l := range live {
			keep[cacheKey(l)] = true
		}
		for label := range fresh {
			if e := envs[label]; e != nil {
				keep[e.org+"/"+e.env+"/"+e.deployment] = true
			}
		}
		for k := range g.bundles {
			if !keep[k] {
				delete(g.bundles, k)
			}
		}
	}
	g.swap(&snapshot{envs: envs}, building)
	if all {
		g.markLoaded()
		g.reportCollisions(ctx)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// swap makes s the live configuration and retires the upstream connection
// pools no target of s, nor of the environments building, uses any more;
// requests in flight on them finish first.
func (g *Gateway) swap(s *snapshot, building map[string]*environment) {
	g.live.Store(s)
	var used []upstream.Key
	for _, envs := range []map[string]*environment{s.envs, building} {
		for _, e := range envs {
			for _, t := range e.targets {
				for _, ep := range t.endpoints {
					used = append(used, ep.key)
				}
			}
		}
	}
	g.transports.Retain(used)
}

// hostLabel is the first label of the host an environment is served
// under. Names are case-sensitive and may contain "-", hosts are neither:
// two environments can share a label, and then only one is served.
func hostLabel(org, env string) string { return strings.ToLower(org + "-" + env) }

// sharedLabel reports two environments that cannot be served because they
// share a host.
func (g *Gateway) sharedLabel(other *environment, l keyplane.LiveDeployment) {
	g.log.Warn("two environments share one gateway host; serving neither",
		"host", hostLabel(l.Org, l.Env)+"."+g.cfg.Domain,
		"environments", []string{other.org + "/" + other.env, l.Org + "/" + l.Env})
}

// reportCollisions logs, at every full reload, the hosts that environments
// created before host names were owned still share, and which the gateway
// therefore serves for none of them.
func (g *Gateway) reportCollisions(ctx context.Context) {
	collisions, err := g.db.HostCollisions(ctx)
	if err != nil {
		g.log.Warn("gateway cannot list shared host names", "error", err.Error())
		return
	}
	byHost := map[string][]string{}
	var hosts []string
	for _, c := range collisions {
		if byHost[c.Host] == nil {
			hosts = append(hosts, c.Host)
		}
		byHost[c.Host] = append(byHost[c.Host], c.Org+"/"+c.Env)
	}
	for _, h := range hosts {
		g.log.Warn("environments share one gateway host; serving none of them until all but one are deleted",
			"host", h+"."+g.cfg.Domain, "environments", byHost[h])
	}
}

func cacheKey(l keyplane.LiveDeployment) string {
	return l.Org + "/" + l.Env + "/" + l.Deployment
}

// build loads one live environment: its deployment's routes (compiled once
// per deployment) and, afresh, the TLS material of every target.
func (g *Gateway) build(ctx context.Context, l keyplane.LiveDeployment) (*environment, error) {
	c, err := g.compile(ctx, l)
	if err != nil {
		return nil, err
	}
	targets := c.routes.Targets()
	rt, err := g.db.EnvironmentTLS(ctx, l.Org, l.Env, func(rt *keyplane.TLSMaterial) []string {
		return keystoresNamed(c.bundle, targets, rt)
	})
	if err != nil {
		return nil, fmt.Errorf("environment %q of organization %q: %w", l.Env, l.Org, err)
	}
	e := &environment{org: l.Org, env: l.Env, deployment: l.Deployment, routes: c.routes, targets: map[*route.Target]*target{}}
	for _, rtgt := range targets {
		t := g.resolve(l, c.bundle, rt, rtgt)
		if t.problem != "" {
			g.log.Warn("gateway target cannot be reached", "org", l.Org, "env", l.Env, "proxy", rtgt.Proxy,
				"target", rtgt.Name, "problem", t.problem)
		}
		e.targets[rtgt] = t
	}
	return e, nil
}

// proxiesKey names the set of API proxy revisions a PROXY environment
// serves, as a deployment id names an archive: a new set is compiled anew.
func proxiesKey(revs []keyplane.LiveRevision) string {
	parts := make([]string, 0, len(revs))
	for _, r := range revs {
		parts = append(parts, r.Proxy+"@"+strconv.Itoa(r.Revision))
	}
	return "apis:" + strings.Join(parts, ",")
}

// compileProxies parses the bundles of the API proxy revisions a PROXY
// environment serves into one bundle, as if an archive deployed them all,
// and compiles its routes: from there a PROXY environment is served
// exactly as an archive's.
func (g *Gateway) compileProxies(ctx context.Context, l keyplane.LiveDeployment) (*compiled, error) {
	b := &archive.Bundle{Env: l.Env}
	for _, r := range l.Proxies {
		data, err := g.db.ProxyRevisionBundle(ctx, l.Org, r.Proxy, r.Revision)
		if err != nil {
			return nil, fmt.Errorf("revision %d of API proxy %q in environment %q: %w", r.Revision, r.Proxy, l.Env, err)
		}
		pb, err := archive.ReadProxyBundle(data, r.Proxy, archive.DefaultLimits())
		if err != nil {
			return nil, fmt.Errorf("revision %d of API proxy %q in environment %q: %w", r.Revision, r.Proxy, l.Env, err)
		}
		b.Proxies = append(b.Proxies, pb.Proxy)
	}
	routes, err := route.Compile(b)
	if err != nil {
		return nil, fmt.Errorf("API proxies of environment %q: %w", l.Env, err)
	}
	return &compiled{bundle: b, routes: routes}, nil
}

// compile parses a deployment's archive and compiles its routes, once.
func (g *Gateway) compile(ctx context.Context, l keyplane.LiveDeployment) (*compiled, error) {
	if c := g.bundles[cacheKey(l)]; c != nil {
		return c, nil
	}
	if l.Proxies != nil {
		c, err := g.compileProxies(ctx, l)
		if err != nil {
			return nil, err
		}
		g.bundles[cacheKey(l)] = c
		return c, nil
	}
	data, err := g.db.DeploymentArchive(ctx, l.UploadID)
	if err != nil {
		return nil, fmt.Errorf("deployment %q of environment %q: %w", l.Deployment, l.Env, err)
	}
	a, err := archive.Read(data, archive.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("deployment %q of environment %q: %w", l.Deployment, l.Env, err)
	}
	b, err := a.Bundle(l.Env)
	if err != nil {
		return nil, fmt.Errorf("deployment %q of environment %q: %w", l.Deployment, l.Env, err)
	}
	routes, err := route.Compile(b)
	if err != nil {
		return nil, fmt.Errorf("deployment %q of environment %q: %w", l.Deployment, l.Env, err)
	}
	c := &compiled{bundle: b, routes: routes}
	g.bundles[cacheKey(l)] = c
	return c, nil
}

// server is one place a target sends requests to, with the TLS settings
// that apply there.
type server struct {
	name             string // target server name, "" for a URL
	scheme, host     string
	port             int
	tls              *keyplane.SSLInfo // nil: plain HTTP
	unreachableCause string
}

// servers lists where a route target sends requests: its URL, or its
// target servers (the archive's own first, then the environment's).
func servers(b *archive.Bundle, rt *keyplane.TLSMaterial, t *route.Target) []server {
	if t.URL != "" {
		u, err := url.Parse(t.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return []server{{unreachableCause: fmt.Sprintf("target URL %q is not an absolute http or https URL", t.URL)}}
		}
		s := server{scheme: u.Scheme, host: u.Hostname()}
		s.port, _ = strconv.Atoi(u.Port())
		if s.port == 0 {
			s.port = map[string]int{"http": 80, "https": 443}[u.Scheme]
		}
		if u.Scheme == "https" || (t.TLS != nil && t.TLS.Enabled) {
			s.scheme, s.tls = "https", tlsOrEmpty(t.TLS)
		}
		return []server{s}
	}
	var out []server
	for _, name := range t.Servers {
		ts, ok := archive.TargetServerNamed(b, rt.TargetServers, name)
		if !ok {
			out = append(out, server{name: name, unreachableCause: fmt.Sprintf("target server %q does not exist", name)})
			continue
		}
		if ts.IsEnabled != nil && !*ts.IsEnabled {
			continue
		}
		s := server{name: name, scheme: "http", host: ts.Host, port: int(ts.Port)}
		switch {
		case ts.SSLInfo != nil && ts.SSLInfo.Enabled:
			s.scheme, s.tls = "https", ts.SSLInfo
		case t.TLS != nil && t.TLS.Enabled:
			s.scheme, s.tls = "https", t.TLS
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return []server{{unreachableCause: "every target server of the target is disabled"}}
	}
	return out
}

func tlsOrEmpty(t *keyplane.SSLInfo) *keyplane.SSLInfo {
	if t == nil {
		return &keyplane.SSLInfo{Enabled: true}
	}
	return t
}

// keystoresNamed lists the keystores the targets' TLS settings name, with
// references resolved: rt holds the environment's target servers and
// references at this point, not yet its aliases.
func keystoresNamed(b *archive.Bundle, targets []*route.Target, rt *keyplane.TLSMaterial) []string {
	set := map[string]bool{}
	for _, t := range targets {
		for _, s := range servers(b, rt, t) {
			if s.tls == nil {
				continue
			}
			for _, raw := range []string{s.tls.KeyStore, s.tls.TrustStore} {
				if name, problem := resolveStore(rt, raw); problem == "" && name != "" {
					set[name] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// resolveStore turns a keyStore or trustStore setting into a keystore name,
// or says why it cannot.
func resolveStore(rt *keyplane.TLSMaterial, raw string) (string, string) {
	switch kind, name := archive.ParseStore(raw); kind {
	case archive.StoreVar:
		return "", fmt.Sprintf("flow variable %s cannot be resolved by this gateway", name)
	case archive.StoreRef:
		if _, ok := rt.References[name]; !ok {
			return "", fmt.Sprintf("reference %q does not exist", name)
		}
	}
	ks, _ := archive.ResolveStore(raw, rt.References)
	return ks, ""
}

// resolve turns a route target into endpoints with their connection
// pools: a target whose TLS material did not change keeps its warm pool
// across reloads, a changed one gets a new pool.
func (g *Gateway) resolve(l keyplane.LiveDeployment, b *archive.Bundle, rt *keyplane.TLSMaterial, rtgt *route.Target) *target {
	t := &target{proxy: rtgt.Proxy, name: rtgt.Name}
	for _, s := range servers(b, rt, rtgt) {
		if s.unreachableCause != "" {
			t.problem = s.unreachableCause
			return t
		}
		ep := &endpoint{scheme: s.scheme, host: s.host, hostport: net.JoinHostPort(s.host, strconv.Itoa(s.port)), server: s.name}
		ep.hostHeader = ep.hostport
		if (s.scheme == "http" && s.port == 80) || (s.scheme == "https" && s.port == 443) {
			ep.hostHeader = strings.TrimSuffix(ep.hostport, ":"+strconv.Itoa(s.port)) // keeps an IPv6 literal's brackets
		}
		ut := upstream.Target{Addr: ep.hostport, TLS: s.tls, Host: s.host}
		if s.tls != nil {
			m, problem := g.material(l, rt, s.tls)
			if problem != "" {
				t.problem = problem
				return t
			}
			ut.Material = m
		}
		tr, err := g.transports.Get(ut)
		if err != nil {
			t.problem = err.Error()
			return t
		}
		ep.transport, ep.key = tr, tr.Key()
		t.endpoints = append(t.endpoints, ep)
	}
	return t
}

// material resolves the key alias and truststore TLS settings name.
func (g *Gateway) material(l keyplane.LiveDeployment, rt *keyplane.TLSMaterial, t *keyplane.SSLInfo) (upstream.Material, string) {
	var m upstream.Material
	if archive.PresentsClientCertificate(t) {
		cert, problem := g.clientCertificate(l, rt, t)
		if problem != "" {
			return m, problem
		}
		m.Certificate = cert
	}
	if t.TrustStore != "" {
		roots, problem := trustRoots(rt, t.TrustStore)
		if problem != "" {
			return m, problem
		}
		m.Roots = roots
	}
	return m, ""
}

// clientCertificate is the key alias's chain with its private key, opened
// with the master key.
func (g *Gateway) clientCertificate(l keyplane.LiveDeployment, rt *keyplane.TLSMaterial, t *keyplane.SSLInfo) (*tls.Certificate, string) {
	ks, problem := resolveStore(rt, t.KeyStore)
	if problem != "" {
		return nil, problem
	}
	aliases, ok := rt.Keystores[ks]
	if !ok {
		return nil, fmt.Sprintf("keystore %q does not exist", ks)
	}
	a, ok := aliases[t.KeyAlias]
	if !ok {
		return nil, fmt.Sprintf("alias %q of keystore %q does not exist", t.KeyAlias, ks)
	}
	if a.KeySealed == nil {
		return nil, fmt.Sprintf("alias %q of keystore %q holds no private key", a.Name, ks)
	}
	chain, err := certs.DecodeChain([]byte(a.ChainPEM))
	if err != nil {
		return nil, fmt.Sprintf("alias %q of keystore %q: %v", a.Name, ks, err)
	}
	key, err := certs.OpenAliasKey(g.cfg.Keys, &a)
	if err != nil {
		return nil, fmt.Sprintf("alias %q of keystore %q: its private key cannot be opened: %v", a.Name, ks, err)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, ""
}

// trustRoots are the certificates of every alias of a truststore.
func trustRoots(rt *keyplane.TLSMaterial, raw string) ([]*x509.Certificate, string) {
	ts, problem := resolveStore(rt, raw)
	if problem != "" {
		return nil, problem
	}
	aliases, ok := rt.Keystores[ts]
	if !ok {
		return nil, fmt.Sprintf("truststore %q does not exist", ts)
	}
	var roots []*x509.Certificate
	for _, name := range slices.Sorted(maps.Keys(aliases)) {
		a := aliases[name]
		chain, err := certs.DecodeChain([]byte(a.ChainPEM))
		if err != nil {
			return nil, fmt.Sprintf("alias %q of truststore %q: %v", a.Name, ts, err)
		}
		roots = append(roots, chain...)
	}
	if len(roots) == 0 {
		return nil, fmt.Sprintf("truststore %q holds no certificate", ts)
	}
	return roots, ""
}

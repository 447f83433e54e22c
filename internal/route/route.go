package route

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
)

// Table is the routing table of one environment: every base path its
// deployed proxies serve, longest first. A Table is immutable, and safe
// for concurrent use.
type Table struct {
	routes []*route
}

// route is one base path and how requests under it are routed.
type route struct {
	base  string
	proxy string
	// what names the route in messages: the proxy, and its endpoint file
	// for a programmable proxy.
	what string
	// ops are a configurable proxy's operations; rules a programmable
	// ProxyEndpoint's RouteRules. A route has one or the other.
	ops          []operation
	rules        []rule
	configurable bool
}

// operation is a compiled configurable operation.
type operation struct {
	id      string
	matches []httpMatch
	target  *Target
}

type httpMatch struct {
	template *archive.PathTemplate
	method   string // upper case; "" for any
}

// rule is a compiled RouteRule.
type rule struct {
	cond   *condition // nil: always
	target *Target    // nil: a null route
}

// Match is where a request goes.
type Match struct {
	// Proxy is the name of the proxy that serves the request.
	Proxy string
	// Operation is the id of the configurable operation that matched; it
	// is "" for a programmable proxy (and for an operation without id).
	Operation string
	// Vars are the values of the path template's variables, decoded; nil
	// when it has none.
	Vars map[string]string
	// PathSuffix is the request path after the proxy's base path, as the
	// client escaped it: "" or "/...".
	PathSuffix string
	// Target is where to send the request. It is nil for a RouteRule
	// without target endpoint or URL, Apigee's "null route": the proxy
	// answers the request itself, which for a gateway without policies
	// means answering it without any backend. Targets are shared by every
	// match of the same table and must not be changed.
	Target *Target
}

// Target is where a matched request is sent.
type Target struct {
	// Proxy is the name of the proxy the target belongs to.
	Proxy string
	// Name is the target endpoint's name for a programmable proxy (the
	// RouteRule's name when the rule names a URL itself); for a
	// configurable proxy, the target server's name, or "default" for a URI.
	Name string
	// URL is the absolute target URL, when the target names one: the
	// configurable target's uri, the RouteRule's URL or the
	// HTTPTargetConnection's URL.
	URL string
	// Servers are the names of the target servers to send the request to
	// when there is no URL: the configurable target_server_id, or the
	// programmable LoadBalancer's servers, sorted.
	Servers []string
	// Path is the HTTPTargetConnection's Path, prefixed to the path
	// suffix when the request goes to Servers; "" for none.
	Path string
	// TLS is the target endpoint's SSLInfo. When it is nil, each target
	// server's own sSLInfo applies, and for a URL the defaults of its
	// scheme.
	TLS *keyplane.SSLInfo

	// urlPath is URL's escaped path, computed once by Compile.
	urlPath string
}

// Compile builds the routes of every proxy a bundle deploys. A configurable
// proxy serves its basepath, or /{proxy name} when config.yaml has none, as
// Apigee serves it (a deployment that succeeds must serve something); a
// programmable proxy serves the BasePath of each of its ProxyEndpoints, and
// a ProxyEndpoint without a base path serves nothing.
//
// Every problem is a *keyplane.Error with code InvalidArgument whose
// message starts, as the archive's do, with "generic::invalid_argument: ":
// two routes with the same base path, a Condition that does not parse
// (reported at the Condition's line and column in its file), or a target
// endpoint that a RouteRule uses and that names no valid URL or servers.
// Bundle refuses everything else that cannot be routed, so a deployment
// validates its routes by compiling them.
func Compile(b *archive.Bundle) (*Table, error) {
	t := &Table{}
	owner := map[string]*route{}
	for i := range b.Proxies {
		p := &b.Proxies[i]
		var routes []*route
		var err error
		switch p.Type {
		case keyplane.ProxyTypeConfigurable:
			routes, err = configurableRoutes(p)
		default:
			routes, err = programmableRoutes(p)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range routes {
			if other, ok := owner[r.base]; ok {
				return nil, invalid("base path %q is served by both %s and %s", r.base, other.what, r.what)
			}
			owner[r.base] = r
			t.routes = append(t.routes, r)
		}
	}
	sort.SliceStable(t.routes, func(i, j int) bool { return len(t.routes[i].base) > len(t.routes[j].base) })
	for _, r := range t.routes {
		for _, tg := range r.targets() {
			tg.Proxy = r.proxy
		}
	}
	return t, nil
}

// Targets lists every target the table routes to, each once, in routing
// order: a gateway prepares a connection pool for each before it serves.
func (t *Table) Targets() []*Target {
	var out []*Target
	seen := map[*Target]bool{}
	for _, r := range t.routes {
		for _, tg := range r.targets() {
			if !seen[tg] {
				seen[tg] = true
				out = append(out, tg)
			}
		}
	}
	return out
}

// targets are the route's targets, in order, null routes left out.
func (r *route) targets() []*Target {
	var out []*Target
	for _, op := range r.ops {
		if op.target != nil {
			out = append(out, op.target)
		}
	}
	for _, rule := range r.rules {
		if rule.target != nil {
			out = append(out, rule.target)
		}
	}
	return out
}

// configurableRoutes compiles a configurable proxy: one route, at its base
// path or, without one, at /{proxy name}.
func configurableRoutes(p *archive.Proxy) ([]*route, error) {
	base := p.BasePath
	if base == "" {
		clean, problem := archive.CleanBasePath("/" + p.Name)
		if problem != "" {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "generic::invalid_argument: proxy %q has no basepath, and its name %s as one", p.Name, problem)
		}
		base = clean
	}
	r := &route{base: base, proxy: p.Name, what: fmt.Sprintf("proxy %q", p.Name), configurable: true}
	var def *Target
	if p.DefaultTarget != nil {
		def = configTarget(p.DefaultTarget)
	}
	for i, o := range p.Operations {
		op := operation{id: o.ID, target: def}
		if o.Target != nil {
			op.target = configTarget(o.Target)
		}
		if op.target == nil {
			return nil, invalid("proxy %q: operations[%d] has no target, and there is no top-level target", p.Name, i)
		}
		for j, m := range o.Matches {
			tmpl, err := archive.ParsePathTemplate(m.PathTemplate)
			if err != nil {
				return nil, invalid("proxy %q: operations[%d].http_match[%d].path_template %q is invalid %s", p.Name, i, j, clip(m.PathTemplate), err)
			}
			op.matches = append(op.matches, httpMatch{template: tmpl, method: strings.ToUpper(m.Method)})
		}
		r.ops = append(r.ops, op)
	}
	return []*route{r}, nil
}

// configTarget compiles a configurable target.
func configTarget(c *archive.ConfigTarget) *Target {
	if c.TargetServerID != "" {
		return &Target{Name: c.TargetServerID, Servers: []string{c.TargetServerID}}
	}
	t := &Target{Name: "default", URL: c.URI}
	if u, err := url.Parse(c.URI); err == nil {
		t.urlPath = u.EscapedPath()
	}
	return t
}

// programmableRoutes compiles a programmable proxy: a route per
// ProxyEndpoint that has a base path.
func programmableRoutes(p *archive.Proxy) ([]*route, error) {
	endpoints := map[string]*archive.TargetEndpoint{}
	for i := range p.Endpoints {
		endpoints[p.Endpoints[i].Name] = &p.Endpoints[i]
	}
	targets := map[string]*Target{} // a target endpoint is compiled once
	var routes []*route
	for _, pe := range p.ProxyEndpoints {
		if pe.BasePath == "" {
			continue
		}
		r := &route{base: pe.BasePath, proxy: p.Name, what: fmt.Sprintf("proxy %q (%s)", p.Name, pe.File)}
		for _, rr := range pe.RouteRules {
			var c rule
			if rr.Condition != "" {
				cond, err := parseCondition(rr.Condition)
				if err != nil {
					return nil, invalid("%s:%d:%d: <RouteRule> %q of proxy %q: <Condition> %q is invalid %s",
						pe.File, rr.ConditionLine, rr.ConditionColumn, clip(rr.Name), p.Name, clip(rr.Condition), err)
				}
				c.cond = cond
			}
			switch {
			case rr.TargetEndpoint != "":
				t, ok := targets[rr.TargetEndpoint]
				if !ok {
					ep := endpoints[rr.TargetEndpoint]
					if ep == nil {
						return nil, invalid("%s: <RouteRule> %q names target endpoint %q, which proxy %q does not define", pe.File, clip(rr.Name), rr.TargetEndpoint, p.Name)
					}
					var err error
					if t, err = endpointTarget(ep); err != nil {
						return nil, err
					}
					targets[rr.TargetEndpoint] = t
				}
				c.target = t
			case rr.URL != "":
				u, err := url.Parse(rr.URL)
				if problem := archive.CheckTargetURL(rr.URL); problem != "" || err != nil {
					return nil, invalid("%s: <RouteRule> %q: <URL> %q %s", pe.File, clip(rr.Name), clip(rr.URL), problem)
				}
				c.target = &Target{Name: rr.Name, URL: rr.URL, urlPath: u.EscapedPath()}
			}
			r.rules = append(r.rules, c)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// endpointTarget compiles a target endpoint that a RouteRule uses: it must
// name exactly one of a URL and LoadBalancer servers.
func endpointTarget(ep *archive.TargetEndpoint) (*Target, error) {
	t := &Target{Name: ep.Name, TLS: ep.TLS}
	switch {
	case ep.URL != "" && len(ep.TargetServerIDs) > 0:
		return nil, invalid("%s: target endpoint %q has both <URL> and <LoadBalancer> servers; set one", ep.File, ep.Name)
	case ep.URL != "" && ep.Path != "":
		return nil, invalid("%s: target endpoint %q has both <URL> and <Path>: <Path> applies to <LoadBalancer> servers, a <URL> holds its own path", ep.File, ep.Name)
	case ep.URL != "":
		u, err := url.Parse(ep.URL)
		if problem := archive.CheckTargetURL(ep.URL); problem != "" || err != nil {
			return nil, invalid("%s: target endpoint %q: <URL> %q %s", ep.File, ep.Name, clip(ep.URL), problem)
		}
		t.URL, t.urlPath = ep.URL, u.EscapedPath()
	case len(ep.TargetServerIDs) > 0:
		t.Servers = ep.TargetServerIDs
		if ep.Path != "" {
			clean, problem := archive.CleanBasePath(ep.Path)
			if problem != "" {
				return nil, invalid("%s: target endpoint %q: <Path> %q %s", ep.File, ep.Name, clip(ep.Path), problem)
			}
			t.Path = clean
		}
	default:
		return nil, invalid("%s: target endpoint %q has neither <URL> nor <LoadBalancer> servers, so requests routed to it cannot be sent", ep.File, ep.Name)
	}
	return t, nil
}

// invalid returns an InvalidArgument error with the archive's prefix.
func invalid(format string, args ...any) error {
	return keyplane.Errorf(keyplane.InvalidArgument, "generic::invalid_argument: %s", fmt.Sprintf(format, args...))
}

// Match finds the proxy and target for a request; the host was resolved
// by the caller. The proxy is the one with the longest base path that the
// request path starts with at a segment boundary ("/mtls" serves /mtls and
// /mtls/x, not /mtlsx). A configurable proxy then takes the first
// operation, in file order, with an http_match whose method (in any case;
// none means any) and path template match; a programmable proxy the first
// RouteRule whose Condition is true (a rule without one always is). When
// nothing matches there, the request has no route: shorter base paths are
// not tried.
//
// A path with a "." or ".." segment (percent-encoded or not, with
// parameters or not), an encoded slash or backslash, or a backslash has no
// route, so that no suffix can climb out of a target's path on any server.
func (t *Table) Match(r *http.Request) (*Match, bool) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") || dotSegment(path) {
		return nil, false
	}
	for _, rt := range t.routes {
		suffix, ok := under(path, rt.base)
		if !ok {
			continue
		}
		if rt.configurable {
			return rt.matchOperation(r.Method, suffix)
		}
		return rt.matchRule(&flow{r: r, path: path, basePath: rt.base, suffix: suffix})
	}
	return nil, false
}

// under returns the part of path after base, if path is base or below it.
func under(path, base string) (string, bool) {
	if base == "/" {
		return path, true
	}
	if !strings.HasPrefix(path, base) || len(path) > len(base) && path[len(base)] != '/' {
		return "", false
	}
	return path[len(base):], true
}

func (rt *route) matchOperation(method, suffix string) (*Match, bool) {
	for _, op := range rt.ops {
		for _, m := range op.matches {
			if m.method != "" && !strings.EqualFold(m.method, method) {
				continue
			}
			if vars, ok := matchTemplate(m.template, suffix); ok {
				return &Match{Proxy: rt.proxy, Operation: op.id, Vars: vars, PathSuffix: suffix, Target: op.target}, true
			}
		}
	}
	return nil, false
}

func (rt *route) matchRule(f *flow) (*Match, bool) {
	for _, rr := range rt.rules {
		if rr.cond == nil || rr.cond.eval(f) {
			return &Match{Proxy: rt.proxy, PathSuffix: f.suffix, Target: rr.target}, true
		}
	}
	return nil, false
}

// dotSegment reports whether an escaped path could climb out of where it is
// sent on some server: a segment that is "." or "..", once decoded, or that
// holds one between encoded slashes or backslashes ("..%2f", "%5c.."),
// which some servers decode before they resolve segments, or before
// parameters ("..;x", which Java servers read as ".."). An encoded slash
// in an ordinary name ("b%2Fc") is fine.
func dotSegment(path string) bool {
	for path != "" {
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if strings.IndexByte(seg, '.') < 0 && strings.IndexByte(seg, '%') < 0 {
			continue // no dot, encoded or not: the common case, at no cost
		}
		if decoded, err := url.PathUnescape(seg); err == nil {
			seg = decoded
		}
		for piece := range strings.FieldsFuncSeq(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
			if i := strings.IndexByte(piece, ';'); i >= 0 {
				piece = piece[:i]
			}
			if piece == "." || piece == ".." {
				return true
			}
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// UpstreamPath returns the escaped path to send to the target: the target
// URL's path, or Path for target servers, joined with the path suffix
// ("/" when both are empty). The query string is the caller's to add. It
// returns "" for a null route.
func (m *Match) UpstreamPath() string {
	t := m.Target
	if t == nil {
		return ""
	}
	base := t.Path
	if t.URL != "" {
		base = t.urlPath
		if base == "" {
			if u, err := url.Parse(t.URL); err == nil {
				base = u.EscapedPath()
			}
		}
	}
	switch {
	case m.PathSuffix == "" && base == "":
		return "/"
	case m.PathSuffix == "":
		return base
	case base == "":
		return m.PathSuffix
	}
	return strings.TrimSuffix(base, "/") + m.PathSuffix
}

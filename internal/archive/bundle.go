package archive

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/keyplane/keyplane"
)

// Bundle is what an archive deploys to one environment.
type Bundle struct {
	// Env is the environment the bundle was read for.
	Env string
	// Proxies are the proxies deployments.json lists, sorted by name.
	Proxies []Proxy
	// TargetServers are the target servers the archive's targetservers.json
	// defines for Env, by name: all of them, used or not. It is nil when the
	// archive has no targetservers.json for Env.
	TargetServers map[string]keyplane.TargetServer
}

// Proxy is one API proxy that a bundle deploys.
type Proxy struct {
	// Name is the proxy's name, its folder under src/main/apigee/apiproxies/.
	Name string
	// Type is keyplane.ProxyTypeConfigurable for a proxy defined by a config.yaml
	// and keyplane.ProxyTypeProgrammable for one defined by an apiproxy/ bundle.
	Type string
	// TargetServerIDs are the names of the target servers the proxy uses,
	// sorted and without repeats: the targets of a configurable proxy, the
	// load balancer servers of a programmable proxy's target endpoints.
	TargetServerIDs []string
	// Endpoints are the target endpoints of a programmable proxy, sorted by
	// name.
	Endpoints []TargetEndpoint

	// BasePath is the base path that a configurable proxy serves, its
	// config.yaml's basepath cleaned as CleanBasePath does; "" when it has
	// none, and it then serves no request. A programmable proxy has a base
	// path per ProxyEndpoint instead.
	BasePath string
	// DefaultTarget is a configurable proxy's top-level target, used by
	// the operations without a target of their own; nil when it has none.
	DefaultTarget *ConfigTarget
	// Operations are a configurable proxy's operations in the order they
	// are written, the order in which they are matched. Each has a target
	// or the proxy has a DefaultTarget.
	Operations []Operation
	// ProxyEndpoints are the proxy endpoints of a programmable proxy,
	// sorted by name. Every target endpoint their RouteRules name is one
	// of Endpoints.
	ProxyEndpoints []ProxyEndpoint
}

// TargetEndpoint is one apiproxy/targets/*.xml of a programmable proxy.
type TargetEndpoint struct {
	// Name is the TargetEndpoint's name attribute, or the file's name
	// without ".xml" when it has none.
	Name string
	// File is the endpoint's path in the archive.
	File string
	// URL is the HTTPTargetConnection's URL, if any.
	URL string
	// Path is the HTTPTargetConnection's Path, if any: the path prefixed to
	// requests sent to the LoadBalancer's servers.
	Path string
	// TargetServerIDs are the names of the LoadBalancer's servers, sorted
	// and without repeats.
	TargetServerIDs []string
	// TLS is the HTTPTargetConnection's SSLInfo, or nil when it has none.
	TLS *keyplane.SSLInfo
}

// Bundle parses what the archive deploys to env: the proxies its
// deployments.json lists, each proxy's configuration, and its
// targetservers.json if any.
func (a *Archive) Bundle(env string) (*Bundle, error) {
	if !keyplane.ValidName(env) {
		return nil, invalid("environment name %q is invalid", clip(env))
	}
	deploymentsPath := environmentDir + env + "/deployments.json"
	data, ok, err := a.file(deploymentsPath)
	if err != nil {
		return nil, err
	}
	if !ok {
		hint := ""
		if a.wrapper != "" {
			hint = fmt.Sprintf(" (every entry is inside the folder %q: zip the content of the source folder, not the folder itself)", clip(a.wrapper))
		}
		return nil, invalid("%s: file is missing from the archive%s", deploymentsPath, hint)
	}
	d, err := parseJSON(deploymentsPath, data)
	if err != nil {
		return nil, err
	}
	listed, err := deployedProxies(d)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Env: env}
	for _, l := range listed {
		p, err := a.proxy(l.name)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, d.errorf(l.v, "proxy %q is not in the archive: expected %s%s/config.yaml or %s%s/apiproxy/", l.name, proxiesDir, l.name, proxiesDir, l.name)
		}
		b.Proxies = append(b.Proxies, *p)
	}
	sort.Slice(b.Proxies, func(i, j int) bool { return b.Proxies[i].Name < b.Proxies[j].Name })

	serversPath := environmentDir + env + "/targetservers.json"
	data, ok, err = a.file(serversPath)
	if err != nil {
		return nil, err
	}
	if ok {
		d, err := parseJSON(serversPath, data)
		if err != nil {
			return nil, err
		}
		if b.TargetServers, err = targetServers(d); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// listedProxy is a proxy named in deployments.json.
type listedProxy struct {
	name string
	v    *value
}

// deployedProxies reads deployments.json: ["a"], {"proxies": ["a"]} or
// {"proxies": [{"name": "a"}], "sharedflows": [...]}.
func deployedProxies(d *doc) ([]listedProxy, error) {
	list := d.root
	if list.kind == kindObject {
		list = field(list, "proxies")
		if list == nil || list.kind == kindNull {
			return nil, nil
		}
	}
	if list.kind != kindArray {
		return nil, d.errorf(list, `expected an array of proxies or an object with a "proxies" array, not %s`, list.kind)
	}
	var out []listedProxy
	seen := map[string]bool{}
	for i, item := range list.items {
		nv := item
		if item.kind == kindObject {
			if nv = field(item, "name"); nv == nil {
				return nil, d.errorf(item, "proxies[%d] has no name", i)
			}
		}
		if nv.kind != kindString {
			return nil, d.errorf(nv, "proxies[%d] must be a name or an object with a name, not %s", i, nv.kind)
		}
		name := nv.text
		if !keyplane.ValidName(name) {
			return nil, d.errorf(nv, "proxy name %q is invalid", clip(name))
		}
		if seen[name] {
			return nil, d.errorf(nv, "proxy %q is listed twice", name)
		}
		seen[name] = true
		out = append(out, listedProxy{name: name, v: nv})
	}
	return out, nil
}

// proxy reads the proxy folder of name, or returns nil if there is none.
func (a *Archive) proxy(name string) (*Proxy, error) {
	dir := proxiesDir + name + "/"
	configPath := dir + "config.yaml"
	_, configurable := a.files[configPath]
	if _, big := a.oversized[configPath]; big {
		configurable = true
	}
	programmable := a.hasPrefix(dir + "apiproxy/")
	switch {
	case configurable && programmable:
		return nil, invalid("%s: a proxy has either config.yaml or apiproxy/, not both", strings.TrimSuffix(dir, "/"))
	case configurable:
		return a.configurableProxy(name, configPath)
	case programmable:
		return a.programmableProxy(name, dir+"apiproxy/")
	}
	return nil, nil
}

// configurableProxy reads a config.yaml in Apigee's ApiConfig schema: the
// base path, the top-level target and the operations. The target servers
// used are those of the top-level target and of every operation's target.
func (a *Archive) configurableProxy(name, configPath string) (*Proxy, error) {
	data, _, err := a.file(configPath)
	if err != nil {
		return nil, err
	}
	d, err := parseYAML(configPath, data)
	if err != nil {
		return nil, err
	}
	p := &Proxy{Name: name, Type: keyplane.ProxyTypeConfigurable}
	if d.root.kind == kindNull {
		return p, nil
	}
	if d.root.kind != kindObject {
		return nil, d.errorf(d.root, "expected a mapping, not %s", d.root.kind)
	}
	bp := field(d.root, "basepath")
	base, err := d.str(bp, "basepath")
	if err != nil {
		return nil, err
	}
	if base != "" {
		clean, problem := CleanBasePath(base)
		if problem != "" {
			return nil, d.errorf(bp, "basepath %q %s", clip(base), problem)
		}
		p.BasePath = clean
	}
	ids := map[string]bool{}
	if p.DefaultTarget, err = configTarget(d, field(d.root, "target"), "target"); err != nil {
		return nil, err
	}
	if p.DefaultTarget != nil && p.DefaultTarget.TargetServerID != "" {
		ids[p.DefaultTarget.TargetServerID] = true
	}
	ops := field(d.root, "operations")
	if ops != nil && ops.kind != kindNull {
		if ops.kind != kindArray {
			return nil, d.errorf(ops, "operations must be a sequence, not %s", ops.kind)
		}
		for i, op := range ops.items {
			if op.kind != kindObject {
				return nil, d.errorf(op, "operations[%d] must be a mapping, not %s", i, op.kind)
			}
			o, err := operation(d, op, fmt.Sprintf("operations[%d]", i))
			if err != nil {
				return nil, err
			}
			switch {
			case o.Target != nil && o.Target.TargetServerID != "":
				ids[o.Target.TargetServerID] = true
			case o.Target == nil && p.DefaultTarget == nil:
				return nil, d.errorf(op, "operations[%d] has no target, and there is no top-level target", i)
			}
			p.Operations = append(p.Operations, o)
		}
	}
	p.TargetServerIDs = sortedKeys(ids)
	return p, nil
}

// programmableProxy reads the target endpoints and the proxy endpoints of
// an apiproxy/ bundle.
func (a *Archive) programmableProxy(name, dir string) (*Proxy, error) {
	p := &Proxy{Name: name, Type: keyplane.ProxyTypeProgrammable}
	ids := map[string]bool{}
	files := map[string]string{}
	for _, f := range a.withPrefix(dir + "targets/") {
		if !parsed(f) {
			continue // a subfolder or a file that is not .xml
		}
		data, _, err := a.file(f)
		if err != nil {
			return nil, err
		}
		ep, err := parseTargetEndpoint(f, data)
		if err != nil {
			return nil, err
		}
		if ep.Name == "" {
			ep.Name = strings.TrimSuffix(path.Base(f), ".xml")
		}
		if !keyplane.ValidName(ep.Name) {
			return nil, invalid("%s: target endpoint name %q is invalid", f, clip(ep.Name))
		}
		if other, ok := files[ep.Name]; ok {
			return nil, invalid("%s: target endpoint %q is also defined in %s", f, ep.Name, other)
		}
		files[ep.Name] = f
		for _, id := range ep.TargetServerIDs {
			ids[id] = true
		}
		p.Endpoints = append(p.Endpoints, *ep)
	}
	sort.Slice(p.Endpoints, func(i, j int) bool { return p.Endpoints[i].Name < p.Endpoints[j].Name })
	p.TargetServerIDs = sortedKeys(ids)

	proxyFiles := map[string]string{}
	for _, f := range a.withPrefix(dir + "proxies/") {
		if !parsed(f) {
			continue
		}
		data, _, err := a.file(f)
		if err != nil {
			return nil, err
		}
		ep, targetPos, err := parseProxyEndpoint(f, data)
		if err != nil {
			return nil, err
		}
		if ep.Name == "" {
			ep.Name = strings.TrimSuffix(path.Base(f), ".xml")
		}
		if !keyplane.ValidName(ep.Name) {
			return nil, invalid("%s: proxy endpoint name %q is invalid", f, clip(ep.Name))
		}
		if other, ok := proxyFiles[ep.Name]; ok {
			return nil, invalid("%s: proxy endpoint %q is also defined in %s", f, ep.Name, other)
		}
		proxyFiles[ep.Name] = f
		for i, r := range ep.RouteRules {
			if _, ok := files[r.TargetEndpoint]; r.TargetEndpoint != "" && !ok {
				return nil, fileError(f, targetPos[i], "<RouteRule> %q names target endpoint %q, which no file in %stargets/ defines", clip(r.Name), r.TargetEndpoint, dir)
			}
		}
		p.ProxyEndpoints = append(p.ProxyEndpoints, *ep)
	}
	sort.Slice(p.ProxyEndpoints, func(i, j int) bool { return p.ProxyEndpoints[i].Name < p.ProxyEndpoints[j].Name })
	return p, nil
}

// targetServers reads targetservers.json: an array of TargetServer
// resources.
func targetServers(d *doc) (map[string]keyplane.TargetServer, error) {
	if d.root.kind != kindArray {
		return nil, d.errorf(d.root, "expected an array of target servers, not %s", d.root.kind)
	}
	out := make(map[string]keyplane.TargetServer, len(d.root.items))
	for i, item := range d.root.items {
		ts, err := targetServer(d, item, fmt.Sprintf("[%d]", i))
		if err != nil {
			return nil, err
		}
		if _, dup := out[ts.Name]; dup {
			return nil, d.errorf(item, "target server %q is defined twice", ts.Name)
		}
		out[ts.Name] = ts
	}
	return out, nil
}

// targetServer reads one target server; at names it in messages.
func targetServer(d *doc, v *value, at string) (keyplane.TargetServer, error) {
	var ts keyplane.TargetServer
	if v.kind != kindObject {
		return ts, d.errorf(v, "%s must be an object, not %s", at, v.kind)
	}
	nv := field(v, "name")
	var err error
	if ts.Name, err = d.str(nv, at+".name"); err != nil {
		return ts, err
	}
	if ts.Name == "" {
		return ts, d.errorf(v, "%s has no name", at)
	}
	if !keyplane.ValidName(ts.Name) {
		return ts, d.errorf(nv, "target server name %q is invalid", clip(ts.Name))
	}
	at = fmt.Sprintf("target server %q: ", ts.Name)
	if ts.Description, err = d.str(field(v, "description"), at+"description"); err != nil {
		return ts, err
	}
	if ts.Host, err = d.str(field(v, "host"), at+"host"); err != nil {
		return ts, err
	}
	if ts.Protocol, err = d.str(field(v, "protocol"), at+"protocol"); err != nil {
		return ts, err
	}
	if ts.Port, err = d.integer(field(v, "port"), at+"port"); err != nil {
		return ts, err
	}
	if ev := field(v, "isEnabled"); ev != nil && ev.kind != kindNull {
		enabled, err := d.boolean(ev, at+"isEnabled")
		if err != nil {
			return ts, err
		}
		ts.IsEnabled = &enabled
	}
	if sv := field(v, "sSLInfo"); sv != nil && sv.kind != kindNull {
		if ts.SSLInfo, err = tlsInfo(d, sv, at+"sSLInfo"); err != nil {
			return ts, err
		}
	}
	return ts, nil
}

// tlsInfo reads a TlsInfo object; at names it in messages.
func tlsInfo(d *doc, v *value, at string) (*keyplane.SSLInfo, error) {
	if v.kind != kindObject {
		return nil, d.errorf(v, "%s must be an object, not %s", at, v.kind)
	}
	t := &keyplane.SSLInfo{}
	bools := []struct {
		key string
		dst *bool
	}{
		{"enabled", &t.Enabled},
		{"enforce", &t.Enforce},
		{"clientAuthEnabled", &t.ClientAuthEnabled},
		{"ignoreValidationErrors", &t.IgnoreValidationErrors},
	}
	var err error
	for _, b := range bools {
		if *b.dst, err = d.boolean(field(v, b.key), at+"."+b.key); err != nil {
			return nil, err
		}
	}
	strs := []struct {
		key string
		dst *string
	}{
		{"keyStore", &t.KeyStore},
		{"keyAlias", &t.KeyAlias},
		{"trustStore", &t.TrustStore},
	}
	for _, s := range strs {
		if *s.dst, err = d.str(field(v, s.key), at+"."+s.key); err != nil {
			return nil, err
		}
	}
	if t.Protocols, err = d.strs(field(v, "protocols"), at+".protocols"); err != nil {
		return nil, err
	}
	if t.Ciphers, err = d.strs(field(v, "ciphers"), at+".ciphers"); err != nil {
		return nil, err
	}
	switch cn := field(v, "commonName"); {
	case cn == nil || cn.kind == kindNull:
	case cn.kind == kindString:
		t.CommonName = &keyplane.CommonName{Value: cn.text}
	default:
		if cn.kind != kindObject {
			return nil, d.errorf(cn, "%s.commonName must be an object, not %s", at, cn.kind)
		}
		t.CommonName = &keyplane.CommonName{}
		if t.CommonName.Value, err = d.str(field(cn, "value"), at+".commonName.value"); err != nil {
			return nil, err
		}
		if t.CommonName.WildcardMatch, err = d.boolean(field(cn, "wildcardMatch"), at+".commonName.wildcardMatch"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// sortedKeys returns the keys of set, sorted.
func sortedKeys(set map[string]bool) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package archive

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyplane/keyplane"
)

// Snapshot is what validation needs to know about the environment a bundle
// deploys to. The caller loads it in a constant number of queries, using
// Bundle.EnvTargetServerNames, Bundle.ReferenceNames and
// Bundle.Material to know what to load; anything missing from the maps
// is taken not to exist.
type Snapshot struct {
	// Org and Env name the environment, as resource names in messages.
	Org, Env string
	// Now is the time at which certificates must be valid; the zero time
	// means time.Now().
	Now time.Time
	// Keystores are the environment's keystores (and truststores) by name.
	Keystores map[string]Keystore
	// References are the environment's references by name.
	References map[string]keyplane.Reference
	// TargetServers are the environment's own target servers by name. A
	// target server the archive defines in targetservers.json takes
	// precedence over the environment's of the same name.
	TargetServers map[string]keyplane.TargetServer
}

// Keystore is a keystore or truststore, with its aliases by name.
type Keystore struct {
	Aliases map[string]Alias
}

// Alias is what validation needs to know about one alias.
type Alias struct {
	// ID identifies the stored version of the alias's certificate: a
	// successful validation pins the IDs it checked (see Result.Pins).
	ID int64
	// HasKey reports whether the alias holds a private key (type KEY_CERT).
	HasKey bool
	// Certs is the certificate chain, leaf first.
	Certs []Cert
}

// Cert is what validation needs to know about one certificate.
type Cert struct {
	// NotAfter is the end of the certificate's validity.
	NotAfter time.Time
}

// Result is the outcome of a successful validation.
type Result struct {
	// Warnings are the things that could not be checked or that are
	// insecure but allowed, in the order they were found and without
	// repeats.
	Warnings []string
	// Proxies are the deployed proxies with their new revisions, sorted by
	// name.
	Proxies []ProxyRevision
	// TargetServers are the names of the target servers the deployed
	// proxies use, sorted; Bundle.TargetServers tells which of them the
	// archive defines.
	TargetServers []string
	// Pins are the aliases whose certificates were validated: the key
	// alias of every client-authenticated TLS settings and every alias of
	// every truststore. They are sorted by keystore, then alias.
	Pins []Pin
}

// ProxyRevision is one proxy that a deployment makes live.
type ProxyRevision struct {
	Name     string
	Type     string // keyplane.ProxyTypeConfigurable or keyplane.ProxyTypeProgrammable
	Revision int
}

// Pin is the certificate version of one alias that a deployment validated.
type Pin struct {
	Keystore string
	Alias    string
	AliasID  int64
}

// Validate checks the TLS settings of everything b deploys against s.
// revisions gives each proxy's new revision number, which the messages
// name. When a setting is invalid, it returns a *keyplane.Error with code
// InvalidArgument whose message is composed as the package documentation
// describes; any other error is a mistake of the caller.
func Validate(b *Bundle, s *Snapshot, revisions map[string]int) (*Result, error) {
	v := newValidator(s)
	res := &Result{}
	used := map[string]bool{}
	serverParts := map[string]string{} // a target server is checked once
	var sentences []string
	for _, p := range sortedProxies(b.Proxies) {
		rev, ok := revisions[p.Name]
		if !ok {
			return nil, fmt.Errorf("archive: no revision given for proxy %q", p.Name)
		}
		res.Proxies = append(res.Proxies, ProxyRevision{Name: p.Name, Type: p.Type, Revision: rev})
		proxyName := fmt.Sprintf("organizations/%s/apis/%s/revisions/%d", s.Org, p.Name, rev)

		var parts []string
		for _, id := range p.TargetServerIDs {
			used[id] = true
			part, done := serverParts[id]
			if !done {
				part = v.checkServer(b, id)
				serverParts[id] = part
			}
			if part != "" {
				parts = append(parts, part)
			}
		}
		if len(parts) > 0 {
			sentences = append(sentences, fmt.Sprintf("proxy %q contains reference(s) to invalid target server(s): %s", proxyName, strings.Join(parts, "; ")))
		}
		for _, ep := range p.Endpoints {
			if ep.TLS == nil || !ep.TLS.Enabled {
				continue
			}
			what := fmt.Sprintf("proxy %q target endpoint %q", proxyName, ep.Name)
			if problems := v.checkTLS(what, ep.TLS); len(problems) > 0 {
				sentences = append(sentences, fmt.Sprintf("proxy %q contains invalid TLS settings in target endpoint %q: %s", proxyName, ep.Name, strings.Join(problems, "; ")))
			}
		}
	}
	if len(sentences) > 0 {
		return nil, invalid("%s", strings.Join(sentences, "; "))
	}
	res.Warnings = v.warnings
	res.TargetServers = sortedKeys(used)
	for _, pin := range v.pins {
		res.Pins = append(res.Pins, pin)
	}
	sort.Slice(res.Pins, func(i, j int) bool {
		a, b := res.Pins[i], res.Pins[j]
		return a.Keystore < b.Keystore || a.Keystore == b.Keystore && a.Alias < b.Alias
	})
	return res, nil
}

// sortedProxies returns a copy of proxies sorted by name, with their
// target servers and endpoints sorted too, so that messages do not depend
// on how the caller built the bundle.
func sortedProxies(proxies []Proxy) []Proxy {
	out := make([]Proxy, len(proxies))
	for i, p := range proxies {
		p.TargetServerIDs = append([]string(nil), p.TargetServerIDs...)
		sort.Strings(p.TargetServerIDs)
		p.Endpoints = append([]TargetEndpoint(nil), p.Endpoints...)
		sort.SliceStable(p.Endpoints, func(i, j int) bool { return p.Endpoints[i].Name < p.Endpoints[j].Name })
		out[i] = p
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// EnvTargetServerNames returns the names of the target servers that the
// bundle's proxies use and that the archive does not define, sorted: the
// caller loads these from the environment into Snapshot.TargetServers.
func (b *Bundle) EnvTargetServerNames() []string {
	names := map[string]bool{}
	for _, p := range b.Proxies {
		for _, id := range p.TargetServerIDs {
			if _, ok := b.TargetServers[id]; !ok {
				names[id] = true
			}
		}
	}
	return sortedKeys(names)
}

// ReferenceNames returns the names of the references that validation
// resolves, sorted, given the environment's target servers (those that
// EnvTargetServerNames named): the caller loads these into
// Snapshot.References.
func (b *Bundle) ReferenceNames(envServers map[string]keyplane.TargetServer) []string {
	names := map[string]bool{}
	for _, t := range b.enabledTLS(envServers) {
		for _, store := range stores(t) {
			if k, name := ParseStore(store); k == StoreRef {
				names[name] = true
			}
		}
	}
	return sortedKeys(names)
}

// Material names the TLS material that validation reads: every alias of
// each truststore, but of a keystore used for client authentication only
// its key alias, so that what a deployment loads grows with what it uses,
// not with the size of the keystores.
type Material struct {
	// Truststores are the keystores whose every alias is checked, sorted.
	Truststores []string
	// KeyAliases are, by keystore, the key aliases checked, sorted.
	KeyAliases map[string][]string
}

// Keystores returns every keystore m names, sorted.
func (m Material) Keystores() []string {
	names := map[string]bool{}
	for _, ts := range m.Truststores {
		names[ts] = true
	}
	for ks := range m.KeyAliases {
		names[ks] = true
	}
	return sortedKeys(names)
}

// Material returns the TLS material that validation checks, given the
// environment's target servers and the references that ReferenceNames
// named: the caller loads it into Snapshot.Keystores. A keystore that is
// missing from the snapshot is taken not to exist; an alias missing from a
// loaded keystore, not to be in it.
func (b *Bundle) Material(envServers map[string]keyplane.TargetServer, refs map[string]keyplane.Reference) Material {
	resolve := func(store string) string {
		ks, _ := ResolveStore(store, refs)
		return ks
	}
	trust := map[string]bool{}
	keys := map[string]map[string]bool{}
	for _, t := range b.enabledTLS(envServers) {
		if ts := resolve(t.TrustStore); ts != "" {
			trust[ts] = true
		}
		if !ChecksKeyAlias(t) {
			continue
		}
		if ks := resolve(t.KeyStore); ks != "" {
			if keys[ks] == nil {
				keys[ks] = map[string]bool{}
			}
			if k, alias := ParseStore(t.KeyAlias); k == StoreName {
				keys[ks][alias] = true
			}
		}
	}
	m := Material{Truststores: sortedKeys(trust), KeyAliases: map[string][]string{}}
	for ks, aliases := range keys {
		m.KeyAliases[ks] = sortedKeys(aliases)
	}
	return m
}

// stores returns the keyStore and trustStore values of t that validation
// resolves: the keyStore only when client authentication applies.
func stores(t *keyplane.SSLInfo) []string {
	var out []string
	if ChecksKeyAlias(t) {
		out = append(out, t.KeyStore)
	}
	return append(out, t.TrustStore)
}

// enabledTLS returns the enabled TLS settings of the target servers and
// target endpoints that the bundle's proxies use.
func (b *Bundle) enabledTLS(envServers map[string]keyplane.TargetServer) []*keyplane.SSLInfo {
	var out []*keyplane.SSLInfo
	for _, p := range b.Proxies {
		for _, id := range p.TargetServerIDs {
			if ts, ok := TargetServerNamed(b, envServers, id); ok && ts.SSLInfo != nil && ts.SSLInfo.Enabled {
				out = append(out, ts.SSLInfo)
			}
		}
		for _, ep := range p.Endpoints {
			if ep.TLS != nil && ep.TLS.Enabled {
				out = append(out, ep.TLS)
			}
		}
	}
	return out
}

// validator holds the state of one validation.
type validator struct {
	s        *Snapshot
	now      time.Time
	warnings []string
	warned   map[string]bool
	pins     map[[2]string]Pin
	ciphers  map[string]bool // IANA name -> insecure
}

func newValidator(s *Snapshot) *validator {
	v := &validator{s: s, now: s.Now, warned: map[string]bool{}, pins: map[[2]string]Pin{}, ciphers: map[string]bool{}}
	if v.now.IsZero() {
		v.now = time.Now()
	}
	for _, c := range tls.CipherSuites() {
		v.ciphers[c.Name] = false
	}
	for _, c := range tls.InsecureCipherSuites() {
		v.ciphers[c.Name] = true
	}
	return v
}

func (v *validator) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !v.warned[w] {
		v.warned[w] = true
		v.warnings = append(v.warnings, w)
	}
}

func (v *validator) pin(keystore, alias string, a Alias) {
	v.pins[[2]string{keystore, alias}] = Pin{Keystore: keystore, Alias: alias, AliasID: a.ID}
}

func (v *validator) keystoreName(ks string) string {
	return fmt.Sprintf("organizations/%s/environments/%s/keystores/%s", v.s.Org, v.s.Env, ks)
}

// checkServer returns the message part of the target server named id, or
// "" when it is valid.
func (v *validator) checkServer(b *Bundle, id string) string {
	ts, ok := TargetServerNamed(b, v.s.TargetServers, id)
	if !ok {
		return fmt.Sprintf("target server %q does not exist", id)
	}
	if ts.SSLInfo == nil || !ts.SSLInfo.Enabled {
		return ""
	}
	problems := v.checkTLS(fmt.Sprintf("target server %q", id), ts.SSLInfo)
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("target server %q contains invalid TLS settings: %s", id, strings.Join(problems, "; "))
}

// checkTLS returns the problems of enabled TLS settings, in the documented
// order; what names the settings in warnings.
func (v *validator) checkTLS(what string, t *keyplane.SSLInfo) []string {
	var problems []string
	if ChecksKeyAlias(t) {
		problems = append(problems, v.checkKeyAlias(what, t)...)
	}
	if t.TrustStore != "" {
		problems = append(problems, v.checkTruststore(what, t.TrustStore)...)
	}
	for _, p := range t.Protocols {
		switch strings.ToLower(p) {
		case "tlsv1.2", "1.2", "tlsv1.3", "1.3":
		case "tlsv1", "tlsv1.0", "1.0", "tlsv1.1", "1.1":
			v.warn("%s: protocol %q is insecure", what, p)
		default:
			problems = append(problems, fmt.Sprintf("unknown protocol %q", clip(p)))
		}
	}
	for _, c := range t.Ciphers {
		insecure, known := v.ciphers[c]
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("unknown cipher %q", clip(c)))
		case insecure:
			v.warn("%s: cipher %q is insecure", what, c)
		}
	}
	return problems
}

// resolve returns the keystore that a keyStore or trustStore value (field)
// names, and whether there is one to check; the problems are those of a
// reference that does not resolve to a keystore of resource type want.
func (v *validator) resolve(what, field, raw, want string) (string, bool, []string) {
	k, name := ParseStore(raw)
	switch k {
	case StoreNone:
		return "", false, nil
	case StoreVar:
		v.warn("%s: %s %q is a flow variable, resolved only at runtime; it was not validated", what, field, raw)
		return "", false, nil
	case StoreRef:
		refName := fmt.Sprintf("organizations/%s/environments/%s/references/%s", v.s.Org, v.s.Env, name)
		ref, ok := v.s.References[name]
		if !ok {
			return "", false, []string{fmt.Sprintf("reference %q does not exist", refName)}
		}
		if ref.ResourceType != want {
			return "", false, []string{fmt.Sprintf("reference %q has resourceType %q, but %s requires %q", refName, ref.ResourceType, field, want)}
		}
		return ref.Refers, true, nil
	}
	return name, true, nil
}

// checkKeyAlias checks the key alias of client-authenticated TLS settings.
func (v *validator) checkKeyAlias(what string, t *keyplane.SSLInfo) []string {
	var problems []string
	if t.KeyStore == "" {
		problems = append(problems, "keyStore is required for client authentication")
	}
	if t.KeyAlias == "" {
		problems = append(problems, "keyAlias is required for client authentication")
	}
	ks, ok, refProblems := v.resolve(what, "keyStore", t.KeyStore, keyplane.ResourceTypeKeyStore)
	problems = append(problems, refProblems...)
	if isFlowVariable(t.KeyAlias) {
		v.warn("%s: keyAlias %q is a flow variable, resolved only at runtime; it was not validated", what, t.KeyAlias)
		return problems
	}
	if !ok || t.KeyAlias == "" {
		return problems
	}
	storeName := v.keystoreName(ks)
	aliasName := storeName + "/aliases/" + t.KeyAlias
	quoted := fmt.Sprintf("alias %q", aliasName)
	alias, ok := v.s.Keystores[ks].Aliases[t.KeyAlias]
	if !ok {
		return append(problems,
			fmt.Sprintf("missing required private key for %q", quoted),
			fmt.Sprintf("missing required certificate(s) for %q", quoted))
	}
	v.pin(ks, t.KeyAlias, alias)
	if !alias.HasKey {
		problems = append(problems, fmt.Sprintf("missing required private key for %q", quoted))
	}
	if len(alias.Certs) == 0 {
		problems = append(problems, fmt.Sprintf("missing required certificate(s) for %q", quoted))
	}
	if v.expired(alias) {
		problems = append(problems, fmt.Sprintf("keystore %q contains an invalid certificate within alias %q: certificate has expired", storeName, aliasName))
	}
	return problems
}

// checkTruststore checks that a truststore exists, holds a certificate, and
// holds no expired one.
func (v *validator) checkTruststore(what, raw string) []string {
	ts, ok, problems := v.resolve(what, "trustStore", raw, keyplane.ResourceTypeTrustStore)
	if !ok {
		return problems
	}
	storeName := v.keystoreName(ts)
	store := v.s.Keystores[ts]
	names := make([]string, 0, len(store.Aliases))
	hasCert := false
	for name, a := range store.Aliases {
		names = append(names, name)
		hasCert = hasCert || len(a.Certs) > 0
	}
	if !hasCert {
		return append(problems, fmt.Sprintf("missing required certificate(s) for truststore %q", storeName))
	}
	sort.Strings(names)
	for _, name := range names {
		a := store.Aliases[name]
		v.pin(ts, name, a)
		if v.expired(a) {
			problems = append(problems, fmt.Sprintf("truststore %q contains an invalid certificate within alias %q: certificate has expired", storeName, storeName+"/aliases/"+name))
		}
	}
	return problems
}

// expired reports whether a certificate of a has expired.
func (v *validator) expired(a Alias) bool {
	for _, c := range a.Certs {
		if v.now.After(c.NotAfter) {
			return true
		}
	}
	return false
}

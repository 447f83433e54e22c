package archive

import (
	"strings"

	"github.com/keyplane/keyplane"
)

// The rules by which SSLInfo names its target server and TLS material,
// shared by deployment validation (Validate, CheckTargetServer) and the
// gateway, so that what a deployment checked is what a gateway uses.

// TargetServerNamed returns the target server a proxy means by id: the
// archive's if it defines one, else the environment's. Deployment
// validation and the gateway find a proxy's target servers through it.
func TargetServerNamed(b *Bundle, envServers map[string]keyplane.TargetServer, id string) (keyplane.TargetServer, bool) {
	if ts, ok := b.TargetServers[id]; ok {
		return ts, true
	}
	ts, ok := envServers[id]
	return ts, ok
}

// ChecksKeyAlias reports whether validation checks the key alias of TLS
// settings: when client authentication is enabled, and also whenever a key
// alias is named, so that an archive never names a key alias that does not
// exist or holds no key, even one not presented yet.
func ChecksKeyAlias(t *keyplane.SSLInfo) bool { return t.ClientAuthEnabled || t.KeyAlias != "" }

// PresentsClientCertificate reports whether a gateway presents the key
// alias's certificate to the backend: ClientAuthEnabled is what enables
// two-way TLS, so without it no client certificate is presented, whatever
// KeyStore and KeyAlias name. Every setting it presents from was checked by
// ChecksKeyAlias at deployment.
func PresentsClientCertificate(t *keyplane.SSLInfo) bool {
	return t.ClientAuthEnabled && t.KeyStore != ""
}

// StoreKind tells how a keyStore or trustStore value names its keystore.
type StoreKind int

// The kinds of keyStore and trustStore values.
const (
	StoreNone StoreKind = iota // empty
	StoreName                  // a keystore name
	StoreRef                   // ref://{reference}
	StoreVar                   // {flow.variable}, resolved at runtime
)

// ParseStore classifies a keyStore or trustStore value and returns the
// keystore or reference name it holds (the variable itself for StoreVar).
// Deployment validation and the gateway read SSLInfo through it alike.
func ParseStore(s string) (StoreKind, string) {
	switch {
	case s == "":
		return StoreNone, ""
	case isFlowVariable(s):
		return StoreVar, s
	case strings.HasPrefix(s, "ref://"):
		return StoreRef, strings.TrimPrefix(s, "ref://")
	default:
		return StoreName, s
	}
}

// isFlowVariable reports whether s is a flow variable such as
// {ssl.keystore}, which only the runtime can resolve.
func isFlowVariable(s string) bool {
	return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}'
}

// ResolveStore returns the keystore a keyStore or trustStore value names,
// through refs when it is a reference, with the kind of the value. The
// keystore is "" for an empty value, a flow variable, or a reference that
// refs does not hold.
func ResolveStore(raw string, refs map[string]keyplane.Reference) (string, StoreKind) {
	switch kind, name := ParseStore(raw); kind {
	case StoreName:
		return name, kind
	case StoreRef:
		return refs[name].Refers, kind
	default:
		return "", kind
	}
}

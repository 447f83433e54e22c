package keyplane

import (
	"strconv"
	"time"
)

// Keystore holds aliases; a keystore used as a truststore is the same
// thing, named in a trustStore setting.
type Keystore struct {
	Name    string
	Aliases []string // names, sorted
}

// Alias types: an alias holds a private key with its chain (KEY_CERT), or a
// chain alone (CERT).
const (
	AliasTypeKeyCert = "KEY_CERT"
	AliasTypeCert    = "CERT"
)

// Alias is one entry of a keystore: a certificate chain, leaf first, with
// the facts read from it, and the private key sealed under a master key.
// The key is never held in the clear outside the call that needs it.
type Alias struct {
	// ID and Version identify the stored certificate of the alias: a
	// deployment pins the pair it checked, and a replacement succeeds only
	// at the version it read.
	ID       int64
	Version  int64
	Org      string
	Env      string
	Keystore string
	Name     string
	Type     string
	ChainPEM string
	// CertsInfo describes each certificate of the chain, leaf first.
	CertsInfo []CertInfo
	// NotBefore and NotAfter bound the span in which the whole chain is
	// valid.
	NotBefore time.Time
	NotAfter  time.Time
	// KeySealed is the sealed private key, nil for a CERT alias; KeyID
	// names the master key it is sealed under.
	KeySealed []byte
	KeyID     string
	// EnvProxyType is the apiProxyType of the alias's environment, read
	// with the alias because it decides whether the alias may change.
	EnvProxyType string
}

// ResourceName is the alias's full resource name, the associated data its
// private key is sealed with.
func (a *Alias) ResourceName() string { return AliasName(a.Org, a.Env, a.Keystore, a.Name) }

// AliasName is the full resource name of an alias,
// organizations/{org}/environments/{env}/keystores/{keystore}/aliases/{alias}:
// the associated data its private key is sealed with, so that a sealed key
// cannot be moved to another alias.
func AliasName(org, env, keystore, alias string) string {
	return EnvName(org, env) + "/keystores/" + keystore + "/aliases/" + alias
}

// CertInfo describes one certificate of a chain. Times are milliseconds
// since the epoch, as the certificate facts are reported.
type CertInfo struct {
	Version                 int64
	Subject                 string
	Issuer                  string
	ExpiryDate              int64
	ValidFrom               int64
	IsValid                 string // "Yes" or "No", as of when it was described
	SubjectAlternativeNames []string
	SigAlgName              string
	PublicKey               string
	BasicConstraints        string
	SerialNumber            string
}

// SealedKey is a sealed private key with the full resource name of its
// alias, which it is bound to.
type SealedKey struct {
	AliasID int64
	Name    string
	KeyID   string
	Sealed  []byte
}

// AliasExpiry is when an alias stops working: the earliest expiry of the
// certificates of its chain.
type AliasExpiry struct {
	Org, Env, Keystore, Alias string
	NotAfter                  time.Time
}

// Certificate is one certificate of an alias's chain in the organization's
// expiry view, with what uses the alias.
type Certificate struct {
	AliasID      int64
	Env          string
	Keystore     string
	Alias        string
	Index        int // 0 is the leaf
	Subject      string
	Issuer       string
	SerialNumber string
	NotAfter     time.Time
	// Deployments are the ids of the environment's live deployment when it
	// uses the alias's keystore (or pinned the alias): none or one.
	Deployments []string
	// References are the names of the environment's references that refer
	// to the alias's keystore.
	References []string
}

// Cursor is the keyset position of the certificate in the expiry view,
// which goes soonest expiry first.
func (c *Certificate) Cursor() Cursor {
	return Cursor{Time: c.NotAfter, ID: strconv.FormatInt(c.AliasID, 10) + "." + strconv.Itoa(c.Index)}
}

// SelfSignedCertRequest asks for a new key and a certificate signed with
// it, for an alias created without uploading anything.
type SelfSignedCertRequest struct {
	Alias                      string
	KeySize                    string
	SigAlg                     string
	Subject                    CertSubject
	CertValidityInDays         int
	SubjectAlternativeDNSNames *SubjectAltDNS
}

// SubjectAltDNS lists subject alternative DNS names.
type SubjectAltDNS struct {
	SubjectAlternativeName []string
}

// CertSubject is the distinguished name of a self-signed certificate.
type CertSubject struct {
	CommonName  string
	CountryCode string
	Email       string
	Locality    string
	Org         string
	OrgUnit     string
	State       string
}

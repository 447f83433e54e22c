// Package certs turns the TLS material that clients upload (PEM certificate
// chains and private keys, PKCS#12 archives, requests for self-signed
// certificates) into validated certificate chains and keys, and describes
// certificates the way the Apigee management API does.
//
// Every error that a caller's input can cause is a *keyplane.Error with code
// InvalidArgument whose message names the offending part of the request
// (certFile, keyFile, file, password, sigAlg, keySize, ...). Messages never
// contain passwords or key material; they may contain certificate subjects,
// which are public.
package certs

import (
	"crypto"
	"crypto/x509"
	"time"

	"github.com/keyplane/keyplane"
)

// Limits on what an alias may hold. Callers limit request sizes too; these
// bounds keep the parsers safe when they are called directly.
const (
	// MaxInputSize is the largest certFile, keyFile or PKCS#12 file accepted.
	MaxInputSize = 1 << 20
	// MaxChainLength is the largest number of certificates in one chain.
	MaxChainLength = 10
)

// Material is what an alias holds: a certificate chain, leaf first, and an
// optional private key.
type Material struct {
	// Chain holds at least one certificate. Each certificate is signed by
	// the next one; the last one may be self-signed or issued by a CA that
	// is not part of the chain.
	Chain []*x509.Certificate
	// Key is the private key of Chain[0], or nil for an alias that holds
	// certificates only (a truststore entry).
	Key crypto.Signer
}

// AliasType returns keyplane.AliasTypeKeyCert when the material holds a private
// key and keyplane.AliasTypeCert when it holds certificates only.
func (m *Material) AliasType() string {
	if m.Key != nil {
		return keyplane.AliasTypeKeyCert
	}
	return keyplane.AliasTypeCert
}

// Options tune validation the way the query parameters of an alias upload
// do.
type Options struct {
	// Now is the time against which expiry is checked; the zero value means
	// time.Now().
	Now time.Time
	// IgnoreExpiry accepts expired certificates (ignoreExpiryValidation).
	IgnoreExpiry bool
	// IgnoreNewline accepts PEM text that is not strictly laid out
	// (ignoreNewlineValidation): text outside PEM blocks is skipped, and a
	// "-----BEGIN" line glued to the previous "-----END" line is split off.
	// Without it such input is refused with a message saying where the
	// problem is. Blank lines, trailing newlines and CRLF line endings are
	// always accepted.
	IgnoreNewline bool
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

package certs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/keyplane/keyplane"
)

// ParseKeyCertFile parses and validates an upload with format=keycertfile:
// certPEM is the certFile part (one or more CERTIFICATE blocks, leaf first,
// each signed by the next) and keyPEM the optional keyFile part (a PKCS#1,
// PKCS#8 or SEC1 private key, possibly encrypted with password). An empty
// keyPEM yields certificate-only material.
//
// The key must belong to the leaf certificate, and no certificate of the
// chain may have expired unless opt.IgnoreExpiry is set. A certificate that
// is not valid yet is accepted; Info reports it as not valid. The chain is
// taken in the order written: it is not sorted.
func ParseKeyCertFile(certPEM, keyPEM []byte, password string, opt Options) (*Material, error) {
	chain, err := parseCertFile(certPEM, opt)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	if len(keyPEM) > 0 {
		if key, err = parseKeyFile(keyPEM, password, opt); err != nil {
			return nil, err
		}
		if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "keyFile does not match the certificate in certFile")
		}
	}
	if err := checkExpiry("certFile", chain, opt); err != nil {
		return nil, err
	}
	return &Material{Chain: chain, Key: key}, nil
}

// ReplaceCertificate parses and validates the certFile of a PUT on an alias:
// a new chain for the key the alias already holds. When key is not nil the
// new leaf certificate must carry its public key; when key is nil (a
// certificate-only alias) any valid chain is accepted.
func ReplaceCertificate(certPEM []byte, key crypto.Signer, opt Options) (*Material, error) {
	chain, err := parseCertFile(certPEM, opt)
	if err != nil {
		return nil, err
	}
	if key != nil && !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"certFile does not match the private key of the alias: the new certificate must carry the same public key")
	}
	if err := checkExpiry("certFile", chain, opt); err != nil {
		return nil, err
	}
	return &Material{Chain: chain, Key: key}, nil
}

// parseCertFile decodes the certFile part into a chain, leaf first, and
// checks that each certificate is signed by the next.
func parseCertFile(certPEM []byte, opt Options) ([]*x509.Certificate, error) {
	const field = "certFile"
	if len(certPEM) == 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "certFile is required")
	}
	blocks, err := decodePEM(field, certPEM, opt.IgnoreNewline, "openssl x509 -inform DER -outform PEM")
	if err != nil {
		return nil, err
	}
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				`certFile: PEM block %d is a %q block; certFile must hold only "CERTIFICATE" blocks (put the private key in keyFile)`,
				i+1, b.Type)
		}
	}
	if len(blocks) > MaxChainLength {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"certFile holds %d certificates, more than the limit of %d", len(blocks), MaxChainLength)
	}
	chain := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"certFile: certificate %d is not a valid X.509 certificate: %v", i+1, err)
		}
		if err := checkCertificateKeySize(fmt.Sprintf("certFile: certificate %d", i+1), cert); err != nil {
			return nil, err
		}
		chain = append(chain, cert)
	}
	if err := checkChain(field, chain); err != nil {
		return nil, err
	}
	return chain, nil
}

// checkChain checks that chain[i] is signed by chain[i+1] for every i.
// Certificates are numbered from 1 in messages, as a person counts blocks in
// a file.
func checkChain(field string, chain []*x509.Certificate) error {
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		err := child.CheckSignatureFrom(parent)
		if err == nil {
			continue
		}
		var insecure x509.InsecureAlgorithmError
		switch {
		case errors.As(err, &insecure):
			return keyplane.Errorf(keyplane.InvalidArgument,
				"%s: certificate %d (%q) is signed with %v, which is insecure, so its signature by certificate %d (%q) cannot be checked",
				field, i+1, subjectOf(child), child.SignatureAlgorithm, i+2, subjectOf(parent))
		case parent.PublicKey != nil && parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil:
			// The signature is good but the parent may not sign
			// certificates: it is not a CA.
			return keyplane.Errorf(keyplane.InvalidArgument,
				"%s: certificate %d (%q) is signed by certificate %d (%q), but certificate %d is not a CA certificate",
				field, i+1, subjectOf(child), i+2, subjectOf(parent), i+2)
		}
		if tops := unsigned(chain); len(tops) >= 2 {
			a, b := tops[0], tops[1]
			return keyplane.Errorf(keyplane.InvalidArgument,
				"%s: certificates %d (%q) and %d (%q) belong to different chains: neither is signed by another certificate of the file, "+
					"so no order makes them one chain; an alias holds one chain, so put each CA in an alias of its own (one alias per CA)",
				field, a+1, subjectOf(chain[a]), b+1, subjectOf(chain[b]))
		}
		return keyplane.Errorf(keyplane.InvalidArgument,
			"%s: certificate %d (%q) is not signed by certificate %d (%q); the chain must be in order, leaf first",
			field, i+1, subjectOf(child), i+2, subjectOf(parent))
	}
	return nil
}

// unsigned returns the indexes of the certificates of chain that no other
// certificate of it signs: the top of each chain the file holds. A file
// that reordering could make one chain has exactly one.
func unsigned(chain []*x509.Certificate) []int {
	var out []int
	for i, c := range chain {
		signed := false
		for j, p := range chain {
			if i != j && c.CheckSignatureFrom(p) == nil {
				signed = true
				break
			}
		}
		if !signed {
			out = append(out, i)
		}
	}
	return out
}

// checkExpiry refuses a chain with an expired certificate unless the
// options allow it.
func checkExpiry(field string, chain []*x509.Certificate, opt Options) error {
	if opt.IgnoreExpiry {
		return nil
	}
	now := opt.now()
	for _, c := range chain {
		if now.After(c.NotAfter) {
			return keyplane.Errorf(keyplane.InvalidArgument,
				"certificate %q in %s expired on %s; set ignoreExpiryValidation=true to upload it anyway",
				subjectOf(c), field, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && k.Equal(b)
}

// subjectOf names a certificate in messages by its subject.
func subjectOf(c *x509.Certificate) string {
	return formatName(c.RawSubject, c.Subject)
}

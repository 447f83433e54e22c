package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane"
)

// ParsePKCS12 parses and validates an upload with format=pkcs12: data is the
// file part, a PKCS#12 archive protected with password.
//
// An archive with a private key yields that key and its certificate chain,
// leaf first, whatever the order of the certificates in the archive. An
// archive without a key is accepted when its certificates are marked as
// trusted the way Java truststores mark them; it yields certificate-only
// material. The chain and expiry checks are those of ParseKeyCertFile.
func ParsePKCS12(data []byte, password string, opt Options) (*Material, error) {
	const field = "file"
	if len(data) == 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "file is required")
	}
	if err := checkSize(field, data); err != nil {
		return nil, err
	}
	if bytes.Contains(data[:min(len(data), 1024)], pemBegin) {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"file is not a PKCS#12 archive: it is PEM text; upload PEM with format=keycertfile as certFile and keyFile")
	}
	if _, err := x509.ParseCertificate(data); err == nil {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"file is not a PKCS#12 archive: it is a DER certificate; convert it to PEM and upload it as certFile with format=keycertfile")
	}
	if !utf8.ValidString(password) {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "password is not valid UTF-8")
	}
	for _, r := range password {
		if r > 0xFFFF {
			// PKCS#12 passwords are UCS-2 (BMPString).
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"password holds a character outside the Unicode Basic Multilingual Plane, which PKCS#12 cannot encode")
		}
	}

	if err := checkPKCS12Work(data, password); err != nil {
		return nil, err
	}

	var certs []*x509.Certificate
	var signer crypto.Signer
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	switch {
	case err == nil:
		if signer, err = signerOf(key); err != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"file (PKCS#12) holds an unsupported key type; use an RSA, EC or Ed25519 key")
		}
		certs = append([]*x509.Certificate{leaf}, cas...)
	case err.Error() == "pkcs12: private key missing":
		// No key: maybe a truststore.
		certs, err = pkcs12.DecodeTrustStore(data, password)
		if err != nil {
			if strings.Contains(err.Error(), "not marked as trusted") {
				return nil, keyplane.Errorf(keyplane.InvalidArgument,
					"file (PKCS#12) holds no private key, and its certificates are not marked as trusted "+
						"(the Java trusted-certificate attribute); upload certificates as certFile with format=keycertfile instead")
			}
			return nil, pkcs12Error(err, password)
		}
		if len(certs) == 0 {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "file (PKCS#12) holds no certificate")
		}
	default:
		return nil, pkcs12Error(err, password)
	}

	if len(certs) > MaxChainLength {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"file (PKCS#12) holds %d certificates, more than the limit of %d", len(certs), MaxChainLength)
	}
	for _, c := range certs {
		if err := checkCertificateKeySize(fmt.Sprintf("file (PKCS#12): certificate %q", subjectOf(c)), c); err != nil {
			return nil, err
		}
	}
	chain, err := orderChain(field, certs, signer)
	if err != nil {
		return nil, err
	}
	if err := checkChain(field, chain); err != nil {
		return nil, err
	}
	if err := checkExpiry(field, chain, opt); err != nil {
		return nil, err
	}
	return &Material{Chain: chain, Key: signer}, nil
}

// pkcs12Error turns a go-pkcs12 error into a caller error. The library has
// sentinel errors only for a wrong password; the rest are told apart by
// their text, which never holds the password or key bytes.
func pkcs12Error(err error, password string) error {
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption),
		strings.Contains(err.Error(), pkcs12.ErrDecryption.Error()):
		if password == "" {
			return keyplane.Errorf(keyplane.InvalidArgument, "file (PKCS#12) is encrypted: password is required")
		}
		return keyplane.Errorf(keyplane.InvalidArgument, "password is incorrect for file (PKCS#12)")
	case err.Error() == "pkcs12: expected exactly one key bag":
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file (PKCS#12) holds more than one private key; it must hold exactly one")
	}
	var notImplemented pkcs12.NotImplementedError
	if errors.As(err, &notImplemented) {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file is a PKCS#12 archive keyplane cannot read: %s", strings.TrimPrefix(err.Error(), "pkcs12: "))
	}
	if strings.HasPrefix(err.Error(), "pkcs12: error reading P12 data") {
		// The outer structure does not parse; asn1's details would not
		// help a person.
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file is not a PKCS#12 archive: it is not a DER-encoded PFX structure")
	}
	return keyplane.Errorf(keyplane.InvalidArgument,
		"file is not a PKCS#12 archive: %s", strings.TrimPrefix(err.Error(), "pkcs12: "))
}

// orderChain puts the certificates of an archive in chain order, leaf
// first: the leaf is the certificate of key, or without a key the
// certificate that signs none of the others; each next one is the
// certificate that signed the one before. A certificate left over belongs to
// no chain through the leaf and is an error.
func orderChain(field string, certs []*x509.Certificate, key crypto.Signer) ([]*x509.Certificate, error) {
	leaf := -1
	for i, c := range certs {
		if key != nil {
			if publicKeysEqual(c.PublicKey, key.Public()) {
				leaf = i
				break
			}
			continue
		}
		if !signsAny(c, certs) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		if key != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"the private key in file (PKCS#12) does not match any certificate in it")
		}
		leaf = 0 // Every certificate signs another: a loop; report it below.
	}

	chain := []*x509.Certificate{certs[leaf]}
	used := make([]bool, len(certs))
	used[leaf] = true
	for {
		cur := chain[len(chain)-1]
		next := -1
		for i, c := range certs {
			if !used[i] && !contains(chain, c) && bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		chain = append(chain, certs[next])
	}
	for i, c := range certs {
		if !used[i] && !contains(chain, c) {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"%s (PKCS#12): certificate %q is not part of the chain of certificate %q",
				field, subjectOf(c), subjectOf(chain[0]))
		}
	}
	return chain, nil
}

// signsAny reports whether c signed any other certificate of certs.
func signsAny(c *x509.Certificate, certs []*x509.Certificate) bool {
	for _, o := range certs {
		if !o.Equal(c) && bytes.Equal(o.RawIssuer, c.RawSubject) && o.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

// contains reports whether chain holds c or a copy of it; archives sometimes
// hold a certificate twice.
func contains(chain []*x509.Certificate, c *x509.Certificate) bool {
	for _, o := range chain {
		if o.Equal(c) {
			return true
		}
	}
	return false
}

package certs

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/keyplane/keyplane"
)

// EncodeChain encodes a chain as PEM CERTIFICATE blocks, leaf first: the
// form in which an alias's certificate is stored and served.
func EncodeChain(chain []*x509.Certificate) []byte {
	// One buffer of the final size: base64 lines of 64 characters, each
	// with its newline, between the BEGIN and END lines.
	size := 0
	for _, c := range chain {
		n := base64.StdEncoding.EncodedLen(len(c.Raw))
		size += len("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n") + n + (n+63)/64
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	for _, c := range chain {
		_ = pem.Encode(out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // writes to memory cannot fail
	}
	return out.Bytes()
}

// DecodeChain decodes PEM written by EncodeChain. It is meant for stored
// data, so it does not validate the chain, and its errors mean the stored
// data is corrupt: they are internal, not caller errors.
func DecodeChain(pemBytes []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certs: DecodeChain: unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: DecodeChain: certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("certs: DecodeChain: no certificate")
	}
	return chain, nil
}

// CSR creates a PEM "CERTIFICATE REQUEST" signed by key, with the subject
// and subject alternative names (DNS names, IP addresses, email addresses
// and URIs) of leaf: what an alias's owner sends to a CA to renew its
// certificate. An alias without a private key cannot make one, which is the
// caller's error.
func CSR(key crypto.Signer, leaf *x509.Certificate) ([]byte, error) {
	if key == nil {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"the alias holds no private key, so it cannot sign a certificate signing request")
	}
	if leaf == nil {
		return nil, errors.New("certs: CSR: nil certificate")
	}
	template := &x509.CertificateRequest{
		RawSubject:     leaf.RawSubject,
		DNSNames:       leaf.DNSNames,
		IPAddresses:    leaf.IPAddresses,
		EmailAddresses: leaf.EmailAddresses,
		URIs:           leaf.URIs,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	if err != nil {
		return nil, fmt.Errorf("certs: CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

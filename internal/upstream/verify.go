package upstream

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyplane/keyplane"
)

// Problem is what was wrong with a server certificate, in the words OpenSSL
// uses for its verification errors.
type Problem string

// The problems verification reports.
const (
	Expired            Problem = "certificate has expired"
	NotYetValid        Problem = "certificate is not yet valid"
	UnknownIssuer      Problem = "unable to get local issuer certificate"
	SelfSigned         Problem = "self-signed certificate"
	SelfSignedInChain  Problem = "self-signed certificate in certificate chain"
	UnsupportedPurpose Problem = "unsupported certificate purpose"
	HostnameMismatch   Problem = "hostname mismatch"
	CommonNameMismatch Problem = "common name mismatch"
	InvalidCertificate Problem = "invalid certificate"
	NoPeerCertificate  Problem = "no certificate returned"
)

// CertificateError is a server certificate that failed a check of the
// SSLInfo; the handshake is aborted with it.
type CertificateError struct {
	// Problem says what failed.
	Problem Problem
	// Cert is the certificate that failed, nil when there was none.
	Cert *x509.Certificate
	// Err is the error underneath (an x509 error), or a description of a
	// name mismatch; it is for logs.
	Err error
}

// Error implements the error interface.
func (e *CertificateError) Error() string {
	var b strings.Builder
	b.WriteString("target certificate verify failed: ")
	b.WriteString(string(e.Problem))
	if e.Cert != nil {
		fmt.Fprintf(&b, " (subject %q)", e.Cert.Subject.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the error underneath.
func (e *CertificateError) Unwrap() error { return e.Err }

// verifier checks a server's certificate by the rules of one SSLInfo.
type verifier struct {
	host string
	// chain: verify the chain against roots (nil: the system's roots).
	chain bool
	roots *x509.CertPool
	// identity: check the host name, or commonName when set.
	identity   bool
	commonName *keyplane.CommonName
}

// verify is the tls.Config.VerifyConnection of the settings.
func (v *verifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &CertificateError{Problem: NoPeerCertificate}
	}
	leaf := cs.PeerCertificates[0]
	if v.chain {
		now := time.Now()
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         v.roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return chainError(cs.PeerCertificates, err, now)
		}
	}
	if !v.identity {
		return nil
	}
	if v.commonName != nil {
		if !commonNameMatches(v.commonName, leaf.Subject.CommonName) {
			return &CertificateError{Problem: CommonNameMismatch, Cert: leaf,
				Err: fmt.Errorf("common name %q does not match %q", leaf.Subject.CommonName, v.commonName.Value)}
		}
		return nil
	}
	if err := leaf.VerifyHostname(v.host); err != nil {
		return &CertificateError{Problem: HostnameMismatch, Cert: leaf, Err: err}
	}
	return nil
}

// commonNameMatches reports whether a certificate's common name cn is the
// one want expects.
func commonNameMatches(want *keyplane.CommonName, cn string) bool {
	if strings.EqualFold(cn, want.Value) {
		return true
	}
	suffix, ok := strings.CutPrefix(want.Value, "*.")
	if !want.WildcardMatch || !ok {
		return false
	}
	label, rest, found := strings.Cut(cn, ".")
	return found && label != "" && strings.EqualFold(rest, suffix)
}

// chainError explains why the chain peer (leaf first) did not verify.
func chainError(peer []*x509.Certificate, err error, now time.Time) *CertificateError {
	leaf := peer[0]
	e := &CertificateError{Problem: InvalidCertificate, Cert: leaf, Err: err}
	if invalid, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		e.Cert = invalid.Cert
		switch invalid.Reason {
		case x509.Expired:
			e.Problem = Expired
			if invalid.Cert != nil && now.Before(invalid.Cert.NotBefore) {
				e.Problem = NotYetValid
			}
		case x509.IncompatibleUsage:
			e.Problem = UnsupportedPurpose
		}
		return e
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		e.Problem = UnknownIssuer
		for i, c := range peer {
			if selfSigned(c) {
				e.Cert = c
				e.Problem = SelfSignedInChain
				if i == 0 {
					e.Problem = SelfSigned
				}
				break
			}
		}
		return e
	}
	if _, ok := errors.AsType[x509.SystemRootsError](err); ok {
		e.Problem = UnknownIssuer
		return e
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		e.Problem = HostnameMismatch
	}
	return e
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would insist that the issuer be a CA, and a
	// self-signed leaf is usually not one.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

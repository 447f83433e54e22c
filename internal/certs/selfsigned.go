package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
)

// Defaults and bounds of a self-signed certificate request.
const (
	DefaultSigAlg       = "SHA256withRSA"
	DefaultRSAKeySize   = 2048
	DefaultValidityDays = 365
	MaxValidityDays     = 3650
)

// sigAlgs are the accepted values of sigAlg, in the order they are listed in
// messages.
var sigAlgs = []struct {
	name  string
	algo  x509.SignatureAlgorithm
	curve elliptic.Curve // nil for RSA
	size  string         // the only keySize accepted besides "" for EC
}{
	{"SHA256withRSA", x509.SHA256WithRSA, nil, ""},
	{"SHA384withRSA", x509.SHA384WithRSA, nil, ""},
	{"SHA512withRSA", x509.SHA512WithRSA, nil, ""},
	{"SHA256withECDSA", x509.ECDSAWithSHA256, elliptic.P256(), "256"},
	{"SHA384withECDSA", x509.ECDSAWithSHA384, elliptic.P384(), "384"},
}

// oidEmailAddress is the PKCS#9 emailAddress attribute of a subject.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// SelfSigned creates a key and a certificate signed by it, as an alias
// create with format=selfsignedcert does.
//
// sigAlg is one of SHA256withRSA (the default), SHA384withRSA,
// SHA512withRSA, SHA256withECDSA and SHA384withECDSA. RSA keys are 2048 bits
// (the default) or 4096 bits; EC keys are on P-256 for SHA256withECDSA and
// P-384 for SHA384withECDSA, and keySize may be omitted or name that curve's
// size. The certificate is valid from opt.Now for certValidityInDays days
// (365 by default, at most 3650), has a random 128-bit serial number, carries
// the subjectAlternativeDNSNames as DNS names, and is not a CA.
func SelfSigned(req keyplane.SelfSignedCertRequest, opt Options) (*Material, error) {
	algo, newKey, err := keyGenerator(req.SigAlg, req.KeySize)
	if err != nil {
		return nil, err
	}
	subject, err := subjectName(req.Subject)
	if err != nil {
		return nil, err
	}
	days := req.CertValidityInDays
	if days == 0 {
		days = DefaultValidityDays
	}
	if days < 1 || days > MaxValidityDays {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"certValidityInDays must be between 1 and %d, got %d", MaxValidityDays, days)
	}
	var dnsNames []string
	if req.SubjectAlternativeDNSNames != nil {
		for i, n := range req.SubjectAlternativeDNSNames.SubjectAlternativeName {
			if !validDNSName(n) {
				return nil, keyplane.Errorf(keyplane.InvalidArgument,
					"subjectAlternativeDNSNames.subjectAlternativeName[%d] %q is not a valid DNS name", i, n)
			}
			dnsNames = append(dnsNames, n)
		}
	}

	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("certs: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: generating serial number: %w", err)
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1) // A zero serial is not allowed (RFC 5280 4.1.2.2).
	}
	notBefore := opt.now().UTC().Truncate(time.Second)
	keyUsage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(time.Duration(days) * 24 * time.Hour),
		SignatureAlgorithm:    algo,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing created certificate: %w", err)
	}
	return &Material{Chain: []*x509.Certificate{cert}, Key: key}, nil
}

// keyGenerator validates sigAlg and keySize and returns the signature
// algorithm and a function that generates a matching key.
func keyGenerator(sigAlg, keySize string) (x509.SignatureAlgorithm, func() (crypto.Signer, error), error) {
	if sigAlg == "" {
		sigAlg = DefaultSigAlg
	}
	for _, a := range sigAlgs {
		if !strings.EqualFold(sigAlg, a.name) {
			continue
		}
		if a.curve != nil {
			if keySize != "" && keySize != a.size {
				return 0, nil, keyplane.Errorf(keyplane.InvalidArgument,
					"keySize %q does not fit sigAlg %s, which uses the curve %s; omit keySize or set it to %s",
					keySize, a.name, a.curve.Params().Name, a.size)
			}
			curve := a.curve
			return a.algo, func() (crypto.Signer, error) { return ecdsa.GenerateKey(curve, rand.Reader) }, nil
		}
		bits := DefaultRSAKeySize
		switch keySize {
		case "", "2048":
		case "4096":
			bits = 4096
		default:
			return 0, nil, keyplane.Errorf(keyplane.InvalidArgument,
				"keySize %q is not supported for sigAlg %s; accepted values are 2048 (the default) and 4096",
				keySize, a.name)
		}
		return a.algo, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }, nil
	}
	names := make([]string, len(sigAlgs))
	for i, a := range sigAlgs {
		names[i] = a.name
	}
	return 0, nil, keyplane.Errorf(keyplane.InvalidArgument,
		"sigAlg %q is not supported; accepted values are %s (the default is %s)",
		sigAlg, strings.Join(names, ", "), DefaultSigAlg)
}

// subjectName validates the subject of a self-signed certificate request.
// Attribute lengths are the upper bounds of RFC 5280 appendix A.
func subjectName(s keyplane.CertSubject) (pkix.Name, error) {
	if strings.TrimSpace(s.CommonName) == "" {
		return pkix.Name{}, keyplane.Errorf(keyplane.InvalidArgument, "subject.commonName is required")
	}
	for _, f := range []struct {
		field, value string
		max          int
	}{
		{"subject.commonName", s.CommonName, 64},
		{"subject.org", s.Org, 64},
		{"subject.orgUnit", s.OrgUnit, 64},
		{"subject.locality", s.Locality, 128},
		{"subject.state", s.State, 128},
		{"subject.email", s.Email, 255},
	} {
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return pkix.Name{}, keyplane.Errorf(keyplane.InvalidArgument,
				"%s is %d characters long; the limit is %d", f.field, n, f.max)
		}
		if !utf8.ValidString(f.value) {
			return pkix.Name{}, keyplane.Errorf(keyplane.InvalidArgument, "%s is not valid UTF-8", f.field)
		}
	}
	if s.CountryCode != "" && !isCountryCode(s.CountryCode) {
		return pkix.Name{}, keyplane.Errorf(keyplane.InvalidArgument,
			"subject.countryCode %q is not a two-letter ISO 3166 country code", s.CountryCode)
	}
	if s.Email != "" && !isASCII(s.Email) {
		return pkix.Name{}, keyplane.Errorf(keyplane.InvalidArgument,
			"subject.email %q must be ASCII", s.Email)
	}
	name := pkix.Name{CommonName: s.CommonName}
	if s.CountryCode != "" {
		name.Country = []string{strings.ToUpper(s.CountryCode)}
	}
	if s.State != "" {
		name.Province = []string{s.State}
	}
	if s.Locality != "" {
		name.Locality = []string{s.Locality}
	}
	if s.Org != "" {
		name.Organization = []string{s.Org}
	}
	if s.OrgUnit != "" {
		name.OrganizationalUnit = []string{s.OrgUnit}
	}
	if s.Email != "" {
		name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{
			Type:  oidEmailAddress,
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(s.Email)},
		})
	}
	return name, nil
}

func isCountryCode(s string) bool {
	return len(s) == 2 && isLetter(s[0]) && isLetter(s[1])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validDNSName accepts host names, with an optional leading wildcard label
// and underscores (which real service names use), of at most 253
// characters.
func validDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	for i, l := range labels {
		if l == "*" && i == 0 && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

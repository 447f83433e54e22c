package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/keyplane/keyplane"
)

// Info describes each certificate of chain, leaf first, as the certsInfo of
// an Apigee alias. now decides isValid; the zero time means time.Now().
//
// Subject and issuer are distinguished names most specific attribute first,
// with ", " between attributes ("CN=foo, O=bar, C=US"), as Java prints them.
// sigAlgName uses the names Apigee X reports (SHA256-RSA, ECDSA-SHA256,
// SHA256-RSAPSS, Ed25519), which are Go's. isValid is "Yes" within the
// validity period, "No" once expired and "Not yet" before it starts, as
// Apigee documents it.
// publicKey names the algorithm and size ("RSA Public Key, 2048 bits", "EC
// Public Key, P-256") without key bytes. basicConstraints is "CA:TRUE",
// "CA:TRUE, pathlen:N" or "CA:FALSE" (also when the extension is absent).
// serialNumber is the serial in lowercase hexadecimal, a colon between bytes
// ("0f:3a:..."), as OpenSSL prints it; a negative serial, which some old
// certificates have, starts with "-".
func Info(chain []*x509.Certificate, now time.Time) []keyplane.CertInfo {
	if now.IsZero() {
		now = time.Now()
	}
	infos := make([]keyplane.CertInfo, 0, len(chain))
	for _, c := range chain {
		valid := "Yes"
		switch {
		case now.After(c.NotAfter):
			valid = "No"
		case now.Before(c.NotBefore):
			valid = "Not yet"
		}
		infos = append(infos, keyplane.CertInfo{
			Version:                 int64(c.Version),
			Subject:                 formatName(c.RawSubject, c.Subject),
			Issuer:                  formatName(c.RawIssuer, c.Issuer),
			ExpiryDate:              c.NotAfter.UnixMilli(),
			ValidFrom:               c.NotBefore.UnixMilli(),
			IsValid:                 valid,
			SubjectAlternativeNames: subjectAltNames(c),
			SigAlgName:              sigAlgName(c),
			PublicKey:               describePublicKey(c),
			BasicConstraints:        basicConstraints(c),
			SerialNumber:            formatSerial(c),
		})
	}
	return infos
}

// subjectAltNames lists the DNS names, IP addresses, email addresses and
// URIs of a certificate, in that order.
func subjectAltNames(c *x509.Certificate) []string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}

// sigAlgName names the signature algorithm of c as Apigee X does
// ("SHA256-RSA"), or gives its object identifier when Go does not know it.
func sigAlgName(c *x509.Certificate) string {
	if c.SignatureAlgorithm != x509.UnknownSignatureAlgorithm {
		return c.SignatureAlgorithm.String()
	}
	var outer struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.Raw, &outer); err == nil && len(outer.Algorithm.Algorithm) > 0 {
		return outer.Algorithm.Algorithm.String()
	}
	return "UNKNOWN"
}

// describePublicKey names the algorithm and size of the public key of c.
func describePublicKey(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA Public Key, %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC Public Key, " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519 Public Key"
	default:
		if c.PublicKeyAlgorithm == x509.DSA {
			return "DSA Public Key"
		}
		return "Unknown Public Key (" + c.PublicKeyAlgorithm.String() + ")"
	}
}

// basicConstraints formats the basic constraints extension of c the way
// OpenSSL does.
func basicConstraints(c *x509.Certificate) string {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return "CA:FALSE"
	case c.MaxPathLen > 0 || c.MaxPathLenZero:
		return fmt.Sprintf("CA:TRUE, pathlen:%d", c.MaxPathLen)
	default:
		return "CA:TRUE"
	}
}

// formatSerial formats the serial number of c as colon-separated lowercase
// hexadecimal bytes.
func formatSerial(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	h := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	sign := ""
	if c.SerialNumber.Sign() < 0 {
		sign = "-"
	}
	return sign + strings.Join(parts, ":")
}

// attributeNames are the keywords Java uses for the attribute types of a
// distinguished name.
var attributeNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SURNAME",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "T",
	"2.5.4.17":                   "POSTALCODE",
	"2.5.4.42":                   "GIVENNAME",
	"2.5.4.43":                   "INITIALS",
	"2.5.4.44":                   "GENERATION",
	"2.5.4.46":                   "DNQUALIFIER",
	"1.2.840.113549.1.9.1":       "EMAILADDRESS",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// formatName formats a DER distinguished name as RFC 2253 does, but with
// ", " between attributes as Java and Apigee print it: "CN=foo, O=bar". It
// works on the raw bytes so that no attribute is lost or reordered; when
// they do not parse it falls back to Go's rendering of name.
func formatName(raw []byte, name pkix.Name) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return name.String()
	}
	rdns := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		atvs := make([]string, 0, len(seq[i]))
		for _, atv := range seq[i] {
			atvs = append(atvs, formatAttribute(atv))
		}
		rdns = append(rdns, strings.Join(atvs, "+"))
	}
	return strings.Join(rdns, ", ")
}

// formatAttribute formats one attribute as TYPE=value, escaping the value
// as RFC 2253 section 2.4 asks; a value that is not a string is written as
// "#" and its DER in hexadecimal.
func formatAttribute(atv pkix.AttributeTypeAndValue) string {
	typ, ok := attributeNames[atv.Type.String()]
	if !ok {
		typ = "OID." + atv.Type.String()
	}
	s, ok := atv.Value.(string)
	if !ok {
		der, err := asn1.Marshal(atv.Value)
		if err != nil {
			return typ + "=#"
		}
		return typ + "=#" + hex.EncodeToString(der)
	}
	return typ + "=" + escapeDNValue(s)
}

// escapeDNValue escapes the characters RFC 2253 reserves.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

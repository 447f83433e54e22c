package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

func TestSelfSigned_Defaults(t *testing.T) {
	t.Parallel()
	m, err := SelfSigned(keyplane.SelfSignedCertRequest{
		Alias:   "selfsigned",
		Subject: keyplane.CertSubject{CommonName: "self.example.com"},
	}, opts())
	require.NoError(t, err)
	require.Len(t, m.Chain, 1)
	c := m.Chain[0]

	key, ok := m.Key.(*rsa.PrivateKey)
	require.True(t, ok, "key is %T", m.Key)
	require.Equal(t, 2048, key.N.BitLen())
	require.True(t, publicKeysEqual(c.PublicKey, key.Public()))
	require.Equal(t, x509.SHA256WithRSA, c.SignatureAlgorithm)
	require.NoError(t, c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature))
	require.Equal(t, testNow, c.NotBefore)
	require.Equal(t, testNow.AddDate(0, 0, 365), c.NotAfter)
	require.Equal(t, "CN=self.example.com", formatName(c.RawSubject, c.Subject))
	require.Equal(t, c.RawSubject, c.RawIssuer)
	require.False(t, c.IsCA)
	require.Empty(t, c.DNSNames)
	require.Equal(t, 1, c.SerialNumber.Sign())
	require.LessOrEqual(t, c.SerialNumber.BitLen(), 128)

	// The material goes through the same checks as an upload.
	again, err := ParseKeyCertFile(EncodeChain(m.Chain), pkcs8PEM(m.Key), "", opts())
	require.NoError(t, err)
	require.Equal(t, m.Chain, again.Chain)

	other, err := SelfSigned(keyplane.SelfSignedCertRequest{Subject: keyplane.CertSubject{CommonName: "self.example.com"}}, opts())
	require.NoError(t, err)
	require.NotEqual(t, c.SerialNumber, other.Chain[0].SerialNumber)
}

func TestSelfSigned_Variants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sigAlg   string
		keySize  string
		wantAlgo x509.SignatureAlgorithm
		wantKey  string
		slow     bool
	}{
		{"SHA384withRSA", "SHA384withRSA", "", x509.SHA384WithRSA, "RSA Public Key, 2048 bits", false},
		{"SHA512withRSA 2048", "SHA512withRSA", "2048", x509.SHA512WithRSA, "RSA Public Key, 2048 bits", false},
		{"case-insensitive sigAlg", "sha256WITHrsa", "", x509.SHA256WithRSA, "RSA Public Key, 2048 bits", false},
		{"SHA256withECDSA", "SHA256withECDSA", "", x509.ECDSAWithSHA256, "EC Public Key, P-256", false},
		{"SHA256withECDSA 256", "SHA256withECDSA", "256", x509.ECDSAWithSHA256, "EC Public Key, P-256", false},
		{"SHA384withECDSA", "SHA384withECDSA", "384", x509.ECDSAWithSHA384, "EC Public Key, P-384", false},
		{"RSA 4096", "SHA256withRSA", "4096", x509.SHA256WithRSA, "RSA Public Key, 4096 bits", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.slow && testing.Short() {
				t.Skip("RSA 4096 key generation is slow")
			}
			m, err := SelfSigned(keyplane.SelfSignedCertRequest{
				SigAlg:                     tt.sigAlg,
				KeySize:                    tt.keySize,
				CertValidityInDays:         30,
				Subject:                    keyplane.CertSubject{CommonName: "v.example.com", Org: "Example, Inc.", OrgUnit: "Eng", Locality: "Paris", State: "IDF", CountryCode: "fr", Email: "pki@example.com"},
				SubjectAlternativeDNSNames: &keyplane.SubjectAltDNS{SubjectAlternativeName: []string{"v.example.com", "*.v.example.com", "_svc.example.com"}},
			}, opts())
			require.NoError(t, err)
			c := m.Chain[0]
			require.Equal(t, tt.wantAlgo, c.SignatureAlgorithm)
			info := Info(m.Chain, testNow)[0]
			require.Equal(t, tt.wantKey, info.PublicKey)
			require.Equal(t, `EMAILADDRESS=pki@example.com, CN=v.example.com, OU=Eng, O=Example\, Inc., L=Paris, ST=IDF, C=FR`, info.Subject)
			require.Equal(t, info.Subject, info.Issuer)
			require.Equal(t, []string{"v.example.com", "*.v.example.com", "_svc.example.com"}, info.SubjectAlternativeNames)
			require.Equal(t, testNow.AddDate(0, 0, 30), c.NotAfter)
			require.True(t, publicKeysEqual(c.PublicKey, m.Key.Public()))
			require.NoError(t, c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature))
			if k, ok := m.Key.(*ecdsa.PrivateKey); ok {
				want := map[string]elliptic.Curve{"256": elliptic.P256(), "384": elliptic.P384()}[strings.TrimPrefix(tt.wantKey, "EC Public Key, P-")]
				require.Equal(t, want, k.Curve)
			}
		})
	}
}

func TestSelfSigned_Errors(t *testing.T) {
	t.Parallel()
	cn := keyplane.CertSubject{CommonName: "x.example.com"}
	tests := []struct {
		name string
		req  keyplane.SelfSignedCertRequest
		want string
	}{
		{"no common name", keyplane.SelfSignedCertRequest{},
			"subject.commonName is required"},
		{"blank common name", keyplane.SelfSignedCertRequest{Subject: keyplane.CertSubject{CommonName: "  "}},
			"subject.commonName is required"},
		{"long common name", keyplane.SelfSignedCertRequest{Subject: keyplane.CertSubject{CommonName: strings.Repeat("a", 65)}},
			"subject.commonName is 65 characters long; the limit is 64"},
		{"bad country", keyplane.SelfSignedCertRequest{Subject: keyplane.CertSubject{CommonName: "x", CountryCode: "USA"}},
			`subject.countryCode "USA" is not a two-letter ISO 3166 country code`},
		{"non-ASCII email", keyplane.SelfSignedCertRequest{Subject: keyplane.CertSubject{CommonName: "x", Email: "pé@example.com"}},
			`subject.email "pé@example.com" must be ASCII`},
		{"unknown sigAlg", keyplane.SelfSignedCertRequest{Subject: cn, SigAlg: "MD5withRSA"},
			`sigAlg "MD5withRSA" is not supported; accepted values are SHA256withRSA, SHA384withRSA, SHA512withRSA, SHA256withECDSA, SHA384withECDSA (the default is SHA256withRSA)`},
		{"RSA keySize 1024", keyplane.SelfSignedCertRequest{Subject: cn, KeySize: "1024"},
			`keySize "1024" is not supported for sigAlg SHA256withRSA; accepted values are 2048 (the default) and 4096`},
		{"RSA keySize 256", keyplane.SelfSignedCertRequest{Subject: cn, SigAlg: "SHA512withRSA", KeySize: "256"},
			`keySize "256" is not supported for sigAlg SHA512withRSA; accepted values are 2048 (the default) and 4096`},
		{"EC keySize mismatch", keyplane.SelfSignedCertRequest{Subject: cn, SigAlg: "SHA256withECDSA", KeySize: "384"},
			`keySize "384" does not fit sigAlg SHA256withECDSA, which uses the curve P-256; omit keySize or set it to 256`},
		{"EC keySize 2048", keyplane.SelfSignedCertRequest{Subject: cn, SigAlg: "SHA384withECDSA", KeySize: "2048"},
			`keySize "2048" does not fit sigAlg SHA384withECDSA, which uses the curve P-384; omit keySize or set it to 384`},
		{"negative validity", keyplane.SelfSignedCertRequest{Subject: cn, CertValidityInDays: -1},
			"certValidityInDays must be between 1 and 3650, got -1"},
		{"validity too long", keyplane.SelfSignedCertRequest{Subject: cn, CertValidityInDays: 3651},
			"certValidityInDays must be between 1 and 3650, got 3651"},
		{"bad DNS name", keyplane.SelfSignedCertRequest{Subject: cn, SubjectAlternativeDNSNames: &keyplane.SubjectAltDNS{SubjectAlternativeName: []string{"ok.example.com", "not ok"}}},
			`subjectAlternativeDNSNames.subjectAlternativeName[1] "not ok" is not a valid DNS name`},
		{"empty DNS name", keyplane.SelfSignedCertRequest{Subject: cn, SubjectAlternativeDNSNames: &keyplane.SubjectAltDNS{SubjectAlternativeName: []string{""}}},
			`subjectAlternativeDNSNames.subjectAlternativeName[0] "" is not a valid DNS name`},
		{"wildcard not first", keyplane.SelfSignedCertRequest{Subject: cn, SubjectAlternativeDNSNames: &keyplane.SubjectAltDNS{SubjectAlternativeName: []string{"a.*.example.com"}}},
			`subjectAlternativeDNSNames.subjectAlternativeName[0] "a.*.example.com" is not a valid DNS name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := SelfSigned(tt.req, opts())
			require.Nil(t, m)
			requireInvalid(t, err, tt.want)
		})
	}
}

func TestSelfSigned_ValidityBounds(t *testing.T) {
	t.Parallel()
	for _, days := range []int{1, 3650} {
		m, err := SelfSigned(keyplane.SelfSignedCertRequest{
			SigAlg: "SHA256withECDSA", Subject: keyplane.CertSubject{CommonName: "b.example.com"}, CertValidityInDays: days,
		}, opts())
		require.NoError(t, err)
		require.Equal(t, testNow.Add(time.Duration(days)*24*time.Hour), m.Chain[0].NotAfter)
	}
}

package certs

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane"
)

// pkcs12File encodes an archive the way current tools do (PBES2, AES-256,
// SHA-256 MAC).
func pkcs12File(t *testing.T, key any, leaf *x509.Certificate, cas []*x509.Certificate, password string) []byte {
	t.Helper()
	data, err := pkcs12.Modern.Encode(key, leaf, cas, password)
	require.NoError(t, err)
	return data
}

func TestParsePKCS12_Accepts(t *testing.T) {
	t.Parallel()
	p := fixtures()
	full := []*x509.Certificate{p.leaf, p.inter, p.root}

	tests := []struct {
		name     string
		data     []byte
		password string
		want     []*x509.Certificate
		key      any
	}{
		{"modern, chain in order", pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.inter, p.root}, testPassword), testPassword, full, p.leafKey},
		{"modern, CA certificates reversed", pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.root, p.inter}, testPassword), testPassword, full, p.leafKey},
		{"leaf stored after its CA", pkcs12File(t, p.leafKey, p.inter, []*x509.Certificate{p.root, p.leaf}, testPassword), testPassword, full, p.leafKey},
		{"duplicate certificate", pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.inter, p.inter}, testPassword), testPassword, full[:2], p.leafKey},
		{"leaf only, EC key", pkcs12File(t, p.ecLeafKey, p.ecLeaf, nil, testPassword), testPassword, []*x509.Certificate{p.ecLeaf}, p.ecLeafKey},
		{"Ed25519 key", pkcs12File(t, p.edLeafKey, p.edLeaf, []*x509.Certificate{p.inter}, testPassword), testPassword, []*x509.Certificate{p.edLeaf, p.inter}, p.edLeafKey},
		{"empty password", pkcs12File(t, p.leafKey, p.leaf, nil, ""), "", full[:1], p.leafKey},
		{"legacy 3DES", must(pkcs12.Legacy.Encode(p.leafKey, p.leaf, []*x509.Certificate{p.inter}, testPassword)), testPassword, full[:2], p.leafKey},
		{"legacy RC2", must(pkcs12.LegacyRC2.Encode(p.leafKey, p.leaf, []*x509.Certificate{p.inter}, testPassword)), testPassword, full[:2], p.leafKey},
		{"truststore", must(pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{p.inter, p.leaf}, testPassword)), testPassword, full[:2], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParsePKCS12(tt.data, tt.password, opts())
			require.NoError(t, err)
			require.Equal(t, tt.want, m.Chain)
			if tt.key == nil {
				require.Nil(t, m.Key)
				require.Equal(t, keyplane.AliasTypeCert, m.AliasType())
				return
			}
			require.Equal(t, tt.key, any(m.Key))
			require.Equal(t, keyplane.AliasTypeKeyCert, m.AliasType())
		})
	}
}

func TestParsePKCS12_Errors(t *testing.T) {
	t.Parallel()
	p := fixtures()
	good := pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.inter}, testPassword)
	many := make([]*x509.Certificate, 10)
	for i := range many {
		many[i] = p.root
	}

	tests := []struct {
		name     string
		data     []byte
		password string
		opt      Options
		want     string
	}{
		{name: "no file", want: "file is required"},
		{name: "wrong password", data: good, password: "wrong", want: "password is incorrect for file (PKCS#12)"},
		{name: "missing password", data: good, want: "file (PKCS#12) is encrypted: password is required"},
		{name: "garbage", data: []byte("definitely not a PKCS#12 file"), password: testPassword,
			want: "file is not a PKCS#12 archive: it is not a DER-encoded PFX structure"},
		{name: "truncated", data: good[:len(good)/2], password: testPassword,
			want: "file is not a PKCS#12 archive: it is not a DER-encoded PFX structure"},
		{name: "a DER certificate", data: p.leaf.Raw, password: testPassword,
			want: "file is not a PKCS#12 archive: it is a DER certificate; convert it to PEM and upload it as certFile with format=keycertfile"},
		{name: "PEM text", data: certsPEM(p.leaf), password: testPassword,
			want: "file is not a PKCS#12 archive: it is PEM text; upload PEM with format=keycertfile as certFile and keyFile"},
		{name: "oversized", data: make([]byte, MaxInputSize+1),
			want: "file is 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)"},
		{name: "password outside the BMP", data: good, password: "🔑",
			want: "password holds a character outside the Unicode Basic Multilingual Plane, which PKCS#12 cannot encode"},
		{name: "expired", data: pkcs12File(t, p.expiredKey, p.expired, []*x509.Certificate{p.inter}, testPassword), password: testPassword,
			want: `certificate "CN=expired.example.com, O=Example, C=US" in file expired on 2024-01-02T03:04:05Z; set ignoreExpiryValidation=true to upload it anyway`},
		{name: "key of no certificate", data: pkcs12File(t, p.otherRSAKey, p.leaf, []*x509.Certificate{p.inter}, testPassword), password: testPassword,
			want: "the private key in file (PKCS#12) does not match any certificate in it"},
		{name: "unrelated certificate", data: pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.inter, p.otherRoot}, testPassword), password: testPassword,
			want: `file (PKCS#12): certificate "CN=Other Root, O=Keyplane" is not part of the chain of certificate "CN=api.example.com, O=Example, C=US"`},
		{name: "too many certificates", data: pkcs12File(t, p.leafKey, p.leaf, many, testPassword), password: testPassword,
			want: "file (PKCS#12) holds 11 certificates, more than the limit of 10"},
		{name: "truststore with unrelated certificates", data: must(pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{p.leaf, p.otherRoot}, testPassword)), password: testPassword,
			want: `file (PKCS#12): certificate "CN=Other Root, O=Keyplane" is not part of the chain of certificate "CN=api.example.com, O=Example, C=US"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.opt.Now.IsZero() {
				tt.opt.Now = testNow
			}
			m, err := ParsePKCS12(tt.data, tt.password, tt.opt)
			require.Nil(t, m)
			requireInvalid(t, err, tt.want)
		})
	}

	o := opts()
	o.IgnoreExpiry = true
	m, err := ParsePKCS12(pkcs12File(t, p.expiredKey, p.expired, nil, testPassword), testPassword, o)
	require.NoError(t, err)
	require.Equal(t, p.expired, m.Chain[0])
}

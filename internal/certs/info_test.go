package certs

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

func ms(t time.Time) int64 { return t.UnixMilli() }

func TestInfo_DescribesChainLeafFirst(t *testing.T) {
	t.Parallel()
	p := fixtures()

	got := Info([]*x509.Certificate{p.leaf, p.inter, p.root}, testNow)
	want := []keyplane.CertInfo{
		{
			Version:    3,
			Subject:    "CN=api.example.com, O=Example, C=US",
			Issuer:     "CN=Keyplane Test Intermediate, O=Keyplane",
			ExpiryDate: ms(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)),
			ValidFrom:  ms(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
			IsValid:    "Yes",
			SubjectAlternativeNames: []string{
				"api.example.com", "192.0.2.10", "2001:db8::1", "ops@example.com", "spiffe://example.com/api",
			},
			SigAlgName:       "ECDSA-SHA256",
			PublicKey:        "RSA Public Key, 2048 bits",
			BasicConstraints: "CA:FALSE",
			SerialNumber:     "01:00:c0:ff:ee",
		},
		{
			Version:          3,
			Subject:          "CN=Keyplane Test Intermediate, O=Keyplane",
			Issuer:           "CN=Keyplane Test Root, O=Keyplane",
			ExpiryDate:       ms(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)),
			ValidFrom:        ms(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
			IsValid:          "Yes",
			SigAlgName:       "SHA256-RSA",
			PublicKey:        "EC Public Key, P-256",
			BasicConstraints: "CA:TRUE, pathlen:0",
			SerialNumber:     "02",
		},
		{
			Version:          3,
			Subject:          "CN=Keyplane Test Root, O=Keyplane",
			Issuer:           "CN=Keyplane Test Root, O=Keyplane",
			ExpiryDate:       ms(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)),
			ValidFrom:        ms(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
			IsValid:          "Yes",
			SigAlgName:       "SHA256-RSA",
			PublicKey:        "RSA Public Key, 2048 bits",
			BasicConstraints: "CA:TRUE",
			SerialNumber:     "01",
		},
	}
	require.Equal(t, want, got)
}

func TestInfo_Validity(t *testing.T) {
	t.Parallel()
	p := fixtures()
	require.Equal(t, "No", Info([]*x509.Certificate{p.expired}, testNow)[0].IsValid)
	require.Equal(t, "Not yet", Info([]*x509.Certificate{p.leaf}, p.leaf.NotBefore.Add(-time.Second))[0].IsValid)
	require.Equal(t, "Yes", Info([]*x509.Certificate{p.leaf}, p.leaf.NotBefore)[0].IsValid)
	require.Equal(t, "Yes", Info([]*x509.Certificate{p.leaf}, p.leaf.NotAfter)[0].IsValid)
	require.Equal(t, "No", Info([]*x509.Certificate{p.leaf}, p.leaf.NotAfter.Add(time.Second))[0].IsValid)
	require.Empty(t, Info(nil, testNow))
}

func TestInfo_KeyAndSignatureNames(t *testing.T) {
	t.Parallel()
	p := fixtures()
	selfSigned := func(key crypto.Signer, serial *big.Int) *x509.Certificate {
		return mkCert(&x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: "self"},
			NotBefore:    testNow, NotAfter: testNow.Add(time.Hour),
		}, nil, key.Public(), key)
	}

	ed := Info([]*x509.Certificate{selfSigned(p.edLeafKey, big.NewInt(0xff))}, testNow)[0]
	require.Equal(t, "Ed25519", ed.SigAlgName)
	require.Equal(t, "Ed25519 Public Key", ed.PublicKey)
	require.Equal(t, "ff", ed.SerialNumber)
	require.Equal(t, int64(3), ed.Version)
	require.Equal(t, "CA:FALSE", ed.BasicConstraints, "no basicConstraints extension at all")

	ec := Info([]*x509.Certificate{selfSigned(p.interKey, new(big.Int).Lsh(big.NewInt(1), 127))}, testNow)[0]
	require.Equal(t, "ECDSA-SHA256", ec.SigAlgName)
	require.Equal(t, "80:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00", ec.SerialNumber)
}

func TestInfo_FormatsDistinguishedNames(t *testing.T) {
	t.Parallel()
	p := fixtures()
	rdns := pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "US"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Ops"}},
		{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: `#a,b+c"d\e<f>g;h `}},
		{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "x"}},
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(10),
		RawSubject:   must(asn1.Marshal(rdns)),
		NotBefore:    testNow, NotAfter: testNow.Add(time.Hour),
	}
	c := mkCert(template, p.inter, p.ecLeafKey.Public(), p.interKey)
	info := Info([]*x509.Certificate{c}, testNow)[0]
	require.Equal(t, `OID.1.2.3.4=x, CN=\#a\,b\+c\"d\\e\<f\>g\;h\ , DC=example, OU=Ops+O=Acme, C=US`, info.Subject)
	require.Equal(t, "CN=Keyplane Test Intermediate, O=Keyplane", info.Issuer)
}

func TestEncodeDecodeChain_RoundTrip(t *testing.T) {
	t.Parallel()
	p := fixtures()
	chain := []*x509.Certificate{p.leaf, p.inter, p.root}
	encoded := EncodeChain(chain)

	rest := encoded
	for _, c := range chain {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		require.Equal(t, "CERTIFICATE", b.Type)
		require.Equal(t, c.Raw, b.Bytes)
	}
	require.Empty(t, rest)

	decoded, err := DecodeChain(encoded)
	require.NoError(t, err)
	require.Equal(t, chain, decoded)

	_, err = DecodeChain(nil)
	require.EqualError(t, err, "certs: DecodeChain: no certificate")
	_, err = DecodeChain(pkcs1PEM(p.leafKey))
	require.EqualError(t, err, `certs: DecodeChain: unexpected PEM block "RSA PRIVATE KEY"`)
	_, err = DecodeChain(pemBytes("CERTIFICATE", []byte{1, 2, 3}))
	require.ErrorContains(t, err, "certs: DecodeChain: certificate 1: x509: ")
}

func TestMarshalUnmarshalKey_RoundTrip(t *testing.T) {
	t.Parallel()
	p := fixtures()
	for _, key := range []crypto.Signer{p.leafKey, p.ecLeafKey, p.edLeafKey} {
		der, err := MarshalKey(key)
		require.NoError(t, err)
		back, err := UnmarshalKey(der)
		require.NoError(t, err)
		require.True(t, key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(back), "%T", key)
	}

	_, err := MarshalKey(nil)
	require.EqualError(t, err, "certs: MarshalKey: nil key")
	_, err = UnmarshalKey([]byte("garbage"))
	require.ErrorContains(t, err, "certs: UnmarshalKey: ")
	x := must(ecdh.X25519().GenerateKey(rand.Reader))
	_, err = UnmarshalKey(must(x509.MarshalPKCS8PrivateKey(x)))
	require.EqualError(t, err, "certs: UnmarshalKey: *ecdh.PrivateKey cannot sign")
}

func TestCSR(t *testing.T) {
	t.Parallel()
	p := fixtures()
	for _, tt := range []struct {
		key  crypto.Signer
		leaf *x509.Certificate
	}{{p.leafKey, p.leaf}, {p.ecLeafKey, p.ecLeaf}, {p.edLeafKey, p.edLeaf}} {
		out, err := CSR(tt.key, tt.leaf)
		require.NoError(t, err)
		b, rest := pem.Decode(out)
		require.Empty(t, rest)
		require.Equal(t, "CERTIFICATE REQUEST", b.Type)
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		require.NoError(t, err)
		require.NoError(t, csr.CheckSignature())
		require.Equal(t, tt.leaf.RawSubject, csr.RawSubject)
		require.True(t, publicKeysEqual(tt.leaf.PublicKey, csr.PublicKey))
		require.Equal(t, tt.leaf.DNSNames, csr.DNSNames)
		require.Equal(t, tt.leaf.IPAddresses, csr.IPAddresses)
		require.Equal(t, tt.leaf.EmailAddresses, csr.EmailAddresses)
		require.Equal(t, tt.leaf.URIs, csr.URIs)
	}

	_, err := CSR(nil, p.leaf)
	requireInvalid(t, err, "the alias holds no private key, so it cannot sign a certificate signing request")
}

package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

func TestParseKeyCertFile_AcceptsKeyEncodings(t *testing.T) {
	t.Parallel()
	p := fixtures()
	chain := func(leaf *x509.Certificate) []byte { return certsPEM(leaf, p.inter, p.root) }
	ecParams := pemBytes("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	tests := []struct {
		name     string
		certPEM  []byte
		keyPEM   []byte
		password string
		want     crypto.PublicKey
	}{
		{"RSA PKCS#1", chain(p.leaf), pkcs1PEM(p.leafKey), "", p.leafKey.Public()},
		{"RSA PKCS#8", chain(p.leaf), pkcs8PEM(p.leafKey), "", p.leafKey.Public()},
		{"RSA PKCS#8 labelled RSA PRIVATE KEY", chain(p.leaf),
			pemBytes("RSA PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(p.leafKey))), "", p.leafKey.Public()},
		{"EC SEC1", chain(p.ecLeaf), sec1PEM(p.ecLeafKey), "", p.ecLeafKey.Public()},
		{"EC SEC1 after EC PARAMETERS", chain(p.ecLeaf), append(ecParams, sec1PEM(p.ecLeafKey)...), "", p.ecLeafKey.Public()},
		{"EC PKCS#8", chain(p.ecLeaf), pkcs8PEM(p.ecLeafKey), "", p.ecLeafKey.Public()},
		{"Ed25519 PKCS#8", chain(p.edLeaf), pkcs8PEM(p.edLeafKey), "", p.edLeafKey.Public()},
		{"password ignored for a plain key", chain(p.leaf), pkcs1PEM(p.leafKey), testPassword, p.leafKey.Public()},
		{"legacy AES-256 PKCS#1", chain(p.leaf),
			legacyEncryptedPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.leafKey), x509.PEMCipherAES256),
			testPassword, p.leafKey.Public()},
		{"legacy 3DES SEC1", chain(p.ecLeaf),
			legacyEncryptedPEM(t, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(p.ecLeafKey)), x509.PEMCipher3DES),
			testPassword, p.ecLeafKey.Public()},
		{"PKCS#8 PBES2 AES-256 HMAC-SHA256", chain(p.leaf),
			encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES256SHA256), testPassword, p.leafKey.Public()},
		{"PKCS#8 PBES2 AES-128 default PRF", chain(p.ecLeaf),
			encryptedPKCS8PEM(t, p.ecLeafKey, testPassword, pbes2AES128SHA1), testPassword, p.ecLeafKey.Public()},
		{"PKCS#8 PBES2 AES-192 HMAC-SHA512", chain(p.edLeaf),
			encryptedPKCS8PEM(t, p.edLeafKey, testPassword, pbes2AES192SHA512), testPassword, p.edLeafKey.Public()},
		{"PKCS#8 PBES2 3DES HMAC-SHA1", chain(p.leaf),
			encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2DES3SHA1), testPassword, p.leafKey.Public()},
		{"unicode password", chain(p.leaf),
			encryptedPKCS8PEM(t, p.leafKey, "pässwört-😀", pbes2AES256SHA256), "pässwört-😀", p.leafKey.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseKeyCertFile(tt.certPEM, tt.keyPEM, tt.password, opts())
			require.NoError(t, err)
			require.Len(t, m.Chain, 3)
			require.Equal(t, keyplane.AliasTypeKeyCert, m.AliasType())
			require.True(t, publicKeysEqual(tt.want, m.Key.Public()))
			require.True(t, publicKeysEqual(m.Chain[0].PublicKey, m.Key.Public()))
		})
	}
}

func TestParseKeyCertFile_CertificateOnly(t *testing.T) {
	t.Parallel()
	p := fixtures()

	m, err := ParseKeyCertFile(certsPEM(p.leaf, p.inter), nil, "", opts())
	require.NoError(t, err)
	require.Nil(t, m.Key)
	require.Equal(t, keyplane.AliasTypeCert, m.AliasType())
	require.Equal(t, []*x509.Certificate{p.leaf, p.inter}, m.Chain)

	m, err = ParseKeyCertFile(certsPEM(p.root), nil, "", opts())
	require.NoError(t, err)
	require.Equal(t, []*x509.Certificate{p.root}, m.Chain)
}

func TestParseKeyCertFile_ToleratesLayout(t *testing.T) {
	t.Parallel()
	p := fixtures()
	plain := certsPEM(p.leaf, p.inter, p.root)
	crlf := bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n"))
	glued := bytes.ReplaceAll(plain, []byte("-----\n-----BEGIN"), []byte("----------BEGIN"))
	require.NotEqual(t, plain, glued)
	junk := append([]byte("Bag Attributes\n    friendlyName: api\nsubject=CN=api.example.com\n"), plain...)

	tests := []struct {
		name          string
		certPEM       []byte
		ignoreNewline bool
	}{
		{"CRLF", crlf, false},
		{"trailing newlines", append(bytes.Clone(plain), "\n\n\r\n"...), false},
		{"leading blank lines and spaces", append([]byte("\n  \n"), plain...), false},
		{"blank lines between blocks", bytes.ReplaceAll(plain, []byte("-----\n-----BEGIN"), []byte("-----\n\n\n-----BEGIN")), false},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), plain...), false},
		{"no final newline", bytes.TrimRight(plain, "\n"), false},
		{"glued blocks with ignoreNewline", glued, true},
		{"glued CRLF blocks with ignoreNewline", bytes.ReplaceAll(glued, []byte("\n"), []byte("\r\n")), true},
		{"text outside blocks with ignoreNewline", junk, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.IgnoreNewline = tt.ignoreNewline
			m, err := ParseKeyCertFile(tt.certPEM, crlfIf(tt.name == "CRLF", pkcs1PEM(p.leafKey)), "", o)
			require.NoError(t, err)
			require.Equal(t, []*x509.Certificate{p.leaf, p.inter, p.root}, m.Chain)
		})
	}
}

func crlfIf(cond bool, b []byte) []byte {
	if !cond {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func TestParseKeyCertFile_ExpiredCertificate(t *testing.T) {
	t.Parallel()
	p := fixtures()
	certPEM := certsPEM(p.expired, p.inter, p.root)

	_, err := ParseKeyCertFile(certPEM, sec1PEM(p.expiredKey), "", opts())
	requireInvalid(t, err, `certificate "CN=expired.example.com, O=Example, C=US" in certFile expired on 2024-01-02T03:04:05Z; set ignoreExpiryValidation=true to upload it anyway`)

	o := opts()
	o.IgnoreExpiry = true
	m, err := ParseKeyCertFile(certPEM, sec1PEM(p.expiredKey), "", o)
	require.NoError(t, err)
	require.Equal(t, p.expired, m.Chain[0])

	// An expired CA certificate further up is refused as well.
	o = Options{Now: p.inter.NotAfter.AddDate(0, 0, 1)}
	_, err = ParseKeyCertFile(certsPEM(p.inter, p.root), nil, "", o)
	requireInvalid(t, err, `certificate "CN=Keyplane Test Intermediate, O=Keyplane" in certFile expired on 2032-01-01T00:00:00Z; set ignoreExpiryValidation=true to upload it anyway`)
}

func TestParseKeyCertFile_Errors(t *testing.T) {
	t.Parallel()
	p := fixtures()
	chain := certsPEM(p.leaf, p.inter, p.root)
	key := pkcs1PEM(p.leafKey)
	x25519 := must(ecdh.X25519().GenerateKey(rand.Reader))
	tooMany := certsPEM(p.root, p.root, p.root, p.root, p.root, p.root, p.root, p.root, p.root, p.root, p.root)
	glued := bytes.ReplaceAll(chain, []byte("-----\n-----BEGIN"), []byte("----------BEGIN"))
	badBase64 := []byte("-----BEGIN CERTIFICATE-----\nMIIB!!!notbase64\n-----END CERTIFICATE-----\n")
	mismatched := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n")
	lines := func(b []byte) int { return bytes.Count(b, []byte("\n")) }

	tests := []struct {
		name          string
		certPEM       []byte
		keyPEM        []byte
		password      string
		ignoreNewline bool
		want          string
	}{
		// certFile
		{name: "no certFile", want: "certFile is required"},
		{name: "blank certFile", certPEM: []byte(" \r\n\n"), want: "certFile is empty"},
		{name: "DER certFile", certPEM: p.leaf.Raw,
			want: `certFile is not PEM: it holds binary data (DER?); convert it with "openssl x509 -inform DER -outform PEM"`},
		{name: "text certFile", certPEM: []byte("hello, world\n"),
			want: `certFile is not PEM: it has no "-----BEGIN ...-----" line`},
		{name: "oversized certFile", certPEM: append(bytes.Repeat([]byte(" "), MaxInputSize), chain...),
			want: fmt.Sprintf("certFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", MaxInputSize+len(chain))},
		{name: "too many certificates", certPEM: tooMany,
			want: "certFile holds 11 certificates, more than the limit of 10"},
		{name: "key in certFile", certPEM: append(bytes.Clone(chain), key...),
			want: `certFile: PEM block 4 is a "RSA PRIVATE KEY" block; certFile must hold only "CERTIFICATE" blocks (put the private key in keyFile)`},
		{name: "text before the chain", certPEM: append([]byte("subject=CN=api\n"), chain...),
			want: "certFile has text outside PEM blocks (line 1); remove it or set ignoreNewlineValidation=true"},
		{name: "text after the chain", certPEM: append(bytes.Clone(chain), "\n# end\n"...),
			want: fmt.Sprintf("certFile has text outside PEM blocks (line %d); remove it or set ignoreNewlineValidation=true", lines(chain)+2)},
		{name: "glued blocks", certPEM: glued,
			want: fmt.Sprintf(`certFile has a "-----BEGIN" line glued to the "-----END" line before it (line %d); put a newline between PEM blocks or set ignoreNewlineValidation=true`, lines(certsPEM(p.leaf)))},
		{name: "bad base64", certPEM: badBase64,
			want: "certFile: PEM block 1 (line 1) is malformed: its base64 body is invalid or its BEGIN and END lines do not match"},
		{name: "mismatched BEGIN and END", certPEM: mismatched,
			want: "certFile: PEM block 1 (line 1) is malformed: its base64 body is invalid or its BEGIN and END lines do not match"},
		{name: "truncated block", certPEM: chain[:len(chain)-40],
			want: fmt.Sprintf(`certFile: PEM block 3 (line %d) has no "-----END ...-----" line`, lines(certsPEM(p.leaf, p.inter))+1)},
		{name: "not a certificate", certPEM: pemBytes("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01}),
			want: "certFile: certificate 1 is not a valid X.509 certificate: x509: malformed tbs certificate"},
		{name: "chain out of order", certPEM: certsPEM(p.leaf, p.root, p.inter),
			want: `certFile: certificate 1 ("CN=api.example.com, O=Example, C=US") is not signed by certificate 2 ("CN=Keyplane Test Root, O=Keyplane"); the chain must be in order, leaf first`},
		{name: "chain root first", certPEM: certsPEM(p.root, p.inter, p.leaf),
			want: `certFile: certificate 1 ("CN=Keyplane Test Root, O=Keyplane") is not signed by certificate 2 ("CN=Keyplane Test Intermediate, O=Keyplane"); the chain must be in order, leaf first`},
		{name: "foreign CA", certPEM: certsPEM(p.leaf, p.inter, p.otherRoot),
			want: `certFile: certificates 2 ("CN=Keyplane Test Intermediate, O=Keyplane") and 3 ("CN=Other Root, O=Keyplane") belong to different chains: neither is signed by another certificate of the file, so no order makes them one chain; an alias holds one chain, so put each CA in an alias of its own (one alias per CA)`},
		// A truststore bundle of two CAs cannot be reordered into a chain.
		{name: "two unrelated CAs", certPEM: certsPEM(p.root, p.otherRoot),
			want: `certFile: certificates 1 ("CN=Keyplane Test Root, O=Keyplane") and 2 ("CN=Other Root, O=Keyplane") belong to different chains: neither is signed by another certificate of the file, so no order makes them one chain; an alias holds one chain, so put each CA in an alias of its own (one alias per CA)`},
		{name: "issuer is not a CA", certPEM: certsPEM(p.underNotCA, p.notCA),
			want: `certFile: certificate 1 ("CN=under.example.com, O=Example, C=US") is signed by certificate 2 ("CN=not-a-ca.example.com, O=Example, C=US"), but certificate 2 is not a CA certificate`},

		// keyFile
		{name: "key does not match", certPEM: chain, keyPEM: pkcs1PEM(p.otherRSAKey),
			want: "keyFile does not match the certificate in certFile"},
		{name: "key of the intermediate", certPEM: chain, keyPEM: sec1PEM(p.interKey),
			want: "keyFile does not match the certificate in certFile"},
		{name: "blank keyFile", certPEM: chain, keyPEM: []byte("\n"), want: "keyFile is empty"},
		{name: "DER keyFile", certPEM: chain, keyPEM: x509.MarshalPKCS1PrivateKey(p.leafKey),
			want: `keyFile is not PEM: it holds binary data (DER?); convert it with "openssl pkey -inform DER -outform PEM"`},
		{name: "text keyFile", certPEM: chain, keyPEM: []byte("my key"),
			want: `keyFile is not PEM: it has no "-----BEGIN ...-----" line`},
		{name: "certificate in keyFile", certPEM: chain, keyPEM: append(certsPEM(p.leaf), key...),
			want: `keyFile: PEM block 1 is a "CERTIFICATE" block; keyFile must hold one private key ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY")`},
		{name: "public key in keyFile", certPEM: chain, keyPEM: pemBytes("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(p.leafKey.Public()))),
			want: `keyFile: PEM block 1 is a "PUBLIC KEY" block; keyFile must hold one private key ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY")`},
		{name: "two keys", certPEM: chain, keyPEM: append(bytes.Clone(key), pkcs8PEM(p.leafKey)...),
			want: "keyFile holds 2 private keys; it must hold exactly one"},
		{name: "only EC parameters", certPEM: chain, keyPEM: pemBytes("EC PARAMETERS", []byte{0x06, 0x01, 0x00}),
			want: "keyFile holds no private key"},
		{name: "garbage key", certPEM: chain, keyPEM: pemBytes("RSA PRIVATE KEY", []byte("not a key at all")),
			want: `keyFile: the "RSA PRIVATE KEY" block is not a valid PKCS#1, PKCS#8 or SEC1 private key`},
		{name: "X25519 key", certPEM: chain, keyPEM: pemBytes("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(x25519))),
			want: "keyFile holds an X25519 key, which cannot sign; use an RSA, EC or Ed25519 key"},
		{name: "text around the key", certPEM: chain, keyPEM: append([]byte("Bag Attributes\n"), key...),
			want: "keyFile has text outside PEM blocks (line 1); remove it or set ignoreNewlineValidation=true"},

		// encrypted keys
		{name: "legacy encrypted, no password", certPEM: chain,
			keyPEM: legacyEncryptedPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.leafKey), x509.PEMCipherAES256),
			want:   "keyFile is encrypted: password is required"},
		{name: "legacy encrypted, wrong password", certPEM: chain, password: "wrong",
			keyPEM: legacyEncryptedPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.leafKey), x509.PEMCipherAES256),
			want:   "password is incorrect for keyFile"},
		{name: "legacy encrypted, unknown cipher", certPEM: chain, password: testPassword,
			keyPEM: []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: CAMELLIA-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAAAAAAAAAAAAAAAAAAAA==\n-----END RSA PRIVATE KEY-----\n"),
			want:   `keyFile is encrypted with the cipher "CAMELLIA-256-CBC", which keyplane does not support; re-encrypt it with "openssl pkcs8 -topk8 -v2 aes256"`},
		{name: "PKCS#8 encrypted, no password", certPEM: chain,
			keyPEM: encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES256SHA256),
			want:   "keyFile is encrypted: password is required"},
		{name: "PKCS#8 encrypted, wrong password", certPEM: chain, password: testPassword + "x",
			keyPEM: encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES256SHA256),
			want:   "password is incorrect for keyFile"},
		{name: "PKCS#8 encrypted, garbage", certPEM: chain, password: testPassword,
			keyPEM: pemBytes("ENCRYPTED PRIVATE KEY", []byte("garbage")),
			want:   `keyFile: the "ENCRYPTED PRIVATE KEY" block is not a valid PKCS#8 EncryptedPrivateKeyInfo`},
		{name: "PKCS#8 encrypted, too many iterations", certPEM: chain, password: testPassword,
			keyPEM: withIterations(t, encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES128SHA1), 1000, 50_000_000),
			want:   "keyFile is encrypted with a PBKDF2 iteration count of 50000000; keyplane accepts 1 to 2000000"},
		{name: "PKCS#8 encrypted, matching but wrong key", certPEM: chain, password: testPassword,
			keyPEM: encryptedPKCS8PEM(t, p.otherRSAKey, testPassword, pbes2AES256SHA256),
			want:   "keyFile does not match the certificate in certFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.IgnoreNewline = tt.ignoreNewline
			m, err := ParseKeyCertFile(tt.certPEM, tt.keyPEM, tt.password, o)
			require.Nil(t, m)
			requireInvalid(t, err, tt.want)
		})
	}
}

// withIterations rewrites the PBKDF2 iteration count of an encrypted PKCS#8
// PEM made by encryptedPKCS8PEM. Both counts encode in the same INTEGER
// length only if they have the same number of bytes, so it re-encodes the
// whole structure.
func withIterations(t *testing.T, keyPEM []byte, from, to int) []byte {
	t.Helper()
	blocks, err := decodePEM("test", keyPEM, false, "")
	require.NoError(t, err)
	info := encryptedPrivateKeyInfo{}
	_, err = asn1.Unmarshal(blocks[0].Bytes, &info)
	require.NoError(t, err)
	var params pbes2Params
	_, err = asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params)
	require.NoError(t, err)
	var kdf pbkdf2Params
	_, err = asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf)
	require.NoError(t, err)
	require.Equal(t, from, kdf.IterationCount)
	kdf.IterationCount = to
	params.KeyDerivationFunc.Parameters.FullBytes = must(asn1.Marshal(struct {
		Salt       []byte
		Iterations int
	}{kdf.Salt, kdf.IterationCount}))
	info.Algorithm.Parameters.FullBytes = must(asn1.Marshal(params))
	return pemBytes("ENCRYPTED PRIVATE KEY", must(asn1.Marshal(info)))
}

func TestReplaceCertificate(t *testing.T) {
	t.Parallel()
	p := fixtures()
	// A renewed certificate: same key, new serial.
	renewedTemplate := *p.leaf
	renewedTemplate.SerialNumber = big.NewInt(42)
	renewed := mkCert(&renewedTemplate, p.inter, p.leafKey.Public(), p.interKey)

	m, err := ReplaceCertificate(certsPEM(renewed, p.inter), p.leafKey, opts())
	require.NoError(t, err)
	require.Equal(t, renewed, m.Chain[0])
	require.Equal(t, p.leafKey, m.Key)

	_, err = ReplaceCertificate(certsPEM(p.ecLeaf, p.inter), p.leafKey, opts())
	requireInvalid(t, err, "certFile does not match the private key of the alias: the new certificate must carry the same public key")

	m, err = ReplaceCertificate(certsPEM(p.ecLeaf), nil, opts())
	require.NoError(t, err)
	require.Nil(t, m.Key)

	_, err = ReplaceCertificate(certsPEM(p.expired), p.expiredKey, opts())
	requireInvalid(t, err, `certificate "CN=expired.example.com, O=Example, C=US" in certFile expired on 2024-01-02T03:04:05Z; set ignoreExpiryValidation=true to upload it anyway`)

	_, err = ReplaceCertificate(nil, p.leafKey, opts())
	requireInvalid(t, err, "certFile is required")
}

// TestErrors_NeverLeakSecrets feeds every kind of bad input that involves a
// password or a key and checks that no message repeats either.
func TestErrors_NeverLeakSecrets(t *testing.T) {
	t.Parallel()
	p := fixtures()
	chain := certsPEM(p.leaf, p.inter, p.root)
	plainKeys := [][]byte{pkcs1PEM(p.leafKey), pkcs8PEM(p.ecLeafKey), sec1PEM(p.ecLeafKey), pkcs8PEM(p.edLeafKey)}
	encKeys := [][]byte{
		legacyEncryptedPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.leafKey), x509.PEMCipherAES128),
		encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES256SHA256),
	}
	var errs []error
	collect := func(_ any, err error) {
		require.Error(t, err)
		errs = append(errs, err)
	}
	for _, k := range plainKeys {
		collect(ParseKeyCertFile(certsPEM(p.otherRoot), k, testPassword, opts()))            // mismatch
		collect(ParseKeyCertFile(k, nil, testPassword, opts()))                              // key as certFile
		collect(ParseKeyCertFile(chain, append([]byte("junk "), k...), "", opts()))          // junk in keyFile
		collect(ParseKeyCertFile(chain, k[:len(k)/2], testPassword, opts()))                 // truncated
		collect(ParseKeyCertFile(chain, append(bytes.Clone(k), k...), testPassword, opts())) // two keys
		collect(ParsePKCS12(k, testPassword, opts()))                                        // PEM as PKCS#12
		corrupt := bytes.Clone(k)
		corrupt[len(corrupt)/2] ^= 0x01
		collect(ParseKeyCertFile(chain, corrupt, testPassword, opts()))
	}
	for _, k := range encKeys {
		collect(ParseKeyCertFile(chain, k, "", opts()))
		collect(ParseKeyCertFile(chain, k, testPassword+"-wrong", opts()))
		collect(ParseKeyCertFile(certsPEM(p.otherRoot), k, testPassword, opts()))
	}
	collect(ParsePKCS12([]byte(testPassword), testPassword, opts()))
	collect(ParsePKCS12(pkcs12File(t, p.leafKey, p.leaf, []*x509.Certificate{p.inter}, testPassword), "nope-"+testPassword, opts()))

	var secrets []string
	for _, k := range append(plainKeys, encKeys...) {
		for _, line := range strings.Split(string(k), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.Contains(line, ":") {
				secrets = append(secrets, line)
			}
		}
	}
	for _, err := range errs {
		msg := err.Error()
		require.NotContains(t, msg, testPassword)
		require.NotContains(t, msg, "s3cr3t")
		for _, s := range secrets {
			require.NotContains(t, msg, s)
		}
	}
}

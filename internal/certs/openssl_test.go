package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// These tests feed the parsers files written by OpenSSL, so that real-world
// encodings are covered and not only what Go writes.

const pass = "pass:" + testPassword

func TestOpenSSL_KeyCertFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// OpenSSL 3 writes PKCS#8 PBES2 (PBKDF2 HMAC-SHA256, AES-256-CBC) here;
	// OpenSSL 1.1 wrote legacy PEM encryption.
	openssl(t, dir, "genrsa", "-aes256", "-passout", pass, "-out", "rsa.key", "2048")
	openssl(t, dir, "req", "-x509", "-key", "rsa.key", "-passin", pass, "-days", "30",
		"-subj", "/C=DE/O=OpenSSL Test/CN=openssl.example.com",
		"-addext", "subjectAltName=DNS:openssl.example.com,IP:127.0.0.1",
		"-out", "rsa.pem")
	certPEM := readFile(t, dir, "rsa.pem")

	keys := map[string][]string{
		"legacy PEM, AES-256":               {"rsa", "-in", "rsa.key", "-passin", pass, "-aes256", "-traditional", "-passout", pass},
		"legacy PEM, DES-EDE3":              {"rsa", "-in", "rsa.key", "-passin", pass, "-des3", "-traditional", "-passout", pass},
		"PKCS#8 AES-128, HMAC-SHA1":         {"pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-v2", "aes128", "-v2prf", "hmacWithSHA1", "-passout", pass},
		"PKCS#8 AES-192, HMAC-SHA512":       {"pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-v2", "aes192", "-v2prf", "hmacWithSHA512", "-passout", pass},
		"PKCS#8 AES-256, HMAC-SHA256":       {"pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-v2", "aes256", "-passout", pass},
		"PKCS#8 DES-EDE3":                   {"pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-v2", "des3", "-passout", pass},
		"PKCS#8 unencrypted":                {"pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-nocrypt"},
		"PKCS#1 unencrypted":                {"rsa", "-in", "rsa.key", "-passin", pass, "-traditional"},
		"genrsa -aes256 as written (PBES2)": {"pkey", "-in", "rsa.key", "-passin", pass, "-aes256", "-passout", pass},
	}
	for name, args := range keys {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			keyPEM := openssl(t, dir, args...)
			if strings.HasPrefix(name, "legacy") {
				require.Contains(t, string(keyPEM), "Proc-Type: 4,ENCRYPTED")
			}
			if strings.Contains(name, "PKCS#8 A") || strings.Contains(name, "PKCS#8 D") || strings.Contains(name, "PBES2") {
				require.Contains(t, string(keyPEM), "-----BEGIN ENCRYPTED PRIVATE KEY-----")
			}
			m, err := ParseKeyCertFile(certPEM, keyPEM, testPassword, Options{})
			require.NoError(t, err)
			require.True(t, publicKeysEqual(m.Chain[0].PublicKey, m.Key.Public()))

			if strings.Contains(name, "unencrypted") {
				return
			}
			_, err = ParseKeyCertFile(certPEM, keyPEM, "", Options{})
			requireInvalid(t, err, "keyFile is encrypted: password is required")
			_, err = ParseKeyCertFile(certPEM, keyPEM, "wrong-"+testPassword, Options{})
			requireInvalid(t, err, "password is incorrect for keyFile")
		})
	}

	t.Run("Info agrees with openssl", func(t *testing.T) {
		t.Parallel()
		m, err := ParseKeyCertFile(certPEM, nil, "", Options{})
		require.NoError(t, err)
		info := Info(m.Chain, m.Chain[0].NotBefore)[0]
		subject := strings.TrimSpace(strings.TrimPrefix(string(openssl(t, dir, "x509", "-in", "rsa.pem", "-noout", "-subject", "-nameopt", "RFC2253")), "subject="))
		require.Equal(t, subject, strings.ReplaceAll(info.Subject, ", ", ","))
		require.Equal(t, "CN=openssl.example.com, O=OpenSSL Test, C=DE", info.Subject)
		serial := strings.TrimSpace(strings.TrimPrefix(string(openssl(t, dir, "x509", "-in", "rsa.pem", "-noout", "-serial")), "serial="))
		require.Equal(t, serial, strings.ToUpper(strings.ReplaceAll(info.SerialNumber, ":", "")))
		require.Equal(t, []string{"openssl.example.com", "127.0.0.1"}, info.SubjectAlternativeNames)
		require.Equal(t, "SHA256-RSA", info.SigAlgName)
		require.Equal(t, "RSA Public Key, 2048 bits", info.PublicKey)
		require.Equal(t, "CA:TRUE", info.BasicConstraints, "openssl req -x509 marks the certificate as a CA")
		require.Equal(t, "Yes", info.IsValid)
	})
}

func TestOpenSSL_UnsupportedKeyEncryption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.key")
	openssl(t, dir, "req", "-x509", "-key", "ec.key", "-days", "30", "-subj", "/CN=ec.example.com", "-out", "ec.pem")
	certPEM := readFile(t, dir, "ec.pem")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"PKCS#12 PBE", []string{"-v1", "PBE-SHA1-3DES"},
			`keyFile is encrypted with a PKCS#12 password-based scheme (1.2.840.113549.1.12.1.3), which keyplane does not support; re-encrypt it with "openssl pkcs8 -topk8 -v2 aes256"`},
		{"scrypt", []string{"-scrypt"},
			`keyFile is encrypted with PBES2 using the key derivation function scrypt, which keyplane does not support; re-encrypt it with "openssl pkcs8 -topk8 -v2 aes256"`},
		{"Camellia", []string{"-v2", "camellia256"},
			`keyFile is encrypted with PBES2 using the cipher 1.2.392.200011.61.1.1.1.4, which keyplane does not support (it supports AES-128/192/256-CBC and DES-EDE3-CBC); re-encrypt it with "openssl pkcs8 -topk8 -v2 aes256"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"pkcs8", "-topk8", "-in", "ec.key", "-passout", pass}, tt.args...)
			keyPEM := openssl(t, dir, args...)
			_, err := ParseKeyCertFile(certPEM, keyPEM, testPassword, Options{})
			requireInvalid(t, err, tt.want)
		})
	}
}

func TestOpenSSL_ECAndEd25519Keys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// "ecparam -genkey" writes an EC PARAMETERS block before the SEC1 key.
	openssl(t, dir, "ecparam", "-name", "prime256v1", "-genkey", "-out", "ec.key")
	require.Contains(t, string(readFile(t, dir, "ec.key")), "-----BEGIN EC PARAMETERS-----")
	openssl(t, dir, "req", "-x509", "-key", "ec.key", "-days", "30", "-subj", "/CN=ec.example.com", "-out", "ec.pem")
	openssl(t, dir, "genpkey", "-algorithm", "ed25519", "-out", "ed.key")
	openssl(t, dir, "req", "-x509", "-key", "ed.key", "-days", "30", "-subj", "/CN=ed.example.com", "-out", "ed.pem")

	for _, tt := range []struct{ name, sigAlg, publicKey string }{
		{"ec", "ECDSA-SHA256", "EC Public Key, P-256"},
		{"ed", "Ed25519", "Ed25519 Public Key"},
	} {
		m, err := ParseKeyCertFile(readFile(t, dir, tt.name+".pem"), readFile(t, dir, tt.name+".key"), "", Options{})
		require.NoError(t, err, tt.name)
		info := Info(m.Chain, m.Chain[0].NotBefore)[0]
		require.Equal(t, tt.sigAlg, info.SigAlgName)
		require.Equal(t, tt.publicKey, info.PublicKey)
	}
}

func TestOpenSSL_PKCS12(t *testing.T) {
	t.Parallel()
	p := fixtures()
	dir := t.TempDir()
	writeFile(t, dir, "leaf.pem", certsPEM(p.leaf))
	writeFile(t, dir, "leaf.key", pkcs1PEM(p.leafKey))
	writeFile(t, dir, "cas.pem", certsPEM(p.root, p.inter)) // deliberately root first
	attime := fmt.Sprint(testNow.Unix())

	// OpenSSL itself agrees the fixture chain is valid.
	openssl(t, dir, "verify", "-attime", attime, "-CAfile", writeFile(t, dir, "root.pem", certsPEM(p.root)),
		"-untrusted", writeFile(t, dir, "inter.pem", certsPEM(p.inter)), "leaf.pem")

	export := func(name string, extra ...string) []byte {
		args := append([]string{"pkcs12", "-export", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "cas.pem", "-out", name}, extra...)
		openssl(t, dir, args...)
		return readFile(t, dir, name)
	}
	modern := export("modern.p12", "-passout", pass)
	classic := export("classic.p12", "-passout", pass, "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1")
	empty := export("empty.p12", "-passout", "pass:")
	// -legacy: certificates encrypted with 40-bit RC2, as OpenSSL 1.x
	// and Java 8 wrote them; OpenSSL 3 needs the flag to write RC2 at all.
	legacyRC2 := export("legacy.p12", "-passout", pass, "-legacy")
	legacyRC2128 := export("legacy128.p12", "-passout", pass, "-legacy", "-certpbe", "PBE-SHA1-RC2-128", "-keypbe", "PBE-SHA1-RC2-128")
	openssl(t, dir, "pkcs12", "-export", "-nokeys", "-in", "leaf.pem", "-certfile", "cas.pem", "-passout", pass, "-out", "nokeys.p12")
	nokeys := readFile(t, dir, "nokeys.p12")

	want := []*x509.Certificate{p.leaf, p.inter, p.root}
	for name, tt := range map[string]struct {
		data     []byte
		password string
	}{
		"modern": {modern, testPassword}, "classic 3DES": {classic, testPassword}, "empty password": {empty, ""},
		"legacy RC2-40": {legacyRC2, testPassword}, "legacy RC2-128, key too": {legacyRC2128, testPassword},
	} {
		// The limit checks see inside what they must: every section and
		// the key decrypt.
		requireLooksInside(t, name, tt.data, tt.password, p.leafKey)
		m, err := ParsePKCS12(tt.data, tt.password, opts())
		require.NoError(t, err, name)
		require.Equal(t, want, m.Chain, name)
		require.Equal(t, keyplane.AliasTypeKeyCert, m.AliasType())
		require.True(t, publicKeysEqual(p.leafKey.Public(), m.Key.Public()), name)
	}

	_, err := ParsePKCS12(modern, "wrong-password", opts())
	requireInvalid(t, err, "password is incorrect for file (PKCS#12)")
	_, err = ParsePKCS12(classic, testPassword+" ", opts())
	requireInvalid(t, err, "password is incorrect for file (PKCS#12)")
	_, err = ParsePKCS12(legacyRC2, testPassword+" ", opts())
	requireInvalid(t, err, "password is incorrect for file (PKCS#12)")
	_, err = ParsePKCS12(modern, "", opts())
	requireInvalid(t, err, "file (PKCS#12) is encrypted: password is required")
	_, err = ParsePKCS12(nokeys, testPassword, opts())
	requireInvalid(t, err, "file (PKCS#12) holds no private key, and its certificates are not marked as trusted "+
		"(the Java trusted-certificate attribute); upload certificates as certFile with format=keycertfile instead")

	// The PEM that "openssl pkcs12 -nodes" prints carries "Bag Attributes"
	// text: refused by default, accepted with ignoreNewlineValidation.
	out := openssl(t, dir, "pkcs12", "-in", "modern.p12", "-passin", pass, "-nodes")
	require.Contains(t, string(out), "Bag Attributes")
	_, err = ParseKeyCertFile(out, nil, "", opts())
	requireInvalid(t, err, "certFile has text outside PEM blocks (line 1); remove it or set ignoreNewlineValidation=true")
	o := opts()
	o.IgnoreNewline = true
	_, err = ParseKeyCertFile(out, nil, "", o)
	requireInvalid(t, err, "certFile: PEM block 4 is a \"PRIVATE KEY\" block; certFile must hold only \"CERTIFICATE\" blocks (put the private key in keyFile)")
	certsOnly := openssl(t, dir, "pkcs12", "-in", "modern.p12", "-passin", pass, "-nokeys")
	// cas.pem holds the root before the intermediate, and OpenSSL keeps
	// that order: a PEM chain is taken as written, so this is refused.
	_, err = ParseKeyCertFile(certsOnly, nil, "", o)
	requireInvalid(t, err, `certFile: certificate 1 ("CN=api.example.com, O=Example, C=US") is not signed by certificate 2 ("CN=Keyplane Test Root, O=Keyplane"); the chain must be in order, leaf first`)
}

func TestOpenSSL_ReadsWhatKeyplaneWrites(t *testing.T) {
	t.Parallel()
	p := fixtures()
	dir := t.TempDir()

	m, err := SelfSigned(keyplane.SelfSignedCertRequest{
		SigAlg:                     "SHA384withECDSA",
		Subject:                    keyplane.CertSubject{CommonName: "self.example.com", Org: "Keyplane"},
		SubjectAlternativeDNSNames: &keyplane.SubjectAltDNS{SubjectAlternativeName: []string{"self.example.com"}},
	}, Options{})
	require.NoError(t, err)
	writeFile(t, dir, "self.pem", EncodeChain(m.Chain))
	openssl(t, dir, "verify", "-CAfile", "self.pem", "self.pem")
	text := string(openssl(t, dir, "x509", "-in", "self.pem", "-noout", "-text"))
	require.Contains(t, text, "DNS:self.example.com")
	require.Contains(t, text, "ecdsa-with-SHA384")

	csr, err := CSR(p.leafKey, p.leaf)
	require.NoError(t, err)
	writeFile(t, dir, "leaf.csr", csr)
	out := openssl(t, dir, "req", "-in", "leaf.csr", "-noout", "-verify", "-subject", "-nameopt", "RFC2253")
	require.Contains(t, string(out), "subject=CN=api.example.com,O=Example,C=US")

	der, err := MarshalKey(m.Key)
	require.NoError(t, err)
	writeFile(t, dir, "self.der", der)
	pub := openssl(t, dir, "pkey", "-inform", "DER", "-in", "self.der", "-pubout")
	require.True(t, bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----")))
}

func TestOpenSSL_SHA1SignedChainIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=SHA1 CA", "-days", "30", "-sha1")
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=sha1 leaf")
	openssl(t, dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "7",
		"-days", "30", "-sha1", "-out", "leaf.pem")

	chain := append(readFile(t, dir, "leaf.pem"), readFile(t, dir, "ca.pem")...)
	_, err := ParseKeyCertFile(chain, readFile(t, dir, "leaf.key"), "", Options{})
	requireInvalid(t, err, `certFile: certificate 1 ("CN=sha1 leaf") is signed with ECDSA-SHA1, which is insecure, so its signature by certificate 2 ("CN=SHA1 CA") cannot be checked`)

	// Alone, the SHA-1 leaf is accepted: nothing needs its signature checked.
	m, err := ParseKeyCertFile(readFile(t, dir, "leaf.pem"), readFile(t, dir, "leaf.key"), "", Options{})
	require.NoError(t, err)
	require.Equal(t, "ECDSA-SHA1", Info(m.Chain, time.Time{})[0].SigAlgName)
}

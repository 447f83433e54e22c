package certs

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/fuzzcorpus"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"
)

// The fuzz targets below get their seeds from testdata/fuzz/<target>/:
// files made by OpenSSL (keys encrypted and not, chains, PKCS#12 archives of
// every vintage), truncated and garbage variants, and crafted inputs that
// hit each limit. `go test` runs the seeds; `make fuzz` fuzzes;
// `go test -run TestWriteFuzzCorpus -update` regenerates the seeds.

// fuzzOptions is the clock of every fuzz target, so that a seed gives the
// same result whenever it runs.
func fuzzOptions(ignoreNewline bool) Options {
	return Options{Now: testNow, IgnoreNewline: ignoreNewline}
}

// checkCallerError asserts what the package documents for errors a caller's
// input causes: an InvalidArgument *keyplane.Error, with a message that is
// valid UTF-8, bounded by the size of the input and free of the password.
func checkCallerError(t *testing.T, err error, password string, inputs ...[]byte) {
	t.Helper()
	var e *keyplane.Error
	if !errors.As(err, &e) || e.Code != keyplane.InvalidArgument {
		t.Fatalf("error is not an InvalidArgument *keyplane.Error: %#v", err)
	}
	size := 0
	for _, in := range inputs {
		size += len(in)
	}
	if max := 4096 + 16*size; len(e.Message) > max {
		t.Fatalf("message is %d bytes, more than %d: %.300q", len(e.Message), max, e.Message)
	}
	if !utf8.ValidString(e.Message) {
		t.Fatalf("message is not valid UTF-8: %.300q", e.Message)
	}
	if len(password) >= 16 && strings.Contains(e.Message, password) {
		for _, in := range inputs {
			if bytes.Contains(in, []byte(password)) {
				return // the password is also, say, a certificate subject
			}
		}
		t.Fatalf("message contains the password: %q", e.Message)
	}
}

// checkMaterial asserts that accepted material is what the package
// promises: a chain of 1 to MaxChainLength certificates, each signed by the
// next, none expired at opt.Now unless allowed, a key that belongs to the
// leaf, and a form that survives storage and parses again.
func checkMaterial(t *testing.T, m *Material, opt Options) {
	t.Helper()
	if m == nil || len(m.Chain) == 0 || len(m.Chain) > MaxChainLength {
		t.Fatalf("material has a chain of %d certificates", len(m.Chain))
	}
	for i, c := range m.Chain {
		if i+1 < len(m.Chain) {
			if err := c.CheckSignatureFrom(m.Chain[i+1]); err != nil {
				t.Fatalf("certificate %d is not signed by certificate %d: %v", i+1, i+2, err)
			}
		}
		if !opt.IgnoreExpiry && opt.Now.After(c.NotAfter) {
			t.Fatalf("certificate %d expired on %v", i+1, c.NotAfter)
		}
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > MaxRSAKeyBits {
			t.Fatalf("certificate %d has a %d-bit RSA key", i+1, k.N.BitLen())
		}
	}
	wantType := keyplane.AliasTypeCert
	if m.Key != nil {
		wantType = keyplane.AliasTypeKeyCert
		if !publicKeysEqual(m.Chain[0].PublicKey, m.Key.Public()) {
			t.Fatal("the key does not belong to the leaf certificate")
		}
		der, err := MarshalKey(m.Key)
		if err != nil {
			t.Fatalf("MarshalKey: %v", err)
		}
		back, err := UnmarshalKey(der)
		if err != nil || !publicKeysEqual(back.Public(), m.Key.Public()) {
			t.Fatalf("UnmarshalKey(MarshalKey(key)) = %v, %v", back, err)
		}
	}
	if got := m.AliasType(); got != wantType {
		t.Fatalf("AliasType = %q, want %q", got, wantType)
	}
	stored := EncodeChain(m.Chain)
	back, err := DecodeChain(stored)
	if err != nil || len(back) != len(m.Chain) {
		t.Fatalf("DecodeChain(EncodeChain(chain)) = %d certificates, %v", len(back), err)
	}
	for i := range back {
		if !back[i].Equal(m.Chain[i]) {
			t.Fatalf("certificate %d changed in storage", i+1)
		}
	}
	if infos := Info(m.Chain, opt.Now); len(infos) != len(m.Chain) {
		t.Fatalf("Info describes %d certificates of %d", len(infos), len(m.Chain))
	}
	// What was accepted is accepted again as a plain PEM upload.
	var keyPEM []byte
	if m.Key != nil {
		keyPEM = pkcs8PEM(m.Key)
	}
	if _, err := ParseKeyCertFile(stored, keyPEM, "", Options{Now: opt.Now, IgnoreExpiry: opt.IgnoreExpiry}); err != nil {
		t.Fatalf("the accepted material does not parse again as PEM: %v", err)
	}
}

func FuzzParseKeyCertFile(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte(nil), "", false)
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte, password string, ignoreNewline bool) {
		opt := fuzzOptions(ignoreNewline)
		m, err := ParseKeyCertFile(certPEM, keyPEM, password, opt)
		if err != nil {
			if m != nil {
				t.Fatal("material and an error")
			}
			checkCallerError(t, err, password, certPEM, keyPEM)
			return
		}
		checkMaterial(t, m, opt)
		if len(keyPEM) == 0 && m.Key != nil {
			t.Fatal("a key without a keyFile")
		}
		if len(keyPEM) > 0 && m.Key == nil {
			t.Fatal("a keyFile without a key")
		}
		// ReplaceCertificate accepts the same chain for the same key.
		if _, err := ReplaceCertificate(certPEM, m.Key, opt); err != nil {
			t.Fatalf("ReplaceCertificate refuses what ParseKeyCertFile accepted: %v", err)
		}
	})
}

func FuzzParsePKCS12(f *testing.F) {
	f.Add([]byte("0\x80"), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		opt := fuzzOptions(false)
		m, err := ParsePKCS12(data, password, opt)
		if err != nil {
			if m != nil {
				t.Fatal("material and an error")
			}
			checkCallerError(t, err, password, data)
			return
		}
		checkMaterial(t, m, opt)
	})
}

// FuzzDecodeChain fuzzes the reader of stored chains: its input was
// validated when it was stored, so its errors are internal, but it must not
// panic on corrupt data either.
func FuzzDecodeChain(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := DecodeChain(data)
		if err != nil {
			if chain != nil {
				t.Fatal("a chain and an error")
			}
			if keyplane.ErrorCode(err) != keyplane.Internal {
				t.Fatalf("corrupt stored data is reported as a caller error: %v", err)
			}
			return
		}
		if len(chain) == 0 {
			t.Fatal("an empty chain without an error")
		}
		back, err := DecodeChain(EncodeChain(chain))
		if err != nil || len(back) != len(chain) {
			t.Fatalf("DecodeChain(EncodeChain(chain)) = %d certificates, %v", len(back), err)
		}
		for i := range chain {
			if !back[i].Equal(chain[i]) {
				t.Fatalf("certificate %d changed", i+1)
			}
		}
		_ = Info(chain, testNow)
	})
}

// FuzzUnmarshalKey fuzzes the reader of stored keys, whose errors are
// internal.
func FuzzUnmarshalKey(f *testing.F) {
	f.Add([]byte("0\x03\x02\x01\x00"))
	f.Fuzz(func(t *testing.T, der []byte) {
		key, err := UnmarshalKey(der)
		if err != nil {
			if key != nil {
				t.Fatal("a key and an error")
			}
			if keyplane.ErrorCode(err) != keyplane.Internal {
				t.Fatalf("a corrupt stored key is reported as a caller error: %v", err)
			}
			return
		}
		again, err := MarshalKey(key)
		if err != nil {
			t.Fatalf("MarshalKey of an unmarshalled key: %v", err)
		}
		back, err := UnmarshalKey(again)
		if err != nil || !publicKeysEqual(back.Public(), key.Public()) {
			t.Fatalf("the key does not survive a round trip: %v", err)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz with OpenSSL when the
// test binary runs with -update. Unlike the other packages' corpora these
// seeds hold freshly generated keys, so a plain run has nothing to compare
// them with and the test only runs on request.
func TestWriteFuzzCorpus(t *testing.T) {
	if !fuzzcorpus.Updating() {
		t.Skip("run with -update to regenerate testdata/fuzz")
	}
	require.NoError(t, os.RemoveAll(filepath.Join("testdata", "fuzz")))
	p := fixtures()
	dir := t.TempDir()
	ossl := func(args ...string) []byte { return openssl(t, dir, args...) }
	ext := func(name, text string) string { return writeFile(t, dir, name, []byte(text)) }
	ext("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
	ext("inter.ext", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
	ext("leaf.ext", "subjectAltName=DNS:fuzz.example.com,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")

	// An EC chain: root, intermediate, leaf (whose key file keeps the EC
	// PARAMETERS block "openssl ecparam -genkey" writes).
	ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root.key")
	ossl("req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=Fuzz Root/O=Keyplane", "-days", "3650",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")
	ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "inter.key")
	ossl("req", "-new", "-key", "inter.key", "-subj", "/CN=Fuzz Intermediate/O=Keyplane", "-out", "inter.csr")
	ossl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "2", "-days", "3650", "-extfile", "inter.ext", "-out", "inter.pem")
	ossl("ecparam", "-name", "prime256v1", "-genkey", "-out", "leaf.key")
	ossl("req", "-new", "-key", "leaf.key", "-subj", "/CN=fuzz.example.com/O=Example/C=US", "-out", "leaf.csr")
	ossl("x509", "-req", "-in", "leaf.csr", "-CA", "inter.pem", "-CAkey", "inter.key", "-set_serial", "3", "-days", "365", "-extfile", "leaf.ext", "-out", "leaf.pem")
	root, inter, leaf := readFile(t, dir, "root.pem"), readFile(t, dir, "inter.pem"), readFile(t, dir, "leaf.pem")
	chain := bytes.Join([][]byte{leaf, inter, root}, nil)
	leafKey := readFile(t, dir, "leaf.key")
	leafDES3 := ossl("pkcs8", "-topk8", "-in", "leaf.key", "-v2", "des3", "-v2prf", "hmacWithSHA1", "-passout", pass)
	leafPKCS8 := ossl("pkcs8", "-topk8", "-in", "leaf.key", "-nocrypt")
	leafIter := ossl("pkcs8", "-topk8", "-in", "leaf.key", "-v2", "aes128", "-iter", "3000000", "-passout", pass)

	// An RSA self-signed certificate, its key as "openssl genrsa -aes256"
	// writes it (PKCS#8, PBES2, AES-256) and in the legacy form.
	ossl("genrsa", "-aes256", "-passout", pass, "-out", "rsa.key", "2048")
	ossl("req", "-x509", "-key", "rsa.key", "-passin", pass, "-days", "30", "-subj", "/CN=rsa.example.com", "-out", "rsa.pem")
	rsaCert, rsaKey := readFile(t, dir, "rsa.pem"), readFile(t, dir, "rsa.key")
	rsaLegacy := ossl("rsa", "-in", "rsa.key", "-passin", pass, "-aes256", "-traditional", "-passout", pass)
	rsaPlain := ossl("rsa", "-in", "rsa.key", "-passin", pass, "-traditional")

	ossl("genpkey", "-algorithm", "ed25519", "-out", "ed.key")
	ossl("req", "-x509", "-key", "ed.key", "-days", "30", "-subj", "/CN=ed.example.com", "-out", "ed.pem")
	edCert, edKey := readFile(t, dir, "ed.pem"), readFile(t, dir, "ed.key")
	x25519 := ossl("genpkey", "-algorithm", "x25519")
	pubKey := ossl("pkey", "-in", "leaf.key", "-pubout")

	const kc = "FuzzParseKeyCertFile"
	fuzzcorpus.Write(t, kc, "openssl-ec-chain-sec1-ecparams", chain, leafKey, "", false)
	fuzzcorpus.Write(t, kc, "openssl-ec-chain-pkcs8-des3", chain, leafDES3, testPassword, false)
	fuzzcorpus.Write(t, kc, "openssl-ec-pkcs8-unencrypted", bytes.Join([][]byte{leaf, inter}, nil), leafPKCS8, "", false)
	fuzzcorpus.Write(t, kc, "openssl-ec-iterations-over-cap", leaf, leafIter, testPassword, false)
	fuzzcorpus.Write(t, kc, "openssl-rsa-genrsa-aes256", rsaCert, rsaKey, testPassword, false)
	fuzzcorpus.Write(t, kc, "openssl-rsa-genrsa-aes256-wrong-password", rsaCert, rsaKey, "wrong", false)
	fuzzcorpus.Write(t, kc, "openssl-rsa-legacy-pem-aes256", rsaCert, rsaLegacy, testPassword, false)
	fuzzcorpus.Write(t, kc, "openssl-rsa-pkcs1", rsaCert, rsaPlain, "", false)
	fuzzcorpus.Write(t, kc, "openssl-ed25519", edCert, edKey, "", false)
	fuzzcorpus.Write(t, kc, "openssl-x25519-key", edCert, x25519, "", false)
	fuzzcorpus.Write(t, kc, "openssl-public-key-as-key", leaf, pubKey, "", false)
	fuzzcorpus.Write(t, kc, "key-mismatch", chain, rsaPlain, "", false)
	fuzzcorpus.Write(t, kc, "chain-crlf-bom", append([]byte("\xef\xbb\xbf"), bytes.ReplaceAll(chain, []byte("\n"), []byte("\r\n"))...), leafKey, "", false)
	fuzzcorpus.Write(t, kc, "chain-glued-ignore-newline", bytes.ReplaceAll(chain, []byte("-----\n-----BEGIN"), []byte("----------BEGIN")), nil, "", true)
	fuzzcorpus.Write(t, kc, "chain-glued-strict", bytes.ReplaceAll(chain, []byte("-----\n-----BEGIN"), []byte("----------BEGIN")), nil, "", false)
	fuzzcorpus.Write(t, kc, "chain-root-first", bytes.Join([][]byte{root, inter, leaf}, nil), nil, "", false)
	fuzzcorpus.Write(t, kc, "chain-truncated", chain[:len(chain)/2], nil, "", false)
	fuzzcorpus.Write(t, kc, "chain-eleven", bytes.Repeat(root, 11), nil, "", false)
	fuzzcorpus.Write(t, kc, "der-certificate", p.ecLeaf.Raw, nil, "", false)
	fuzzcorpus.Write(t, kc, "garbage", []byte("hello, world\n"), []byte("\x00\x01\x02"), "", false)
	fuzzcorpus.Write(t, kc, "expired", certsPEM(p.expired, p.inter), sec1PEM(p.expiredKey), "", false)
	fuzzcorpus.Write(t, kc, "rsa-key-huge-prime", rsaCert, pemBytes("RSA PRIVATE KEY", craftedRSAKey(t, 9000, 5)), "", false)
	fuzzcorpus.Write(t, kc, "rsa-certificate-huge-key", certsPEM(craftedRSACertificate(t, MaxRSAKeyBits+8)), nil, "", false)

	// PKCS#12 files.
	writeFile(t, dir, "cas.pem", bytes.Join([][]byte{inter, root}, nil))
	export := func(name string, extra ...string) []byte {
		args := append([]string{"pkcs12", "-export", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "cas.pem", "-out", name}, extra...)
		ossl(args...)
		return readFile(t, dir, name)
	}
	const pk = "FuzzParsePKCS12"
	modern := export("modern.p12", "-passout", pass)
	fuzzcorpus.Write(t, pk, "openssl-modern", modern, testPassword)
	fuzzcorpus.Write(t, pk, "openssl-modern-wrong-password", modern, "wrong")
	fuzzcorpus.Write(t, pk, "openssl-modern-truncated", modern[:len(modern)/2], testPassword)
	fuzzcorpus.Write(t, pk, "openssl-3des-sha1-mac", export("classic.p12", "-passout", pass, "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"), testPassword)
	fuzzcorpus.Write(t, pk, "openssl-empty-password", export("empty.p12", "-passout", "pass:"), "")
	fuzzcorpus.Write(t, pk, "openssl-no-mac", export("nomac.p12", "-passout", pass, "-nomac"), testPassword)
	fuzzcorpus.Write(t, pk, "openssl-iterations-over-cap", export("iter.p12", "-passout", pass, "-iter", "2500000"), testPassword)
	ossl("pkcs12", "-export", "-nokeys", "-in", "leaf.pem", "-certfile", "cas.pem", "-passout", pass, "-out", "nokeys.p12")
	fuzzcorpus.Write(t, pk, "openssl-no-keys-untrusted", readFile(t, dir, "nokeys.p12"), testPassword)
	fuzzcorpus.Write(t, pk, "go-legacy-rc2", must(pkcs12.LegacyRC2.Encode(p.ecLeafKey, p.ecLeaf, []*x509.Certificate{p.inter}, testPassword)), testPassword)
	fuzzcorpus.Write(t, pk, "go-pbmac1", must(pkcs12.Modern2026.Encode(p.edLeafKey, p.edLeaf, nil, testPassword)), testPassword)
	fuzzcorpus.Write(t, pk, "go-truststore", must(pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{p.ecLeaf, p.inter}, testPassword)), testPassword)
	certs := p12DataSafe(t, p12CertBag(p.ecLeaf))
	ecKey := must(x509.MarshalPKCS8PrivateKey(p.ecLeafKey))
	fuzzcorpus.Write(t, pk, "crafted-3des", craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Shrouded(t, ecKey, testPassword, 1))), testPassword)
	fuzzcorpus.Write(t, pk, "crafted-mac-iterations", craftPFX(t, testPassword, 1<<31-1, certs), testPassword)
	fuzzcorpus.Write(t, pk, "crafted-rsa-huge-prime", craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Shrouded(t,
		must(asn1.Marshal(pkcs8Shape{Algo: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, PrivateKey: craftedRSAKey(t, 9000, 5)})),
		testPassword, 1))), testPassword)
	fuzzcorpus.Write(t, pk, "openssl-legacy-rc2", export("legacy.p12", "-passout", pass, "-legacy"), testPassword)
	writeRC2Seeds(t, certs, ecKey)
	fuzzcorpus.Write(t, pk, "der-certificate", p.ecLeaf.Raw, "")
	fuzzcorpus.Write(t, pk, "pem-text", leaf, "")
	fuzzcorpus.Write(t, pk, "garbage", []byte("definitely not a PKCS#12 file"), "x")

	const dc = "FuzzDecodeChain"
	fuzzcorpus.Write(t, dc, "stored-chain", EncodeChain(must(DecodeChain(chain))))
	fuzzcorpus.Write(t, dc, "crlf", bytes.ReplaceAll(chain, []byte("\n"), []byte("\r\n")))
	fuzzcorpus.Write(t, dc, "key-block", append(bytes.Clone(leaf), leafPKCS8...))
	fuzzcorpus.Write(t, dc, "truncated", chain[:len(chain)-30])
	fuzzcorpus.Write(t, dc, "empty", []byte{})

	const uk = "FuzzUnmarshalKey"
	fuzzcorpus.Write(t, uk, "openssl-ec", ossl("pkcs8", "-topk8", "-in", "leaf.key", "-nocrypt", "-outform", "DER"))
	fuzzcorpus.Write(t, uk, "openssl-rsa", ossl("pkcs8", "-topk8", "-in", "rsa.key", "-passin", pass, "-nocrypt", "-outform", "DER"))
	fuzzcorpus.Write(t, uk, "openssl-ed25519", ossl("pkcs8", "-topk8", "-in", "ed.key", "-nocrypt", "-outform", "DER"))
	fuzzcorpus.Write(t, uk, "openssl-x25519", ossl("pkey", "-in", writeFile(t, dir, "x25519.key", x25519), "-outform", "DER"))
	fuzzcorpus.Write(t, uk, "pkcs1-not-pkcs8", x509.MarshalPKCS1PrivateKey(p.leafKey))
	fuzzcorpus.Write(t, uk, "truncated", must(MarshalKey(p.ecLeafKey))[:40])
}

// writeRC2Seeds writes the FuzzParsePKCS12 seeds of keys hidden in a
// section encrypted with RC2; certs is a data section of certificates,
// ecKey PKCS#8 DER.
func writeRC2Seeds(t *testing.T, certs, ecKey []byte) {
	const pk = "FuzzParsePKCS12"
	var certBags []byte
	var ci p12ContentInfo
	must(asn1.Unmarshal(certs, &ci))
	must(asn1.Unmarshal(ci.Content.Bytes, &certBags))
	bags, _ := p12Sequence(certBags, maxP12Bags)
	rc2 := func(key p12Bag) []byte {
		return craftPFX(t, testPassword, 1, p12EncryptedSafe(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), testPassword,
			p12SafeContents(append(bags, must(asn1.Marshal(key)))...)))
	}
	fuzzcorpus.Write(t, pk, "crafted-rc2-key-inside", rc2(p12ShroudedWith(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), ecKey, testPassword)), testPassword)
	slow := p12Shrouded(t, ecKey, testPassword, 1)
	var info encryptedPrivateKeyInfo
	must(asn1.Unmarshal(slow.Value.Bytes, &info))
	info.Algorithm = p12PBEAlgWithIterations(info.Algorithm, 1<<31-1)
	slow.Value = explicit0(must(asn1.Marshal(info)))
	fuzzcorpus.Write(t, pk, "crafted-rc2-key-iterations", rc2(slow), testPassword)
	fuzzcorpus.Write(t, pk, "crafted-rc2-rsa-huge-prime", rc2(p12ShroudedWith(t, p12PBEAlg(oidPBEWithSHA1And128RC2, 1),
		must(asn1.Marshal(pkcs8Shape{Algo: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, PrivateKey: craftedRSAKey(t, 9000, 5)})),
		testPassword)), testPassword)
}

package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"
)

// The limits of limits.go, each shown to refuse its input before the
// expensive work it guards: parsing, key derivation, prime checks.

// quickLimit is the time requireQuick allows. The work the limits under
// test stop (a million-iteration key derivation per bag, megabytes parsed
// for nothing) costs tens of seconds; what they leave costs milliseconds.
// The limit sits between, far enough from both that a machine busy with
// the rest of the suite does not fail a check whose point is the order of
// magnitude.
const quickLimit = 5 * time.Second

// requireQuick runs f, fails unless it took less than quickLimit and
// allocated less than maxAlloc bytes, and returns its error. Tests that use
// it are not parallel, so that the memory they measure is their own.
func requireQuick(t *testing.T, maxAlloc uint64, f func() error) error {
	t.Helper()
	limit := quickLimit
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	require.Less(t, elapsed, limit, "time taken")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, maxAlloc, "bytes allocated")
	return err
}

func TestLimits_OversizedInputsAreRefusedBeforeParsing(t *testing.T) {
	big := bytes.Repeat([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), 2*MaxInputSize/55)
	key := bytes.Repeat([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"), 2*MaxInputSize/55)
	cert := certsPEM(fixtures().root)

	err := requireQuick(t, 64<<10, func() error {
		_, err := ParseKeyCertFile(big, nil, "", opts())
		return err
	})
	requireInvalid(t, err, fmt.Sprintf("certFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)))

	err = requireQuick(t, 64<<10, func() error {
		_, err := ParseKeyCertFile(cert, key, "", opts())
		return err
	})
	requireInvalid(t, err, fmt.Sprintf("keyFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(key)))

	err = requireQuick(t, 64<<10, func() error {
		_, err := ParsePKCS12(big, testPassword, opts())
		return err
	})
	requireInvalid(t, err, fmt.Sprintf("file is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)))

	_, err = ReplaceCertificate(big, nil, opts())
	requireInvalid(t, err, fmt.Sprintf("certFile is %d bytes, more than the limit of 1048576 bytes (1 MiB)", len(big)))
}

func TestLimits_LongChainIsRefusedBeforeItsCertificatesAreParsed(t *testing.T) {
	// 9000 blocks within 1 MiB: refused by counting, without parsing
	// 9000 certificates.
	root := certsPEM(fixtures().root)
	n := MaxInputSize / len(root)
	many := bytes.Repeat(root, n)
	err := requireQuick(t, 16<<20, func() error {
		_, err := ParseKeyCertFile(many, nil, "", opts())
		return err
	})
	requireInvalid(t, err, fmt.Sprintf("certFile holds %d certificates, more than the limit of 10", n))
}

func TestLimits_PBKDF2IterationsOverTheCapAreRefusedQuickly(t *testing.T) {
	p := fixtures()
	keyPEM := withIterations(t, encryptedPKCS8PEM(t, p.leafKey, testPassword, pbes2AES128SHA1), 1000, 1<<31-1)
	err := requireQuick(t, 1<<20, func() error {
		_, err := ParseKeyCertFile(certsPEM(p.leaf, p.inter), keyPEM, testPassword, opts())
		return err
	})
	requireInvalid(t, err, "keyFile is encrypted with a PBKDF2 iteration count of 2147483647; keyplane accepts 1 to 2000000")
}

func TestLimits_HugeRSAPrivateKeysAreRefusedBeforeValidation(t *testing.T) {
	cert := certsPEM(fixtures().leaf)
	tests := []struct {
		name         string
		pBits, qBits int
		want         string
	}{
		// Without the checks, crypto/x509 spends minutes to years on these.
		{"modulus over the cap", 40000, 40000, "keyFile holds a 80000-bit RSA key, more than the limit of 16384 bits"},
		{"unbalanced primes", 16000, 3, "keyFile holds a malformed RSA key: a prime is larger than 8192 bits"},
	}
	for _, tt := range tests {
		der := craftedRSAKey(t, tt.pBits, tt.qBits)
		for _, keyPEM := range [][]byte{
			pemBytes("RSA PRIVATE KEY", der),
			pemBytes("PRIVATE KEY", must(asn1.Marshal(pkcs8Shape{Algo: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, PrivateKey: der}))),
		} {
			err := requireQuick(t, 4<<20, func() error {
				_, err := ParseKeyCertFile(cert, keyPEM, "", opts())
				return err
			})
			requireInvalid(t, err, tt.want)
		}
	}
}

func TestLimits_HugeRSACertificateKeysAreRefused(t *testing.T) {
	p := fixtures()
	huge := craftedRSACertificate(t, 40000)
	err := requireQuick(t, 4<<20, func() error {
		_, err := ParseKeyCertFile(certsPEM(p.leaf, huge), nil, "", opts())
		return err
	})
	requireInvalid(t, err, "certFile: certificate 2 has a 40000-bit RSA key, more than the limit of 16384 bits")

	data := must(pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{huge}, testPassword))
	_, err = ParsePKCS12(data, testPassword, opts())
	requireInvalid(t, err, `file (PKCS#12): certificate "CN=huge" has a 40000-bit RSA key, more than the limit of 16384 bits`)

	// The largest key Java accepts is accepted.
	_, err = ParseKeyCertFile(certsPEM(craftedRSACertificate(t, MaxRSAKeyBits)), nil, "", opts())
	require.NoError(t, err)
}

func TestLimits_PKCS12WorkIsBoundedBeforeGoPKCS12Runs(t *testing.T) {
	p := fixtures()
	leafKey := must(x509.MarshalPKCS8PrivateKey(p.ecLeafKey))
	rsaPKCS8 := func(der []byte) []byte {
		return must(asn1.Marshal(pkcs8Shape{Algo: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, PrivateKey: der}))
	}
	certs := p12DataSafe(t, p12CertBag(p.ecLeaf), p12CertBag(p.inter))

	// The crafted files are well formed: with sane parameters go-pkcs12
	// reads them, so the refusals below are the limits at work.
	good := craftPFX(t, testPassword, 2048, certs, p12DataSafe(t, p12Shrouded(t, leafKey, testPassword, 2048)))
	m, err := ParsePKCS12(good, testPassword, opts())
	require.NoError(t, err)
	require.Equal(t, []*x509.Certificate{p.ecLeaf, p.inter}, m.Chain)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{
			name: "MAC iterations",
			data: craftPFX(t, testPassword, 1<<31-1, certs, p12DataSafe(t, p12Shrouded(t, leafKey, testPassword, 2048))),
			want: "file (PKCS#12) protects its integrity check (MAC) with an iteration count of 2147483647; keyplane accepts at most 2000000",
		},
		{
			name: "key encryption iterations",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, func() p12Bag {
				b := p12Shrouded(t, leafKey, testPassword, 1)
				var info encryptedPrivateKeyInfo
				must(asn1.Unmarshal(b.Value.Bytes, &info))
				info.Algorithm.Parameters.FullBytes = must(asn1.Marshal(p12PBEParams{[]byte("saltsalt"), 1 << 40}))
				b.Value = explicit0(must(asn1.Marshal(info)))
				return b
			}())),
			want: "file (PKCS#12) protects its private key with an iteration count of 1099511627776; keyplane accepts at most 2000000",
		},
		{
			name: "3DES-encrypted RSA key over the cap",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Shrouded(t, rsaPKCS8(craftedRSAKey(t, 20000, 20000)), testPassword, 1))),
			want: "file (PKCS#12) holds a 40000-bit RSA key, more than the limit of 16384 bits",
		},
		{
			name: "3DES-encrypted RSA key with a huge prime",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Shrouded(t, rsaPKCS8(craftedRSAKey(t, 16000, 3)), testPassword, 1))),
			want: "file (PKCS#12) holds a malformed RSA key: a prime is larger than 8192 bits",
		},
		{
			name: "unencrypted RSA key bag over the cap",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Bag{ID: oidKeyBag, Value: explicit0(rsaPKCS8(craftedRSAKey(t, 20000, 20000)))})),
			want: "file (PKCS#12) holds a 40000-bit RSA key, more than the limit of 16384 bits",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireQuick(t, 8<<20, func() error {
				_, err := ParsePKCS12(tt.data, testPassword, opts())
				return err
			})
			requireInvalid(t, err, tt.want)
		})
	}
}

// requireLooksInside asserts that the decryption of checkPKCS12Work opens
// every encrypted section and key of a file, and that the key is want.
func requireLooksInside(t *testing.T, name string, data []byte, password string, want crypto.Signer) {
	t.Helper()
	seen := 0
	for _, ci := range p12Sections(t, data) {
		var plain []byte
		if ci.ContentType.Equal(oidEncryptedData) {
			var ed p12EncryptedData
			must(asn1.Unmarshal(ci.Content.Bytes, &ed))
			out := p12Decrypt(ed.Info.Algorithm, ed.Info.Content, password)
			require.NotEmpty(t, out, "%s: the certificates safe (%s) decrypts", name, ed.Info.Algorithm.Algorithm)
			plain = out[0]
		} else {
			must(asn1.Unmarshal(ci.Content.Bytes, &plain))
		}
		var bags []p12SafeBag
		must(asn1.Unmarshal(plain, &bags))
		for _, b := range bags {
			if !b.ID.Equal(oidShroudedKeyBag) {
				continue
			}
			var info encryptedPrivateKeyInfo
			must(asn1.Unmarshal(b.Value.Bytes, &info))
			out := p12Decrypt(info.Algorithm, info.EncryptedData, password)
			require.NotEmpty(t, out, "%s: the key (%s) decrypts", name, info.Algorithm.Algorithm)
			key, err := x509.ParsePKCS8PrivateKey(out[0])
			require.NoError(t, err, name)
			require.True(t, publicKeysEqual(key.(crypto.Signer).Public(), want.Public()), name)
			seen++
		}
	}
	require.Equal(t, 1, seen, "%s: one key seen", name)
}

func TestCheckPKCS12Work_LooksInsideWhatToolsWrite(t *testing.T) {
	p := fixtures()
	for name, enc := range map[string]*pkcs12.Encoder{"3DES": pkcs12.LegacyDES, "RC2": pkcs12.LegacyRC2, "PBES2": pkcs12.Modern2023} {
		for _, password := range []string{testPassword, ""} {
			data := must(enc.Encode(p.leafKey, p.leaf, []*x509.Certificate{p.inter}, password))
			requireLooksInside(t, name, data, password, p.leafKey)
		}
	}
}

// OpenSSL's -legacy files, and Java's and OpenSSL 1.x's by default, encrypt
// the certificates with RC2. go-pkcs12 reads a key bag in any section, so
// one moved among those certificates must be checked like the others.
func TestLimits_PKCS12KeyInRC2EncryptedSafeIsChecked(t *testing.T) {
	p := fixtures()
	dir := t.TempDir()
	writeFile(t, dir, "leaf.pem", certsPEM(p.leaf))
	writeFile(t, dir, "leaf.key", pkcs1PEM(p.leafKey))
	writeFile(t, dir, "cas.pem", certsPEM(p.inter))
	openssl(t, dir, "pkcs12", "-export", "-legacy", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "cas.pem",
		"-passout", pass, "-out", "legacy.p12")
	legacy := readFile(t, dir, "legacy.p12")

	// The file holds the certificates encrypted with 40-bit RC2, and the
	// key, encrypted with 3DES, in a section of its own.
	safes := p12Sections(t, legacy)
	require.Len(t, safes, 2)
	require.True(t, safes[0].ContentType.Equal(oidEncryptedData))
	var ed p12EncryptedData
	must(asn1.Unmarshal(safes[0].Content.Bytes, &ed))
	rc2 := ed.Info.Algorithm
	require.True(t, rc2.Algorithm.Equal(oidPBEWithSHA1And40RC2), "certificates encrypted with %s", rc2.Algorithm)
	plain := p12Decrypt(rc2, ed.Info.Content, testPassword)
	require.Len(t, plain, 1, "the RC2 section decrypts")
	certBags, _ := p12Sequence(plain[0], maxP12Bags)
	require.Len(t, certBags, 2)
	require.True(t, safes[1].ContentType.Equal(oidData))
	var keySafe []byte
	must(asn1.Unmarshal(safes[1].Content.Bytes, &keySafe))
	keyBags, _ := p12Sequence(keySafe, maxP12Bags)
	require.Len(t, keyBags, 1)
	var keyBag p12Bag
	must(asn1.Unmarshal(keyBags[0], &keyBag))
	require.True(t, keyBag.ID.Equal(oidShroudedKeyBag))

	// rc2File re-encodes the file with one section, encrypted with RC2 as
	// OpenSSL encrypted the certificates, that holds them and key.
	rc2File := func(alg pkix.AlgorithmIdentifier, key []byte) []byte {
		return craftPFX(t, testPassword, 2048, p12EncryptedSafe(t, alg, testPassword, p12SafeContents(certBags[0], certBags[1], key)))
	}

	// As OpenSSL wrote it, and with the key moved: both are read, so the
	// refusals below are the checks at work.
	for name, data := range map[string][]byte{
		"openssl -legacy":                  legacy,
		"key in the 40-bit RC2 section":    rc2File(rc2, keyBags[0]),
		"key in a 128-bit RC2 section":     rc2File(p12PBEAlg(oidPBEWithSHA1And128RC2, 2048), keyBags[0]),
		"RC2-encrypted key in RC2 section": rc2File(rc2, must(asn1.Marshal(p12ShroudedWith(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 2048), must(x509.MarshalPKCS8PrivateKey(p.leafKey)), testPassword)))),
	} {
		m, err := ParsePKCS12(data, testPassword, opts())
		require.NoError(t, err, name)
		require.Equal(t, []*x509.Certificate{p.leaf, p.inter}, m.Chain, name)
		require.True(t, publicKeysEqual(p.leafKey.Public(), m.Key.Public()), name)
		requireLooksInside(t, name, data, testPassword, p.leafKey)
	}

	rsaPKCS8 := func(der []byte) []byte {
		return must(asn1.Marshal(pkcs8Shape{Algo: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, PrivateKey: der}))
	}
	var info encryptedPrivateKeyInfo
	must(asn1.Unmarshal(keyBag.Value.Bytes, &info))
	info.Algorithm = p12PBEAlgWithIterations(info.Algorithm, 1<<31-1)
	slowKey := must(asn1.Marshal(p12Bag{ID: oidShroudedKeyBag, Value: explicit0(must(asn1.Marshal(info)))}))

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{
			name: "key iterations",
			data: rc2File(rc2, slowKey),
			want: "file (PKCS#12) protects its private key with an iteration count of 2147483647; keyplane accepts at most 2000000",
		},
		{
			name: "key iterations, 128-bit RC2",
			data: rc2File(p12PBEAlg(oidPBEWithSHA1And128RC2, 2048), slowKey),
			want: "file (PKCS#12) protects its private key with an iteration count of 2147483647; keyplane accepts at most 2000000",
		},
		{
			name: "unencrypted RSA key over the cap",
			data: rc2File(rc2, must(asn1.Marshal(p12Bag{ID: oidKeyBag, Value: explicit0(rsaPKCS8(craftedRSAKey(t, 20000, 20000)))}))),
			want: "file (PKCS#12) holds a 40000-bit RSA key, more than the limit of 16384 bits",
		},
		{
			name: "RC2-encrypted RSA key with a huge prime",
			data: rc2File(rc2, must(asn1.Marshal(p12ShroudedWith(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), rsaPKCS8(craftedRSAKey(t, 16000, 3)), testPassword)))),
			want: "file (PKCS#12) holds a malformed RSA key: a prime is larger than 8192 bits",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireQuick(t, 8<<20, func() error {
				_, err := ParsePKCS12(tt.data, testPassword, opts())
				return err
			})
			requireInvalid(t, err, tt.want)
		})
	}
}

// Each section, and each key, can cost checkPKCS12Work a key derivation of
// up to maxPBKDF2Iterations; their numbers are bounded too.
func TestLimits_PKCS12WalkIsBounded(t *testing.T) {
	p := fixtures()
	certs := p12DataSafe(t, p12CertBag(p.ecLeaf), p12CertBag(p.inter))
	ecKey := must(x509.MarshalPKCS8PrivateKey(p.ecLeafKey))

	// A section or key encrypted with 1 iteration and labelled with 1
	// million: it no longer decrypts, but costs as much to try.
	const slow = 1_000_000
	slowSafe := func() []byte {
		safe := p12EncryptedSafe(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), testPassword, p12SafeContents())
		var ci p12ContentInfo
		must(asn1.Unmarshal(safe, &ci))
		var ed p12EncryptedData
		must(asn1.Unmarshal(ci.Content.Bytes, &ed))
		ed.Info.Algorithm = p12PBEAlgWithIterations(ed.Info.Algorithm, slow)
		return must(asn1.Marshal(struct {
			Type    asn1.ObjectIdentifier
			Content asn1.RawValue
		}{oidEncryptedData, explicit0(must(asn1.Marshal(ed)))}))
	}()
	slowKey := func() p12Bag {
		b := p12Shrouded(t, ecKey, testPassword, 1)
		var info encryptedPrivateKeyInfo
		must(asn1.Unmarshal(b.Value.Bytes, &info))
		info.Algorithm = p12PBEAlgWithIterations(info.Algorithm, slow)
		b.Value = explicit0(must(asn1.Marshal(info)))
		return b
	}()
	repeat := func(b p12Bag, n int) []p12Bag {
		out := make([]p12Bag, n)
		for i := range out {
			out[i] = b
		}
		return out
	}
	sections := make([][]byte, 200)
	for i := range sections {
		sections[i] = slowSafe
	}

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{
			name: "200 encrypted sections",
			data: craftPFX(t, testPassword, 1, sections...),
			want: "file is a PKCS#12 archive keyplane cannot read: it has more than 2 sections (SafeContents)",
		},
		{
			name: "three sections",
			data: craftPFX(t, testPassword, 1, certs, certs, certs),
			want: "file is a PKCS#12 archive keyplane cannot read: it has more than 2 sections (SafeContents)",
		},
		{
			name: "60 encrypted keys",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, repeat(slowKey, 60)...)),
			want: "file (PKCS#12) holds more than one private key; it must hold exactly one",
		},
		{
			name: "two keys",
			data: craftPFX(t, testPassword, 1, certs, p12DataSafe(t, p12Shrouded(t, ecKey, testPassword, 1), p12Bag{ID: oidKeyBag, Value: explicit0(ecKey)})),
			want: "file (PKCS#12) holds more than one private key; it must hold exactly one",
		},
		{
			name: "65 bags",
			data: craftPFX(t, testPassword, 1, p12DataSafe(t, repeat(p12CertBag(p.inter), maxP12Bags-1)...), p12DataSafe(t, p12CertBag(p.ecLeaf), p12Shrouded(t, ecKey, testPassword, 1))),
			want: "file (PKCS#12) holds more entries (SafeBags) than the limit of 64",
		},
		{
			name: "65 bags in an RC2 section",
			data: craftPFX(t, testPassword, 1, p12EncryptedSafe(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), testPassword,
				must(asn1.Marshal(repeat(p12CertBag(p.inter), maxP12Bags+1))))),
			want: "file (PKCS#12) holds more entries (SafeBags) than the limit of 64",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireQuick(t, 8<<20, func() error {
				_, err := ParsePKCS12(tt.data, testPassword, opts())
				return err
			})
			requireInvalid(t, err, tt.want)
		})
	}

	// At the limits, files are read: this one is refused for its 62
	// certificates once go-pkcs12 has read them all.
	atLimits := craftPFX(t, testPassword, 1,
		p12DataSafe(t, repeat(p12CertBag(p.inter), maxP12Bags-2)...),
		p12EncryptedSafe(t, p12PBEAlg(oidPBEWithSHA1And40RC2, 1), testPassword,
			must(asn1.Marshal([]p12Bag{p12CertBag(p.ecLeaf), p12Shrouded(t, ecKey, testPassword, 1)}))))
	require.NoError(t, checkPKCS12Work(atLimits, testPassword))
	_, err := ParsePKCS12(atLimits, testPassword, opts())
	requireInvalid(t, err, "file (PKCS#12) holds 63 certificates, more than the limit of 10")
}

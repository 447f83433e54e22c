package certs

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/fuzzcorpus"
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
	wantType := api.AliasTypeCert
	if m.Key != nil {
		wantType = api.AliasTypeKeyCert
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

// ---------------------------------------------------------------- limits

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

// craftedRSAKey returns PKCS#1 DER of an RSA key whose modulus is the
// product of a pBits-bit number and a qBits-bit number: what an attacker
// writes to make validation slow. It is built with encoding/asn1, since
// crypto/x509 would do the slow arithmetic to marshal it.
func craftedRSAKey(t testing.TB, pBits, qBits int) []byte {
	t.Helper()
	odd := func(bits int) *big.Int {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		require.NoError(t, err)
		return n.SetBit(n, bits-1, 1).SetBit(n, bits-2, 1).SetBit(n, 0, 1)
	}
	p, q := odd(pBits), odd(qBits)
	n := new(big.Int).Mul(p, q)
	der, err := asn1.Marshal(struct {
		Version      int
		N            *big.Int
		E            int
		D, P, Q      *big.Int
		Dp, Dq, Qinv *big.Int
	}{N: n, E: 65537, D: big.NewInt(3), P: p, Q: q, Dp: big.NewInt(1), Dq: big.NewInt(1), Qinv: big.NewInt(1)})
	require.NoError(t, err)
	return der
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

// craftedRSACertificate returns a certificate whose RSA key has a modulus
// of the given size, signed by an EC key: crypto/x509 parses it, and
// checking a signature against it costs time in proportion to the square
// of the size.
func craftedRSACertificate(t testing.TB, bits int) *x509.Certificate {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	require.NoError(t, err)
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	signer := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	template := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "huge"},
		NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(1, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return mkCert(template, nil, &rsa.PublicKey{N: n, E: 65537}, signer)
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

// p12Bag is a SafeBag to encode.
type p12Bag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"tag:0,explicit"`
}

func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

// p12DataSafe returns a ContentInfo of type data holding bags.
func p12DataSafe(t testing.TB, bags ...p12Bag) []byte {
	t.Helper()
	inner := must(asn1.Marshal(must(asn1.Marshal(bags))))
	return must(asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidData, explicit0(inner)}))
}

// p12Shrouded encrypts PKCS#8 DER as a shrouded key bag with
// PBE-SHA1-3DES, as OpenSSL 1.x and Windows do.
func p12Shrouded(t testing.TB, pkcs8DER []byte, password string, iterations int) p12Bag {
	t.Helper()
	return p12ShroudedWith(t, p12PBEAlg(oidPBEWithSHA1And3D, iterations), pkcs8DER, password)
}

// p12ShroudedWith encrypts PKCS#8 DER as a shrouded key bag with alg, a
// PKCS#12 PBE scheme (3DES or RC2).
func p12ShroudedWith(t testing.TB, alg pkix.AlgorithmIdentifier, pkcs8DER []byte, password string) p12Bag {
	t.Helper()
	info := encryptedPrivateKeyInfo{Algorithm: alg, EncryptedData: p12PBEEncrypt(t, alg, password, pkcs8DER)}
	return p12Bag{ID: oidShroudedKeyBag, Value: explicit0(must(asn1.Marshal(info)))}
}

// p12PBEAlg returns the AlgorithmIdentifier of a PKCS#12 PBE scheme, with a
// random salt.
func p12PBEAlg(oid asn1.ObjectIdentifier, iterations int) pkix.AlgorithmIdentifier {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	return pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(p12PBEParams{salt, iterations}))}}
}

// p12PBEAlgWithIterations returns alg with its iteration count replaced:
// what a file crafted to be slow carries, without the test paying for the
// key derivation.
func p12PBEAlgWithIterations(alg pkix.AlgorithmIdentifier, iterations int) pkix.AlgorithmIdentifier {
	var params p12PBEParams
	must(asn1.Unmarshal(alg.Parameters.FullBytes, &params))
	params.Iterations = iterations
	alg.Parameters = asn1.RawValue{FullBytes: must(asn1.Marshal(params))}
	return alg
}

// p12PBEEncrypt encrypts plain under password with alg, a PKCS#12 PBE
// scheme, as go-pkcs12 and OpenSSL do.
func p12PBEEncrypt(t testing.TB, alg pkix.AlgorithmIdentifier, password string, plain []byte) []byte {
	t.Helper()
	newCipher, keyLen := p12PBECipher(alg.Algorithm)
	require.NotNil(t, newCipher, "a PKCS#12 PBE scheme")
	var params p12PBEParams
	must(asn1.Unmarshal(alg.Parameters.FullBytes, &params))
	pw := bmpString(password)
	block := must(newCipher(pkcs12KDF(pw, params.Salt, 1, params.Iterations, keyLen)))
	pad := block.BlockSize() - len(plain)%block.BlockSize()
	plain = append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, pkcs12KDF(pw, params.Salt, 2, params.Iterations, block.BlockSize())).CryptBlocks(enc, plain)
	return enc
}

// p12EncryptedSafe returns a ContentInfo of type encryptedData holding
// SafeContents DER encrypted with alg, a PKCS#12 PBE scheme: the section
// legacy files keep their certificates in.
func p12EncryptedSafe(t testing.TB, alg pkix.AlgorithmIdentifier, password string, safeContents []byte) []byte {
	t.Helper()
	var ed p12EncryptedData
	ed.Info.ContentType = oidData
	ed.Info.Algorithm = alg
	ed.Info.Content = p12PBEEncrypt(t, alg, password, safeContents)
	return must(asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidEncryptedData, explicit0(must(asn1.Marshal(ed)))}))
}

// p12SafeContents returns SafeContents DER holding bags, each a SafeBag as
// DER.
func p12SafeContents(bags ...[]byte) []byte {
	raw := make([]asn1.RawValue, len(bags))
	for i, b := range bags {
		raw[i] = asn1.RawValue{FullBytes: b}
	}
	return must(asn1.Marshal(raw))
}

// craftPFX assembles a PKCS#12 file from ContentInfo DER, with a SHA-1 MAC
// of macIterations iterations; the MAC is computed only for counts that
// keep the test fast, since the file is meant to be refused before.
func craftPFX(t testing.TB, password string, macIterations int, safes ...[]byte) []byte {
	t.Helper()
	raw := make([]asn1.RawValue, len(safes))
	for i, s := range safes {
		raw[i] = asn1.RawValue{FullBytes: s}
	}
	authSafe := must(asn1.Marshal(raw))
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	digest := make([]byte, sha1.Size)
	if macIterations <= 100_000 {
		mac := hmac.New(sha1.New, pkcs12KDF(bmpString(password), salt, 3, macIterations, sha1.Size))
		mac.Write(authSafe)
		digest = mac.Sum(nil)
	}
	type digestInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	return must(asn1.Marshal(struct {
		Version  int
		AuthSafe struct {
			Type    asn1.ObjectIdentifier
			Content asn1.RawValue
		}
		MacData struct {
			Mac        digestInfo
			MacSalt    []byte
			Iterations int
		}
	}{
		Version: 3,
		AuthSafe: struct {
			Type    asn1.ObjectIdentifier
			Content asn1.RawValue
		}{oidData, explicit0(must(asn1.Marshal(authSafe)))},
		MacData: struct {
			Mac        digestInfo
			MacSalt    []byte
			Iterations int
		}{digestInfo{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, Parameters: asn1.NullRawValue}, digest}, salt, macIterations},
	}))
}

func p12CertBag(c *x509.Certificate) p12Bag {
	inner := must(asn1.Marshal(struct {
		ID   asn1.ObjectIdentifier
		Data asn1.RawValue
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, explicit0(must(asn1.Marshal(c.Raw)))}))
	return p12Bag{ID: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, Value: explicit0(inner)}
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

// p12Sections returns the SafeContents of a PKCS#12 file as it stores
// them, each a ContentInfo.
func p12Sections(t testing.TB, data []byte) []p12ContentInfo {
	t.Helper()
	var pfx p12PFX
	must(asn1.Unmarshal(data, &pfx))
	var authSafe []byte
	must(asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe))
	var safes []p12ContentInfo
	must(asn1.Unmarshal(authSafe, &safes))
	return safes
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

// ---------------------------------------------------------------- corpus

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

package certs

import (
	"bytes"
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
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// Builders of PKCS#12 files and keys that no well-behaved tool writes
// (huge iteration counts, RC2-encrypted key bags, keys with huge primes),
// shared by the limit tests and the fuzz corpus.

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

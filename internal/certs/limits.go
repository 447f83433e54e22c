package certs

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"unicode/utf16"

	"github.com/keyplane/keyplane"
)

// MaxRSAKeyBits is the largest RSA modulus accepted, in a certificate or a
// private key: the largest Java accepts. Neither crypto/rsa nor crypto/x509
// bounds it, and the cost of checking a key grows with the cube of its size:
// a crafted 64 kbit private key takes the best part of a minute to parse.
const MaxRSAKeyBits = 16384

// maxRSAPrimeBits bounds each prime of an RSA private key. Parsing a key
// computes q⁻¹ mod p by exponentiation, so a key whose modulus is in bounds
// but is the product of a huge p and a tiny q would cost as much as a key
// twice as large.
const maxRSAPrimeBits = MaxRSAKeyBits / 2

// Object identifiers of the PKCS#12 structures and algorithms that
// checkPKCS12Work reads (RFC 7292, RFC 9579).
var (
	oidRSAEncryption    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSASSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBMAC1           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBEWithSHA1And3D = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}

	oidPBEWithSHA1And128RC2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHA1And40RC2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
)

// rsaKeyShape is the start of a PKCS#1 RSAPrivateKey: enough to know its
// sizes without doing the arithmetic that crypto/x509 does to validate it.
type rsaKeyShape struct {
	Version int
	N       *big.Int
	E       *big.Int
	D       *big.Int
	P       *big.Int
	Q       *big.Int
}

// pkcs8Shape is a PKCS#8 PrivateKeyInfo.
type pkcs8Shape struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// checkRSAPrivateKeySize refuses an RSA private key, PKCS#1 or PKCS#8 DER,
// that is too large to parse safely. DER that is not an RSA key passes: the
// parsers will say what it is.
func checkRSAPrivateKeySize(field string, der []byte) error {
	var p8 pkcs8Shape
	if _, err := asn1.Unmarshal(der, &p8); err == nil &&
		(p8.Algo.Algorithm.Equal(oidRSAEncryption) || p8.Algo.Algorithm.Equal(oidRSASSAPSS)) {
		der = p8.PrivateKey
	}
	var k rsaKeyShape
	if _, err := asn1.Unmarshal(der, &k); err != nil || k.N == nil || k.P == nil || k.Q == nil {
		return nil
	}
	if k.N.BitLen() > MaxRSAKeyBits {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"%s holds a %d-bit RSA key, more than the limit of %d bits", field, k.N.BitLen(), MaxRSAKeyBits)
	}
	if k.P.BitLen() > maxRSAPrimeBits || k.Q.BitLen() > maxRSAPrimeBits {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"%s holds a malformed RSA key: a prime is larger than %d bits", field, maxRSAPrimeBits)
	}
	return nil
}

// checkCertificateKeySize refuses a certificate whose RSA key is larger
// than MaxRSAKeyBits: checking a signature against it would take minutes.
func checkCertificateKeySize(what string, c *x509.Certificate) error {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > MaxRSAKeyBits {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"%s has a %d-bit RSA key, more than the limit of %d bits", what, k.N.BitLen(), MaxRSAKeyBits)
	}
	return nil
}

// PKCS#12 structures, as go-pkcs12 reads them.
type (
	p12PFX struct {
		Version  int
		AuthSafe p12ContentInfo
		MacData  p12MacData `asn1:"optional"`
	}
	p12ContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	p12MacData struct {
		Mac struct {
			Algorithm pkix.AlgorithmIdentifier
			Digest    []byte
		}
		MacSalt    []byte
		Iterations int `asn1:"optional,default:1"`
	}
	p12EncryptedData struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Content     []byte `asn1:"tag:0,optional"`
		}
	}
	p12SafeBag struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"tag:0,explicit"`
	}
	p12PBEParams struct {
		Salt       []byte
		Iterations int
	}
	p12PBKDF2Params struct {
		Salt       asn1.RawValue
		Iterations int
	}
)

// maxP12SafeContents bounds the SafeContents, the sections of a PKCS#12
// file, that checkPKCS12Work reads; each may cost a key derivation to
// decrypt. OpenSSL, Java and Windows write two (the certificates, encrypted,
// and the key), and go-pkcs12 reads no more.
const maxP12SafeContents = 2

// maxP12Bags bounds the SafeBags that checkPKCS12Work walks, over all
// SafeContents: a key and a chain of at most MaxChainLength certificates,
// with room for the CRL and secret bags some tools add.
const maxP12Bags = 64

// checkPKCS12Work walks a PKCS#12 file the way go-pkcs12 will, before it
// does, and refuses what would make it work without bound, which the
// library does not prevent: a MAC or encryption iteration count over
// maxPBKDF2Iterations, an RSA key too large to parse safely, and more
// SafeContents, SafeBags or keys than it reads. It decrypts the safes and
// keys encrypted with PBES2 (AES), 3DES or RC2 to look inside. Structures
// that do not parse pass: go-pkcs12 reports them.
func checkPKCS12Work(data []byte, password string) error {
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil
	}
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		n := pfx.MacData.Iterations
		if pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			var params struct{ KDF, MAC pkix.AlgorithmIdentifier }
			if _, err := asn1.Unmarshal(pfx.MacData.Mac.Algorithm.Parameters.FullBytes, &params); err != nil {
				return nil
			}
			n = pbkdf2Iterations(params.KDF.Parameters.FullBytes)
		}
		if err := checkP12Iterations(n, "its integrity check (MAC)"); err != nil {
			return err
		}
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil
	}
	safes, over := p12Sequence(authSafe, maxP12SafeContents)
	if over {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file is a PKCS#12 archive keyplane cannot read: it has more than %d sections (SafeContents)", maxP12SafeContents)
	}
	s := p12Scan{password: password}
	for _, raw := range safes {
		var ci p12ContentInfo
		if _, err := asn1.Unmarshal(raw, &ci); err != nil {
			return nil
		}
		switch {
		case ci.ContentType.Equal(oidData):
			var bags []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &bags); err == nil {
				if err := s.checkBags(bags); err != nil {
					return err
				}
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				continue
			}
			if err := checkP12Algorithm(ed.Info.Algorithm, "its certificates"); err != nil {
				return err
			}
			for _, bags := range p12Decrypt(ed.Info.Algorithm, ed.Info.Content, password) {
				if err := s.checkBags(bags); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// p12Sequence returns the elements, as DER, of the SEQUENCE OF that der
// starts with, reading at most limit of them; over reports that it holds
// more. A malformed element ends the list; DER that is not a SEQUENCE gives
// nothing.
func p12Sequence(der []byte, limit int) (elems [][]byte, over bool) {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(der, &seq); err != nil ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, false
	}
	for rest := seq.Bytes; len(rest) > 0; {
		var e asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &e); err != nil {
			return elems, false
		}
		if len(elems) == limit {
			return elems, true
		}
		elems = append(elems, e.FullBytes)
	}
	return elems, false
}

// p12Scan counts what checkPKCS12Work has walked of a file.
type p12Scan struct {
	password string
	bags     int // SafeBags, over all SafeContents
	keys     int // key bags, plain or shrouded
}

// checkBags checks the key bags of SafeContents DER.
func (s *p12Scan) checkBags(der []byte) error {
	bags, over := p12Sequence(der, maxP12Bags-s.bags)
	s.bags += len(bags)
	if over {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file (PKCS#12) holds more entries (SafeBags) than the limit of %d", maxP12Bags)
	}
	for _, raw := range bags {
		var b p12SafeBag
		if _, err := asn1.Unmarshal(raw, &b); err != nil {
			return nil
		}
		if !b.ID.Equal(oidKeyBag) && !b.ID.Equal(oidShroudedKeyBag) {
			continue
		}
		// go-pkcs12 reads the first key and refuses a second; each may
		// cost a key derivation.
		if s.keys++; s.keys > 1 {
			return keyplane.Errorf(keyplane.InvalidArgument,
				"file (PKCS#12) holds more than one private key; it must hold exactly one")
		}
		if b.ID.Equal(oidKeyBag) {
			if err := checkRSAPrivateKeySize("file (PKCS#12)", b.Value.Bytes); err != nil {
				return err
			}
			continue
		}
		var info encryptedPrivateKeyInfo
		if _, err := asn1.Unmarshal(b.Value.Bytes, &info); err != nil {
			continue
		}
		if err := checkP12Algorithm(info.Algorithm, "its private key"); err != nil {
			return err
		}
		for _, key := range p12Decrypt(info.Algorithm, info.EncryptedData, s.password) {
			if err := checkRSAPrivateKeySize("file (PKCS#12)", key); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkP12Algorithm refuses a PKCS#12 or PBES2 encryption algorithm whose
// iteration count is over the cap; what protects names the content.
func checkP12Algorithm(alg pkix.AlgorithmIdentifier, what string) error {
	n := 0
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var params pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err == nil {
			n = pbkdf2Iterations(params.KeyDerivationFunc.Parameters.FullBytes)
		}
	case len(alg.Algorithm) == len(oidPKCS12PBE)+1 && alg.Algorithm[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var params p12PBEParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err == nil {
			n = params.Iterations
		}
	}
	return checkP12Iterations(n, what)
}

// pbkdf2Iterations returns the iteration count of PBKDF2 parameters, or 0.
func pbkdf2Iterations(der []byte) int {
	var p p12PBKDF2Params
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		return 0
	}
	return p.Iterations
}

func checkP12Iterations(n int, what string) error {
	if n > maxPBKDF2Iterations {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"file (PKCS#12) protects %s with an iteration count of %d; keyplane accepts at most %d",
			what, n, maxPBKDF2Iterations)
	}
	return nil
}

// p12Decrypt returns the plaintexts that data may decrypt to under
// password: go-pkcs12 tries the empty password both as an empty BMPString
// and as no bytes at all, so both are tried. Algorithms other than PBES2
// and the PKCS#12 schemes of p12PBECipher, and failures, give nothing.
func p12Decrypt(alg pkix.AlgorithmIdentifier, data []byte, password string) [][]byte {
	if alg.Algorithm.Equal(oidPBES2) {
		der, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: alg, EncryptedData: data})
		if err != nil {
			return nil
		}
		if plain, err := decryptPKCS8(der, password); err == nil {
			return [][]byte{plain}
		}
		return nil
	}
	newCipher, keyLen := p12PBECipher(alg.Algorithm)
	if newCipher == nil {
		return nil
	}
	var params p12PBEParams
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil || len(data) == 0 || len(data)%p12PBEBlockSize != 0 {
		return nil
	}
	candidates := [][]byte{bmpString(password)}
	if password == "" {
		candidates = append(candidates, nil)
	}
	var out [][]byte
	for _, pw := range candidates {
		key := pkcs12KDF(pw, params.Salt, 1, params.Iterations, keyLen)
		iv := pkcs12KDF(pw, params.Salt, 2, params.Iterations, p12PBEBlockSize)
		block, err := newCipher(key)
		if err != nil {
			continue
		}
		plain := make([]byte, len(data))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
		if plain, ok := unpad(plain, p12PBEBlockSize); ok {
			out = append(out, plain)
		}
	}
	return out
}

// p12PBEBlockSize is the block size of the ciphers of p12PBECipher, and the
// size of their IV.
const p12PBEBlockSize = 8

// p12PBECipher returns the block cipher constructor and key length of a
// PKCS#12 password-based encryption scheme (RFC 7292, appendix C) that
// go-pkcs12 reads, or nil.
func p12PBECipher(oid asn1.ObjectIdentifier) (func([]byte) (cipher.Block, error), int) {
	switch {
	case oid.Equal(oidPBEWithSHA1And3D):
		return des.NewTripleDESCipher, 24
	case oid.Equal(oidPBEWithSHA1And128RC2):
		return func(key []byte) (cipher.Block, error) { return newRC2(key, 128) }, 16
	case oid.Equal(oidPBEWithSHA1And40RC2):
		return func(key []byte) (cipher.Block, error) { return newRC2(key, 40) }, 5
	}
	return nil, 0
}

// bmpString encodes s as PKCS#12 encodes passwords: UTF-16 big-endian with
// a terminating zero.
func bmpString(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// pkcs12KDF derives size bytes of key material (id 1) or IV (id 2) with the
// PKCS#12 key derivation function of RFC 7292, appendix B.2, over SHA-1.
// The caller has bounded iterations.
func pkcs12KDF(password, salt []byte, id byte, iterations, size int) []byte {
	const v = 64 // SHA-1's block size
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	din := append(d, append(fill(salt), fill(password)...)...)
	in := din[v:]
	var out []byte
	for {
		a := sha1.Sum(din)
		for j := 1; j < iterations; j++ {
			a = sha1.Sum(a[:]) // on the stack: no allocation per iteration
		}
		out = append(out, a[:]...)
		if len(out) >= size {
			return out[:size]
		}
		b := fill(a[:])
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				x := int(in[j+k]) + int(b[k]) + carry
				in[j+k], carry = byte(x), x>>8
			}
		}
	}
}

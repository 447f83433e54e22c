package certs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"hash"

	"github.com/keyplane/keyplane"
)

// maxPBKDF2Iterations bounds the work an uploaded key can make the server do.
// OpenSSL writes 2048 iterations; current guidance for new files is a few
// hundred thousand.
const maxPBKDF2Iterations = 2_000_000

// Object identifiers of PKCS#5 v2 (RFC 8018) and the ciphers it uses.
var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}

	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}

	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidPKCS5PBES1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	oidPKCS12PBE  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

// reencryptHint tells the caller how to produce a key keyplane can read.
const reencryptHint = `re-encrypt it with "openssl pkcs8 -topk8 -v2 aes256"`

func errPKCS8Syntax() error {
	return keyplane.Errorf(keyplane.InvalidArgument,
		`keyFile: the "ENCRYPTED PRIVATE KEY" block is not a valid PKCS#8 EncryptedPrivateKeyInfo`)
}

// encryptedPrivateKeyInfo is the PKCS#8 (RFC 5958) wrapper of an encrypted
// private key.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// pbes2Params are the parameters of id-PBES2.
type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

// pbkdf2Params are the parameters of id-PBKDF2. The salt may in theory be
// an AlgorithmIdentifier; nobody writes that, and it fails to parse here.
type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo protected with
// PBES2, PBKDF2 (HMAC with SHA-1 or SHA-2) and AES-CBC or 3DES-CBC: what
// OpenSSL 1.1 and 3 write for "openssl genrsa -aes256", "openssl pkcs8
// -topk8 -v2 ..." and "openssl genpkey -aes256". It returns the PKCS#8
// PrivateKeyInfo DER. A wrong password shows as bad padding.
func decryptPKCS8(der []byte, password string) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, errPKCS8Syntax()
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with %s, which keyplane does not support; %s",
			schemeName(info.Algorithm.Algorithm), reencryptHint)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, errPKCS8Syntax()
	}

	newCipher, keyLen, err := pbes2Cipher(params.EncryptionScheme.Algorithm)
	if err != nil {
		return nil, err
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 {
		return nil, errPKCS8Syntax()
	}

	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with PBES2 using the key derivation function %s, which keyplane does not support; %s",
			schemeName(params.KeyDerivationFunc.Algorithm), reencryptHint)
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil || len(rest) != 0 {
		return nil, errPKCS8Syntax()
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > maxPBKDF2Iterations {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with a PBKDF2 iteration count of %d; keyplane accepts 1 to %d",
			kdf.IterationCount, maxPBKDF2Iterations)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keyLen {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile: the PBKDF2 key length %d does not fit the cipher, which needs %d bytes", kdf.KeyLength, keyLen)
	}
	newHash, err := pbkdf2PRF(kdf.PRF.Algorithm)
	if err != nil {
		return nil, err
	}

	key, err := pbkdf2.Key(newHash, password, kdf.Salt, kdf.IterationCount, keyLen)
	if err != nil {
		// Only FIPS 140-only mode refuses parameters here (short
		// salt or password); treat it as unsupported input.
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with PBKDF2 parameters that this server refuses; %s", reencryptHint)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	if len(iv) != bs {
		return nil, errPKCS8Syntax()
	}
	data := info.EncryptedData
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errPKCS8Syntax()
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	plain, ok := unpad(plain, bs)
	if !ok {
		return nil, errPasswordIncorrect()
	}
	return plain, nil
}

// pbes2Cipher returns the block cipher constructor and key length of a
// PBES2 encryption scheme.
func pbes2Cipher(oid asn1.ObjectIdentifier) (func([]byte) (cipher.Block, error), int, error) {
	switch {
	case oid.Equal(oidAES128CBC):
		return aes.NewCipher, 16, nil
	case oid.Equal(oidAES192CBC):
		return aes.NewCipher, 24, nil
	case oid.Equal(oidAES256CBC):
		return aes.NewCipher, 32, nil
	case oid.Equal(oidDESEDE3CBC):
		return des.NewTripleDESCipher, 24, nil
	default:
		return nil, 0, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with PBES2 using the cipher %s, which keyplane does not support "+
				"(it supports AES-128/192/256-CBC and DES-EDE3-CBC); %s", oid, reencryptHint)
	}
}

// pbkdf2PRF returns the hash of a PBKDF2 pseudo-random function; an absent
// PRF means the default, HMAC-SHA1.
func pbkdf2PRF(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case len(oid) == 0, oid.Equal(oidHMACWithSHA1):
		return sha1.New, nil
	case oid.Equal(oidHMACWithSHA224):
		return sha256.New224, nil
	case oid.Equal(oidHMACWithSHA256):
		return sha256.New, nil
	case oid.Equal(oidHMACWithSHA384):
		return sha512.New384, nil
	case oid.Equal(oidHMACWithSHA512):
		return sha512.New, nil
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile is encrypted with PBKDF2 using the pseudo-random function %s, which keyplane does not support; %s",
			oid, reencryptHint)
	}
}

// schemeName names an encryption scheme or key derivation function in
// messages.
func schemeName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(oidScrypt):
		return "scrypt"
	case len(oid) == len(oidPKCS5PBES1)+1 && oid[:len(oidPKCS5PBES1)].Equal(oidPKCS5PBES1) && oid[len(oid)-1] <= 11:
		return "PKCS#5 PBES1 (" + oid.String() + ")"
	case len(oid) == len(oidPKCS12PBE)+1 && oid[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		return "a PKCS#12 password-based scheme (" + oid.String() + ")"
	default:
		return "the scheme " + oid.String()
	}
}

// unpad strips PKCS#7 padding, reporting false when it is malformed.
func unpad(b []byte, blockSize int) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

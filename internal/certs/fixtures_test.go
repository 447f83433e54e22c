package certs

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// testNow is the clock of every test: the fixtures are valid at this time,
// except the expired certificate.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testPassword is the password of every encrypted fixture. Tests check that
// no error message ever contains it.
const testPassword = "s3cr3t-Passw0rd!"

// pki is a small certificate hierarchy, generated once per test binary:
//
//	root (RSA 2048, CA) -> inter (EC P-256, CA, pathlen 0) -> leaf (RSA 2048)
//	                                                      -> ecLeaf (EC P-256)
//	                                                      -> edLeaf (Ed25519)
//	                                                      -> expired (EC P-256)
//	otherRoot (EC P-256, CA, unrelated)
//	notCA (EC P-256, not a CA) -> underNotCA (EC P-256)
type pki struct {
	rootKey, leafKey, otherRSAKey *rsa.PrivateKey
	interKey, ecLeafKey           *ecdsa.PrivateKey
	expiredKey, otherRootKey      *ecdsa.PrivateKey
	notCAKey, underNotCAKey       *ecdsa.PrivateKey
	edLeafKey                     ed25519.PrivateKey

	root, inter, leaf, ecLeaf, edLeaf, expired *x509.Certificate
	otherRoot, notCA, underNotCA               *x509.Certificate
}

var fixtures = sync.OnceValue(func() *pki {
	p := &pki{
		rootKey:       must(rsa.GenerateKey(rand.Reader, 2048)),
		leafKey:       must(rsa.GenerateKey(rand.Reader, 2048)),
		otherRSAKey:   must(rsa.GenerateKey(rand.Reader, 2048)),
		interKey:      must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		ecLeafKey:     must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		expiredKey:    must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		otherRootKey:  must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		notCAKey:      must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		underNotCAKey: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
	}
	_, p.edLeafKey = must2(ed25519.GenerateKey(rand.Reader))

	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	ca := func(cn string, serial int64, pathLen int) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"Keyplane"}},
			NotBefore:             from,
			NotAfter:              until.AddDate(5, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            pathLen,
			MaxPathLenZero:        pathLen == 0,
		}
	}
	leaf := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"Example"}, Country: []string{"US"}},
			NotBefore:             from,
			NotAfter:              until,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			DNSNames:              []string{cn},
		}
	}

	p.root = mkCert(ca("Keyplane Test Root", 1, -1), nil, p.rootKey.Public(), p.rootKey)
	p.inter = mkCert(ca("Keyplane Test Intermediate", 2, 0), p.root, p.interKey.Public(), p.rootKey)

	lt := leaf("api.example.com", 0x0100c0ffee)
	lt.IPAddresses = []net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("2001:db8::1")}
	lt.EmailAddresses = []string{"ops@example.com"}
	lt.URIs = []*url.URL{{Scheme: "spiffe", Host: "example.com", Path: "/api"}}
	p.leaf = mkCert(lt, p.inter, p.leafKey.Public(), p.interKey)
	p.ecLeaf = mkCert(leaf("ec.example.com", 4), p.inter, p.ecLeafKey.Public(), p.interKey)
	p.edLeaf = mkCert(leaf("ed.example.com", 5), p.inter, p.edLeafKey.Public(), p.interKey)

	et := leaf("expired.example.com", 6)
	et.NotBefore = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	et.NotAfter = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	p.expired = mkCert(et, p.inter, p.expiredKey.Public(), p.interKey)

	p.otherRoot = mkCert(ca("Other Root", 7, -1), nil, p.otherRootKey.Public(), p.otherRootKey)
	p.notCA = mkCert(leaf("not-a-ca.example.com", 8), nil, p.notCAKey.Public(), p.notCAKey)
	p.underNotCA = mkCert(leaf("under.example.com", 9), p.notCA, p.underNotCAKey.Public(), p.notCAKey)
	return p
})

// mkCert signs template with signer; a nil parent makes it self-signed.
func mkCert(template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	if parent == nil {
		parent = template
	}
	der := must(x509.CreateCertificate(rand.Reader, template, parent, pub, signer))
	return must(x509.ParseCertificate(der))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func opts() Options { return Options{Now: testNow} }

func certsPEM(certs ...*x509.Certificate) []byte { return EncodeChain(certs) }

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
}

func pkcs8PEM(k crypto.Signer) []byte {
	return pemBytes("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(k)))
}

func sec1PEM(k *ecdsa.PrivateKey) []byte {
	return pemBytes("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(k)))
}

// legacyEncryptedPEM encrypts a key block the RFC 1423 way, as "openssl rsa
// -aes256 -traditional" does.
func legacyEncryptedPEM(t *testing.T, typ string, der []byte, alg x509.PEMCipher) []byte {
	t.Helper()
	//nolint:staticcheck // Legacy PEM encryption is what the code under test reads.
	b, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(testPassword), alg)
	require.NoError(t, err)
	return pem.EncodeToMemory(b)
}

// pbes2Spec selects the algorithms of encryptedPKCS8PEM.
type pbes2Spec struct {
	prf        asn1.ObjectIdentifier // nil: omitted, meaning HMAC-SHA1
	cipher     asn1.ObjectIdentifier
	newCipher  func([]byte) (cipher.Block, error)
	keyLen     int
	iterations int
}

var (
	pbes2AES256SHA256 = pbes2Spec{oidHMACWithSHA256, oidAES256CBC, aes.NewCipher, 32, 2048}
	pbes2AES128SHA1   = pbes2Spec{nil, oidAES128CBC, aes.NewCipher, 16, 1000}
	pbes2AES192SHA512 = pbes2Spec{oidHMACWithSHA512, oidAES192CBC, aes.NewCipher, 24, 1000}
	pbes2DES3SHA1     = pbes2Spec{oidHMACWithSHA1, oidDESEDE3CBC, des.NewTripleDESCipher, 24, 1000}
)

// encryptedPKCS8PEM encrypts a key as a PKCS#8 EncryptedPrivateKeyInfo with
// PBES2. It shares only the OIDs and the PRF table with the code under
// test; the OpenSSL tests cover independently written files.
func encryptedPKCS8PEM(t *testing.T, key crypto.Signer, password string, s pbes2Spec) []byte {
	t.Helper()
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	var prf pkix.AlgorithmIdentifier
	if s.prf != nil {
		prf = pkix.AlgorithmIdentifier{Algorithm: s.prf, Parameters: asn1.NullRawValue}
	}
	newHash, err := pbkdf2PRF(s.prf)
	require.NoError(t, err)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	dk, err := pbkdf2.Key(newHash, password, salt, s.iterations, s.keyLen)
	require.NoError(t, err)
	block, err := s.newCipher(dk)
	require.NoError(t, err)
	iv := make([]byte, block.BlockSize())
	_, _ = rand.Read(iv)
	n := block.BlockSize() - len(plain)%block.BlockSize()
	for range n {
		plain = append(plain, byte(n))
	}
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)

	kdfParams := struct {
		Salt       []byte
		Iterations int
		PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
	}{salt, s.iterations, prf}
	params := pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(kdfParams))}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: s.cipher, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(iv))}},
	}
	info := encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(params))}},
		EncryptedData: enc,
	}
	return pemBytes("ENCRYPTED PRIVATE KEY", must(asn1.Marshal(info)))
}

// requireInvalid asserts that err is an InvalidArgument error with exactly
// the message want.
func requireInvalid(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err), "error %q", err)
	require.Equal(t, want, keyplane.ErrorMessage(err))
}

// openssl runs the openssl command in dir and returns its standard output;
// the test is skipped when openssl is not installed.
func openssl(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not in PATH")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("openssl %v: %v\n%s", args, err, stderr)
	}
	return out
}

// writeFile writes data to name in dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return b
}

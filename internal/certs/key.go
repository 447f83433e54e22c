package certs

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/keyplane/keyplane"
)

// keyBlockTypes are the PEM block types a keyFile may hold a key in.
var keyBlockTypes = map[string]bool{
	"RSA PRIVATE KEY":       true, // PKCS#1, possibly with legacy encryption
	"EC PRIVATE KEY":        true, // SEC1, possibly with legacy encryption
	"PRIVATE KEY":           true, // PKCS#8
	"ENCRYPTED PRIVATE KEY": true, // PKCS#8 EncryptedPrivateKeyInfo
}

// parseKeyFile decodes the keyFile part: exactly one private key, in any of
// keyBlockTypes, plus optional "EC PARAMETERS" blocks as written by
// "openssl ecparam -genkey".
func parseKeyFile(keyPEM []byte, password string, opt Options) (crypto.Signer, error) {
	blocks, err := decodePEM("keyFile", keyPEM, opt.IgnoreNewline, "openssl pkey -inform DER -outform PEM")
	if err != nil {
		return nil, err
	}
	var keyBlock *pem.Block
	keys := 0
	for i, b := range blocks {
		switch {
		case b.Type == "EC PARAMETERS":
		case keyBlockTypes[b.Type]:
			keys++
			keyBlock = b
		default:
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				`keyFile: PEM block %d is a %q block; keyFile must hold one private key `+
					`("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY")`,
				i+1, b.Type)
		}
	}
	switch {
	case keys == 0:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "keyFile holds no private key")
	case keys > 1:
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile holds %d private keys; it must hold exactly one", keys)
	}
	return parseKeyBlock(keyBlock, password)
}

// parseKeyBlock decrypts the key block if needed and parses it.
func parseKeyBlock(b *pem.Block, password string) (crypto.Signer, error) {
	der := b.Bytes
	encrypted := false
	switch {
	case b.Type == "ENCRYPTED PRIVATE KEY":
		encrypted = true
		if password == "" {
			return nil, errPasswordRequired()
		}
		var err error
		if der, err = decryptPKCS8(der, password); err != nil {
			return nil, err
		}
	case x509.IsEncryptedPEMBlock(b): //nolint:staticcheck // Legacy PEM encryption is what clients still upload.
		encrypted = true
		if password == "" {
			return nil, errPasswordRequired()
		}
		var err error
		der, err = x509.DecryptPEMBlock(b, []byte(password)) //nolint:staticcheck // See above.
		switch {
		case errors.Is(err, x509.IncorrectPasswordError):
			return nil, errPasswordIncorrect()
		case err != nil:
			// The DEK-Info header names a cipher Go does not know, or
			// the body is not a whole number of blocks.
			// Name the cipher only, not the IV that follows it.
			cipherName, _, _ := strings.Cut(b.Headers["DEK-Info"], ",")
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"keyFile is encrypted with the cipher %q, which keyplane does not support; %s",
				cipherName, reencryptHint)
		}
	}
	if err := checkRSAPrivateKeySize("keyFile", der); err != nil {
		return nil, err
	}
	key, err := parsePrivateKeyDER(der)
	if err != nil {
		if encrypted {
			// Legacy PEM encryption and CBC padding catch most wrong
			// passwords; the rest decrypt to bytes that do not parse.
			return nil, errPasswordIncorrect()
		}
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile: the %q block is not a valid PKCS#1, PKCS#8 or SEC1 private key", b.Type)
	}
	return signerOf(key)
}

func errPasswordRequired() error {
	return keyplane.Errorf(keyplane.InvalidArgument, "keyFile is encrypted: password is required")
}

func errPasswordIncorrect() error {
	return keyplane.Errorf(keyplane.InvalidArgument, "password is incorrect for keyFile")
}

// parsePrivateKeyDER parses a private key in any of the unencrypted DER
// encodings. PEM labels are often wrong in the wild (PKCS#8 inside "RSA
// PRIVATE KEY"), so it tries them all, as crypto/tls does.
func parsePrivateKeyDER(der []byte) (any, error) {
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParseECPrivateKey(der); err == nil {
		return key, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC1 private key")
}

// signerOf accepts the key types a certificate can be signed with.
func signerOf(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	case *ecdh.PrivateKey:
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile holds an X25519 key, which cannot sign; use an RSA, EC or Ed25519 key")
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"keyFile holds an unsupported key type; use an RSA, EC or Ed25519 key")
	}
}

// MarshalKey encodes a private key as PKCS#8 DER, the form in which keys are
// sealed at rest.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, errors.New("certs: MarshalKey: nil key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: MarshalKey: %w", err)
	}
	return der, nil
}

// UnmarshalKey decodes a private key encoded by MarshalKey. Its errors mean
// the stored data is corrupt; they are internal, not caller errors.
func UnmarshalKey(der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("certs: UnmarshalKey: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certs: UnmarshalKey: %T cannot sign", key)
	}
	return signer, nil
}

// KeyOpener unseals what a master key sealed; *seal.Keyring is one.
type KeyOpener interface {
	Open(keyID string, sealed, aad []byte) ([]byte, error)
}

// OpenAliasKey unseals an alias's private key with the master key it names,
// bound to the alias's full resource name (the associated data it was
// sealed with, so that a sealed key cannot be moved to another alias), and
// wipes the plaintext DER once parsed. The keystore service opens keys
// through it to replace certificates and sign CSRs, the gateway to present
// client certificates.
func OpenAliasKey(keys KeyOpener, a *keyplane.Alias) (crypto.Signer, error) {
	der, err := keys.Open(a.KeyID, a.KeySealed, []byte(a.ResourceName()))
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return UnmarshalKey(der)
}

// Package seal encrypts private keys at rest with AES-256-GCM under a master
// key. Every ciphertext records the id of the key that sealed it, so the
// master key can rotate: old ciphertexts stay readable while new ones use the
// newest key.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Keyring holds the master keys by id. The last key given is the primary
// one: it seals everything new.
type Keyring struct {
	aeads   map[string]cipher.AEAD
	raw     map[string][]byte
	primary string
	ids     []string
}

// ParseKeyring reads a master key specification: either one base64-encoded
// 32-byte key, or a comma-separated list of `id:base64` entries, oldest
// first. A bare key's id is derived from its hash, so the same key always has
// the same id.
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("master key is empty")
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, hasID := strings.Cut(entry, ":")
		if !hasID {
			b64 = id
			id = ""
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("master key %d is not valid base64", i+1)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("master key %d is %d bytes; it must be 32 bytes (AES-256)", i+1, len(raw))
		}
		sum := sha256.Sum256(raw)
		derived := "k" + hex.EncodeToString(sum[:4])
		if id == "" {
			id = derived
		}
		if _, dup := k.raw[id]; dup {
			return nil, fmt.Errorf("master key id %q appears twice", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		// A key opens what it sealed under its own id and under the id
		// derived from it, so a key first given bare and later given an
		// id still opens what it sealed before.
		k.aeads[id], k.aeads[derived] = aead, aead
		k.raw[id] = raw
		k.ids = append(k.ids, id)
		k.primary = id
	}
	return k, nil
}

// Primary returns the id of the key that seals new data.
func (k *Keyring) Primary() string { return k.primary }

// IDs returns every id the keyring opens ciphertexts under, the ids derived
// from bare keys included, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Seal encrypts plaintext under the primary key, binding aad (the resource
// name) so a ciphertext cannot be moved to another resource. It returns the
// key id and nonce||ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) (string, []byte, error) {
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	return k.primary, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts a ciphertext sealed under key id with the same aad.
func (k *Keyring) Open(id string, sealed, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("seal: master key %q is not configured", id)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("seal: ciphertext too short")
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, errors.New("seal: ciphertext does not authenticate under its key and resource name")
	}
	return pt, nil
}

// Derive returns a 32-byte key for one purpose (such as signing upload
// URLs), derived from the primary master key with HKDF-SHA256. Keys for
// different purposes are independent, and the master key itself never
// leaves the keyring.
func (k *Keyring) Derive(purpose string) []byte { return derive(k.raw[k.primary], purpose) }

// DeriveAll returns the key for one purpose derived from every master key,
// the primary's first, then the others newest first. Whatever was made
// under a derived key (a signed URL) is checked against all of them, so it
// stays valid while the master key rotates; new things use the first.
func (k *Keyring) DeriveAll(purpose string) [][]byte {
	out := [][]byte{k.Derive(purpose)}
	for i := len(k.ids) - 1; i >= 0; i-- {
		if id := k.ids[i]; id != k.primary {
			out = append(out, derive(k.raw[id], purpose))
		}
	}
	return out
}

func derive(master []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, master, nil, "keyplane "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot produce
	}
	return key
}

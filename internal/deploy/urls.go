package deploy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
)

// claims are what a signed archive URL grants: one purpose on one upload
// of one environment, until it expires.
type claims struct {
	Purpose string    `json:"p"` // "upload" or "download"
	ID      uuid.UUID `json:"id"`
	Org     string    `json:"o"`
	Env     string    `json:"e"`
	Expires int64     `json:"x"` // Unix seconds
}

// signer makes and checks signed archive URLs: HMAC-SHA256 under keys
// derived from the master keys, so every server sharing the database and
// the master key accepts them and the secret never leaves the server. The
// first key signs; a token made under any of them verifies, so URLs handed
// out before a master key rotation keep working until they expire.
type signer struct{ keys [][]byte }

func (s signer) sign(c claims) string {
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(s.keys[0], p))
}

func mac(key []byte, p string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// signedByUs reports whether sig is p's MAC under one of the keys.
func (s signer) signedByUs(p string, sig []byte) bool {
	for _, k := range s.keys {
		if hmac.Equal(sig, mac(k, p)) {
			return true
		}
	}
	return false
}

// verify checks a token's signature, purpose and, unless now is zero,
// expiry.
func (s signer) verify(token, purpose string, now time.Time) (claims, error) {
	var c claims
	forged := keyplane.Errorf(keyplane.PermissionDenied, "the %s URL is not valid: its signature does not match", purpose)
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return c, forged
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !s.signedByUs(p, got) {
		return c, forged
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, &c) != nil || c.Purpose != purpose {
		return c, forged
	}
	if !now.IsZero() && now.Unix() >= c.Expires {
		return c, keyplane.Errorf(keyplane.FailedPrecondition, "the %s URL expired at %s; generate a new one",
			purpose, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

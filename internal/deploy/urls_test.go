package deploy

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/seal"
)

func TestSigner_RefusesForgedExpiredAndMisusedTokens(t *testing.T) {
	t.Parallel()
	s := signer{keys: [][]byte{[]byte("k1")}}
	now := time.Unix(1_800_000_000, 0)
	c := claims{Purpose: "upload", ID: uuid.New(), Org: "o", Env: "e", Expires: now.Add(15 * time.Minute).Unix()}
	token := s.sign(c)

	got, err := s.verify(token, "upload", now)
	require.NoError(t, err)
	require.Equal(t, c, got)

	for name, tc := range map[string]struct {
		token, purpose string
		at             time.Time
		code           keyplane.Code
		message        string
	}{
		"expired":         {token, "upload", now.Add(15 * time.Minute), keyplane.FailedPrecondition, "the upload URL expired at 2027-01-15T08:15:00Z; generate a new one"},
		"other purpose":   {token, "download", now, keyplane.PermissionDenied, "the download URL is not valid: its signature does not match"},
		"other key":       {signer{keys: [][]byte{[]byte("k2")}}.sign(c), "upload", now, keyplane.PermissionDenied, "the upload URL is not valid: its signature does not match"},
		"tampered":        {"x" + token, "upload", now, keyplane.PermissionDenied, "the upload URL is not valid: its signature does not match"},
		"no signature":    {"abc", "upload", now, keyplane.PermissionDenied, "the upload URL is not valid: its signature does not match"},
		"empty signature": {token[:len(token)-43], "upload", now, keyplane.PermissionDenied, "the upload URL is not valid: its signature does not match"},
	} {
		_, err := s.verify(tc.token, tc.purpose, tc.at)
		require.Equal(t, tc.code, keyplane.ErrorCode(err), name)
		require.Equal(t, tc.message, keyplane.ErrorMessage(err), name)
	}

	// The expiry bounds the upload, not what is done with it later.
	_, err = s.verify(token, "upload", time.Time{})
	require.NoError(t, err)
}

func TestSigner_URLSignedBeforeAMasterKeyRotationStillVerifies(t *testing.T) {
	t.Parallel()
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	before, err := seal.ParseKeyring("a:" + k1)
	require.NoError(t, err)
	after, err := seal.ParseKeyring("a:" + k1 + ",b:" + k2)
	require.NoError(t, err)
	retired, err := seal.ParseKeyring("b:" + k2)
	require.NoError(t, err)

	now := time.Unix(1_800_000_000, 0)
	c := claims{Purpose: "upload", ID: uuid.New(), Org: "o", Env: "e", Expires: now.Add(15 * time.Minute).Unix()}
	old := signer{keys: before.DeriveAll("archive urls")}.sign(c)
	rotated := signer{keys: after.DeriveAll("archive urls")}

	got, err := rotated.verify(old, "upload", now)
	require.NoError(t, err, "a URL signed under a:K1 verifies under a:K1,b:K2")
	require.Equal(t, c, got)

	// New URLs are signed under the new primary, and once the old key is
	// retired, URLs signed under it are refused.
	_, err = signer{keys: retired.DeriveAll("archive urls")}.verify(rotated.sign(c), "upload", now)
	require.NoError(t, err)
	_, err = signer{keys: retired.DeriveAll("archive urls")}.verify(old, "upload", now)
	require.Equal(t, keyplane.PermissionDenied, keyplane.ErrorCode(err))
}

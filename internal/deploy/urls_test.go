package deploy

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

func TestSigner_RefusesForgedExpiredAndMisusedTokens(t *testing.T) {
	t.Parallel()
	s := signer{key: []byte("k1")}
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
		"other key":       {signer{key: []byte("k2")}.sign(c), "upload", now, keyplane.PermissionDenied, "the upload URL is not valid: its signature does not match"},
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

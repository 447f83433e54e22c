package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func TestSeal_RoundTripBindsResourceName(t *testing.T) {
	t.Parallel()
	k, err := ParseKeyring(newKey(t))
	require.NoError(t, err)
	secret := []byte("-----BEGIN PRIVATE KEY-----")
	id, ct, err := k.Seal(secret, []byte("organizations/o/environments/e/keystores/k/aliases/a"))
	require.NoError(t, err)
	require.False(t, bytes.Contains(ct, secret))

	pt, err := k.Open(id, ct, []byte("organizations/o/environments/e/keystores/k/aliases/a"))
	require.NoError(t, err)
	require.Equal(t, secret, pt)

	_, err = k.Open(id, ct, []byte("organizations/o/environments/e/keystores/k/aliases/other"))
	require.EqualError(t, err, "seal: ciphertext does not authenticate under its key and resource name")
}

func TestSeal_RotationKeepsOldKeysReadable(t *testing.T) {
	t.Parallel()
	oldKey, newKeyB64 := newKey(t), newKey(t)
	old, err := ParseKeyring("a:" + oldKey)
	require.NoError(t, err)
	id, ct, err := old.Seal([]byte("key"), nil)
	require.NoError(t, err)
	require.Equal(t, "a", id)

	both, err := ParseKeyring("a:" + oldKey + ",b:" + newKeyB64)
	require.NoError(t, err)
	require.Equal(t, "b", both.Primary())
	pt, err := both.Open(id, ct, nil)
	require.NoError(t, err)
	require.Equal(t, []byte("key"), pt)

	_, err = both.Open("zz", ct, nil)
	require.EqualError(t, err, `seal: master key "zz" is not configured`)
}

func TestParseKeyring_RejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"", "master key is empty"},
		{"not base64!", "master key 1 is not valid base64"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "master key 1 is 5 bytes; it must be 32 bytes (AES-256)"},
		{"x:" + newKey(t) + ",x:" + newKey(t), `master key id "x" appears twice`},
	} {
		_, err := ParseKeyring(tc.spec)
		require.EqualError(t, err, tc.want, tc.spec)
	}
}

func TestParseKeyring_BareKeyHasStableID(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	a, err := ParseKeyring(key)
	require.NoError(t, err)
	b, err := ParseKeyring(key)
	require.NoError(t, err)
	require.Equal(t, a.Primary(), b.Primary())
}

func TestDerive_IndependentPerPurposeAndStable(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	a, err := ParseKeyring(key)
	require.NoError(t, err)
	b, err := ParseKeyring(key)
	require.NoError(t, err)
	require.Len(t, a.Derive("upload urls"), 32)
	require.Equal(t, a.Derive("upload urls"), b.Derive("upload urls"))
	require.NotEqual(t, a.Derive("upload urls"), a.Derive("other"))
}

func TestKeyring_BareKeyLaterNamedStillOpens(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	bare, err := ParseKeyring(key)
	require.NoError(t, err)
	id, ct, err := bare.Seal([]byte("k"), nil)
	require.NoError(t, err)
	named, err := ParseKeyring("2026:" + key + ",next:" + newKey(t))
	require.NoError(t, err)
	pt, err := named.Open(id, ct, nil)
	require.NoError(t, err)
	require.Equal(t, []byte("k"), pt)
}

func TestDeriveAll_PrimaryFirstThenEveryOlderKey(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t), newKey(t)
	old, err := ParseKeyring("a:" + k1)
	require.NoError(t, err)
	rotated, err := ParseKeyring("a:" + k1 + ",b:" + k2)
	require.NoError(t, err)
	next, err := ParseKeyring("b:" + k2)
	require.NoError(t, err)

	all := rotated.DeriveAll("archive urls")
	require.Len(t, all, 2)
	require.Equal(t, rotated.Derive("archive urls"), all[0], "the primary's key signs")
	require.Equal(t, next.Derive("archive urls"), all[0])
	require.Equal(t, old.Derive("archive urls"), all[1], "the retired key still verifies")
	require.Equal(t, [][]byte{old.Derive("archive urls")}, old.DeriveAll("archive urls"))
}

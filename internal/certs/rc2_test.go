package certs

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRC2_RFC2268Vectors checks RC2 against every test vector of RFC 2268,
// section 5: key, effective key length T1, plaintext, ciphertext.
func TestRC2_RFC2268Vectors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key    string
		t1     int
		plain  string
		cipher string
	}{
		{"0000000000000000", 63, "0000000000000000", "ebb773f993278eff"},
		{"ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"},
		{"3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"},
		{"88", 64, "0000000000000000", "61a8a244adacccf0"},
		{"88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"},
		{"88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"},
		{"88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"},
		{"88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", 129, "0000000000000000", "5b78d3a43dfff1f1"},
	} {
		key, plain, want := must(hex.DecodeString(tt.key)), must(hex.DecodeString(tt.plain)), must(hex.DecodeString(tt.cipher))
		block, err := newRC2(key, tt.t1)
		require.NoError(t, err)
		require.Equal(t, rc2BlockSize, block.BlockSize())

		got := make([]byte, rc2BlockSize)
		block.Decrypt(got, want)
		require.Equal(t, tt.plain, hex.EncodeToString(got), "decrypt, key %s, T1 %d", tt.key, tt.t1)
		block.Encrypt(got, plain)
		require.Equal(t, tt.cipher, hex.EncodeToString(got), "encrypt, key %s, T1 %d", tt.key, tt.t1)

		// In place, as cipher.BlockMode uses it.
		buf := bytes.Clone(want)
		block.Decrypt(buf, buf)
		require.Equal(t, plain, buf)
	}
}

func TestRC2_CBCRoundTripAndKeyLimits(t *testing.T) {
	t.Parallel()
	// Every key length PKCS#12 uses and the extremes RFC 2268 allows.
	for _, k := range []struct{ keyLen, t1 int }{{5, 40}, {16, 128}, {1, 1}, {128, 1024}} {
		key := bytes.Repeat([]byte{0x5a}, k.keyLen)
		block, err := newRC2(key, k.t1)
		require.NoError(t, err)
		iv := []byte("initvect")
		plain := bytes.Repeat([]byte("0123456789abcdef"), 8)
		enc := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)
		require.NotEqual(t, plain, enc)
		dec := make([]byte, len(enc))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(dec, enc)
		require.Equal(t, plain, dec, "key %d bytes, T1 %d", k.keyLen, k.t1)
	}

	for _, bad := range []struct{ keyLen, t1 int }{{0, 40}, {129, 40}, {5, 0}, {5, 1025}} {
		_, err := newRC2(make([]byte, bad.keyLen), bad.t1)
		require.Error(t, err, "key %d bytes, T1 %d", bad.keyLen, bad.t1)
	}
}

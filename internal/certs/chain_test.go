package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/require"
)

// EncodeChain writes each certificate as PEM, leaf first, into a buffer
// sized exactly for them, for chains of every length and size.
func TestEncodeChain_PEMOfEachCertificateInOneExactBuffer(t *testing.T) {
	p := fixtures()
	for _, chain := range [][]*x509.Certificate{
		{p.leaf}, {p.leaf, p.inter}, {p.leaf, p.inter, p.root}, {p.ecLeaf, p.inter}, {p.edLeaf},
	} {
		var want bytes.Buffer
		for _, c := range chain {
			want.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		got := EncodeChain(chain)
		require.Equal(t, want.String(), string(got))
		require.Equal(t, len(got), cap(got), "no byte too many or too few was reserved")
		back, err := DecodeChain(got)
		require.NoError(t, err)
		require.Len(t, back, len(chain))
	}
	require.Empty(t, EncodeChain(nil))
}

// Text with only LF line endings is split as it is; CRLF and CR endings
// still are rewritten first.
func TestDecodePEM_LineEndings(t *testing.T) {
	p := fixtures()
	lf := certsPEM(p.leaf, p.inter)
	for name, data := range map[string][]byte{
		"LF":   lf,
		"CRLF": bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")),
		"CR":   bytes.ReplaceAll(lf, []byte("\n"), []byte("\r")),
	} {
		blocks, err := decodePEM("certFile", data, false, "")
		require.NoError(t, err, name)
		require.Len(t, blocks, 2, name)
		require.Equal(t, p.leaf.Raw, blocks[0].Bytes, name)
		require.Equal(t, p.inter.Raw, blocks[1].Bytes, name)
	}
}

// Package testzip builds zip archives for tests: archives of source folders
// kept under testdata, and hostile archives that the standard library's
// writer would never produce.
package testzip

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Overlapping is a non-recursive zip bomb (Fifield, 2019): n central
// directory records named src/k000.bin, src/k001.bin, ..., all pointing at
// one local file whose deflated data is kernel zero bytes. The archive is a
// few kilobytes and unpacks to n*kernel bytes.
func Overlapping(n, kernel int) []byte {
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	_, _ = fw.Write(make([]byte, kernel))
	_ = fw.Close()
	crc := crc32.ChecksumIEEE(make([]byte, kernel))
	var b bytes.Buffer
	w := func(vs ...any) {
		for _, v := range vs {
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
	}
	name := func(i int) string { return fmt.Sprintf("src/k%03d.bin", i) }
	w(uint32(0x04034b50), uint16(20), uint16(0), uint16(8), uint16(0), uint16(0),
		crc, uint32(comp.Len()), uint32(kernel), uint16(len(name(0))), uint16(0))
	b.WriteString(name(0))
	b.Write(comp.Bytes())
	dir := b.Len()
	for i := range n {
		w(uint32(0x02014b50), uint16(20), uint16(20), uint16(0), uint16(8), uint16(0), uint16(0),
			crc, uint32(comp.Len()), uint32(kernel), uint16(len(name(i))), uint16(0), uint16(0),
			uint16(0), uint16(0), uint32(0), uint32(0))
		b.WriteString(name(i))
	}
	w(uint32(0x06054b50), uint16(0), uint16(0), uint16(n), uint16(n), uint32(b.Len()-dir), uint32(dir), uint16(0))
	return b.Bytes()
}

package certs

import (
	"bytes"
	"encoding/pem"
	"regexp"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
)

var (
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("-----END ")
	utf8BOM  = []byte("\xef\xbb\xbf")

	// gluedBlocks matches an END line directly followed, on the same line,
	// by the BEGIN line of the next block: what tools that strip newlines
	// when concatenating chains produce.
	gluedBlocks = regexp.MustCompile(`(-----END [^\n]*?-----)[ \t]*(-----BEGIN )`)
)

// decodePEM splits the PEM text of the upload part named field into blocks.
//
// It accepts CRLF or CR line endings, a UTF-8 byte order mark, blank lines
// and leading or trailing whitespace. Any other text outside PEM blocks, or
// a block that starts on the line where the previous one ends, is an error
// unless ignoreNewline is set, in which case such text is dropped and glued
// blocks are split. Binary input and malformed blocks are always errors. The
// messages never quote the input, since it may hold a private key.
func decodePEM(field string, data []byte, ignoreNewline bool, derHint string) ([]*pem.Block, error) {
	if err := checkSize(field, data); err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "%s is empty", field)
	}
	if !bytes.Contains(data, pemBegin) {
		if isBinary(data) {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"%s is not PEM: it holds binary data (DER?); convert it with %q", field, derHint)
		}
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			`%s is not PEM: it has no "-----BEGIN ...-----" line`, field)
	}
	if bytes.IndexByte(data, '\r') >= 0 {
		// Only CR line endings need rewriting; ReplaceAll copies the
		// input even when it has none to replace.
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}

	if loc := gluedBlocks.FindIndex(data); loc != nil {
		if !ignoreNewline {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				`%s has a "-----BEGIN" line glued to the "-----END" line before it (line %d); `+
					"put a newline between PEM blocks or set ignoreNewlineValidation=true",
				field, lineOf(data, loc[0]))
		}
		data = gluedBlocks.ReplaceAll(data, []byte("$1\n$2"))
	}

	var blocks []*pem.Block
	for pos := 0; ; {
		rest := data[pos:]
		begin := bytes.Index(rest, pemBegin)
		if begin < 0 {
			begin = len(rest)
		}
		if !ignoreNewline {
			if junk := firstNonSpace(rest[:begin]); junk >= 0 {
				return nil, keyplane.Errorf(keyplane.InvalidArgument,
					"%s has text outside PEM blocks (line %d); remove it or set ignoreNewlineValidation=true",
					field, lineOf(data, pos+junk))
			}
		}
		if begin == len(rest) {
			break
		}
		n := len(blocks) + 1
		end := bytes.Index(rest[begin:], pemEnd)
		if end < 0 {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				`%s: PEM block %d (line %d) has no "-----END ...-----" line`, field, n, lineOf(data, pos+begin))
		}
		end += begin
		if nl := bytes.IndexByte(rest[end:], '\n'); nl >= 0 {
			end += nl + 1
		} else {
			end = len(rest)
		}
		block, _ := pem.Decode(rest[begin:end])
		if block == nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"%s: PEM block %d (line %d) is malformed: its base64 body is invalid or its BEGIN and END lines do not match",
				field, n, lineOf(data, pos+begin))
		}
		blocks = append(blocks, block)
		pos += end
	}
	return blocks, nil
}

// checkSize refuses inputs larger than MaxInputSize.
func checkSize(field string, data []byte) error {
	if len(data) > MaxInputSize {
		return keyplane.Errorf(keyplane.InvalidArgument,
			"%s is %d bytes, more than the limit of %d bytes (1 MiB)", field, len(data), MaxInputSize)
	}
	return nil
}

// isBinary reports whether data looks like binary rather than text: it is
// not UTF-8 or holds control characters other than whitespace.
func isBinary(data []byte) bool {
	if !utf8.Valid(data) {
		return true
	}
	for _, c := range data {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return true
		}
	}
	return false
}

// firstNonSpace returns the index of the first byte of b that is not ASCII
// whitespace, or -1.
func firstNonSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			return i
		}
	}
	return -1
}

// lineOf returns the 1-based line number of offset in data.
func lineOf(data []byte, offset int) int {
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

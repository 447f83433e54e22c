package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parsing limits that no legitimate file comes near: they keep a hostile
// file from exhausting the stack or the memory.
const (
	maxDepth  = 100
	maxValues = 200000
)

// kind is the type of a parsed JSON or YAML value.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// String names the kind as messages show it.
func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// value is one JSON or YAML value with its position, so that every problem
// found while interpreting a file can name its line and column.
type value struct {
	kind  kind
	text  string   // scalars: the text; booleans are "true" or "false"
	keys  []string // objects: the keys, parallel to items
	items []*value // arrays: the elements; objects: the values
	pos   pos
}

// doc is a parsed file: the path names it in messages.
type doc struct {
	path string
	root *value
}

// errorf returns the error for a problem with v.
func (d *doc) errorf(v *value, format string, args ...any) error {
	return fileError(d.path, v.pos, format, args...)
}

// trimBOM drops a UTF-8 byte order mark, which some editors write.
func trimBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
}

// parseJSON parses data as one JSON value. Syntax errors are found by
// encoding/json's scanner first, so that their position comes from
// *json.SyntaxError's offset; the tree is then built from the token stream.
func parseJSON(path string, data []byte) (*doc, error) {
	data = trimBOM(data)
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return nil, fileError(path, pos{}, "%v", err)
		}
		off := int(se.Offset) - 1 // the offset counts the offending byte
		if off < 0 || strings.HasPrefix(se.Error(), "unexpected end") {
			off = int(se.Offset)
		}
		return nil, fileError(path, lineCol(data, off), "%s", se.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	b := &jsonBuilder{path: path, data: data, dec: dec, lines: lineIndex{data: data, line: 1}}
	root, err := b.value(0)
	if err != nil {
		return nil, err
	}
	return &doc{path: path, root: root}, nil
}

// jsonBuilder builds a value tree from a decoder's tokens.
type jsonBuilder struct {
	path   string
	data   []byte
	dec    *json.Decoder
	lines  lineIndex
	values int
}

// next returns the next token and where it starts. The decoder's offset is
// the end of the previous token, so the separators between are skipped.
func (b *jsonBuilder) next() (json.Token, pos, error) {
	off := int(b.dec.InputOffset())
	for off < len(b.data) && strings.IndexByte(" \t\r\n,:", b.data[off]) >= 0 {
		off++
	}
	p := b.lines.at(off)
	tok, err := b.dec.Token()
	if err != nil {
		return nil, p, fileError(b.path, p, "%v", err)
	}
	return tok, p, nil
}

func (b *jsonBuilder) value(depth int) (*value, error) {
	tok, p, err := b.next()
	if err != nil {
		return nil, err
	}
	v := &value{pos: p}
	if b.values++; b.values > maxValues {
		return nil, fileError(b.path, p, "more than %d values", maxValues)
	}
	switch t := tok.(type) {
	case nil:
		v.kind = kindNull
	case bool:
		v.kind, v.text = kindBool, strconv.FormatBool(t)
	case json.Number:
		v.kind, v.text = kindNumber, t.String()
	case string:
		v.kind, v.text = kindString, t
	case json.Delim:
		if depth >= maxDepth {
			return nil, fileError(b.path, p, "nested more than %d levels deep", maxDepth)
		}
		v.kind = kindArray
		if t == '{' {
			v.kind = kindObject
		}
		for b.dec.More() {
			if v.kind == kindObject {
				key, _, err := b.next()
				if err != nil {
					return nil, err
				}
				s, _ := key.(string)
				v.keys = append(v.keys, s)
			}
			item, err := b.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		if _, _, err := b.next(); err != nil { // the closing delimiter
			return nil, err
		}
	default:
		return nil, fileError(b.path, p, "unexpected token %v", tok)
	}
	return v, nil
}

// lineIndex turns byte offsets into positions. Offsets asked in increasing
// order cost one pass over the data in all.
type lineIndex struct {
	data            []byte
	off, line, base int // base is the offset where line starts
}

func (l *lineIndex) at(off int) pos {
	if off < l.off {
		l.off, l.line, l.base = 0, 1, 0
	}
	off = min(off, len(l.data))
	for ; l.off < off; l.off++ {
		if l.data[l.off] == '\n' {
			l.line++
			l.base = l.off + 1
		}
	}
	return pos{l.line, off - l.base + 1}
}

// lineCol returns the position of the byte at off in data.
func lineCol(data []byte, off int) pos {
	l := lineIndex{data: data, line: 1}
	return l.at(off)
}

// parseYAML parses the first YAML document in data. Aliases are expanded
// within the value budget, so that "billion laughs" documents and aliases
// that contain themselves are refused instead of exhausting the memory or
// the stack.
func parseYAML(path string, data []byte) (d *doc, err error) {
	defer func() {
		// The YAML parser has panicked on hostile input in the past; a
		// deployment must fail, not the server.
		if r := recover(); r != nil {
			d, err = nil, fileError(path, pos{}, "cannot be parsed as YAML: %s", clip(fmt.Sprint(r)))
		}
	}()
	var n yaml.Node
	if err := yaml.Unmarshal(trimBOM(data), &n); err != nil {
		return nil, yamlError(path, err)
	}
	c := yamlConverter{path: path}
	root, err := c.convert(&n, 0)
	if err != nil {
		return nil, err
	}
	return &doc{path: path, root: root}, nil
}

// yamlError rewrites a YAML parser error, "yaml: line 3: did not find
// expected key", as a file error with a 1-based line.
//
// The YAML library reports lines inconsistently: 1-based for scanner
// errors, 0-based for parser errors, and no line at all when the mark's
// 0-based line is 0. The line is corrected by the kind of problem; reader
// problems (bad encoding) and anchors carry no position at all.
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	switch {
	case yamlParserProblems[msg]:
		line++
	case yamlReaderProblems[msg], strings.HasPrefix(msg, "input error: "),
		strings.HasPrefix(msg, "unknown anchor "), strings.HasPrefix(msg, "expected "):
		line = 0
	case line == 0: // a scanner problem on the first line
		line = 1
	}
	// The message may quote an anchor or tag of any length.
	return fileError(path, pos{line: line}, "%s", clip(msg))
}

// yamlParserProblems are the problems the YAML parser (as opposed to its
// scanner) reports, with a 0-based line.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlReaderProblems are the problems the YAML reader reports, which come
// without a position.
var yamlReaderProblems = map[string]bool{
	"control characters are not allowed": true,
	"expected low surrogate area":        true,
	"incomplete UTF-16 character":        true,
	"incomplete UTF-16 surrogate pair":   true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid Unicode character":          true,
	"invalid leading UTF-8 octet":        true,
	"invalid length of a UTF-8 sequence": true,
	"invalid trailing UTF-8 octet":       true,
	"unexpected low surrogate area":      true,
}

// yamlConverter turns a yaml.Node tree into a value tree.
type yamlConverter struct {
	path   string
	values int
}

func (c *yamlConverter) convert(n *yaml.Node, depth int) (*value, error) {
	p := pos{n.Line, n.Column}
	if depth > maxDepth {
		return nil, fileError(c.path, p, "nested more than %d levels deep (or an alias contains itself)", maxDepth)
	}
	if c.values++; c.values > maxValues {
		return nil, fileError(c.path, p, "more than %d values once aliases are expanded", maxValues)
	}
	v := &value{pos: p}
	switch n.Kind {
	case 0:
		v.kind = kindNull // an empty document
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			v.kind = kindNull
			return v, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fileError(c.path, p, "alias %q has no anchor", n.Value)
		}
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		v.kind = kindArray
		for _, item := range n.Content {
			iv, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, iv)
		}
	case yaml.MappingNode:
		v.kind = kindObject
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for hops := 0; k.Kind == yaml.AliasNode && k.Alias != nil && hops < maxDepth; hops++ {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fileError(c.path, pos{k.Line, k.Column}, "a mapping key must be a scalar")
			}
			iv, err := c.convert(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k.Value)
			v.items = append(v.items, iv)
		}
	case yaml.ScalarNode:
		v.text = n.Value
		switch n.ShortTag() {
		case "!!null":
			v.kind, v.text = kindNull, ""
		case "!!bool":
			b, err := strconv.ParseBool(strings.ToLower(n.Value))
			if err != nil {
				return nil, fileError(c.path, p, "%q is not a boolean", clip(n.Value))
			}
			v.kind, v.text = kindBool, strconv.FormatBool(b)
		case "!!int", "!!float":
			v.kind = kindNumber
		default:
			v.kind = kindString
		}
	default:
		return nil, fileError(c.path, p, "unexpected YAML node kind %d", n.Kind)
	}
	return v, nil
}

// field returns the value of key in the object v, or nil. As in
// encoding/json, an exact match wins over a case-insensitive one, and the
// last of several equal keys wins.
func field(v *value, key string) *value {
	if v == nil || v.kind != kindObject {
		return nil
	}
	var folded *value
	for i, k := range v.keys {
		if k == key {
			return lastExact(v, key, i)
		}
		if strings.EqualFold(k, key) {
			folded = v.items[i]
		}
	}
	return folded
}

func lastExact(v *value, key string, i int) *value {
	found := v.items[i]
	for j := i + 1; j < len(v.keys); j++ {
		if v.keys[j] == key {
			found = v.items[j]
		}
	}
	return found
}

// str interprets v, the field named name, as a string; a missing or null
// value is "".
func (d *doc) str(v *value, name string) (string, error) {
	if v == nil || v.kind == kindNull {
		return "", nil
	}
	if v.kind != kindString {
		return "", d.errorf(v, "%s must be a string, not %s", name, v.kind)
	}
	return v.text, nil
}

// boolean interprets v as a boolean, also accepting the strings "true" and
// "false"; a missing or null value is false.
func (d *doc) boolean(v *value, name string) (bool, error) {
	if v == nil || v.kind == kindNull {
		return false, nil
	}
	if v.kind == kindBool || v.kind == kindString {
		switch strings.ToLower(strings.TrimSpace(v.text)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, d.errorf(v, "%s must be a boolean, not %s", name, describe(v))
}

// integer interprets v as an integer, also accepting a decimal string; a
// missing or null value is 0.
func (d *doc) integer(v *value, name string) (int64, error) {
	if v == nil || v.kind == kindNull {
		return 0, nil
	}
	if v.kind == kindNumber || v.kind == kindString {
		if n, err := strconv.ParseInt(strings.TrimSpace(v.text), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, d.errorf(v, "%s must be an integer, not %s", name, describe(v))
}

// strs interprets v as an array of strings; a missing or null value is nil.
func (d *doc) strs(v *value, name string) ([]string, error) {
	if v == nil || v.kind == kindNull {
		return nil, nil
	}
	if v.kind != kindArray {
		return nil, d.errorf(v, "%s must be an array of strings, not %s", name, v.kind)
	}
	out := make([]string, 0, len(v.items))
	for i, item := range v.items {
		s, err := d.str(item, fmt.Sprintf("%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// describe names v's kind, with its text when it is a scalar.
func describe(v *value) string {
	switch v.kind {
	case kindString, kindNumber:
		return fmt.Sprintf("%s (%q)", v.kind, clip(v.text))
	default:
		return v.kind.String()
	}
}

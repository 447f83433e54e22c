package archive

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// PathTemplate is a parsed path_template of a configurable proxy's
// http_match, in the path template syntax of Google APIs (google.api.http):
//
//	Template = "/" [ Segments [ "/" ] ]
//	Segments = Segment { "/" Segment }
//	Segment  = "*" | "**" | LITERAL | Variable
//	Variable = "{" FieldPath [ "=" Segments ] "}"
//	FieldPath = IDENT { "." IDENT }
//
// A template is matched against the request path after the proxy's base
// path. "*" matches one non-empty segment, "**" the rest of the path (zero
// or more segments, so it must come last), a literal exactly its text once
// both are percent-decoded, and {name} is {name=*}: a variable captures
// what its segments match. One trailing slash is optional on both sides.
// The verb suffix of google.api.http (":verb") is not special: a colon is
// part of a literal.
type PathTemplate struct {
	// Segments are the template's segments; the template "/" has none.
	Segments []TemplateSegment
	// Vars are the template's variables in the order they are written.
	Vars []TemplateVar
}

// SegmentKind says what one template segment matches.
type SegmentKind int

const (
	// SegmentLiteral matches a segment equal to the literal.
	SegmentLiteral SegmentKind = iota
	// SegmentWildcard ("*") matches any one non-empty segment.
	SegmentWildcard
	// SegmentRest ("**") matches the rest of the path, zero or more
	// segments.
	SegmentRest
)

// TemplateSegment is one segment of a PathTemplate.
type TemplateSegment struct {
	Kind SegmentKind
	// Literal is the segment's text, percent-decoded, for SegmentLiteral.
	Literal string
}

// TemplateVar is one variable of a PathTemplate: it captures the request
// segments that Segments[First:End] match.
type TemplateVar struct {
	Name       string
	First, End int
}

// PathTemplateError is a syntax error in a path template.
type PathTemplateError struct {
	// Char is the 1-based position, in characters, of the problem.
	Char int
	// Reason says what is wrong there.
	Reason string
}

func (e *PathTemplateError) Error() string {
	return fmt.Sprintf("at character %d: %s", e.Char, e.Reason)
}

// ParsePathTemplate parses s; the error is a *PathTemplateError.
func ParsePathTemplate(s string) (*PathTemplate, error) {
	p := templateParser{s: s}
	t, err := p.parse()
	if err != nil {
		return nil, err
	}
	return t, nil
}

// templateParser holds the state of one ParsePathTemplate.
type templateParser struct {
	s       string
	i       int // the next byte
	t       PathTemplate
	hasRest bool
	restAt  int // the first "**"
}

// fail returns the error for a problem at the byte offset off.
func (p *templateParser) fail(off int, format string, args ...any) error {
	return &PathTemplateError{Char: utf8.RuneCountInString(p.s[:off]) + 1, Reason: fmt.Sprintf(format, args...)}
}

func (p *templateParser) parse() (*PathTemplate, error) {
	if p.s == "" || p.s[0] != '/' {
		return nil, p.fail(0, `a path template starts with "/"`)
	}
	end := len(p.s)
	// One trailing slash is allowed, as in a request path: "/a/" is "/a".
	if end > 2 && p.s[end-1] == '/' && p.s[end-2] != '/' {
		end--
	}
	p.i = 1
	if p.i == end {
		return &p.t, nil // "/"
	}
	seen := map[string]bool{}
	for {
		if p.i < end && p.s[p.i] == '{' {
			open := p.i
			v, err := p.variable(end)
			if err != nil {
				return nil, err
			}
			if seen[v.Name] {
				return nil, p.fail(open, "variable %q is used twice", v.Name)
			}
			seen[v.Name] = true
			p.t.Vars = append(p.t.Vars, v)
		} else if err := p.segment(end, "/"); err != nil {
			return nil, err
		}
		if p.i == end {
			break
		}
		p.i++ // the "/"
	}
	for i, seg := range p.t.Segments {
		if seg.Kind == SegmentRest && i != len(p.t.Segments)-1 {
			return nil, p.fail(p.restAt, `"**" must be the last segment`)
		}
	}
	return &p.t, nil
}

// segment parses one plain segment ending at a "/", or at one of the
// bytes in stops, or at end.
func (p *templateParser) segment(end int, stops string) error {
	start := p.i
	for p.i < end && strings.IndexByte(stops, p.s[p.i]) < 0 && p.s[p.i] != '/' {
		p.i++
	}
	text := p.s[start:p.i]
	switch text {
	case "":
		return p.fail(start, "empty segment")
	case "*":
		p.t.Segments = append(p.t.Segments, TemplateSegment{Kind: SegmentWildcard})
		return nil
	case "**":
		if !p.hasRest {
			p.hasRest, p.restAt = true, start
		}
		p.t.Segments = append(p.t.Segments, TemplateSegment{Kind: SegmentRest})
		return nil
	}
	for j := start; j < p.i; j++ {
		switch c := p.s[j]; {
		case c == '*':
			return p.fail(j, `"*" must be a whole segment`)
		case c == '{' || c == '}':
			return p.fail(j, "%q must start or end a whole segment", string(c))
		case !pathChar(c):
			r, _ := utf8.DecodeRuneInString(p.s[j:])
			return p.fail(j, "%q is not allowed in a path; percent-encode it", string(r))
		}
	}
	lit, err := url.PathUnescape(text)
	if err != nil {
		return p.fail(start+strings.IndexByte(text, '%'), "invalid percent-encoding")
	}
	p.t.Segments = append(p.t.Segments, TemplateSegment{Kind: SegmentLiteral, Literal: lit})
	return nil
}

// variable parses "{name}" or "{name=segments}" starting at p.i.
func (p *templateParser) variable(end int) (TemplateVar, error) {
	open := p.i
	p.i++
	start := p.i
	for p.i < end && p.s[p.i] != '=' && p.s[p.i] != '}' && p.s[p.i] != '/' {
		p.i++
	}
	name := p.s[start:p.i]
	if !fieldPath(name) {
		return TemplateVar{}, p.fail(start, "variable name %q is not a field path such as name or a.b", name)
	}
	v := TemplateVar{Name: name, First: len(p.t.Segments)}
	if p.i < end && p.s[p.i] == '=' {
		p.i++
		for {
			if err := p.segment(end, "}{"); err != nil {
				return v, err
			}
			if p.i >= end || p.s[p.i] != '/' {
				break
			}
			p.i++
		}
	} else {
		p.t.Segments = append(p.t.Segments, TemplateSegment{Kind: SegmentWildcard})
	}
	switch {
	case p.i >= end:
		return v, p.fail(open, `"{" is not closed`)
	case p.s[p.i] == '{':
		return v, p.fail(p.i, "variables cannot be nested")
	case p.s[p.i] != '}':
		return v, p.fail(p.i, `expected "}"`)
	}
	p.i++
	if p.i < end && p.s[p.i] != '/' {
		return v, p.fail(p.i, `"}" must end a segment`)
	}
	v.End = len(p.t.Segments)
	return v, nil
}

// fieldPath reports whether s is IDENT { "." IDENT }.
func fieldPath(s string) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for k := 0; k < len(id); k++ {
			c := id[k]
			letter := 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_'
			if !letter && (k == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

// pathChar reports whether c may appear in a path segment as it is (RFC
// 3986 pchar), "%" included for percent-encoding.
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@%", c) >= 0
}

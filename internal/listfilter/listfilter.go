// Package listfilter reads the filter query parameter of Apigee list
// methods (archive deployments, operations), whose syntax is AIP-160's. It
// reads the part of that syntax keyplane evaluates: comparisons of a field
// with a value by "=", joined by AND. Values are bare words or double-quoted
// strings. Every other construct (OR, NOT, parentheses, other operators,
// functions, fields the list does not filter on) is refused with a message
// that names it, so that a filter is never silently ignored.
package listfilter

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/keyplane/keyplane"
)

// Cond is one comparison of a filter: Field = Value.
type Cond struct {
	Field string
	Value string
}

// Parse reads filter and checks each field against fields; a field ending
// in "." (such as "labels.") allows any key after it. An empty filter is no
// condition.
func Parse(filter string, fields []string) ([]Cond, error) {
	toks, err := tokens(filter)
	if err != nil {
		return nil, err
	}
	var out []Cond
	for i := 0; i < len(toks); {
		if len(out) > 0 {
			if toks[i].text != "AND" || toks[i].quoted {
				return nil, unsupported(filter, toks[i].text, "only comparisons joined by AND are supported")
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, invalid(filter, "a comparison \"field = value\" is incomplete")
		}
		field, op, value := toks[i], toks[i+1], toks[i+2]
		i += 3
		if field.quoted || !known(field.text, fields) {
			return nil, unsupported(filter, field.text, "the fields this list filters on are "+strings.Join(fields, ", "))
		}
		if op.quoted || op.text != "=" {
			return nil, unsupported(filter, op.text, `only "=" is supported`)
		}
		if !value.quoted && isOperator(value.text) {
			return nil, invalid(filter, "a value is missing after "+strconv.Quote(field.text+" ="))
		}
		out = append(out, Cond{Field: field.text, Value: value.text})
	}
	return out, nil
}

func known(field string, fields []string) bool {
	for _, f := range fields {
		prefix := strings.HasSuffix(f, ".")
		if (!prefix && field == f) || (prefix && strings.HasPrefix(field, f) && len(field) > len(f)) {
			return true
		}
	}
	return false
}

type token struct {
	text   string
	quoted bool
}

func isOperator(s string) bool {
	switch s {
	case "=", "!=", "<", ">", "<=", ">=", ":", "(", ")", "-":
		return true
	}
	return false
}

// tokens splits a filter into words, quoted strings and operators.
func tokens(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, invalid(s, "a quoted value is not closed")
			}
			v, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return nil, invalid(s, "a quoted value is malformed")
			}
			out = append(out, token{text: v, quoted: true})
			i = j + 1
		case strings.ContainsRune("=!<>:()-", rune(c)):
			j := i + 1
			if j < len(s) && s[j] == '=' && strings.ContainsRune("!<>", rune(c)) {
				j++
			}
			out = append(out, token{text: s[i:j]})
			i = j
		default:
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || strings.ContainsRune("._/@*", rune(s[j]))) {
				j++
			}
			if j == i {
				return nil, unsupported(s, string(c), "it is not part of the supported filter syntax")
			}
			out = append(out, token{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

func unsupported(filter, what, why string) error {
	return keyplane.Errorf(keyplane.InvalidArgument, "filter %.100q: %.60q is not supported: %s", filter, what, why)
}

func invalid(filter, why string) error {
	return keyplane.Errorf(keyplane.InvalidArgument, "filter %.100q is invalid: %s", filter, why)
}

// Bool reads the value of a boolean field.
func Bool(filter string, c Cond) (bool, error) {
	switch c.Value {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(filter, strconv.Quote(c.Field)+" is true or false, not "+strconv.Quote(c.Value))
}

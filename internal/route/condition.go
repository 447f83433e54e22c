package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
)

// maxConditionDepth bounds the nesting of parentheses and "not"s, so that a
// hostile condition cannot exhaust the stack.
const maxConditionDepth = 100

// condition is a parsed RouteRule Condition in the subset of Apigee's
// condition language that routing needs. See the package documentation
// for the language.
type condition struct {
	root node
}

// conditionError is a syntax error in a condition.
type conditionError struct {
	char   int // 1-based, in characters
	reason string
}

func (e *conditionError) Error() string {
	return fmt.Sprintf("at character %d: %s", e.char, e.reason)
}

// node is a boolean expression.
type node interface {
	eval(f *flow) bool
}

type (
	andNode   struct{ l, r node }
	orNode    struct{ l, r node }
	notNode   struct{ x node }
	constNode bool
)

func (n andNode) eval(f *flow) bool    { return n.l.eval(f) && n.r.eval(f) }
func (n orNode) eval(f *flow) bool     { return n.l.eval(f) || n.r.eval(f) }
func (n notNode) eval(f *flow) bool    { return !n.x.eval(f) }
func (n constNode) eval(*flow) bool    { return bool(n) }
func (c *condition) eval(f *flow) bool { return c.root.eval(f) }

// flow is the request a condition is evaluated against, with the values
// routing already computed.
type flow struct {
	r        *http.Request
	path     string // escaped
	basePath string
	suffix   string
	query    url.Values // parsed on first use
}

// varKind is a flow variable that conditions can read.
type varKind int

const (
	varUnknown varKind = iota // not a variable routing knows: always null
	varPathSuffix
	varBasePath
	varVerb
	varPath
	varURI
	varQueryString
	varHeader
	varQueryParam
)

// variable is a flow variable named in a condition.
type variable struct {
	kind varKind
	name string // the header or query parameter
}

// variableNamed resolves a variable name once, at parse time.
func variableNamed(name string) variable {
	switch name {
	case "proxy.pathsuffix":
		return variable{kind: varPathSuffix}
	case "proxy.basepath":
		return variable{kind: varBasePath}
	case "request.verb":
		return variable{kind: varVerb}
	case "request.path":
		return variable{kind: varPath}
	case "request.uri":
		return variable{kind: varURI}
	case "request.querystring":
		return variable{kind: varQueryString}
	}
	if h, ok := strings.CutPrefix(name, "request.header."); ok && h != "" {
		return variable{kind: varHeader, name: http.CanonicalHeaderKey(h)}
	}
	if q, ok := strings.CutPrefix(name, "request.queryparam."); ok && q != "" {
		return variable{kind: varQueryParam, name: q}
	}
	return variable{kind: varUnknown}
}

// value returns the variable's value in f, and false when it is null.
func (v variable) value(f *flow) (string, bool) {
	switch v.kind {
	case varPathSuffix:
		return f.suffix, true
	case varBasePath:
		return f.basePath, true
	case varVerb:
		return f.r.Method, true
	case varPath:
		return f.path, true
	case varURI:
		if f.r.URL.RawQuery == "" {
			return f.path, true
		}
		return f.path + "?" + f.r.URL.RawQuery, true
	case varQueryString:
		return f.r.URL.RawQuery, true
	case varHeader:
		if v.name == "Host" {
			return f.r.Host, f.r.Host != ""
		}
		vals := f.r.Header[v.name]
		if len(vals) == 0 {
			return "", false
		}
		return vals[0], true
	case varQueryParam:
		if f.query == nil {
			f.query = f.r.URL.Query()
		}
		vals, ok := f.query[v.name]
		if !ok || len(vals) == 0 {
			return "", false
		}
		return vals[0], true
	}
	return "", false
}

// operand is one side of a comparison: a variable or a literal.
type operand struct {
	isVar bool
	v     variable
	text  string // a literal's value; "" for null
	null  bool   // the literal null
	num   bool   // a numeric literal
}

func (o operand) value(f *flow) (string, bool) {
	if o.isVar {
		return o.v.value(f)
	}
	return o.text, !o.null
}

// op is a comparison operator.
type op int

const (
	opEquals op = iota
	opNotEquals
	opEqualsFold
	opGreater
	opGreaterEq
	opLess
	opLessEq
	opMatches
	opMatchesPath
	opJavaRegex
	opStartsWith
)

// opNames are the comparison operators by symbol and by name, in lower
// case: names are matched in any case.
var opNames = map[string]op{
	"=": opEquals, "==": opEquals, "equals": opEquals, "is": opEquals,
	"!=": opNotEquals, "notequals": opNotEquals, "isnot": opNotEquals,
	":=": opEqualsFold, "equalscaseinsensitive": opEqualsFold,
	">": opGreater, "greaterthan": opGreater,
	">=": opGreaterEq, "greaterthanorequals": opGreaterEq,
	"<": opLess, "lesserthan": opLess, "lessthan": opLess,
	"<=": opLessEq, "lesserthanorequals": opLessEq, "lessthanorequals": opLessEq,
	"~": opMatches, "matches": opMatches, "like": opMatches,
	"~/": opMatchesPath, "matchespath": opMatchesPath, "likepath": opMatchesPath,
	"~~": opJavaRegex, "javaregex": opJavaRegex,
	"=|": opStartsWith, "startswith": opStartsWith,
}

// cmpNode compares two operands.
type cmpNode struct {
	op   op
	l, r operand
	glob []string       // opMatches: the pattern split at "*"
	re   *regexp.Regexp // opMatchesPath and opJavaRegex
	// maxLen is the longest value re is run on; a longer one does not
	// match (see regexBudget).
	maxLen int
}

// Go's regular expressions run in time linear in the value, but also in the
// size of the compiled program, and a short pattern can compile to a large
// one: (.*a){1000} is 5,000 instructions, and costs 1.5 s of CPU against a
// 60 KB header. A pattern may compile to at most maxRegexInsts
// instructions, and is run only on values of at most regexBudget divided by
// its size (never more than maxRegexValue bytes): one match then costs a few
// milliseconds at most, whatever the request.
const (
	maxRegexBytes = 1024
	maxRegexInsts = 256
	regexBudget   = 1 << 18
	maxRegexValue = 64 << 10
)

// regexCost returns the number of instructions re compiles to.
func regexCost(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

func (n *cmpNode) eval(f *flow) bool {
	l, lok := n.l.value(f)
	switch n.op {
	case opMatches:
		return lok && globMatch(n.glob, l)
	case opMatchesPath, opJavaRegex:
		return lok && len(l) <= n.maxLen && n.re.MatchString(l)
	}
	r, rok := n.r.value(f)
	switch n.op {
	case opEquals, opNotEquals, opEqualsFold:
		var eq bool
		switch {
		case !lok || !rok:
			eq = lok == rok
		case n.op == opEqualsFold:
			eq = strings.EqualFold(l, r)
		case n.l.num || n.r.num:
			eq = numEqual(l, r)
		default:
			eq = l == r
		}
		return eq != (n.op == opNotEquals)
	case opStartsWith:
		return lok && rok && strings.HasPrefix(l, r)
	}
	if !lok || !rok {
		return false
	}
	c := compare(l, r)
	switch n.op {
	case opGreater:
		return c > 0
	case opGreaterEq:
		return c >= 0
	case opLess:
		return c < 0
	}
	return c <= 0 // opLessEq
}

// numEqual compares two values as numbers when both are, as strings
// otherwise: 200 equals "200.0".
func numEqual(a, b string) bool {
	x, errA := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, errB := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if errA != nil || errB != nil {
		return a == b
	}
	return x == y
}

// compare orders two values as numbers when both are, as strings
// otherwise.
func compare(a, b string) int {
	x, errA := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, errB := strconv.ParseFloat(strings.TrimSpace(b), 64)
	switch {
	case errA != nil || errB != nil:
		return strings.Compare(a, b)
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// globMatch reports whether s matches the pattern whose parts, split at
// "*", are parts: "*" matches any run of characters, "/" included.
func globMatch(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// pathPattern compiles a MatchesPath pattern: "*" matches one non-empty
// path segment, "**" any run of characters, "/" included; everything else
// matches itself.
func pathPattern(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(p); {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(`.*`)
			i += 2
		case p[i] == '*':
			b.WriteString(`[^/]+`)
			i++
		default:
			j := i
			for j < len(p) && p[j] != '*' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(p[i:j]))
			i = j
		}
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// ---------------------------------------------------------------- parsing

// tokKind is the kind of a condition token.
type tokKind int

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokString
	tokNumber
	tokWord
	tokSymbol // an operator written with symbols
)

type token struct {
	kind tokKind
	text string // the value of a string, the text of anything else
	off  int    // byte offset in the condition
}

// symbols are the operators written with symbols, longest first.
var symbols = []string{"==", "!=", ":=", ">=", "<=", "~~", "~/", "=|", "&&", "||", "=", ">", "<", "~", "!"}

// parseCondition parses the text of a Condition; the error is a
// *conditionError.
func parseCondition(s string) (*condition, error) {
	p := &condParser{s: s}
	if !utf8.ValidString(s) {
		bad := 0
		for bad < len(s) {
			r, size := utf8.DecodeRuneInString(s[bad:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			bad += size
		}
		return nil, p.fail(bad, "invalid UTF-8")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.fail(p.tok.off, `expected "and", "or" or the end, found %s`, p.describe())
	}
	return &condition{root: root}, nil
}

// condParser holds the state of one parseCondition.
type condParser struct {
	s   string
	i   int   // the next byte to scan
	tok token // the current token
}

func (p *condParser) fail(off int, format string, args ...any) error {
	return &conditionError{char: utf8.RuneCountInString(p.s[:off]) + 1, reason: fmt.Sprintf(format, args...)}
}

// describe names the current token in messages.
func (p *condParser) describe() string {
	switch p.tok.kind {
	case tokEOF:
		return "the end"
	case tokString:
		return strconv.Quote(clip(p.tok.text))
	}
	return fmt.Sprintf("%q", clip(p.tok.text))
}

// next scans the next token into p.tok.
func (p *condParser) next() error {
	s := p.s
	for p.i < len(s) && (s[p.i] == ' ' || s[p.i] == '\t' || s[p.i] == '\n' || s[p.i] == '\r') {
		p.i++
	}
	start := p.i
	if p.i == len(s) {
		p.tok = token{kind: tokEOF, off: start}
		return nil
	}
	c := s[p.i]
	switch {
	case c == '(' || c == ')':
		p.i++
		p.tok = token{kind: tokLParen, text: string(c), off: start}
		if c == ')' {
			p.tok.kind = tokRParen
		}
		return nil
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(s); p.i++ {
			switch s[p.i] {
			case '"':
				p.i++
				p.tok = token{kind: tokString, text: b.String(), off: start}
				return nil
			case '\\':
				// \" and \\ are escapes; any other backslash is kept, so
				// that regular expressions read as written.
				if p.i+1 < len(s) && (s[p.i+1] == '"' || s[p.i+1] == '\\') {
					p.i++
				}
			}
			b.WriteByte(s[p.i])
		}
		return p.fail(start, "the string is not closed")
	case '0' <= c && c <= '9' || c == '-' && p.i+1 < len(s) && '0' <= s[p.i+1] && s[p.i+1] <= '9':
		p.i++
		for p.i < len(s) && ('0' <= s[p.i] && s[p.i] <= '9' || s[p.i] == '.') {
			p.i++
		}
		text := s[start:p.i]
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return p.fail(start, "number %s is out of range", clip(text))
			}
			return p.fail(start, "%q is not a number", clip(text))
		}
		p.tok = token{kind: tokNumber, text: text, off: start}
		return nil
	case 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_':
		for p.i < len(s) && wordChar(s[p.i]) {
			p.i++
		}
		p.tok = token{kind: tokWord, text: s[start:p.i], off: start}
		return nil
	}
	for _, sym := range symbols {
		if strings.HasPrefix(s[p.i:], sym) {
			p.i += len(sym)
			p.tok = token{kind: tokSymbol, text: sym, off: start}
			return nil
		}
	}
	r, _ := utf8.DecodeRuneInString(s[p.i:])
	return p.fail(start, "unexpected %q", string(r))
}

// wordChar reports whether c continues a word: a variable name such as
// request.header.X-Api-Key, or a keyword.
func wordChar(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// is reports whether the current token is the keyword or symbol of one of
// names.
func (p *condParser) is(names ...string) bool {
	if p.tok.kind != tokWord && p.tok.kind != tokSymbol {
		return false
	}
	for _, n := range names {
		if strings.EqualFold(p.tok.text, n) {
			return true
		}
	}
	return false
}

func (p *condParser) or(depth int) (node, error) {
	return p.chain(depth, p.and, func(l, r node) node { return orNode{l, r} }, "or", "||")
}

func (p *condParser) and(depth int) (node, error) {
	return p.chain(depth, p.unary, func(l, r node) node { return andNode{l, r} }, "and", "&&")
}

// chain parses operands joined by the operator named names, left to
// right, in a loop: a long chain is not nesting.
func (p *condParser) chain(depth int, operand func(int) (node, error), join func(l, r node) node, names ...string) (node, error) {
	l, err := operand(depth)
	if err != nil {
		return nil, err
	}
	for p.is(names...) {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := operand(depth)
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *condParser) unary(depth int) (node, error) {
	if depth >= maxConditionDepth {
		return nil, p.fail(p.tok.off, "nested more than %d levels deep", maxConditionDepth)
	}
	switch {
	case p.is("not", "!"):
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case p.tok.kind == tokLParen:
		open := p.tok.off
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tokRParen:
			return x, p.next()
		case tokEOF:
			return nil, p.fail(open, `"(" is not closed`)
		}
		return nil, p.fail(p.tok.off, `expected ")", found %s`, p.describe())
	}
	return p.comparison()
}

// comparison parses "operand operator operand", or a lone true or false.
func (p *condParser) comparison() (node, error) {
	lOff := p.tok.off
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	o, isOp := op(0), false
	if p.tok.kind == tokWord || p.tok.kind == tokSymbol {
		o, isOp = opNames[strings.ToLower(p.tok.text)]
	}
	if !isOp {
		if !l.isVar && !l.null && !l.num && (l.text == "true" || l.text == "false") && p.s[lOff] != '"' {
			return constNode(l.text == "true"), nil
		}
		return nil, p.fail(p.tok.off, "expected an operator after %s, found %s", clip(p.s[lOff:p.tokEnd(lOff)]), p.describe())
	}
	opText := p.tok.text
	if err := p.next(); err != nil {
		return nil, err
	}
	rOff := p.tok.off
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	n := &cmpNode{op: o, l: l, r: r}
	switch o {
	case opMatches, opMatchesPath, opJavaRegex:
		if r.isVar || r.null || p.s[rOff] != '"' {
			return nil, p.fail(rOff, "the pattern of %s must be a quoted string", opText)
		}
		if o != opMatches && len(r.text) > maxRegexBytes {
			return nil, p.fail(rOff, "the pattern of %s is longer than %d bytes", opText, maxRegexBytes)
		}
		switch o {
		case opMatches:
			n.glob = strings.Split(r.text, "*")
		case opMatchesPath:
			if n.re, err = pathPattern(r.text); err != nil {
				return nil, p.fail(rOff, "invalid path pattern: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		default:
			if n.re, err = regexp.Compile(`^(?:` + r.text + `)$`); err != nil {
				return nil, p.fail(rOff, "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		}
		if n.re != nil {
			cost := regexCost(n.re.String())
			if cost > maxRegexInsts {
				return nil, p.fail(rOff, "regular expression is too complex: it compiles to %d instructions, more than %d (use fewer or smaller repetitions)", cost, maxRegexInsts)
			}
			n.maxLen = min(maxRegexValue, regexBudget/max(cost, 1))
		}
	}
	return n, nil
}

// tokEnd returns where the operand that started at off ends, for
// messages: the start of the current token, without the spaces before it.
func (p *condParser) tokEnd(off int) int {
	return off + len(strings.TrimRight(p.s[off:p.tok.off], " \t\r\n"))
}

// operand parses a variable, a quoted string, a number, true, false or
// null.
func (p *condParser) operand() (operand, error) {
	t := p.tok
	var o operand
	switch t.kind {
	case tokString:
		o.text = t.text
	case tokNumber:
		o.text, o.num = t.text, true
	case tokWord:
		if _, isOp := opNames[strings.ToLower(t.text)]; isOp || p.is("and", "or", "not") {
			return o, p.fail(t.off, "expected a variable or a value, found %s", p.describe())
		}
		switch strings.ToLower(t.text) {
		case "null":
			o.null = true
		case "true", "false":
			o.text = strings.ToLower(t.text)
		default:
			o.isVar, o.v = true, variableNamed(t.text)
		}
	default:
		return o, p.fail(t.off, "expected a variable or a value, found %s", p.describe())
	}
	return o, p.next()
}

// clip shortens s for a message.
func clip(s string) string { return keyplane.Clip(s, 100) }

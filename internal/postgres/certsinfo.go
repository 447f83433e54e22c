package postgres

import (
	"strconv"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
)

// scanCertsInfo decodes aliases.certs_info as PostgreSQL prints a jsonb
// value of marshalCertsInfo's making, without reflection: every alias read
// decodes it, and encoding/json spent about as much CPU on it as the rest of
// the request's own work. It reports false for anything it does not know
// for certain to read exactly as json.Unmarshal would (an escaped or
// invalid UTF-8 string, an unknown or differently cased key, a number not
// written as a plain integer, a null list of names), and the caller then
// decodes with encoding/json: the fast path changes the cost, never the
// result. Its strings share one copy of b.
func scanCertsInfo(b []byte) ([]keyplane.CertInfo, bool) {
	p := &certsScanner{s: string(b)}
	p.space()
	if p.literal("null") {
		p.space()
		return nil, p.i == len(p.s)
	}
	if !p.byte('[') {
		return nil, false
	}
	out := []keyplane.CertInfo{}
	p.space()
	if p.byte(']') {
		p.space()
		return out, p.i == len(p.s)
	}
	for {
		var c keyplane.CertInfo
		if !p.object(&c) {
			return nil, false
		}
		out = append(out, c)
		p.space()
		if p.byte(',') {
			p.space()
			continue
		}
		if !p.byte(']') {
			return nil, false
		}
		p.space()
		return out, p.i == len(p.s)
	}
}

// certsScanner reads JSON from s at i.
type certsScanner struct {
	s string
	i int
}

func (p *certsScanner) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (p *certsScanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *certsScanner) literal(lit string) bool {
	if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// str reads a string without escapes, of valid UTF-8.
func (p *certsScanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false // json.Unmarshal would replace the bad bytes
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// integer reads a JSON number that is a plain integer (no fraction, no
// exponent, no leading zero) fitting in an int64.
func integer(s string) (int64, bool) {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// number reads a JSON integer.
func (p *certsScanner) number() (int64, bool) {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == '-' || ('0' <= p.s[p.i] && p.s[p.i] <= '9')) {
		p.i++
	}
	return integer(p.s[start:p.i])
}

// quotedNumber reads an integer in a string, as the ",string" option of
// encoding/json writes it.
func (p *certsScanner) quotedNumber() (int64, bool) {
	s, ok := p.str()
	if !ok {
		return 0, false
	}
	return integer(s)
}

// strings reads a list of strings.
func (p *certsScanner) strings() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := []string{}
	p.space()
	if p.byte(']') {
		return out, true
	}
	for {
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		p.space()
		if p.byte(',') {
			p.space()
			continue
		}
		return out, p.byte(']')
	}
}

// object reads one certificate's object into c.
func (p *certsScanner) object(c *keyplane.CertInfo) bool {
	if !p.byte('{') {
		return false
	}
	p.space()
	if p.byte('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		switch key {
		case "version":
			c.Version, ok = p.number()
		case "subject":
			c.Subject, ok = p.str()
		case "issuer":
			c.Issuer, ok = p.str()
		case "expiryDate":
			c.ExpiryDate, ok = p.quotedNumber()
		case "validFrom":
			c.ValidFrom, ok = p.quotedNumber()
		case "isValid":
			c.IsValid, ok = p.str()
		case "subjectAlternativeNames":
			c.SubjectAlternativeNames, ok = p.strings()
		case "sigAlgName":
			c.SigAlgName, ok = p.str()
		case "publicKey":
			c.PublicKey, ok = p.str()
		case "basicConstraints":
			c.BasicConstraints, ok = p.str()
		case "serialNumber":
			c.SerialNumber, ok = p.str()
		default:
			ok = false
		}
		if !ok {
			return false
		}
		p.space()
		if p.byte(',') {
			p.space()
			continue
		}
		return p.byte('}')
	}
}

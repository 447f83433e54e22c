package archive

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/keyplane/keyplane"
)

// Operation is one operation of a configurable proxy: the requests it
// takes and where it sends them.
type Operation struct {
	// ID is the operation's id (or, failing that, its name); it may be "".
	ID string
	// Matches are the operation's http_match entries in the order they are
	// written: a request is the operation's when it matches any of them.
	// An operation without any takes no request.
	Matches []HTTPMatch
	// Target is the operation's own target, or nil when it uses the
	// proxy's top-level target.
	Target *ConfigTarget
}

// HTTPMatch is one http_match entry of a configurable operation.
type HTTPMatch struct {
	// PathTemplate is the path_template as written; ParsePathTemplate
	// accepts it.
	PathTemplate string
	// Method is the HTTP method in upper case, or "" for any method.
	Method string
}

// ConfigTarget is a configurable proxy's target: exactly one of a target
// server and a URI.
type ConfigTarget struct {
	// TargetServerID names a target server of the environment.
	TargetServerID string
	// URI is an absolute http or https URL.
	URI string
}

// configTarget reads a configurable proxy's target t, which may be absent:
// exactly one of target_server_id (or targetServerId) and uri.
func configTarget(d *doc, t *value, where string) (*ConfigTarget, error) {
	if t == nil || t.kind == kindNull {
		return nil, nil
	}
	if t.kind != kindObject {
		return nil, d.errorf(t, "%s must be a mapping, not %s", where, t.kind)
	}
	idv := field(t, "target_server_id")
	if idv == nil {
		idv = field(t, "targetServerId")
	}
	id, err := d.str(idv, where+".target_server_id")
	if err != nil {
		return nil, err
	}
	uriv := field(t, "uri")
	uri, err := d.str(uriv, where+".uri")
	if err != nil {
		return nil, err
	}
	switch {
	case id != "" && uri != "":
		return nil, d.errorf(t, "%s has both target_server_id and uri; set one", where)
	case id == "" && uri == "":
		return nil, d.errorf(t, "%s has neither target_server_id nor uri", where)
	case id != "" && !keyplane.ValidName(id):
		return nil, d.errorf(idv, "%s.target_server_id %q is not a valid target server name", where, clip(id))
	}
	if problem := CheckTargetURL(uri); uri != "" && problem != "" {
		return nil, d.errorf(uriv, "%s.uri %q %s", where, clip(uri), problem)
	}
	return &ConfigTarget{TargetServerID: id, URI: uri}, nil
}

// operation reads operations[i] of a configurable proxy.
func operation(d *doc, op *value, where string) (Operation, error) {
	var o Operation
	var err error
	if o.ID, err = d.str(field(op, "id"), where+".id"); err != nil {
		return o, err
	}
	if o.ID == "" {
		if o.ID, err = d.str(field(op, "name"), where+".name"); err != nil {
			return o, err
		}
	}
	hm := field(op, "http_match")
	if hm == nil {
		hm = field(op, "httpMatch")
	}
	if hm != nil && hm.kind != kindNull {
		if hm.kind != kindArray {
			return o, d.errorf(hm, "%s.http_match must be a sequence, not %s", where, hm.kind)
		}
		for j, m := range hm.items {
			match, err := httpMatch(d, m, fmt.Sprintf("%s.http_match[%d]", where, j))
			if err != nil {
				return o, err
			}
			o.Matches = append(o.Matches, match)
		}
	}
	o.Target, err = configTarget(d, field(op, "target"), where+".target")
	return o, err
}

// httpMatch reads one http_match entry: a path_template, which is
// required, and a method.
func httpMatch(d *doc, m *value, where string) (HTTPMatch, error) {
	if m.kind != kindObject {
		return HTTPMatch{}, d.errorf(m, "%s must be a mapping, not %s", where, m.kind)
	}
	ptv := field(m, "path_template")
	if ptv == nil {
		ptv = field(m, "pathTemplate")
	}
	pt, err := d.str(ptv, where+".path_template")
	if err != nil {
		return HTTPMatch{}, err
	}
	if pt == "" {
		return HTTPMatch{}, d.errorf(m, "%s has no path_template", where)
	}
	if _, err := ParsePathTemplate(pt); err != nil {
		return HTTPMatch{}, d.errorf(ptv, "%s.path_template %q is invalid %s", where, clip(pt), err)
	}
	mv := field(m, "method")
	method, err := d.str(mv, where+".method")
	if err != nil {
		return HTTPMatch{}, err
	}
	if method != "" && !httpToken(method) {
		return HTTPMatch{}, d.errorf(mv, "%s.method %q is not an HTTP method", where, clip(method))
	}
	return HTTPMatch{PathTemplate: pt, Method: strings.ToUpper(method)}, nil
}

// httpToken reports whether s is an RFC 9110 token, the syntax of a
// method.
func httpToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// CleanBasePath checks a base path and returns it without its trailing
// slash ("/" stays "/"), or says what is wrong with it: a base path is an
// absolute URL path of RFC 3986 characters, percent-encoded where needed,
// without empty, "." or ".." segments. Wildcards are not supported.
func CleanBasePath(s string) (clean, problem string) {
	if !strings.HasPrefix(s, "/") {
		return "", `must start with "/"`
	}
	if n := len(s); n > 1 && s[n-1] == '/' && s[n-2] != '/' {
		s = s[:n-1]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' || c == '{' || c == '}':
			return "", fmt.Sprintf("contains %q: base paths cannot hold wildcards or variables", string(c))
		case c != '/' && !pathChar(c):
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", fmt.Sprintf("contains %q, which a URL path cannot hold unencoded", string(r))
		}
	}
	if s == "/" {
		return s, ""
	}
	for _, seg := range strings.Split(s[1:], "/") {
		dec, err := url.PathUnescape(seg)
		switch {
		case err != nil:
			return "", "has an invalid percent-encoding"
		case seg == "":
			return "", "has an empty segment"
		case dec == "." || dec == "..":
			return "", fmt.Sprintf("has a %q segment", dec)
		}
	}
	return s, ""
}

// CheckTargetURL says what is wrong with a target URL, or returns "" when
// it is an absolute http or https URL.
func CheckTargetURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" || u.Fragment != "" {
		return "is not an absolute http or https URL"
	}
	return ""
}

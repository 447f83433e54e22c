package route

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/fuzzcorpus"
	"github.com/keyplane/keyplane/internal/testzip"
)

// The fuzz targets get their seeds from testdata/fuzz/<target>/: the
// conditions of the tests, hostile ones (deep nesting, unterminated
// strings, invalid UTF-8, expensive patterns) and tricky request paths.
// `go test` runs the seeds and checks them against TestWriteFuzzCorpus;
// `make fuzz` fuzzes; `go test -run TestWriteFuzzCorpus -update`
// regenerates them.

// maxConditionMessage bounds a syntax error's message: it quotes at most
// one clipped token or regular expression error.
const maxConditionMessage = 1024

// checkCondition parses cond as Compile does, failing the test if that
// panics, fails other than with a positioned syntax error, or gives a
// condition that does not evaluate consistently.
func checkCondition(t *testing.T, cond string, f *flow) {
	c, err := parseCondition(cond)
	if err != nil {
		var ce *conditionError
		if !errors.As(err, &ce) {
			t.Fatalf("not a condition error: %v", err)
		}
		if ce.char < 1 || ce.char > utf8.RuneCountInString(cond)+1 {
			t.Fatalf("error at character %d of a %d-character condition: %v", ce.char, utf8.RuneCountInString(cond), err)
		}
		if len(err.Error()) > maxConditionMessage {
			t.Fatalf("message is %d bytes: %.200q", len(err.Error()), err.Error())
		}
		return
	}
	got := c.eval(f)
	if again := c.eval(f); again != got {
		t.Fatalf("%q evaluates to %v, then %v", cond, got, again)
	}
	negated, err := parseCondition("not (" + cond + ")")
	if err != nil {
		if !strings.Contains(err.Error(), "nested more than") {
			t.Fatalf("%q parses but its negation does not: %v", cond, err)
		}
		return
	}
	if negated.eval(f) == got {
		t.Fatalf("%q and its negation both evaluate to %v", cond, got)
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, seed := range conditionSeeds {
		f.Add(seed, "/v1/weather/forecast/today?city=Paris", "application/json")
	}
	f.Fuzz(func(t *testing.T, cond, target, contentType string) {
		fl := sampleFlow()
		if u, err := url.ParseRequestURI(target); err == nil {
			fl.r.URL = u
			fl.path = u.EscapedPath()
		}
		fl.r.Header.Set("Content-Type", contentType)
		checkCondition(t, cond, fl)
	})
}

// FuzzMatch routes arbitrary requests through the sample environment.
func FuzzMatch(f *testing.F) {
	for _, seed := range matchSeeds {
		f.Add(seed[1], seed[2], seed[3])
	}
	table := compileEnv(f)
	f.Fuzz(func(t *testing.T, method, target, beta string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{"X-Beta": {beta}}, Host: "myorg-dev.localhost"}
		m, ok := table.Match(r)
		if !ok {
			if m != nil {
				t.Fatal("no route, but a match")
			}
			return
		}
		path := u.EscapedPath()
		if m.Proxy == "" || !strings.HasSuffix(path, m.PathSuffix) || m.PathSuffix != "" && m.PathSuffix[0] != '/' {
			t.Fatalf("%q matched %+v", path, m)
		}
		if dotSegment(path) {
			t.Fatalf("%q has a dot segment but matched %+v", path, m)
		}
		up := m.UpstreamPath()
		if m.Target == nil {
			if up != "" {
				t.Fatalf("null route with upstream path %q", up)
			}
			return
		}
		if !strings.HasPrefix(up, "/") || dotSegment(up) || !strings.HasSuffix(up, m.PathSuffix) {
			t.Fatalf("%q goes upstream as %q", path, up)
		}
	})
}

// FuzzCompile compiles a fuzzed ProxyEndpoint and config.yaml into the
// sample environment and routes a request through what compiles: whatever
// Bundle accepts, Compile either compiles or refuses with a deployment
// error.
func FuzzCompile(f *testing.F) {
	for _, seed := range compileSeeds {
		f.Add(seed[1], seed[2], "GET", "/legacy/x?y=1")
	}
	env := tree(f, "env")
	const shopConfig = apigeeDir + "apiproxies/shop/config.yaml"
	f.Fuzz(func(t *testing.T, proxy, config, method, target string) {
		data := testzip.Files(t, with(env, map[string]string{legacyProxyPath: proxy, shopConfig: config}))
		a, err := archive.Read(data, archive.DefaultLimits())
		require.NoError(t, err)
		b, err := a.Bundle("dev")
		if err != nil {
			requireDeploymentError(t, err)
			return
		}
		table, err := Compile(b)
		if err != nil {
			requireDeploymentError(t, err)
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		m, ok := table.Match(&http.Request{Method: method, URL: u, Header: http.Header{}})
		if ok && m.Target != nil && !strings.HasPrefix(m.UpstreamPath(), "/") {
			t.Fatalf("%q goes upstream as %q", target, m.UpstreamPath())
		}
	})
}

// requireDeploymentError asserts that err is what a deployment reports: an
// InvalidArgument error with the archive's prefix and a bounded, valid
// UTF-8 message.
func requireDeploymentError(t *testing.T, err error) {
	t.Helper()
	msg := keyplane.ErrorMessage(err)
	if keyplane.ErrorCode(err) != keyplane.InvalidArgument || !strings.HasPrefix(msg, "generic::invalid_argument: ") {
		t.Fatalf("not a deployment error: %v", err)
	}
	if len(msg) > 4096 || !utf8.ValidString(msg) {
		t.Fatalf("message of %d bytes, valid UTF-8 %v: %.300q", len(msg), utf8.ValidString(msg), msg)
	}
}

// compileSeeds are the seeds of FuzzCompile: a name, a ProxyEndpoint for
// legacy and a config.yaml for shop.
var compileSeeds = [][3]string{
	{"samples", `<ProxyEndpoint name="default">
  <HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection>
  <RouteRule name="beta"><Condition>(request.header.X-Beta = "1") and (request.verb != "DELETE")</Condition><TargetEndpoint>beta</TargetEndpoint></RouteRule>
  <RouteRule name="static"><Condition>proxy.pathsuffix MatchesPath "/static/**"</Condition><URL>http://cdn.example.com/assets</URL></RouteRule>
  <RouteRule name="preflight"><Condition>request.verb = "OPTIONS"</Condition></RouteRule>
  <RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule>
</ProxyEndpoint>`, "basepath: /shop\ntarget:\n  uri: https://shop.example.com/api/v2/\noperations:\n  - id: get-order\n    http_match:\n      - path_template: /orders/{orderId}\n        method: GET\n"},
	{"condition-errors", `<ProxyEndpoint><HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection><RouteRule name="r"><Condition>request.path ~~ "(" and</Condition><TargetEndpoint>plain</TargetEndpoint></RouteRule></ProxyEndpoint>`, "basepath: /shop\n"},
	{"duplicate-base-paths", `<ProxyEndpoint><HTTPProxyConnection><BasePath>/shop</BasePath></HTTPProxyConnection></ProxyEndpoint>`, "basepath: /legacy/admin/\n"},
	{"unsendable-target", `<ProxyEndpoint><HTTPProxyConnection><BasePath>/x</BasePath></HTTPProxyConnection><RouteRule><TargetEndpoint>ghost</TargetEndpoint></RouteRule></ProxyEndpoint>`, "basepath: /\noperations: [{http_match: [{path_template: /**}]}]\n"},
}

// conditionSeeds are the seeds of FuzzParseCondition.
var conditionSeeds = []string{
	`request.verb = "GET"`,
	`(request.header.X-Beta = "1") and (request.verb != "DELETE")`,
	`proxy.pathsuffix MatchesPath "/static/**"`,
	`request.header.x-role := "admin" || request.queryparam.role EqualsCaseInsensitive "admin"`,
	`request.header.content-type ~ "application/*" and not request.path ~~ "/v[0-9]+/.*"`,
	`request.path =| "/v1/" or request.header.X-Count >= 42 or request.header.X-Count < -1.5`,
	`request.uri = null or request.querystring != "" AND TRUE`,
	`!(!(!false))`,
	`request.verb = "say \"hi\" \\o/"`,
	strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100),
	strings.Repeat("not ", 120) + "true",
	"true" + strings.Repeat(" and true", 300),
	`request.verb = "unterminated`,
	"request.verb = \"\xff\xfe\"",
	"\xc3 = \"x\"",
	`request.path ~~ "(a*)*b"`,
	`request.path ~~ "a{1000}{1000}"`,
	`request.path ~/ "` + strings.Repeat("**", 200) + `"`,
	`request.path ~ "` + strings.Repeat("*a", 200) + `"`,
	`request.verb ≠ "GET"`,
	``,
	"0MAtChesPAth\"\xb0\"",
	strings.Repeat("0", 500) + "2" + strings.Repeat("0", 500),
}

// matchSeeds are the seeds of FuzzMatch: a name, the method, the request
// target and the X-Beta header.
var matchSeeds = [][4]string{
	{"configurable-variable", "GET", "/shop/orders/42?x=1", ""},
	{"configurable-rest-with-encoded-slash", "get", "/shop/files/a/b%2Fc/d.txt", ""},
	{"configurable-multi-segment-variable", "POST", "/shop/v1/shelves/s1/books/b2", ""},
	{"seed-proxy", "GET", "/mtls", ""},
	{"longest-base-path", "GET", "/mtls/v2/keys/1", ""},
	{"route-rule-condition", "GET", "/legacy/users/1", "1"},
	{"null-route", "OPTIONS", "/legacy/users", ""},
	{"route-rule-url", "GET", "/legacy/static/css/site.css", ""},
	{"query-parameter-condition", "GET", "/legacy/admin?role=ADMIN", ""},
	{"encoded-dot-dot", "GET", "/legacy/%2e%2E/mtls", ""},
	{"half-encoded-dot-dot", "GET", "/legacy/.%2e/mtls", ""},
	{"empty-segments", "GET", "//legacy//", ""},
	{"invalid-escape", "GET", "/shop/orders/%zz", ""},
	{"root", "GET", "/", ""},
	{"asterisk-form", "", "*", ""},
	{"dot-dot-backslash", "GET", "/legacy/..\\admin", ""},
	{"dot-dot-semicolon", "GET", "/legacy/..;/..;/admin", ""},
	{"dot-dot-encoded-slash", "GET", "/legacy/..%2f..%2fadmin", ""},
	{"encoded-dot-dot-encoded-backslash", "GET", "/legacy/%2e%2e%5cadmin", ""},
}

// TestWriteFuzzCorpus holds testdata/fuzz to the seeds above, and
// regenerates it with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if fuzzcorpus.Updating() {
		require.NoError(t, os.RemoveAll(filepath.Join("testdata", "fuzz")))
	}
	names := []string{
		"equals", "and-not-equals", "matches-path", "case-insensitive-or", "glob-and-regex",
		"starts-with-and-numbers", "null-and-keywords", "nested-nots", "escaped-quotes",
		"parentheses-100-deep", "nots-120-deep", "long-and-chain", "unterminated-string",
		"invalid-utf8-string", "invalid-utf8-variable", "regex-nested-stars", "regex-huge-repeat",
		"path-pattern-many-double-stars", "glob-many-stars", "unicode-operator", "empty",
		"invalid-utf8-path-pattern", "number-out-of-range",
	}
	require.Len(t, names, len(conditionSeeds))
	for i, seed := range conditionSeeds {
		fuzzcorpus.Write(t, "FuzzParseCondition", names[i], seed, "/v1/weather/forecast/today?city=Paris", "application/json")
	}
	for _, seed := range matchSeeds {
		fuzzcorpus.Write(t, "FuzzMatch", seed[0], seed[1], seed[2], seed[3])
	}
	for _, seed := range compileSeeds {
		fuzzcorpus.Write(t, "FuzzCompile", seed[0], seed[1], seed[2], "GET", "/legacy/x?y=1")
	}
}

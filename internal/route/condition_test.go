package route

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleFlow is a request to a proxy with base path /v1/weather:
// GET /v1/weather/forecast/today?city=Paris&units=metric&empty=
// with a few headers.
func sampleFlow() *flow {
	r := request("GET", "/v1/weather/forecast/today?city=Paris&units=metric&empty=",
		"Content-Type", "application/json",
		"X-Api-Key", "k-123",
		"X-Multi", "first",
		"X-Multi", "second",
		"X-Count", "42",
	)
	r.Host = "myorg-dev.localhost"
	return &flow{r: r, path: r.URL.EscapedPath(), basePath: "/v1/weather", suffix: "/forecast/today"}
}

func TestCondition_Evaluation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cond string
		want bool
	}{
		// Equality, in all its spellings.
		{`request.verb = "GET"`, true},
		{`request.verb == "GET"`, true},
		{`request.verb Equals "GET"`, true},
		{`request.verb equals "GET"`, true},
		{`request.verb IS "GET"`, true},
		{`request.verb = "get"`, false},
		{`request.verb != "POST"`, true},
		{`request.verb NotEquals "GET"`, false},
		{`request.verb IsNot "GET"`, false},
		{`request.verb := "get"`, true},
		{`request.verb EqualsCaseInsensitive "gEt"`, true},
		{`"GET" = request.verb`, true},
		{`request.verb=="GET"&&request.path!="/"`, true},

		// Variables.
		{`proxy.pathsuffix = "/forecast/today"`, true},
		{`proxy.basepath = "/v1/weather"`, true},
		{`request.path = "/v1/weather/forecast/today"`, true},
		{`request.uri = "/v1/weather/forecast/today?city=Paris&units=metric&empty="`, true},
		{`request.querystring = "city=Paris&units=metric&empty="`, true},
		{`request.header.content-type = "application/json"`, true},
		{`request.header.CONTENT-TYPE = "application/json"`, true},
		{`request.header.X-Multi = "first"`, true},
		{`request.header.host = "myorg-dev.localhost"`, true},
		{`request.queryparam.city = "Paris"`, true},
		{`request.queryparam.City = "Paris"`, false}, // query parameters are case-sensitive
		{`request.queryparam.empty = ""`, true},
		{`request.queryparam.empty = null`, false},

		// Null: unknown variables and absent headers or parameters.
		{`request.header.X-Missing = null`, true},
		{`request.header.X-Missing = ""`, false},
		{`request.header.X-Missing != "x"`, true},
		{`request.header.X-Missing != null`, false},
		{`request.queryparam.missing = null`, true},
		{`no.such.variable = null`, true},
		{`request.header. = null`, true},
		{`request.header.X-Missing ~ "*"`, false},
		{`request.header.X-Missing ~~ ".*"`, false},
		{`request.header.X-Missing ~/ "/**"`, false},
		{`request.header.X-Missing =| ""`, false},
		{`request.header.X-Missing > 1`, false},
		{`null = null`, true},

		// Numbers.
		{`request.header.X-Count = 42`, true},
		{`request.header.X-Count = 42.0`, true},
		{`request.header.X-Count = "42.0"`, false},
		{`request.header.X-Count > 9`, true},
		{`request.header.X-Count GreaterThan 41.5`, true},
		{`request.header.X-Count >= 42`, true},
		{`request.header.X-Count < -1`, false},
		{`request.header.X-Count LesserThan 100`, true},
		{`request.header.X-Count <= 42`, true},
		{`request.verb > "DELETE"`, true}, // strings compare as strings

		// Matches: a glob where "*" matches anything.
		{`request.header.content-type ~ "application/*"`, true},
		{`request.header.content-type Matches "*json"`, true},
		{`request.header.content-type Like "app*/*on"`, true},
		{`request.header.content-type ~ "application"`, false},
		{`request.header.content-type ~ "*"`, true},
		{`request.header.content-type ~ "a*a*a*"`, false},
		{`request.header.content-type ~ "APPLICATION/*"`, false},
		{`proxy.pathsuffix ~ "/forecast*"`, true},

		// MatchesPath: "*" one segment, "**" anything.
		{`proxy.pathsuffix MatchesPath "/forecast/*"`, true},
		{`proxy.pathsuffix ~/ "/*"`, false},
		{`proxy.pathsuffix ~/ "/**"`, true},
		{`proxy.pathsuffix ~/ "/*/today"`, true},
		{`proxy.pathsuffix LikePath "/forecast"`, false},
		{`proxy.pathsuffix ~/ "/forecast/**"`, true},
		{`proxy.pathsuffix ~/ "/forecast/today/*"`, false},
		{`request.path ~/ "**/today"`, true},
		{`request.path ~/ "/v1/*/forecast/*"`, true},
		{`proxy.pathsuffix ~/ "/fore.ast/**"`, false}, // "." is literal

		// JavaRegex: the whole value.
		{`proxy.pathsuffix ~~ "/forecast/.*"`, true},
		{`proxy.pathsuffix JavaRegex "forecast"`, false},
		{`proxy.pathsuffix ~~ ".*forecast.*"`, true},
		{`request.header.X-Count ~~ "\d+"`, true},
		{`request.header.X-Count ~~ "\\d+"`, true},
		{`request.header.X-Api-Key ~~ "k-1|k-123"`, true},

		// StartsWith.
		{`request.path =| "/v1/"`, true},
		{`request.path StartsWith "/v2"`, false},
		{`request.path =| proxy.basepath`, true},

		// Logic.
		{`true`, true},
		{`false`, false},
		{`TRUE or false`, true},
		{`not true`, false},
		{`!false`, true},
		{`!(request.verb = "GET")`, false},
		{`not request.verb = "POST"`, true},
		{`request.verb = "GET" and request.path = "/"`, false},
		{`request.verb = "GET" AND request.path =| "/v1"`, true},
		{`request.verb = "POST" or request.queryparam.units = "metric"`, true},
		{`request.verb = "POST" || request.verb = "PUT"`, false},
		{`request.verb = "GET" or request.verb = "POST" and false`, true}, // "and" binds tighter than "or"
		{`(request.verb = "POST" or request.verb = "GET") and false`, false},
		{`((((request.verb = "GET"))))`, true},
		{"request.verb\n=\t\"GET\"\r\nand\ntrue", true},
		{`request.verb = "say \"hi\""`, false},
	}
	for _, tt := range tests {
		c, err := parseCondition(tt.cond)
		require.NoError(t, err, tt.cond)
		require.Equal(t, tt.want, c.eval(sampleFlow()), tt.cond)
	}
}

func TestCondition_QuotedStrings_KeepTheirBackslashes(t *testing.T) {
	t.Parallel()
	f := sampleFlow()
	f.r.Header.Set("X-Quote", `say "hi" \o/`)
	for cond, want := range map[string]bool{
		`request.header.X-Quote = "say \"hi\" \\o/"`: true,
		`request.header.X-Quote = "say \"hi\" \o/"`:  true,
		`request.header.X-Quote ~ "*\"hi\"*"`:        true,
	} {
		c, err := parseCondition(cond)
		require.NoError(t, err, cond)
		require.Equal(t, want, c.eval(f), cond)
	}
}

func TestCondition_SyntaxErrors_SayWhereAndWhat(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		``:                            `at character 1: expected a variable or a value, found the end`,
		`   `:                         `at character 4: expected a variable or a value, found the end`,
		`request.verb`:                `at character 13: expected an operator after request.verb, found the end`,
		`request.verb "GET"`:          `at character 14: expected an operator after request.verb, found "GET"`,
		`request.verb = `:             `at character 16: expected a variable or a value, found the end`,
		`request.verb = "GET`:         `at character 16: the string is not closed`,
		`request.verb = 'GET'`:        `at character 16: unexpected "'"`,
		`request.verb = "GET" and`:    `at character 25: expected a variable or a value, found the end`,
		`request.verb = "GET" "POST"`: `at character 22: expected "and", "or" or the end, found "POST"`,
		`request.verb = "GET")`:       `at character 21: expected "and", "or" or the end, found ")"`,
		`(request.verb = "GET"`:       `at character 1: "(" is not closed`,
		`(request.verb = "GET" "x")`:  `at character 23: expected ")", found "x"`,
		`and = "x"`:                   `at character 1: expected a variable or a value, found "and"`,
		`request.verb = or`:           `at character 16: expected a variable or a value, found "or"`,
		`request.verb = = "GET"`:      `at character 16: expected a variable or a value, found "="`,
		`request.verb === "GET"`:      `at character 16: expected a variable or a value, found "="`,
		`request.verb = 1.2.3`:        `at character 16: "1.2.3" is not a number`,
		`request.verb = 1` + strings.Repeat("0", 400): `at character 16: number 1` + strings.Repeat("0", 99) + `… is out of range`,
		`request.verb ~ request.path`:                 `at character 16: the pattern of ~ must be a quoted string`,
		`request.verb MatchesPath 5`:                  `at character 26: the pattern of MatchesPath must be a quoted string`,
		`request.verb ~~ null`:                        `at character 17: the pattern of ~~ must be a quoted string`,
		`request.path ~~ "(["`:                        "at character 17: invalid regular expression: missing closing ]: `[)$`",
		`request.path ~~ "(?<x>a)\1"`:                 "at character 17: invalid regular expression: invalid escape sequence: `\\1`",
		`request.verb = "GET" & true`:                 `at character 22: unexpected "&"`,
		`request.verb # "GET"`:                        `at character 14: unexpected "#"`,
		`"é" = "é" and request.verb ≠ "GET"`:          `at character 28: unexpected "≠"`,
		`not`:                                         `at character 4: expected a variable or a value, found the end`,
		`()`:                                          `at character 2: expected a variable or a value, found ")"`,
		`request.verb = "GET" and not and true`:       `at character 30: expected a variable or a value, found "and"`,
		`"true"`:                                      `at character 7: expected an operator after "true", found the end`,
		`null`:                                        `at character 5: expected an operator after null, found the end`,
		`42`:                                          `at character 3: expected an operator after 42, found the end`,
		"request.path ~/ \"/a\xb0\"":                  `at character 20: invalid UTF-8`,
	}
	for cond, want := range tests {
		_, err := parseCondition(cond)
		require.EqualError(t, err, want, cond)
	}
}

func TestCondition_DeepNesting_IsRefused(t *testing.T) {
	t.Parallel()
	deep := ""
	for range 101 {
		deep += "("
	}
	_, err := parseCondition(deep + "true")
	require.EqualError(t, err, "at character 101: nested more than 100 levels deep")

	nots := ""
	for range 100 {
		nots += "!"
	}
	_, err = parseCondition(nots + "true")
	require.EqualError(t, err, "at character 101: nested more than 100 levels deep")

	c, err := parseCondition(nots[:99] + "true")
	require.NoError(t, err)
	require.False(t, c.eval(sampleFlow()))

	// Long chains of "and" are not nesting: they are parsed in a loop.
	chain := "true"
	for range 5000 {
		chain += " and true"
	}
	c, err = parseCondition(chain)
	require.NoError(t, err)
	require.True(t, c.eval(sampleFlow()))
}

func TestCondition_QueryIsParsedOnce(t *testing.T) {
	t.Parallel()
	c, err := parseCondition(`request.queryparam.city = "Paris" and request.queryparam.units = "metric"`)
	require.NoError(t, err)
	f := sampleFlow()
	require.True(t, c.eval(f))
	f.r.URL.RawQuery = "city=Lyon" // the flow keeps what it parsed
	require.True(t, c.eval(f))
	require.True(t, c.eval(&flow{r: &http.Request{Method: "GET", URL: f.r.URL, Header: http.Header{}}, query: f.query}))
}

package archive

import (
	"testing"

	"github.com/keyplane/keyplane/internal/testzip"
	"github.com/stretchr/testify/require"
)

const legacyDir = "src/main/apigee/apiproxies/legacy/apiproxy/"

func TestBundle_ConfigurableRouting_ReadsBasePathOperationsAndMatches(t *testing.T) {
	t.Parallel()
	config := `basepath: /orders/
target:
  uri: https://orders.example.com/v2
operations:
  - id: list
    http_match:
      - path_template: /
        method: get
      - path_template: "/items/{id}"
  - name: by-tag
    httpMatch:
      - pathTemplate: "/tags/{tag=**}"
        method: POST
    target:
      targetServerId: tags
  - id: idle
`
	b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{mtlsConfigPath: config}))
	require.NoError(t, err)
	p := b.Proxies[0]
	require.Equal(t, "/orders", p.BasePath)
	require.Equal(t, &ConfigTarget{URI: "https://orders.example.com/v2"}, p.DefaultTarget)
	require.Equal(t, []Operation{
		{ID: "list", Matches: []HTTPMatch{{PathTemplate: "/", Method: "GET"}, {PathTemplate: "/items/{id}"}}},
		{ID: "by-tag", Matches: []HTTPMatch{{PathTemplate: "/tags/{tag=**}", Method: "POST"}}, Target: &ConfigTarget{TargetServerID: "tags"}},
		{ID: "idle"},
	}, p.Operations)
	require.Equal(t, []string{"tags"}, p.TargetServerIDs)
}

func TestBundle_ConfigurableRouting_WithoutBasePathServesNothing(t *testing.T) {
	t.Parallel()
	b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{mtlsConfigPath: "target: {uri: 'http://a.example.com'}\n"}))
	require.NoError(t, err)
	require.Equal(t, "", b.Proxies[0].BasePath)
	require.Empty(t, b.Proxies[0].Operations)
}

func TestBundle_ConfigurableRouting_Errors_NameFileLineAndColumn(t *testing.T) {
	t.Parallel()
	op := func(match string) string {
		return "basepath: /mtls\noperations:\n  - id: get\n    http_match:\n      - " + match + "\n    target: {uri: 'https://a.example.com'}\n"
	}
	tests := []struct {
		name   string
		config string
		want   string
	}{
		{
			name:   "unclosed variable",
			config: op(`path_template: "/users/{id"`),
			want:   `5:24: operations[0].http_match[0].path_template "/users/{id" is invalid at character 8: "{" is not closed`,
		},
		{
			name:   "relative template",
			config: op("path_template: users"),
			want:   `5:24: operations[0].http_match[0].path_template "users" is invalid at character 1: a path template starts with "/"`,
		},
		{
			name:   "double wildcard before the end",
			config: op(`path_template: "/a/**/b"`),
			want:   `5:24: operations[0].http_match[0].path_template "/a/**/b" is invalid at character 4: "**" must be the last segment`,
		},
		{
			name:   "wildcard inside a literal",
			config: op(`path_template: "/a*"`),
			want:   `5:24: operations[0].http_match[0].path_template "/a*" is invalid at character 3: "*" must be a whole segment`,
		},
		{
			name:   "variable used twice",
			config: op(`path_template: "/{id}/x/{id}"`),
			want:   `5:24: operations[0].http_match[0].path_template "/{id}/x/{id}" is invalid at character 9: variable "id" is used twice`,
		},
		{
			name:   "nested variables",
			config: op(`path_template: "/{a={b}}"`),
			want:   `5:24: operations[0].http_match[0].path_template "/{a={b}}" is invalid at character 5: empty segment`,
		},
		{
			name:   "empty segment",
			config: op(`path_template: "/a//b"`),
			want:   `5:24: operations[0].http_match[0].path_template "/a//b" is invalid at character 4: empty segment`,
		},
		{
			name:   "space in a literal",
			config: op(`path_template: "/a b"`),
			want:   `5:24: operations[0].http_match[0].path_template "/a b" is invalid at character 3: " " is not allowed in a path; percent-encode it`,
		},
		{
			name:   "no path template",
			config: op(`method: GET`),
			want:   `5:9: operations[0].http_match[0] has no path_template`,
		},
		{
			name:   "method that is not a token",
			config: op("{path_template: /, method: \"GET POST\"}"),
			want:   `5:36: operations[0].http_match[0].method "GET POST" is not an HTTP method`,
		},
		{
			name:   "http_match entry that is not a mapping",
			config: op(`/users`),
			want:   `5:9: operations[0].http_match[0] must be a mapping, not a string`,
		},
		{
			name:   "http_match that is not a sequence",
			config: "basepath: /mtls\noperations:\n  - id: get\n    http_match: /users\n    target: {uri: 'https://a.example.com'}\n",
			want:   `4:17: operations[0].http_match must be a sequence, not a string`,
		},
		{
			name:   "relative base path",
			config: "basepath: mtls\n",
			want:   `1:11: basepath "mtls" must start with "/"`,
		},
		{
			name:   "base path with a wildcard",
			config: "basepath: /v1/*/mtls\n",
			want:   `1:11: basepath "/v1/*/mtls" contains "*": base paths cannot hold wildcards or variables`,
		},
		{
			name:   "base path with a dot-dot segment",
			config: "basepath: /v1/%2e%2E/mtls\n",
			want:   `1:11: basepath "/v1/%2e%2E/mtls" has a ".." segment`,
		},
		{
			name:   "base path with an empty segment",
			config: "basepath: /v1//mtls\n",
			want:   `1:11: basepath "/v1//mtls" has an empty segment`,
		},
		{
			name:   "base path with a space",
			config: "basepath: \"/my proxy\"\n",
			want:   `1:11: basepath "/my proxy" contains " ", which a URL path cannot hold unencoded`,
		},
		{
			name:   "relative target URI",
			config: "basepath: /mtls\ntarget:\n  uri: mocktarget.apigee.net\n",
			want:   `3:8: target.uri "mocktarget.apigee.net" is not an absolute http or https URL`,
		},
		{
			name:   "operation target URI of another scheme",
			config: "basepath: /mtls\noperations:\n  - id: get\n    target:\n      uri: ftp://files.example.com/\n",
			want:   `5:12: operations[0].target.uri "ftp://files.example.com/" is not an absolute http or https URL`,
		},
		{
			name:   "operation without any target",
			config: "basepath: /mtls\noperations:\n  - id: get\n    http_match: [{path_template: /}]\n",
			want:   `3:5: operations[0] has no target, and there is no top-level target`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{mtlsConfigPath: tt.config}))
			requireInvalid(t, err, invalidPrefix+mtlsConfigPath+":"+tt.want)
		})
	}
}

func TestParsePathTemplate_ValidTemplates(t *testing.T) {
	t.Parallel()
	lit := func(s string) TemplateSegment { return TemplateSegment{Kind: SegmentLiteral, Literal: s} }
	star := TemplateSegment{Kind: SegmentWildcard}
	rest := TemplateSegment{Kind: SegmentRest}
	tests := []struct {
		in   string
		want PathTemplate
	}{
		{"/", PathTemplate{}},
		{"/users", PathTemplate{Segments: []TemplateSegment{lit("users")}}},
		{"/users/", PathTemplate{Segments: []TemplateSegment{lit("users")}}},
		{"/users/*/orders/**", PathTemplate{Segments: []TemplateSegment{lit("users"), star, lit("orders"), rest}}},
		{"/users/{id}", PathTemplate{
			Segments: []TemplateSegment{lit("users"), star},
			Vars:     []TemplateVar{{Name: "id", First: 1, End: 2}},
		}},
		{"/v1/{name=shelves/*/books/*}:get", PathTemplate{}},
		{"/v1/{name=shelves/*}/{book.id}/{rest=**}", PathTemplate{
			Segments: []TemplateSegment{lit("v1"), lit("shelves"), star, star, rest},
			Vars: []TemplateVar{
				{Name: "name", First: 1, End: 3},
				{Name: "book.id", First: 3, End: 4},
				{Name: "rest", First: 4, End: 5},
			},
		}},
		{"/caf%C3%A9/a:b/~x!$&'()+,;=@", PathTemplate{Segments: []TemplateSegment{lit("café"), lit("a:b"), lit("~x!$&'()+,;=@")}}},
	}
	for _, tt := range tests {
		got, err := ParsePathTemplate(tt.in)
		if tt.in == "/v1/{name=shelves/*/books/*}:get" {
			// A verb after a variable is not supported: ":" belongs to
			// literals only.
			require.EqualError(t, err, `at character 29: "}" must end a segment`)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, &tt.want, got, tt.in)
	}
}

func TestParsePathTemplate_SyntaxErrors_SayWhere(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                `at character 1: a path template starts with "/"`,
		"//":              `at character 2: empty segment`,
		"/a/{":            `at character 5: variable name "" is not a field path such as name or a.b`,
		"/a/{}":           `at character 5: variable name "" is not a field path such as name or a.b`,
		"/a/{1x}":         `at character 5: variable name "1x" is not a field path such as name or a.b`,
		"/a/{x.}":         `at character 5: variable name "x." is not a field path such as name or a.b`,
		"/a/{x=}":         `at character 7: empty segment`,
		"/a/{x=a{b}}":     `at character 8: variables cannot be nested`,
		"/a/{x/y}":        `at character 6: expected "}"`,
		"/a/{x}y":         `at character 7: "}" must end a segment`,
		"/a/b}":           `at character 5: "}" must start or end a whole segment`,
		"/a/{x=**}/b":     `at character 7: "**" must be the last segment`,
		"/a/{x":           `at character 4: "{" is not closed`,
		"/a%zz":           `at character 3: invalid percent-encoding`,
		"/a?b":            `at character 3: "?" is not allowed in a path; percent-encode it`,
		"/a#b":            `at character 3: "#" is not allowed in a path; percent-encode it`,
		"/ü":              `at character 2: "ü" is not allowed in a path; percent-encode it`,
		"/a/***":          `at character 4: "*" must be a whole segment`,
		"/{a}/{b}/{a=*}/": `at character 10: variable "a" is used twice`,
		"/{id}/x/{id}":    `at character 9: variable "id" is used twice`,
	}
	for in, want := range tests {
		_, err := ParsePathTemplate(in)
		require.EqualError(t, err, want, in)
		var pe *PathTemplateError
		require.ErrorAs(t, err, &pe)
	}
}

func TestCleanBasePath(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"/":            "/",
		"/mtls":        "/mtls",
		"/mtls/":       "/mtls",
		"/v1/weather":  "/v1/weather",
		"/a-b_c.d~e":   "/a-b_c.d~e",
		"/caf%C3%A9":   "/caf%C3%A9",
		"/v1:beta/@me": "/v1:beta/@me",
	}
	for in, want := range valid {
		got, problem := CleanBasePath(in)
		require.Empty(t, problem, in)
		require.Equal(t, want, got, in)
	}
	invalid := map[string]string{
		"":         `must start with "/"`,
		"mtls":     `must start with "/"`,
		"//":       `has an empty segment`,
		"/a//b":    `has an empty segment`,
		"/a/./b":   `has a "." segment`,
		"/a/..":    `has a ".." segment`,
		"/a/%2E":   `has a "." segment`,
		"/a%2":     `has an invalid percent-encoding`,
		"/a?b=1":   `contains "?", which a URL path cannot hold unencoded`,
		"/a/{b}":   `contains "{": base paths cannot hold wildcards or variables`,
		"/a\\b":    `contains "\\", which a URL path cannot hold unencoded`,
		"/a\x00b":  `contains "\x00", which a URL path cannot hold unencoded`,
		"/ação":    `contains "ç", which a URL path cannot hold unencoded`,
		"/v1/**/x": `contains "*": base paths cannot hold wildcards or variables`,
	}
	for in, want := range invalid {
		_, problem := CleanBasePath(in)
		require.Equal(t, want, problem, in)
	}
}

func TestBundle_ProxyEndpoints_ReadRouteRulesInOrder(t *testing.T) {
	t.Parallel()
	proxy := `<ProxyEndpoint name="main">
  <PreFlow/>
  <HTTPProxyConnection>
    <BasePath>/legacy/v2/</BasePath>
    <VirtualHost>secure</VirtualHost>
  </HTTPProxyConnection>
  <RouteRule name="plain">
    <Condition>request.header.x-plain = "1"</Condition>
    <TargetEndpoint>plain</TargetEndpoint>
  </RouteRule>
  <RouteRule name="direct">
    <Condition>
      proxy.pathsuffix MatchesPath "/direct/**"
    </Condition>
    <URL>http://direct.example.com/x</URL>
  </RouteRule>
  <RouteRule name="none">
    <Condition>request.verb = "OPTIONS"</Condition>
  </RouteRule>
  <RouteRule name="default">
    <TargetEndpoint>default</TargetEndpoint>
  </RouteRule>
</ProxyEndpoint>`
	files := with(tree(t, "programmable"), map[string]string{
		legacyDir + "proxies/main.xml": proxy,
		legacyDir + "proxies/bare.xml": "<ProxyEndpoint/>",
		legacyDir + "proxies/readme":   "not parsed",
	})
	b, err := bundleOf(t, files)
	require.NoError(t, err)
	require.Equal(t, []ProxyEndpoint{
		{Name: "bare", File: legacyDir + "proxies/bare.xml"},
		{Name: "default", File: legacyProxyPath, BasePath: "/legacy", RouteRules: []RouteRule{{Name: "default", TargetEndpoint: "default"}}},
		{Name: "main", File: legacyDir + "proxies/main.xml", BasePath: "/legacy/v2", RouteRules: []RouteRule{
			{Name: "plain", Condition: `request.header.x-plain = "1"`, ConditionLine: 8, ConditionColumn: 5, TargetEndpoint: "plain"},
			{Name: "direct", Condition: `proxy.pathsuffix MatchesPath "/direct/**"`, ConditionLine: 12, ConditionColumn: 5, URL: "http://direct.example.com/x"},
			{Name: "none", Condition: `request.verb = "OPTIONS"`, ConditionLine: 18, ConditionColumn: 5},
			{Name: "default", TargetEndpoint: "default"},
		}},
	}, b.Proxies[0].ProxyEndpoints)
}

func TestBundle_ProxyEndpoints_Errors_NameFileLineAndColumn(t *testing.T) {
	t.Parallel()
	const mainPath = legacyDir + "proxies/main.xml"
	tests := []struct {
		name string
		xml  string
		want string
	}{
		{
			name: "route rule to a target endpoint that does not exist",
			xml:  "<ProxyEndpoint>\n  <RouteRule name=\"r\">\n    <TargetEndpoint>ghost</TargetEndpoint>\n  </RouteRule>\n</ProxyEndpoint>",
			want: mainPath + `:3:5: <RouteRule> "r" names target endpoint "ghost", which no file in ` + legacyDir + `targets/ defines`,
		},
		{
			name: "route rule with both a target endpoint and a URL",
			xml:  "<ProxyEndpoint>\n  <RouteRule name=\"r\"><TargetEndpoint>plain</TargetEndpoint><URL>https://x.example.com</URL></RouteRule>\n</ProxyEndpoint>",
			want: mainPath + `:2:3: <RouteRule> "r" has both <TargetEndpoint> and <URL>; set one`,
		},
		{
			name: "route rule with two conditions",
			xml:  "<ProxyEndpoint>\n  <RouteRule name=\"r\">\n    <Condition>a = \"1\"</Condition>\n    <Condition>b = \"2\"</Condition>\n  </RouteRule>\n</ProxyEndpoint>",
			want: mainPath + `:4:5: <RouteRule> "r" has more than one <Condition>`,
		},
		{
			name: "route rule URL that is not absolute",
			xml:  "<ProxyEndpoint>\n  <RouteRule>\n    <URL>/backend</URL>\n  </RouteRule>\n</ProxyEndpoint>",
			want: mainPath + `:3:5: <URL> "/backend" is not an absolute http or https URL`,
		},
		{
			name: "route rule target endpoint with an unsafe name",
			xml:  "<ProxyEndpoint><RouteRule><TargetEndpoint>../x</TargetEndpoint></RouteRule></ProxyEndpoint>",
			want: mainPath + `:1:27: <TargetEndpoint> "../x" is not a valid target endpoint name`,
		},
		{
			name: "base path with a wildcard",
			xml:  "<ProxyEndpoint>\n <HTTPProxyConnection>\n  <BasePath>/*/legacy</BasePath>\n </HTTPProxyConnection>\n</ProxyEndpoint>",
			want: mainPath + `:3:3: <BasePath> "/*/legacy" contains "*": base paths cannot hold wildcards or variables`,
		},
		{
			name: "two base paths",
			xml:  "<ProxyEndpoint>\n <HTTPProxyConnection>\n  <BasePath>/a</BasePath>\n  <BasePath>/b</BasePath>\n </HTTPProxyConnection>\n</ProxyEndpoint>",
			want: mainPath + `:4:3: more than one <BasePath>`,
		},
		{
			name: "wrong root",
			xml:  "<TargetEndpoint name=\"main\"/>",
			want: mainPath + `:1:1: root element is <TargetEndpoint>, expected <ProxyEndpoint>`,
		},
		{
			name: "empty file",
			xml:  " \n",
			want: mainPath + `: no <ProxyEndpoint> element`,
		},
		{
			name: "unterminated",
			xml:  "<ProxyEndpoint>\n  <RouteRule>",
			want: mainPath + `:2:14: unexpected EOF`,
		},
		{
			name: "element name that is not UTF-8",
			xml:  "<ProxyEndpoint><Conditi\xdfon/></ProxyEndpoint>",
			want: mainPath + ":1:27: invalid XML name: Conditi\ufffdon",
		},
		{
			name: "endpoint with an unsafe name",
			xml:  `<ProxyEndpoint name="a b"/>`,
			want: mainPath + `: proxy endpoint name "a b" is invalid`,
		},
		{
			name: "endpoint defined twice",
			xml:  `<ProxyEndpoint name="default"/>`,
			want: mainPath + `: proxy endpoint "default" is also defined in ` + legacyProxyPath,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bundleOf(t, with(tree(t, "programmable"), map[string]string{mainPath: tt.xml}))
			requireInvalid(t, err, invalidPrefix+tt.want)
		})
	}
}

func TestBundle_ProxyEndpointOverItsLimit_IsRefused(t *testing.T) {
	t.Parallel()
	files := with(tree(t, "programmable"), map[string]string{legacyProxyPath: "<ProxyEndpoint/>" + string(make([]byte, 2000))})
	a, err := Read(testzip.Files(t, files), Limits{MaxFileSize: 1000})
	require.NoError(t, err)
	_, err = a.Bundle("dev")
	requireInvalid(t, err, invalidPrefix+legacyProxyPath+": file is larger than the limit of 1000 bytes")
}

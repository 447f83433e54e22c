package route

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
)

// want is the expected outcome of matching one request; a zero proxy
// means no route.
type want struct {
	proxy     string
	operation string
	vars      map[string]string
	suffix    string
	target    string // the target's name; "" for a null route
	upstream  string
}

func TestMatch_SampleEnvironment(t *testing.T) {
	t.Parallel()
	table := compileEnv(t)
	tests := []struct {
		name    string
		method  string
		target  string
		headers []string
		want    want
	}{
		// Configurable: templates, variables, methods and file order.
		{"template variable", "GET", "/shop/orders/42", nil,
			want{"shop", "get-order", map[string]string{"orderId": "42"}, "/orders/42", "default", "/api/v2/orders/42"}},
		{"trailing slash is optional", "GET", "/shop/orders/42/", nil,
			want{"shop", "get-order", map[string]string{"orderId": "42"}, "/orders/42/", "default", "/api/v2/orders/42/"}},
		{"variable is decoded", "GET", "/shop/orders/a%20b", nil,
			want{"shop", "get-order", map[string]string{"orderId": "a b"}, "/orders/a%20b", "default", "/api/v2/orders/a%20b"}},
		{"variable never spans segments", "GET", "/shop/orders/42/extra", nil, want{}},
		{"variable is never empty", "GET", "/shop/orders//", nil, want{}},
		{"method in another case", "get", "/shop/orders/42/items/7", nil,
			want{"shop", "order-items", map[string]string{"orderId": "42"}, "/orders/42/items/7", "items-backend", "/orders/42/items/7"}},
		{"method that does not match", "POST", "/shop/orders/42", nil, want{}},
		{"double wildcard variable", "DELETE", "/shop/files/a/b%2Fc/d.txt", nil,
			want{"shop", "order-items", map[string]string{"file": "a/b/c/d.txt"}, "/files/a/b%2Fc/d.txt", "items-backend", "/files/a/b%2Fc/d.txt"}},
		{"double wildcard matches no segment", "GET", "/shop/files", nil,
			want{"shop", "order-items", map[string]string{"file": ""}, "/files", "items-backend", "/files"}},
		{"no method means any", "PATCH", "/shop/echo", nil,
			want{"shop", "echo", nil, "/echo", "default", "/api/v2/echo"}},
		{"literal is exact", "GET", "/shop/Echo", nil, want{}},
		{"first operation in file order wins", "GET", "/shop/orders/7", nil,
			want{"shop", "get-order", map[string]string{"orderId": "7"}, "/orders/7", "default", "/api/v2/orders/7"}},
		{"root template matches the base path itself", "GET", "/shop", nil,
			want{"shop", "home", nil, "", "default", "/api/v2/"}},
		{"root template matches the base path with a slash", "GET", "/shop/", nil,
			want{"shop", "home", nil, "/", "default", "/api/v2/"}},
		{"multi-segment variable", "POST", "/shop/v1/shelves/s1/books/b2", nil,
			want{"shop", "shelves", map[string]string{"name": "shelves/s1", "book": "b2"}, "/v1/shelves/s1/books/b2", "default", "/api/v2/v1/shelves/s1/books/b2"}},
		{"no operation matches", "GET", "/shop/unknown", nil, want{}},
		{"query string is not part of the path", "GET", "/shop/orders/42?x=1", nil,
			want{"shop", "get-order", map[string]string{"orderId": "42"}, "/orders/42", "default", "/api/v2/orders/42"}},

		// Base paths: segment boundaries and the longest base path.
		{"seed proxy", "GET", "/mtls", nil, want{"mtls", "get", nil, "", "mtlstarget-docs", "/"}},
		{"seed proxy with a slash", "GET", "/mtls/", nil, want{"mtls", "get", nil, "/", "mtlstarget-docs", "/"}},
		{"base path only at a segment boundary", "GET", "/mtlsx/a", nil,
			want{"mtlsx", "all", nil, "/a", "default", "/a"}},
		{"longest base path wins", "PUT", "/mtls/v2/keys/1", nil,
			want{"mtls-v2", "all", nil, "/keys/1", "mtls-v2-backend", "/keys/1"}},
		{"shorter base path is not tried when the longest has no route", "POST", "/mtls", nil, want{}},
		{"base path is case-sensitive", "GET", "/MTLS", nil,
			want{"fallback", "everything", nil, "/MTLS", "default", "/root/MTLS"}},
		{"root base path takes the rest", "GET", "/mtlsy/z", nil,
			want{"fallback", "everything", nil, "/mtlsy/z", "default", "/root/mtlsy/z"}},
		{"root base path takes the root", "GET", "/", nil,
			want{"fallback", "everything", nil, "/", "default", "/root/"}},

		// Programmable: RouteRules in order.
		{"default rule to load balanced servers", "GET", "/legacy/users/1", nil,
			want{"legacy", "", nil, "/users/1", "default", "/v1/users/1"}},
		{"conditional rule", "GET", "/legacy/users/1", []string{"x-beta", "1"},
			want{"legacy", "", nil, "/users/1", "beta", "/base/users/1"}},
		{"conditional rule false on its second part", "DELETE", "/legacy/users/1", []string{"X-Beta", "1"},
			want{"legacy", "", nil, "/users/1", "default", "/v1/users/1"}},
		{"rule with its own URL", "GET", "/legacy/static/css/site.css", nil,
			want{"legacy", "", nil, "/static/css/site.css", "static", "/assets/static/css/site.css"}},
		{"earlier rule wins", "GET", "/legacy/static/x", []string{"X-Beta", "1"},
			want{"legacy", "", nil, "/static/x", "beta", "/base/static/x"}},
		{"null route", "OPTIONS", "/legacy/users", nil,
			want{"legacy", "", nil, "/users", "", ""}},
		{"base path itself", "GET", "/legacy", nil,
			want{"legacy", "", nil, "", "default", "/v1"}},
		{"second proxy endpoint by its longer base path", "GET", "/legacy/admin/users", []string{"X-Role", "Admin"},
			want{"legacy", "", nil, "/users", "plain", "/users"}},
		{"query parameter in a condition", "GET", "/legacy/admin?role=ADMIN", nil,
			want{"legacy", "", nil, "", "plain", "/"}},
		{"no rule is true", "GET", "/legacy/admin/users", nil, want{}},

		// Paths that must not be routed.
		{"dot-dot segment", "GET", "/legacy/../mtls", nil, want{}},
		{"encoded dot-dot segment", "GET", "/legacy/%2E%2e/mtls", nil, want{}},
		{"dot segment", "GET", "/shop/./echo", nil, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ok := table.Match(request(tt.method, tt.target, tt.headers...))
			if tt.want.proxy == "" {
				require.False(t, ok, "matched %+v", m)
				require.Nil(t, m)
				return
			}
			require.True(t, ok)
			require.Equal(t, tt.want.proxy, m.Proxy)
			require.Equal(t, tt.want.operation, m.Operation)
			require.Equal(t, tt.want.vars, m.Vars)
			require.Equal(t, tt.want.suffix, m.PathSuffix)
			if tt.want.target == "" {
				require.Nil(t, m.Target)
			} else {
				require.NotNil(t, m.Target)
				require.Equal(t, tt.want.target, m.Target.Name)
			}
			require.Equal(t, tt.want.upstream, m.UpstreamPath())
		})
	}
}

func TestMatch_Targets_CarryWhatTheGatewayNeeds(t *testing.T) {
	t.Parallel()
	table := compileEnv(t)
	target := func(method, path string, headers ...string) *Target {
		t.Helper()
		m, ok := table.Match(request(method, path, headers...))
		require.True(t, ok, path)
		return m.Target
	}
	require.Equal(t, &Target{Proxy: "shop", Name: "default", URL: "https://shop.example.com/api/v2/", urlPath: "/api/v2/"}, target("GET", "/shop/echo"))
	require.Equal(t, &Target{Proxy: "shop", Name: "items-backend", Servers: []string{"items-backend"}}, target("GET", "/shop/files/x"))
	require.Equal(t, &Target{Proxy: "mtls", Name: "mtlstarget-docs", Servers: []string{"mtlstarget-docs"}}, target("GET", "/mtls"))
	require.Equal(t, &Target{
		Proxy:   "legacy",
		Name:    "default",
		Servers: []string{"backend-1", "backend-2"},
		Path:    "/v1",
		TLS: &keyplane.SSLInfo{
			Enabled:           true,
			ClientAuthEnabled: true,
			KeyStore:          "ref://mtls-keystore-ref",
			KeyAlias:          "my_alias",
			TrustStore:        "mtls-truststore",
		},
	}, target("GET", "/legacy/x"))
	require.Equal(t, &Target{Proxy: "legacy", Name: "beta", URL: "https://beta.example.com/base/", urlPath: "/base/"}, target("GET", "/legacy/x", "X-Beta", "1"))
	require.Equal(t, &Target{Proxy: "legacy", Name: "static", URL: "http://cdn.example.com/assets", urlPath: "/assets"}, target("GET", "/legacy/static/x"))

	// Every request to one target endpoint shares its Target.
	require.Same(t, target("GET", "/legacy/a"), target("POST", "/legacy/b"))
}

func TestCompile_Problems_AreDeploymentErrors(t *testing.T) {
	t.Parallel()
	env := tree(t, "env")
	const mtlsConfig = apigeeDir + "apiproxies/mtls/config.yaml"
	const defaultTarget = legacyDir + "targets/default.xml"
	rule := func(condition string) string {
		return "<ProxyEndpoint name=\"default\">\n  <HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection>\n" +
			"  <RouteRule name=\"r1\">\n    <Condition>" + condition + "</Condition>\n    <TargetEndpoint>plain</TargetEndpoint>\n  </RouteRule>\n</ProxyEndpoint>"
	}
	tests := []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{
			name:    "two configurable proxies with one base path",
			changes: map[string]string{mtlsConfig: "basepath: /shop/\n"},
			want:    `base path "/shop" is served by both proxy "mtls" and proxy "shop"`,
		},
		{
			name:    "a configurable and a programmable proxy with one base path",
			changes: map[string]string{mtlsConfig: "basepath: /legacy/admin\n"},
			want:    `base path "/legacy/admin" is served by both proxy "legacy" (` + legacyDir + `proxies/admin.xml) and proxy "mtls"`,
		},
		{
			name:    "two proxy endpoints with one base path",
			changes: map[string]string{legacyDir + "proxies/admin.xml": "<ProxyEndpoint><HTTPProxyConnection><BasePath>/legacy/</BasePath></HTTPProxyConnection></ProxyEndpoint>"},
			want:    `base path "/legacy" is served by both proxy "legacy" (` + legacyDir + `proxies/admin.xml) and proxy "legacy" (` + legacyProxyPath + `)`,
		},
		{
			name:    "condition with a syntax error",
			changes: map[string]string{legacyProxyPath: rule(`request.verb = "GET" and`)},
			want:    legacyProxyPath + `:4:5: <RouteRule> "r1" of proxy "legacy": <Condition> "request.verb = \"GET\" and" is invalid at character 25: expected a variable or a value, found the end`,
		},
		{
			name:    "condition with an invalid regular expression",
			changes: map[string]string{legacyProxyPath: rule(`request.path ~~ "/a(b"`)},
			want:    legacyProxyPath + `:4:5: <RouteRule> "r1" of proxy "legacy": <Condition> "request.path ~~ \"/a(b\"" is invalid at character 17: invalid regular expression: missing closing ): ` + "`^(?:/a(b)$`",
		},
		{
			name:    "condition with a regular expression too costly to run",
			changes: map[string]string{legacyProxyPath: rule(`request.header.x ~~ "(.*a){1000}"`)},
			want:    legacyProxyPath + `:4:5: <RouteRule> "r1" of proxy "legacy": <Condition> "request.header.x ~~ \"(.*a){1000}\"" is invalid at character 21: regular expression is too complex: it compiles to 5004 instructions, more than 256 (use fewer or smaller repetitions)`,
		},
		{
			name:    "condition with an entity",
			changes: map[string]string{legacyProxyPath: rule(`request.verb = "GET" &amp;&amp; request.path =| "/a"`)},
			want:    "",
		},
		{
			name:    "target endpoint with neither URL nor servers",
			changes: map[string]string{defaultTarget: "<TargetEndpoint name=\"default\"/>"},
			want:    defaultTarget + `: target endpoint "default" has neither <URL> nor <LoadBalancer> servers, so requests routed to it cannot be sent`,
		},
		{
			name:    "target endpoint with a URL and servers",
			changes: map[string]string{defaultTarget: `<TargetEndpoint><HTTPTargetConnection><URL>https://a.example.com</URL><LoadBalancer><Server name="s"/></LoadBalancer></HTTPTargetConnection></TargetEndpoint>`},
			want:    defaultTarget + `: target endpoint "default" has both <URL> and <LoadBalancer> servers; set one`,
		},
		{
			name:    "target endpoint with a URL and a path",
			changes: map[string]string{defaultTarget: `<TargetEndpoint><HTTPTargetConnection><URL>https://a.example.com</URL><Path>/v1</Path></HTTPTargetConnection></TargetEndpoint>`},
			want:    defaultTarget + `: target endpoint "default" has both <URL> and <Path>: <Path> applies to <LoadBalancer> servers, a <URL> holds its own path`,
		},
		{
			name:    "target endpoint with a relative URL",
			changes: map[string]string{defaultTarget: `<TargetEndpoint><HTTPTargetConnection><URL>backend.example.com/v1</URL></HTTPTargetConnection></TargetEndpoint>`},
			want:    defaultTarget + `: target endpoint "default": <URL> "backend.example.com/v1" is not an absolute http or https URL`,
		},
		{
			name:    "target endpoint with a relative path",
			changes: map[string]string{defaultTarget: `<TargetEndpoint><HTTPTargetConnection><LoadBalancer><Server name="s"/></LoadBalancer><Path>v1</Path></HTTPTargetConnection></TargetEndpoint>`},
			want:    defaultTarget + `: target endpoint "default": <Path> "v1" must start with "/"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			table, err := Compile(bundleOf(t, with(env, tt.changes)))
			if tt.want == "" {
				require.NoError(t, err)
				require.NotNil(t, table)
				return
			}
			require.Nil(t, table)
			requireInvalid(t, err, tt.want)
		})
	}
}

func TestCompile_UnusedTargetEndpoints_AreNotChecked(t *testing.T) {
	t.Parallel()
	// An archive deployed before routing existed may hold target endpoints
	// that no RouteRule uses; they receive no traffic, so they cannot
	// break a deployment.
	files := with(tree(t, "env"), map[string]string{legacyDir + "targets/unused.xml": `<TargetEndpoint name="unused"/>`})
	_, err := Compile(bundleOf(t, files))
	require.NoError(t, err)
}

func TestCompile_HandBuiltBundles_AreCheckedToo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		proxy archive.Proxy
		want  string
	}{
		{
			name: "operation without a target",
			proxy: archive.Proxy{Name: "p", Type: keyplane.ProxyTypeConfigurable, BasePath: "/p",
				Operations: []archive.Operation{{ID: "a"}}},
			want: `proxy "p": operations[0] has no target, and there is no top-level target`,
		},
		{
			name: "invalid path template",
			proxy: archive.Proxy{Name: "p", Type: keyplane.ProxyTypeConfigurable, BasePath: "/p",
				DefaultTarget: &archive.ConfigTarget{URI: "https://p.example.com"},
				Operations:    []archive.Operation{{Matches: []archive.HTTPMatch{{PathTemplate: "/{x"}}}}},
			want: `proxy "p": operations[0].http_match[0].path_template "/{x" is invalid at character 2: "{" is not closed`,
		},
		{
			name: "route rule to a missing target endpoint",
			proxy: archive.Proxy{Name: "p", Type: keyplane.ProxyTypeProgrammable, ProxyEndpoints: []archive.ProxyEndpoint{{
				Name: "default", File: "p.xml", BasePath: "/p",
				RouteRules: []archive.RouteRule{{Name: "r", TargetEndpoint: "ghost"}},
			}}},
			want: `p.xml: <RouteRule> "r" names target endpoint "ghost", which proxy "p" does not define`,
		},
		{
			name: "route rule with a relative URL",
			proxy: archive.Proxy{Name: "p", Type: keyplane.ProxyTypeProgrammable, ProxyEndpoints: []archive.ProxyEndpoint{{
				Name: "default", File: "p.xml", BasePath: "/p",
				RouteRules: []archive.RouteRule{{Name: "r", URL: "/x"}},
			}}},
			want: `p.xml: <RouteRule> "r": <URL> "/x" is not an absolute http or https URL`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(&archive.Bundle{Env: "dev", Proxies: []archive.Proxy{tt.proxy}})
			requireInvalid(t, err, tt.want)
		})
	}
}

// TestCompile_ProxiesWithoutBasePaths: a configurable proxy without
// basepath is served at /{proxy name}, as Apigee serves it; a
// ProxyEndpoint without BasePath serves nothing.
func TestCompile_ProxiesWithoutBasePaths(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		deploymentsPath: `["conf", "prog"]`,
		apigeeDir + "apiproxies/conf/config.yaml":                     "target: {uri: 'https://a.example.com'}\noperations:\n  - http_match: [{path_template: /**}]\n",
		apigeeDir + "apiproxies/prog/apiproxy/targets/default.xml":    "<TargetEndpoint><HTTPTargetConnection><URL>https://b.example.com</URL></HTTPTargetConnection></TargetEndpoint>",
		apigeeDir + "apiproxies/prog/apiproxy/proxies/default.xml":    "<ProxyEndpoint><RouteRule><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>",
		apigeeDir + "apiproxies/prog/apiproxy/proxies/nothing.xml":    "<ProxyEndpoint/>",
		apigeeDir + "apiproxies/prog/apiproxy/targets/unrouted.xml":   "<TargetEndpoint/>",
		apigeeDir + "apiproxies/prog/apiproxy/prog.xml":               "<APIProxy/>",
		apigeeDir + "apiproxies/prog/apiproxy/proxies/not-parsed.txt": "<",
	}
	table, err := Compile(bundleOf(t, files))
	require.NoError(t, err)
	for _, path := range []string{"/", "/prog", "/default", "/confx"} {
		_, ok := table.Match(request("GET", path))
		require.False(t, ok, path)
	}
	for _, path := range []string{"/conf", "/conf/", "/conf/anything"} {
		m, ok := table.Match(request("GET", path))
		require.True(t, ok, path)
		require.Equal(t, "conf", m.Proxy, path)
	}
}

func TestMatch_EmptyTable_RoutesNothing(t *testing.T) {
	t.Parallel()
	table, err := Compile(&archive.Bundle{Env: "dev"})
	require.NoError(t, err)
	_, ok := table.Match(request("GET", "/"))
	require.False(t, ok)
}

func TestMatch_RequestsWithoutAnAbsolutePath_HaveNoRoute(t *testing.T) {
	t.Parallel()
	table := compileEnv(t)
	r := request("OPTIONS", "/")
	r.URL.Path, r.URL.RawPath = "*", ""
	_, ok := table.Match(r)
	require.False(t, ok)
}

func TestUpstreamPath_JoinsTargetPathAndSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target *Target
		suffix string
		want   string
	}{
		{&Target{URL: "https://a.example.com"}, "", "/"},
		{&Target{URL: "https://a.example.com"}, "/x", "/x"},
		{&Target{URL: "https://a.example.com/"}, "", "/"},
		{&Target{URL: "https://a.example.com/"}, "/x/", "/x/"},
		{&Target{URL: "https://a.example.com/v1"}, "", "/v1"},
		{&Target{URL: "https://a.example.com/v1"}, "/x", "/v1/x"},
		{&Target{URL: "https://a.example.com/v1/"}, "/x", "/v1/x"},
		{&Target{URL: "https://a.example.com/a%2Fb?q=1"}, "/c%20d", "/a%2Fb/c%20d"},
		{&Target{Servers: []string{"s"}}, "", "/"},
		{&Target{Servers: []string{"s"}}, "/x", "/x"},
		{&Target{Servers: []string{"s"}, Path: "/v1"}, "", "/v1"},
		{&Target{Servers: []string{"s"}, Path: "/v1"}, "/x", "/v1/x"},
		{&Target{Servers: []string{"s"}, Path: "/"}, "/x", "/x"},
		{nil, "/x", ""},
	}
	for _, tt := range tests {
		m := &Match{PathSuffix: tt.suffix, Target: tt.target}
		require.Equal(t, tt.want, m.UpstreamPath(), "%+v %q", tt.target, tt.suffix)
	}
}

func TestMatch_ManyProxies_LongestBasePathWins(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	var names []string
	for _, base := range []string{"/a", "/a/b", "/a/b/c", "/ab", "/a/bc"} {
		name := "p" + strings.ReplaceAll(base, "/", "-")
		names = append(names, `"`+name+`"`)
		files[apigeeDir+"apiproxies/"+name+"/config.yaml"] = "basepath: " + base + "\ntarget: {uri: 'https://x.example.com'}\noperations: [{id: all, http_match: [{path_template: /**}]}]\n"
	}
	files[deploymentsPath] = "[" + strings.Join(names, ",") + "]"
	table, err := Compile(bundleOf(t, files))
	require.NoError(t, err)
	for path, proxy := range map[string]string{
		"/a": "p-a", "/a/": "p-a", "/a/x": "p-a", "/a/b": "p-a-b", "/a/b/": "p-a-b", "/a/b/cd": "p-a-b",
		"/a/b/c": "p-a-b-c", "/a/b/c/d": "p-a-b-c", "/ab": "p-ab", "/ab/c": "p-ab", "/abc": "",
		"/a/bc": "p-a-bc", "/a/bcd": "p-a",
	} {
		m, ok := table.Match(request("GET", path))
		if proxy == "" {
			require.False(t, ok, path)
			continue
		}
		require.True(t, ok, path)
		require.Equal(t, proxy, m.Proxy, path)
	}
}

// TestMatch_ApigeeHelloWorldBundle routes through a bundle laid out as the
// Apigee tools write one: policies, flows with their own conditions, fault
// rules and a description, none of which routing reads.
func TestMatch_ApigeeHelloWorldBundle(t *testing.T) {
	t.Parallel()
	const dir = apigeeDir + "apiproxies/helloworld/apiproxy/"
	files := map[string]string{
		deploymentsPath: `{"proxies": [{"name": "helloworld"}], "sharedflows": []}`,
		dir + "helloworld.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<APIProxy revision="1" name="helloworld">
  <DisplayName>helloworld</DisplayName>
  <Description>Hello world</Description>
  <Policies><Policy>AM-hello</Policy></Policies>
  <ProxyEndpoints><ProxyEndpoint>default</ProxyEndpoint></ProxyEndpoints>
  <TargetEndpoints><TargetEndpoint>default</TargetEndpoint></TargetEndpoints>
</APIProxy>`,
		dir + "policies/AM-hello.xml": `<AssignMessage name="AM-hello"><Set><Payload>{"message":"Hello world!"}</Payload></Set></AssignMessage>`,
		dir + "resources/jsc/x.js":    `var x = "<RouteRule>";`,
		dir + "proxies/default.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ProxyEndpoint name="default">
  <Description/>
  <FaultRules/>
  <DefaultFaultRule name="all"><AlwaysEnforce>true</AlwaysEnforce></DefaultFaultRule>
  <PreFlow name="PreFlow">
    <Request>
      <Step><Name>AM-hello</Name><Condition>request.verb = "HEAD"</Condition></Step>
    </Request>
    <Response/>
  </PreFlow>
  <Flows>
    <Flow name="hello">
      <Condition>(proxy.pathsuffix MatchesPath "/") and (request.verb = "GET")</Condition>
      <Request/>
      <Response/>
    </Flow>
  </Flows>
  <PostFlow name="PostFlow"><Request/><Response/></PostFlow>
  <HTTPProxyConnection>
    <BasePath>/helloworld</BasePath>
    <Properties/>
    <VirtualHost>default</VirtualHost>
  </HTTPProxyConnection>
  <RouteRule name="default">
    <TargetEndpoint>default</TargetEndpoint>
  </RouteRule>
</ProxyEndpoint>`,
		dir + "targets/default.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<TargetEndpoint name="default">
  <Description/>
  <FaultRules/>
  <PreFlow name="PreFlow"><Request/><Response/></PreFlow>
  <Flows/>
  <PostFlow name="PostFlow"><Request/><Response/></PostFlow>
  <HTTPTargetConnection>
    <Properties/>
    <URL>https://mocktarget.apigee.net</URL>
  </HTTPTargetConnection>
</TargetEndpoint>`,
	}
	table, err := Compile(bundleOf(t, files))
	require.NoError(t, err)
	m, ok := table.Match(request("GET", "/helloworld"))
	require.True(t, ok)
	require.Equal(t, "helloworld", m.Proxy)
	require.Equal(t, "https://mocktarget.apigee.net", m.Target.URL)
	require.Equal(t, "/", m.UpstreamPath())
	m, ok = table.Match(request("POST", "/helloworld/json"))
	require.True(t, ok)
	require.Equal(t, "/json", m.UpstreamPath())
}

func TestTable_TargetsListsEachTargetOnceWithItsProxy(t *testing.T) {
	t.Parallel()
	b := &archive.Bundle{Env: "dev", Proxies: []archive.Proxy{{
		Name: "mtls", Type: keyplane.ProxyTypeConfigurable, BasePath: "/mtls",
		Operations: []archive.Operation{
			{ID: "a", Matches: []archive.HTTPMatch{{PathTemplate: "/a", Method: "GET"}}, Target: &archive.ConfigTarget{TargetServerID: "ts"}},
			{ID: "b", Matches: []archive.HTTPMatch{{PathTemplate: "/b"}}, Target: &archive.ConfigTarget{URI: "https://example.com/x"}},
		},
	}}}
	table, err := Compile(b)
	require.NoError(t, err)
	targets := table.Targets()
	require.Len(t, targets, 2)
	for _, tg := range targets {
		assert.Equal(t, "mtls", tg.Proxy)
	}
	m, ok := table.Match(httptest.NewRequest("GET", "/mtls/a", nil))
	require.True(t, ok)
	assert.Same(t, targets[0], m.Target, "matches return the listed targets")
}

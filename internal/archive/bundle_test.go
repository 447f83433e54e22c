package archive

import (
	"os"
	"strings"
	"testing"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testzip"
	"github.com/stretchr/testify/require"
)

const (
	deploymentsPath   = "src/main/apigee/environments/dev/deployments.json"
	targetServersPath = "src/main/apigee/environments/dev/targetservers.json"
	mtlsConfigPath    = "src/main/apigee/apiproxies/mtls/config.yaml"
	legacyTargetPath  = "src/main/apigee/apiproxies/legacy/apiproxy/targets/default.xml"
	legacyProxyPath   = "src/main/apigee/apiproxies/legacy/apiproxy/proxies/default.xml"
)

func TestBundle_Configurable_ReadsProxyAndTargetServers(t *testing.T) {
	t.Parallel()
	b, err := bundleOf(t, tree(t, "configurable"))
	require.NoError(t, err)

	require.Equal(t, "dev", b.Env)
	require.Equal(t, []Proxy{{
		Name:            "mtls",
		Type:            keyplane.ProxyTypeConfigurable,
		TargetServerIDs: []string{"mtlstarget-docs"},
		BasePath:        "/mtls",
		DefaultTarget:   &ConfigTarget{URI: "https://mocktarget.apigee.net"},
		Operations: []Operation{{
			ID:      "get",
			Matches: []HTTPMatch{{PathTemplate: "/", Method: "GET"}},
			Target:  &ConfigTarget{TargetServerID: "mtlstarget-docs"},
		}},
	}}, b.Proxies)
	require.Equal(t, map[string]keyplane.TargetServer{
		"mtlstarget-docs": {
			Name:     "mtlstarget-docs",
			Host:     "mtls.example.com",
			Port:     443,
			Protocol: "HTTP",
			SSLInfo: &keyplane.SSLInfo{
				Enabled:           true,
				ClientAuthEnabled: true,
				KeyStore:          "ref://mtls-keystore-ref",
				KeyAlias:          "my_alias",
				TrustStore:        "ref://mtls-truststore-ref",
			},
		},
	}, b.TargetServers)
}

func TestBundle_Programmable_ReadsTargetEndpoints(t *testing.T) {
	t.Parallel()
	b, err := bundleOf(t, tree(t, "programmable"))
	require.NoError(t, err)

	require.Nil(t, b.TargetServers)
	require.Equal(t, []Proxy{{
		Name:            "legacy",
		Type:            keyplane.ProxyTypeProgrammable,
		TargetServerIDs: []string{"backend-1", "backend-2"},
		Endpoints: []TargetEndpoint{
			{
				Name:            "default",
				File:            legacyTargetPath,
				Path:            "/v1",
				TargetServerIDs: []string{"backend-1", "backend-2"},
				TLS: &keyplane.SSLInfo{
					Enabled:           true,
					Enforce:           true,
					ClientAuthEnabled: true,
					KeyStore:          "ref://mtls-keystore-ref",
					KeyAlias:          "my_alias",
					TrustStore:        "mtls-truststore",
					Protocols:         []string{"TLSv1.2", "TLSv1.3"},
					Ciphers:           []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
					CommonName:        &keyplane.CommonName{Value: "*.example.com", WildcardMatch: true},
				},
			},
			{
				Name: "plain",
				File: "src/main/apigee/apiproxies/legacy/apiproxy/targets/plain.xml",
				URL:  "https://plain.example.com/",
			},
		},
		ProxyEndpoints: []ProxyEndpoint{{
			Name:       "default",
			File:       legacyProxyPath,
			BasePath:   "/legacy",
			RouteRules: []RouteRule{{Name: "default", TargetEndpoint: "default"}},
		}},
	}}, b.Proxies)
}

func TestBundle_DeploymentsFormats_AreAllAccepted(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`["mtls"]`,
		`{"proxies":["mtls"]}`,
		`{"proxies":[{"name":"mtls"}],"sharedflows":[]}`,
		`{"proxies":[{"name":"mtls","serviceAccount":"sa@example.com"}]}`,
	} {
		b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{deploymentsPath: in}))
		require.NoError(t, err, in)
		require.Len(t, b.Proxies, 1, in)
		require.Equal(t, "mtls", b.Proxies[0].Name, in)
	}
	for _, in := range []string{`[]`, `{}`, `{"proxies":null}`, `{"sharedflows":["sf"]}`} {
		b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{deploymentsPath: in}))
		require.NoError(t, err, in)
		require.Empty(t, b.Proxies, in)
	}
}

func TestBundle_BrokenArchives_NameFileLineAndColumn(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("testdata/targetservers-trailing-comma.json")
	require.NoError(t, err)
	tests := []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{
			name:    "missing deployments.json",
			changes: map[string]string{deploymentsPath: ""},
			want:    "src/main/apigee/environments/dev/deployments.json: file is missing from the archive",
		},
		{
			name:    "trailing comma in targetservers.json",
			changes: map[string]string{targetServersPath: string(seed)},
			want:    "src/main/apigee/environments/dev/targetservers.json:13:5: invalid character '}' looking for beginning of object key string",
		},
		{
			name:    "trailing comma in an array",
			changes: map[string]string{targetServersPath: "[\n  {\"name\": \"a\"},\n]\n"},
			want:    "src/main/apigee/environments/dev/targetservers.json:3:1: invalid character ']' looking for beginning of value",
		},
		{
			name:    "truncated JSON",
			changes: map[string]string{deploymentsPath: "{\"proxies\": [\n"},
			want:    "src/main/apigee/environments/dev/deployments.json:2:1: unexpected end of JSON input",
		},
		{
			name:    "empty JSON",
			changes: map[string]string{deploymentsPath: " "},
			want:    "src/main/apigee/environments/dev/deployments.json:1:2: unexpected end of JSON input",
		},
		{
			name:    "deployments of the wrong shape",
			changes: map[string]string{deploymentsPath: `{"proxies": 3}`},
			want:    `src/main/apigee/environments/dev/deployments.json:1:13: expected an array of proxies or an object with a "proxies" array, not a number`,
		},
		{
			name:    "deployed proxy without a name",
			changes: map[string]string{deploymentsPath: "[\n  {\"nom\": \"mtls\"}\n]"},
			want:    "src/main/apigee/environments/dev/deployments.json:2:3: proxies[0] has no name",
		},
		{
			name:    "deployed proxy listed twice",
			changes: map[string]string{deploymentsPath: `["mtls", "mtls"]`},
			want:    `src/main/apigee/environments/dev/deployments.json:1:10: proxy "mtls" is listed twice`,
		},
		{
			name:    "deployed proxy with an unsafe name",
			changes: map[string]string{deploymentsPath: `["../mtls"]`},
			want:    `src/main/apigee/environments/dev/deployments.json:1:2: proxy name "../mtls" is invalid`,
		},
		{
			name:    "deployed proxy missing from apiproxies",
			changes: map[string]string{deploymentsPath: "{\n  \"proxies\": [\"mtls\", \"ghost\"]\n}"},
			want:    `src/main/apigee/environments/dev/deployments.json:2:23: proxy "ghost" is not in the archive: expected src/main/apigee/apiproxies/ghost/config.yaml or src/main/apigee/apiproxies/ghost/apiproxy/`,
		},
		{
			name:    "proxy both configurable and programmable",
			changes: map[string]string{"src/main/apigee/apiproxies/mtls/apiproxy/mtls.xml": "<APIProxy/>"},
			want:    "src/main/apigee/apiproxies/mtls: a proxy has either config.yaml or apiproxy/, not both",
		},
		{
			name:    "target server field of the wrong type",
			changes: map[string]string{targetServersPath: "[{\"name\": \"a\",\n  \"sSLInfo\": {\"enabled\": \"yes\"}}]"},
			want:    `src/main/apigee/environments/dev/targetservers.json:2:26: target server "a": sSLInfo.enabled must be a boolean, not a string ("yes")`,
		},
		{
			name:    "target server port not a number",
			changes: map[string]string{targetServersPath: `[{"name": "a", "port": [443]}]`},
			want:    `src/main/apigee/environments/dev/targetservers.json:1:24: target server "a": port must be an integer, not an array`,
		},
		{
			name:    "target server defined twice",
			changes: map[string]string{targetServersPath: "[{\"name\": \"a\"},\n {\"name\": \"a\"}]"},
			want:    `src/main/apigee/environments/dev/targetservers.json:2:2: target server "a" is defined twice`,
		},
		{
			name:    "target servers not an array",
			changes: map[string]string{targetServersPath: `{"name": "a"}`},
			want:    `src/main/apigee/environments/dev/targetservers.json:1:1: expected an array of target servers, not an object`,
		},
		{
			name:    "invalid YAML",
			changes: map[string]string{mtlsConfigPath: "basepath: /mtls\noperations:\n- id: a\n  target: x\n y: 2\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:5: did not find expected key",
		},
		{
			name:    "invalid YAML on the first line",
			changes: map[string]string{mtlsConfigPath: "basepath: /mtls: x\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:1: mapping values are not allowed in this context",
		},
		{
			name:    "invalid YAML flow sequence",
			changes: map[string]string{mtlsConfigPath: "basepath: /mtls\noperations: [a, b\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:2: did not find expected ',' or ']'",
		},
		{
			name:    "YAML of the wrong shape",
			changes: map[string]string{mtlsConfigPath: "basepath: /mtls\noperations:\n  - id: get\n    target:\n      target_server_id: [a, b]\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:5:25: operations[0].target.target_server_id must be a string, not an array",
		},
		{
			name:    "YAML target with both a server and a URI",
			changes: map[string]string{mtlsConfigPath: "basepath: /mtls\ntarget:\n  uri: https://example.com\n  targetServerId: a\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:3:3: target has both target_server_id and uri; set one",
		},
		{
			name:    "YAML billion laughs",
			changes: map[string]string{mtlsConfigPath: billionLaughs},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:1:38: more than 200000 values once aliases are expanded",
		},
		{
			name:    "YAML alias containing itself",
			changes: map[string]string{mtlsConfigPath: "a: &a [*a]\n"},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:1:8: nested more than 100 levels deep (or an alias contains itself)",
		},
		{
			name:    "YAML nested too deep",
			changes: map[string]string{mtlsConfigPath: strings.Repeat("[", 5000) + strings.Repeat("]", 5000)},
			want:    "src/main/apigee/apiproxies/mtls/config.yaml:1:101: nested more than 100 levels deep (or an alias contains itself)",
		},
		{
			name:    "JSON nested too deep",
			changes: map[string]string{deploymentsPath: strings.Repeat("[", 5000) + strings.Repeat("]", 5000)},
			want:    "src/main/apigee/environments/dev/deployments.json:1:101: nested more than 100 levels deep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bundleOf(t, with(tree(t, "configurable"), tt.changes))
			requireInvalid(t, err, "generic::invalid_argument: "+tt.want)
		})
	}
}

// billionLaughs is the YAML form of the XML attack: a few lines that expand
// to a billion values.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestBundle_BrokenTargetEndpoints_NameFileLineAndColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		xml  string
		want string
	}{
		{
			name: "mismatched element",
			xml:  "<TargetEndpoint name=\"default\">\n  <HTTPTargetConnection>\n  </SSLInfo>\n</TargetEndpoint>",
			want: ":3:13: element <HTTPTargetConnection> closed by </SSLInfo>",
		},
		{
			name: "unterminated",
			xml:  "<TargetEndpoint name=\"default\">\n  <HTTPTargetConnection>",
			want: ":2:25: unexpected EOF",
		},
		{
			name: "wrong root",
			xml:  "<?xml version=\"1.0\"?>\n<ProxyEndpoint name=\"default\"/>",
			want: ":2:1: root element is <ProxyEndpoint>, expected <TargetEndpoint>",
		},
		{
			name: "flag that is not a boolean",
			xml:  "<TargetEndpoint>\n <HTTPTargetConnection>\n  <SSLInfo>\n   <Enabled>yes</Enabled>\n  </SSLInfo>\n </HTTPTargetConnection>\n</TargetEndpoint>",
			want: `:4:4: <Enabled> must be true or false, not "yes"`,
		},
		{
			name: "server with an unsafe name",
			xml:  "<TargetEndpoint>\n <HTTPTargetConnection>\n  <LoadBalancer>\n   <Server name=\"../x\"/>\n  </LoadBalancer>\n </HTTPTargetConnection>\n</TargetEndpoint>",
			want: `:4:4: <Server> name "../x" is not a valid target server name`,
		},
		{
			name: "two root elements",
			xml:  `<TargetEndpoint/><TargetEndpoint/>`,
			want: `:1:18: more than one root element`,
		},
		{
			name: "endpoint with an unsafe name",
			xml:  `<TargetEndpoint name="a/b"/>`,
			want: `: target endpoint name "a/b" is invalid`,
		},
		{
			name: "empty file",
			xml:  " \n",
			want: ": no <TargetEndpoint> element",
		},
		{
			name: "nested too deep",
			xml:  "<TargetEndpoint>" + strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200) + "</TargetEndpoint>",
			want: ":1:314: nested more than 100 levels deep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bundleOf(t, with(tree(t, "programmable"), map[string]string{legacyTargetPath: tt.xml}))
			requireInvalid(t, err, "generic::invalid_argument: "+legacyTargetPath+tt.want)
		})
	}
}

func TestBundle_LenientValues_AreAccepted(t *testing.T) {
	t.Parallel()
	servers := `[{"name": "a", "port": "8443", "isEnabled": "true",
	  "sslinfo": {"enabled": "true", "commonName": "a.example.com"}}]`
	b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{targetServersPath: "\ufeff" + servers}))
	require.NoError(t, err)
	enabled := true
	require.Equal(t, keyplane.TargetServer{
		Name:      "a",
		Port:      8443,
		IsEnabled: &enabled,
		SSLInfo:   &keyplane.SSLInfo{Enabled: true, CommonName: &keyplane.CommonName{Value: "a.example.com"}},
	}, b.TargetServers["a"])
}

func TestBundle_ConfigurableTargets_AreCollected(t *testing.T) {
	t.Parallel()
	config := `basepath: /x
target:
  targetServerId: default-ts
operations:
  - id: a
    target: {target_server_id: ts-b}
  - id: b
    target: {target_server_id: ts-a}
  - id: c
    target: {uri: "https://example.com"}
  - id: d
    target: {target_server_id: ts-a}
  - id: e
`
	b, err := bundleOf(t, with(tree(t, "configurable"), map[string]string{mtlsConfigPath: config}))
	require.NoError(t, err)
	require.Equal(t, []string{"default-ts", "ts-a", "ts-b"}, b.Proxies[0].TargetServerIDs)
}

func TestBundle_OversizedFiles_FailOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	files := with(tree(t, "configurable"), map[string]string{
		"src/main/apigee/environments/prod/deployments.json": "[" + strings.Repeat(" ", 1000) + "]",
	})
	a, err := Read(testzip.Files(t, files), Limits{MaxFileSize: 500})
	require.NoError(t, err)
	_, err = a.Bundle("dev")
	require.NoError(t, err)
	_, err = a.Bundle("prod")
	requireInvalid(t, err, "generic::invalid_argument: src/main/apigee/environments/prod/deployments.json: file is larger than the limit of 500 bytes")
}

func TestBundle_WrappedInAFolder_GivesAHint(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for k, v := range tree(t, "configurable") {
		files["mtls-project/"+k] = v
	}
	_, err := bundleOf(t, files)
	requireInvalid(t, err, `generic::invalid_argument: src/main/apigee/environments/dev/deployments.json: file is missing from the archive (every entry is inside the folder "mtls-project/": zip the content of the source folder, not the folder itself)`)
}

func TestBundle_InvalidEnvironmentName_IsRefused(t *testing.T) {
	t.Parallel()
	a, err := Read(testzip.Files(t, tree(t, "configurable")), DefaultLimits())
	require.NoError(t, err)
	_, err = a.Bundle("../dev")
	requireInvalid(t, err, `generic::invalid_argument: environment name "../dev" is invalid`)
}

func TestBundle_DuplicateTargetEndpointNames_AreRefused(t *testing.T) {
	t.Parallel()
	other := "src/main/apigee/apiproxies/legacy/apiproxy/targets/other.xml"
	_, err := bundleOf(t, with(tree(t, "programmable"), map[string]string{other: `<TargetEndpoint name="default"/>`}))
	requireInvalid(t, err, `generic::invalid_argument: `+other+`: target endpoint "default" is also defined in `+legacyTargetPath)
}

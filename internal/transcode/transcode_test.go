package transcode

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// TestSchemas_MatchTheModulesDiscoveryDocument fails when schemas.json was
// edited by hand or google.golang.org/api was upgraded without running
// go generate.
func TestSchemas_MatchTheModulesDiscoveryDocument(t *testing.T) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "google.golang.org/api").Output()
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "apigee", "v1", "apigee-api.json"))
	require.NoError(t, err)
	want, err := Trim(doc)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, schemasJSON), "schemas.json is stale: run go generate ./internal/transcode")
}

type env struct {
	Name           string `json:"name"`
	DeploymentType string `json:"deploymentType"`
	APIProxyType   string `json:"apiProxyType"`
	CreatedAt      int64  `json:"createdAt,string"`
	kept           map[string]json.RawMessage
}

func (e *env) KeepFields(m map[string]json.RawMessage) { e.kept = m }

type targetServer struct {
	Name    string `json:"name"`
	Port    int64  `json:"port"`
	SSLInfo *struct {
		ClientAuthEnabled bool   `json:"clientAuthEnabled"`
		KeyStore          string `json:"keyStore"`
	} `json:"sSLInfo"`
}

func TestDecode_ReadsProtoNamesAndStringIntegers(t *testing.T) {
	var e env
	require.NoError(t, Decode([]byte(`{"name":"dev","deployment_type":"ARCHIVE","api_proxy_type":"CONFIGURABLE","created_at":"12","display_name":"Dev","type":"BASE","properties":{"property":[{"name":"a","value":"b"}]},"state":"ACTIVE"}`), "Environment", &e))
	assert.Equal(t, env{Name: "dev", DeploymentType: "ARCHIVE", APIProxyType: "CONFIGURABLE", CreatedAt: 12, kept: e.kept}, e)
	// Fields the Go type lacks are kept, in canonical form; output-only
	// ones (state) are not.
	assert.Equal(t, map[string]json.RawMessage{
		"displayName": json.RawMessage(`"Dev"`), "type": json.RawMessage(`"BASE"`),
		"properties": json.RawMessage(`{"property":[{"name":"a","value":"b"}]}`),
	}, e.kept)

	var ts targetServer
	require.NoError(t, Decode([]byte(`{"name":"t","port":"8443","s_s_l_info":{"client_auth_enabled":true,"key_store":"ks"}}`), "TargetServer", &ts))
	assert.Equal(t, int64(8443), ts.Port)
	require.NotNil(t, ts.SSLInfo)
	assert.True(t, ts.SSLInfo.ClientAuthEnabled)
	assert.Equal(t, "ks", ts.SSLInfo.KeyStore)

	// An empty body is an empty message; null is an absent field.
	var empty env
	require.NoError(t, Decode(nil, "Environment", &empty))
	require.NoError(t, Decode([]byte(`{"name":null}`), "Environment", &empty))
	assert.Empty(t, empty.Name)
}

func TestDecode_RefusesWhatTheSchemaDoesNotAllow(t *testing.T) {
	for _, tc := range []struct{ schema, body, want string }{
		{"Environment", `{"name":"dev","x":1}`, `Invalid JSON payload received. Unknown name "x" at 'environment': Cannot find field.`},
		{"TargetServer", `{"sSLInfo":{"keystore":"k"}}`, `Invalid JSON payload received. Unknown name "keystore" at 'target_server.s_s_l_info': Cannot find field.`},
		{"Environment", `{"type":"CONFIGURABLE"}`, `Invalid value at 'environment.type' (TYPE_ENUM), "CONFIGURABLE": expected one of ENVIRONMENT_TYPE_UNSPECIFIED, BASE, INTERMEDIATE, COMPREHENSIVE`},
		{"Environment", `{"deployment_type":"archive"}`, `Invalid value at 'environment.deployment_type' (TYPE_ENUM), "archive": expected one of DEPLOYMENT_TYPE_UNSPECIFIED, PROXY, ARCHIVE`},
		{"TargetServer", `{"port":"http"}`, `Invalid value at 'target_server.port' (TYPE_INT32), "http"`},
		{"TargetServer", `{"port":4294967296}`, `Invalid value at 'target_server.port' (TYPE_INT32), 4294967296`},
		{"TargetServer", `{"port":1.5}`, `Invalid value at 'target_server.port' (TYPE_INT32), 1.5`},
		{"TargetServer", `{"isEnabled":"yes"}`, `Invalid value at 'target_server.is_enabled' (TYPE_BOOL), "yes"`},
		{"TargetServer", `{"name":7}`, `Invalid value at 'target_server.name' (TYPE_STRING), 7`},
		{"TargetServer", `{"sSLInfo":{"protocols":"TLSv1.2"}}`, `Invalid value at 'target_server.s_s_l_info.protocols', "TLSv1.2": a list is required.`},
		{"TargetServer", `{"sSLInfo":{"protocols":[1]}}`, `Invalid value at 'target_server.s_s_l_info.protocols[0]' (TYPE_STRING), 1`},
		{"ArchiveDeployment", `{"labels":{"a":1}}`, `Invalid value at 'archive_deployment.labels["a"]' (TYPE_STRING), 1`},
		{"ArchiveDeployment", `{"gcsUri":"a","gcs_uri":"b"}`, `Invalid JSON payload received. Field 'archive_deployment.gcs_uri' is given twice, as "gcsUri" and "gcs_uri".`},
		{"Environment", `["dev"]`, `Invalid JSON payload received. Expected a JSON object for "environment", got ["dev"].`},
		{"Environment", `{"name":`, `request body is not valid JSON at byte 8: unexpected end of JSON input`},
		{"Environment", `{} {}`, `request body is not valid JSON at byte 4: invalid character '{' after top-level value`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			var e env
			err := Decode([]byte(tc.body), tc.schema, &e)
			require.Error(t, err)
			assert.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
			assert.Equal(t, tc.want, keyplane.ErrorMessage(err))
		})
	}
}

func TestSnake(t *testing.T) {
	assert.Equal(t, "s_s_l_info", Snake("sSLInfo"))
	assert.Equal(t, "gcs_uri", Snake("gcsUri"))
	assert.Equal(t, "name", Snake("name"))
}

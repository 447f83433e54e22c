package archive

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

func TestCheckTargetServer_UsesTheDeploymentChecksAndTexts(t *testing.T) {
	t.Parallel()
	ts := keyplane.TargetServer{Name: "mtlstarget-docs", SSLInfo: &keyplane.SSLInfo{Enabled: true, TrustStore: "does-not-exist", Protocols: []string{"TLSv1.1"}}}
	b := TargetServerBundle(ts)
	require.Empty(t, b.EnvTargetServerNames())
	require.Equal(t, Material{Truststores: []string{"does-not-exist"}, KeyAliases: map[string][]string{}}, b.Material(nil, nil))

	s := &Snapshot{Org: "myorg", Env: "dev", Keystores: map[string]Keystore{}}
	_, err := CheckTargetServer(ts, s)
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
	require.Equal(t, `target server "mtlstarget-docs" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`,
		keyplane.ErrorMessage(err))

	ts.SSLInfo.TrustStore = "{ssl.truststore}"
	warnings, err := CheckTargetServer(ts, s)
	require.NoError(t, err)
	require.Len(t, warnings, 2, "a flow variable and an insecure protocol: %v", warnings)

	ts.SSLInfo = nil
	warnings, err = CheckTargetServer(ts, s)
	require.NoError(t, err)
	require.Empty(t, warnings)
}

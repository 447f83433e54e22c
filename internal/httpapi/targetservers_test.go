package httpapi_test

import (
	"testing"

	"github.com/keyplane/keyplane/internal/testzip"

	"github.com/stretchr/testify/require"
)

func TestTargetServers_InUseByTheLiveDeploymentCannotBeDeleted(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	b.c.ok("POST", envPath+"/targetservers", `{"name":"plain","host":"backend.example.com","port":80}`)
	op := b.deploy(t, testzip.Files(t, map[string]string{
		"src/main/apigee/apiproxies/p/config.yaml":          "basepath: /p\noperations:\n  - name: get\n    target:\n      target_server_id: plain\n",
		"src/main/apigee/environments/dev/deployments.json": `{"proxies":["p"]}`,
	}))
	require.Nil(t, op.Error, "%+v", op.Error)
	b.c.fails("DELETE", envPath+"/targetservers/plain", "", 400, "FAILED_PRECONDITION",
		`target server "plain" is used by the live deployment "`+op.Metadata.TargetResourceName+`"; deploy an archive that does not use it first`)
	b.c.ok("GET", envPath+"/targetservers/plain", "")
}

func TestTargetServers_TLSSettingsAreValidatedAsADeploymentWould(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	ts := envPath + "/targetservers"
	b.c.fails("POST", ts, `{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"trustStore":"does-not-exist"}}`,
		400, "INVALID_ARGUMENT",
		`target server "mtlstarget-docs" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`)
	b.c.ok("POST", ts, `{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://mtls-keystore-ref","keyAlias":"my_alias","trustStore":"ref://mtls-truststore-ref"}}`)
	b.c.fails("PUT", ts+"/mtlstarget-docs", `{"host":"mtls.example.com","port":443,"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"mtls-keystore","keyAlias":"cert_only"}}`,
		400, "INVALID_ARGUMENT",
		`target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "alias \"organizations/myorg/environments/dev/keystores/mtls-keystore/aliases/cert_only\""`)
	// Without TLS there is nothing to check.
	b.c.ok("PUT", ts+"/mtlstarget-docs", `{"host":"plain.example.com","port":80}`)
}

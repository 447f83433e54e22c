package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	apigee "google.golang.org/api/apigee/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/keyplane/keyplane/internal/testcerts"
)

// bearer adds the administrator's token to every request of the official
// client, as a gateway or an OAuth transport would.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// officialClient is google.golang.org/api/apigee/v1 pointed at srv.
func officialClient(t *testing.T, b *testBundle) *apigee.Service {
	t.Helper()
	svc, err := apigee.NewService(context.Background(),
		option.WithEndpoint(b.srv.URL+"/"),
		option.WithHTTPClient(&http.Client{Transport: bearer{token: b.srv.Token, next: http.DefaultTransport}}))
	require.NoError(t, err)
	return svc
}

func TestApigeeGoClient_EnvironmentsKeystoresAliasesReferences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	svc := officialClient(t, b)
	ctx := context.Background()

	op, err := svc.Organizations.Environments.Create("organizations/myorg",
		&apigee.GoogleCloudApigeeV1Environment{Name: "dev", ApiProxyType: "PROGRAMMABLE", DeploymentType: "PROXY"}).
		Name("dev").Context(ctx).Do()
	require.NoError(t, err)
	require.True(t, op.Done)
	require.Nil(t, op.Error)

	env, err := svc.Organizations.Environments.Get("organizations/myorg/environments/dev").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "PROGRAMMABLE", env.ApiProxyType)
	require.NotZero(t, env.CreatedAt)

	ks, err := svc.Organizations.Environments.Keystores.Create("organizations/myorg/environments/dev",
		&apigee.GoogleCloudApigeeV1Keystore{Name: "ks1"}).Name("ks1").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "ks1", ks.Name)
	_, err = svc.Organizations.Environments.Keystores.Create("organizations/myorg/environments/dev",
		&apigee.GoogleCloudApigeeV1Keystore{Name: "ks2"}).Context(ctx).Do()
	require.NoError(t, err)

	// The official client sends the multipart body inside a google.api.HttpBody.
	root := testcerts.New(t, testcerts.Options{CommonName: "root", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "client", Parent: root, RSA: true})
	ct, body := multipartBody(t, [2]string{"certFile", string(testcerts.Chain(leaf, root))}, [2]string{"keyFile", string(leaf.KeyPEM(t))})
	alias, err := svc.Organizations.Environments.Keystores.Aliases.Create("organizations/myorg/environments/dev/keystores/ks1",
		&apigee.GoogleApiHttpBody{ContentType: ct, Data: base64.StdEncoding.EncodeToString(body)}).
		Alias("my_alias").Format("keycertfile").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "my_alias", alias.Alias)
	require.Equal(t, "KEY_CERT", alias.Type)

	got, err := svc.Organizations.Environments.Keystores.Aliases.Get("organizations/myorg/environments/dev/keystores/ks1/aliases/my_alias").Context(ctx).Do()
	require.NoError(t, err)
	require.Len(t, got.CertsInfo.CertInfo, 2)
	first := got.CertsInfo.CertInfo[0]
	require.Equal(t, leaf.Cert.NotAfter.UnixMilli(), first.ExpiryDate)
	require.Equal(t, leaf.Cert.NotBefore.UnixMilli(), first.ValidFrom)
	require.Equal(t, "Yes", first.IsValid)
	require.Equal(t, int64(3), first.Version)
	require.Equal(t, "ECDSA-SHA256", first.SigAlgName)

	gotKs, err := svc.Organizations.Environments.Keystores.Get("organizations/myorg/environments/dev/keystores/ks1").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, []string{"my_alias"}, gotKs.Aliases)

	refs := svc.Organizations.Environments.References
	ref, err := refs.Create("organizations/myorg/environments/dev",
		&apigee.GoogleCloudApigeeV1Reference{Name: "ks-ref", ResourceType: "KeyStore", Refers: "ks1"}).Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "ks1", ref.Refers)
	ref, err = refs.Update("organizations/myorg/environments/dev/references/ks-ref",
		&apigee.GoogleCloudApigeeV1Reference{Name: "ks-ref", ResourceType: "KeyStore", Refers: "ks2"}).Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "ks2", ref.Refers)
	ref, err = refs.Get("organizations/myorg/environments/dev/references/ks-ref").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, "ks2", ref.Refers)
	require.Equal(t, "KeyStore", ref.ResourceType)

	// Errors decode as googleapi.Error with the status and message.
	_, err = refs.Get("organizations/myorg/environments/dev/references/missing").Context(ctx).Do()
	var gerr *googleapi.Error
	require.ErrorAs(t, err, &gerr)
	require.Equal(t, 404, gerr.Code)
	require.Equal(t, `reference "organizations/myorg/environments/dev/references/missing" not found`, gerr.Message)
}

func TestApigeeGoClient_ListOrganizations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	list, err := officialClient(t, b).Organizations.List("organizations").Context(context.Background()).Do()
	require.NoError(t, err)
	require.Len(t, list.Organizations, 1)
	require.Equal(t, "myorg", list.Organizations[0].Organization)
}

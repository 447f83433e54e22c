package proxy_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/proxy"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// addTruststore creates keystore name in environment dev holding the
// certificate of c, without its key, as alias "ca". An expired c is
// stored all the same, as an upload with ignoreExpiryValidation is.
func addTruststore(t *testing.T, db *postgres.DB, name string, c *testcerts.Cert) {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	keys, err := seal.ParseKeyring(base64.StdEncoding.EncodeToString(key))
	require.NoError(t, err)
	ks := keystore.NewService(db, keys)
	_, err = ks.CreateKeystore(ctx, "o", "dev", name)
	require.NoError(t, err)
	_, err = ks.CreateAlias(ctx, "o", "dev", name, &keystore.Upload{Alias: "ca", Format: keystore.FormatKeyCertFile, CertPEM: c.CertPEM(), IgnoreExpiry: true})
	require.NoError(t, err)
}

// TestWorker_SettlesReadyOrErrorWithTheValidatorsMessage: the queued job
// validates the deployment's TLS material and settles it ERROR with the
// archive validator's message (a keystore that does not exist, a
// truststore whose certificate has expired), and READY once the material
// is valid; an ERROR deployment serves nothing.
func TestWorker_SettlesReadyOrErrorWithTheValidatorsMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, db := newService(t, proxy.Config{})
	startQueue(t, svc, db)
	addTruststore(t, db, "expired-store", testcerts.New(t, testcerts.Options{CommonName: "expired",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
	addTruststore(t, db, "valid-store", testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true}))

	const ks = "organizations/o/environments/dev/keystores/"
	for i, c := range []struct{ ssl, want string }{
		{`<Enabled>true</Enabled><ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>does-not-exist</KeyStore><KeyAlias>my_alias</KeyAlias>`,
			`generic::invalid_argument: proxy "organizations/o/apis/hello/revisions/1" contains invalid TLS settings in target endpoint "default": missing required private key for "alias \"` + ks + `does-not-exist/aliases/my_alias\""; missing required certificate(s) for "alias \"` + ks + `does-not-exist/aliases/my_alias\""`},
		{`<Enabled>true</Enabled><TrustStore>expired-store</TrustStore>`,
			`generic::invalid_argument: proxy "organizations/o/apis/hello/revisions/2" contains invalid TLS settings in target endpoint "default": truststore "` + ks + `expired-store" contains an invalid certificate within alias "` + ks + `expired-store/aliases/ca": certificate has expired`},
	} {
		rev, err := svc.Import(ctx, "o", "hello", bundle(t, "/hello", c.ssl), false)
		require.NoError(t, err)
		d := deployAndWait(t, svc, "hello", rev.Revision, false)
		require.Equal(t, keyplane.DeploymentFailed, d.State, "case %d", i)
		require.Equal(t, []keyplane.DeploymentProblem{{Code: 3, Message: c.want}}, d.Errors, "case %d", i)
		changes, err := svc.UndeployReport(ctx, "o", "dev", "hello", rev.Revision)
		require.NoError(t, err)
		require.Empty(t, changes, "an ERROR deployment serves no base path")
		_, err = svc.Undeploy(ctx, "o", "dev", "hello", rev.Revision)
		require.NoError(t, err)
	}

	rev, err := svc.Import(ctx, "o", "hello", bundle(t, "/hello", `<Enabled>true</Enabled><TrustStore>valid-store</TrustStore>`), false)
	require.NoError(t, err)
	d := deployAndWait(t, svc, "hello", rev.Revision, false)
	require.Equal(t, keyplane.DeploymentReady, d.State, "%+v", d.Errors)
	require.Empty(t, d.Errors)
	require.Equal(t, []string{"/hello"}, d.Basepaths)
}

// TestWorker_BasePathConflictNamesBothAndOverrideReplaces: a proxy whose
// base path another proxy's READY deployment serves settles ERROR naming
// both revisions, and the report before deploying says the same; with
// override it is READY and the other proxy's deployment is gone. A newer
// revision of the same proxy replaces the older one.
func TestWorker_BasePathConflictNamesBothAndOverrideReplaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, db := newService(t, proxy.Config{})
	startQueue(t, svc, db)
	b := bundle(t, "/hello", "")
	for _, name := range []string{"hello", "hello", "other"} {
		_, err := svc.Import(ctx, "o", name, b, false)
		require.NoError(t, err)
	}
	require.Equal(t, keyplane.DeploymentReady, deployAndWait(t, svc, "hello", 1, false).State)
	require.Equal(t, keyplane.DeploymentReady, deployAndWait(t, svc, "hello", 2, true).State)
	ds, err := svc.Deployments(ctx, "o", "dev", "hello", 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, 2, ds[0].Revision, "revision 2 replaced revision 1")

	changes, conflicts, err := svc.DeployReport(ctx, "o", "dev", "other", 1, false)
	require.NoError(t, err)
	require.Empty(t, changes)
	require.Len(t, conflicts, 1)
	require.Equal(t, "/hello", conflicts[0].Basepath)
	require.Equal(t, [2]any{"hello", 2}, [2]any{conflicts[0].With.Proxy, conflicts[0].With.Revision})

	d := deployAndWait(t, svc, "other", 1, false)
	require.Equal(t, keyplane.DeploymentFailed, d.State)
	require.Equal(t, []keyplane.DeploymentProblem{{Code: 3, Message: `generic::invalid_argument: base path "/hello" of proxy "organizations/o/apis/other/revisions/1" is already served by proxy "organizations/o/apis/hello/revisions/2" in environment "organizations/o/environments/dev"; undeploy it, or deploy with override=true to replace it`}}, d.Errors)
	hello, err := svc.Deployment(ctx, "o", "dev", "hello", 2)
	require.NoError(t, err)
	require.Equal(t, keyplane.DeploymentReady, hello.State, "the refused deployment left hello serving")
	_, err = svc.Undeploy(ctx, "o", "dev", "other", 1)
	require.NoError(t, err)

	changes, conflicts, err = svc.DeployReport(ctx, "o", "dev", "other", 1, true)
	require.NoError(t, err)
	require.Empty(t, conflicts)
	require.Len(t, changes, 1)
	require.Equal(t, [2]any{"hello", "other"}, [2]any{changes[0].From.Proxy, changes[0].To.Proxy})

	require.Equal(t, keyplane.DeploymentReady, deployAndWait(t, svc, "other", 1, true).State)
	ds, err = svc.Deployments(ctx, "o", "dev", "", 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "other", ds[0].Proxy, "other took over /hello")
}

// TestWorker_DeployedRevisionIsKeptUntilUndeployed: a revision, and its
// proxy, cannot be deleted while deployed, naming the deployment; the
// undeploy report names the base paths it stops serving, and once
// undeployed both can be deleted.
func TestWorker_DeployedRevisionIsKeptUntilUndeployed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, db := newService(t, proxy.Config{})
	startQueue(t, svc, db)
	_, err := svc.Import(ctx, "o", "hello", bundle(t, "/hello", ""), false)
	require.NoError(t, err)
	require.Equal(t, keyplane.DeploymentReady, deployAndWait(t, svc, "hello", 1, false).State)

	_, err = svc.DeleteRevision(ctx, "o", "hello", 1)
	requireCode(t, err, keyplane.FailedPrecondition,
		`revision "organizations/o/apis/hello/revisions/1" cannot be deleted: it is deployed ("organizations/o/environments/dev/apis/hello/revisions/1/deployments"); undeploy it first`)
	_, err = svc.Delete(ctx, "o", "hello")
	requireCode(t, err, keyplane.FailedPrecondition,
		`API proxy "organizations/o/apis/hello" cannot be deleted: it is deployed ("organizations/o/environments/dev/apis/hello/revisions/1/deployments"); undeploy it first`)
	_, err = svc.Revision(ctx, "o", "hello", 1)
	require.NoError(t, err, "the refused deletes kept the revision")

	changes, err := svc.UndeployReport(ctx, "o", "dev", "hello", 1)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	require.Equal(t, "/hello", changes[0].Basepath)
	require.Nil(t, changes[0].To)

	_, err = svc.Undeploy(ctx, "o", "dev", "hello", 1)
	require.NoError(t, err)
	ds, err := svc.Deployments(ctx, "o", "dev", "", 0)
	require.NoError(t, err)
	require.Empty(t, ds)
	_, err = svc.Deployment(ctx, "o", "dev", "hello", 1)
	require.Equal(t, keyplane.NotFound, keyplane.ErrorCode(err), "%v", err)

	_, err = svc.DeleteRevision(ctx, "o", "hello", 1)
	require.NoError(t, err)
	_, err = svc.Delete(ctx, "o", "hello")
	require.NoError(t, err)
}

package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/proxy"
	"github.com/keyplane/keyplane/internal/testzip"
)

// newService is the service over a fresh database holding organization o
// with its PROXY environment dev and its ARCHIVE environment arc. cfg
// tunes the service.
func newService(t *testing.T, cfg proxy.Config) (*proxy.Service, *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	for _, sql := range []string{
		`INSERT INTO organizations (name) VALUES ('o')`,
		`INSERT INTO environments (org, name, deployment_type, api_proxy_type) VALUES
			('o', 'dev', 'PROXY', 'PROGRAMMABLE'), ('o', 'arc', 'ARCHIVE', 'PROGRAMMABLE')`,
	} {
		_, err := db.Pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	svc, err := proxy.NewService(db, db.JobPool, proxy.Config{Limits: cfg.Limits, ArchiveBytes: cfg.ArchiveBytes})
	require.NoError(t, err)
	return svc, db
}

// startQueue runs the job queue that settles svc's deployments, as the
// server runs it: the archive deployments' queue with the proxy worker
// added.
func startQueue(t *testing.T, svc *proxy.Service, db *postgres.DB) {
	t.Helper()
	deployments, err := deploy.NewService(db, db.JobPool, deploy.Config{})
	require.NoError(t, err)
	q, err := deploy.NewQueue(db.JobPool, deployments, deploy.QueueConfig{AddWorkers: svc.Register})
	require.NoError(t, err)
	require.NoError(t, q.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
}

// bundle is the zip of an apiproxy/ folder whose proxy endpoint serves
// basePath and routes to a target endpoint reaching backend.example.com
// with the SSLInfo elements ssl (none when empty).
func bundle(t *testing.T, basePath, ssl string) []byte {
	t.Helper()
	conn := "<URL>https://backend.example.com</URL>"
	if ssl != "" {
		conn = "<SSLInfo>" + ssl + "</SSLInfo>" + conn
	}
	return testzip.ProxyBundle(t, basePath, conn)
}

func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// deployAndWait deploys a revision to dev and polls it until the queue has
// settled it READY or ERROR.
func deployAndWait(t *testing.T, svc *proxy.Service, name string, rev int, override bool) *keyplane.ProxyDeployment {
	t.Helper()
	ctx := context.Background()
	d, err := svc.Deploy(ctx, "o", "dev", name, rev, override)
	require.NoError(t, err)
	require.Equal(t, keyplane.DeploymentProgressing, d.State, "a deployment is recorded before it is validated")
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := svc.Deployment(ctx, "o", "dev", name, rev)
		require.NoError(t, err)
		if d.State != keyplane.DeploymentProgressing {
			return d
		}
		require.True(t, time.Now().Before(deadline), "deployment of %s revision %d did not settle", name, rev)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestImport_ConsecutiveRevisionsAndValidateStoresNothing: each import of
// a proxy stores its next revision, described from the bundle; a deleted
// revision's number is not given again; validating checks the bundle and
// describes it but stores neither revision nor proxy.
func TestImport_ConsecutiveRevisionsAndValidateStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, proxy.Config{})
	b := bundle(t, "/hello", "")

	for want := 1; want <= 2; want++ {
		rev, err := svc.Import(ctx, "o", "hello", b, false)
		require.NoError(t, err)
		require.Equal(t, want, rev.Revision)
		require.Equal(t, []string{"/hello"}, rev.Basepaths)
		require.Equal(t, []string{"default"}, rev.ProxyEndpoints)
		require.Equal(t, []string{"default"}, rev.TargetEndpoints)
		require.Equal(t, []string{"AM-hello"}, rev.Policies)
		require.Equal(t, []string{"jsc://hello.js"}, rev.Resources)
	}
	stored, err := svc.Bundle(ctx, "o", "hello", 2)
	require.NoError(t, err)
	require.Equal(t, b, stored, "the bundle is kept as imported")

	_, err = svc.DeleteRevision(ctx, "o", "hello", 2)
	require.NoError(t, err)
	rev, err := svc.Import(ctx, "o", "hello", b, false)
	require.NoError(t, err)
	require.Equal(t, 3, rev.Revision, "a deleted revision's number is not given again")

	checked, err := svc.Import(ctx, "o", "other", b, true)
	require.NoError(t, err)
	require.Zero(t, checked.Revision, "a validated bundle has no revision")
	require.Equal(t, []string{"/hello"}, checked.Basepaths, "validation still describes the bundle")
	_, err = svc.Get(ctx, "o", "other")
	requireCode(t, err, keyplane.NotFound, `API proxy "organizations/o/apis/other" not found`)
	_, err = svc.Revision(ctx, "o", "hello", 4)
	require.Equal(t, keyplane.NotFound, keyplane.ErrorCode(err), "validating hello stores no revision 4 either: %v", err)
	_, err = svc.Import(ctx, "o", "hello", b, true)
	require.NoError(t, err)
	_, err = svc.Revision(ctx, "o", "hello", 4)
	require.Equal(t, keyplane.NotFound, keyplane.ErrorCode(err), "%v", err)
	proxies, err := svc.List(ctx, "o")
	require.NoError(t, err)
	require.Len(t, proxies, 1)
	require.Equal(t, "hello", proxies[0].Name)
}

// TestImport_BadBundleNamesFileLineColumnAndStoresNothing: a bundle that
// does not parse, whose route rule names a target endpoint it does not
// define, or whose route rule's condition does not compile (caught only by
// compiling the routes, as a deployment would), is refused naming the
// file, line and column, whether imported or validated, and nothing is
// stored; so is a bad name and an empty bundle.
func TestImport_BadBundleNamesFileLineColumnAndStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, proxy.Config{})

	for _, c := range []struct {
		name   string
		bundle []byte
		want   string
	}{
		{"hello", testzip.Files(t, map[string]string{
			"apiproxy/proxies/default.xml": "<ProxyEndpoint name=\"default\">\n  <HTTPProxyConnection>\n    <BasePath>/x</Base>\n</ProxyEndpoint>",
		}), "generic::invalid_argument: apiproxy/proxies/default.xml:3:24: element <BasePath> closed by </Base>"},
		{"hello", testzip.Files(t, map[string]string{
			"apiproxy/proxies/default.xml": `<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>/x</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>missing</TargetEndpoint></RouteRule></ProxyEndpoint>`,
		}), `generic::invalid_argument: apiproxy/proxies/default.xml:1:117: <RouteRule> "r" names target endpoint "missing", which no file in apiproxy/targets/ defines`},
		{"hello", testzip.Files(t, map[string]string{
			"apiproxy/proxies/default.xml": "<ProxyEndpoint name=\"default\">\n  <HTTPProxyConnection><BasePath>/x</BasePath></HTTPProxyConnection>\n  <RouteRule name=\"r\">\n    <Condition>(request.verb = </Condition>\n    <TargetEndpoint>default</TargetEndpoint>\n  </RouteRule>\n</ProxyEndpoint>",
			"apiproxy/targets/default.xml": `<TargetEndpoint name="default"><HTTPTargetConnection><URL>https://backend.example.com</URL></HTTPTargetConnection></TargetEndpoint>`,
		}), `generic::invalid_argument: apiproxy/proxies/default.xml:4:5: <RouteRule> "r" of proxy "hello": <Condition> "(request.verb =" is invalid at character 16: expected a variable or a value, found the end`},
		{"hello", nil, `the bundle is empty: send the zipped apiproxy/ folder as the multipart part "file" or as the request body`},
		{"bad name!", bundle(t, "/hello", ""), `name "bad name!" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`},
	} {
		for _, validateOnly := range []bool{false, true} {
			_, err := svc.Import(ctx, "o", c.name, c.bundle, validateOnly)
			requireCode(t, err, keyplane.InvalidArgument, c.want)
		}
	}
	proxies, err := svc.List(ctx, "o")
	require.NoError(t, err)
	require.Empty(t, proxies, "nothing refused is stored")
	rev, err := svc.Import(ctx, "o", "hello", bundle(t, "/hello", ""), false)
	require.NoError(t, err)
	require.Equal(t, 1, rev.Revision, "refused imports used no revision number")
}

// TestImport_QuotaOfStoredBytes: bundles count against the organization's
// quota of stored archive bytes; an import that would exceed it is
// ResourceExhausted and stores nothing, validating is not held to it, and
// deleting a revision frees its bytes.
func TestImport_QuotaOfStoredBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := bundle(t, "/hello", "")
	svc, _ := newService(t, proxy.Config{ArchiveBytes: int64(len(b)) + 10})

	_, err := svc.Import(ctx, "o", "hello", b, false)
	require.NoError(t, err)
	_, err = svc.Import(ctx, "o", "hello", b, false)
	require.Equal(t, keyplane.ResourceExhausted, keyplane.ErrorCode(err), "%v", err)
	require.Contains(t, keyplane.ErrorMessage(err), `quota exceeded: the archives and API proxy bundles of organization "o" would exceed its quota of stored archive bytes`)
	_, err = svc.Revision(ctx, "o", "hello", 2)
	require.Equal(t, keyplane.NotFound, keyplane.ErrorCode(err), "the refused import stored nothing: %v", err)
	_, err = svc.Import(ctx, "o", "hello", b, true)
	require.NoError(t, err, "validating stores nothing, so the quota does not apply")

	_, err = svc.DeleteRevision(ctx, "o", "hello", 1)
	require.NoError(t, err)
	rev, err := svc.Import(ctx, "o", "hello", b, false)
	require.NoError(t, err, "a deleted revision frees its bytes")
	require.Equal(t, 2, rev.Revision)
}

// TestDeploy_ArchiveEnvironmentIsRefused: a proxy deploys only to a PROXY
// environment; deploying to an ARCHIVE environment is refused and records
// no deployment there.
func TestDeploy_ArchiveEnvironmentIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t, proxy.Config{})
	_, err := svc.Import(ctx, "o", "hello", bundle(t, "/hello", ""), false)
	require.NoError(t, err)

	_, err = svc.Deploy(ctx, "o", "arc", "hello", 1, false)
	requireCode(t, err, keyplane.FailedPrecondition,
		`environment "organizations/o/environments/arc" has deploymentType ARCHIVE; API proxy deployments need an environment of deploymentType PROXY`)
	ds, err := svc.Deployments(ctx, "o", "", "hello", 0)
	require.NoError(t, err)
	require.Empty(t, ds)

	d, err := svc.Deploy(ctx, "o", "dev", "hello", 1, false)
	require.NoError(t, err, "the same revision deploys to the PROXY environment")
	require.Equal(t, keyplane.DeploymentProgressing, d.State)
}

package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/servertest"
)

// plainBackend is an HTTP server on loopback that answers every request
// with its name, so a test sees which backend a gateway reached; it
// returns its URL.
func plainBackend(t *testing.T, name string) string {
	t.Helper()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(be.Close)
	return be.URL
}

// tenant is an organization with one environment, made by the
// administrator, as a deployer of that organization would find it.
func tenant(t *testing.T, srv *servertest.Server, org, env string) *testBundle {
	t.Helper()
	b := &testBundle{srv: srv, api: &api.Client{BaseURL: srv.URL, Token: srv.Token}, org: org, env: env}
	ctx := context.Background()
	_, err := b.api.CreateOrganization(ctx, api.Organization{Name: org})
	require.NoError(t, err)
	_, err = b.api.CreateEnvironment(ctx, org, api.Environment{Name: env, DeploymentType: "ARCHIVE", APIProxyType: api.ProxyTypeConfigurable})
	require.NoError(t, err)
	return b
}

func requireHostTaken(t *testing.T, err error, holder string) {
	t.Helper()
	var apiErr *api.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusConflict, apiErr.HTTPStatus)
	require.Equal(t, "ALREADY_EXISTS", apiErr.Status)
	require.Contains(t, apiErr.Message, "gateway host name")
	require.Contains(t, apiErr.Message, "taken")
	require.NotContains(t, apiErr.Message, "\""+holder+"\"", "the holder's name is not the caller's to learn")
}

// Organization orga with environment x-prod and organization orga-x with
// environment prod would both be served at orga-x-prod.{domain}: the
// second claim is refused, whoever makes it, and the first owner keeps
// its traffic.
func TestGatewayHost_ClaimOfATakenHostIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	victim := tenant(t, srv, "orga", "x-prod")
	victim.deploy(t, plainArchive("x-prod", plainBackend(t, "victim")))

	admin := &api.Client{BaseURL: srv.URL, Token: srv.Token}
	_, err := admin.CreateOrganization(ctx, api.Organization{Name: "orga-x"})
	require.NoError(t, err, "the organization alone claims no host")
	_, err = admin.CreateEnvironment(ctx, "orga-x", api.Environment{Name: "prod", DeploymentType: "ARCHIVE", APIProxyType: api.ProxyTypeConfigurable})
	requireHostTaken(t, err, "orga")
	_, err = admin.CreateEnvironment(ctx, "orga-x", api.Environment{Name: "PROD", DeploymentType: "ARCHIVE", APIProxyType: api.ProxyTypeConfigurable})
	requireHostTaken(t, err, "orga")
	_, err = admin.GetEnvironment(ctx, "orga-x", "prod")
	require.Error(t, err, "a refused environment is not created")

	// Case: ACME would claim every host of acme.
	tenant(t, srv, "acme", "dev")
	_, err = admin.CreateOrganization(ctx, api.Organization{Name: "ACME"})
	requireHostTaken(t, err, "acme")
	_, err = admin.CreateEnvironment(ctx, "acme", api.Environment{Name: "DEV", DeploymentType: "ARCHIVE", APIProxyType: api.ProxyTypeConfigurable})
	requireHostTaken(t, err, "acme")

	g := victim.startGateway(t)
	status, body, _ := g.get(t, "orga-x-prod.localhost", "/echo/helloworld")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "victim", body)
}

// Environments that shared a host before host names were owned are found
// by the migration and reported; the gateway serves none of them and says
// why, and deleting all but one gives the host back to the survivor.
func TestGatewayHost_MigrationReportsCollisionsAndTheGatewayServesNeither(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	victim := tenant(t, srv, "orga", "x-prod")
	victim.deploy(t, plainArchive("x-prod", plainBackend(t, "victim")))
	admin := &api.Client{BaseURL: srv.URL, Token: srv.Token}
	_, err := admin.CreateOrganization(ctx, api.Organization{Name: "orga-x"})
	require.NoError(t, err)

	// Go back to before host names were owned, and collide.
	url := srv.DatabaseURL
	for {
		v, _, err := postgres.Version(url)
		require.NoError(t, err)
		if v < 9 {
			break
		}
		require.NoError(t, postgres.Migrate(url, "down"))
	}
	_, err = srv.App.DB.Pool.Exec(ctx, `
		INSERT INTO environments (org, name, deployment_type, api_proxy_type) VALUES ('orga-x', 'prod', 'ARCHIVE', 'CONFIGURABLE')`)
	require.NoError(t, err)
	require.NoError(t, postgres.Migrate(url, "up"))

	rows, err := srv.App.DB.HostCollisions(ctx)
	require.NoError(t, err)
	require.Equal(t, []keyplane.HostCollision{{Host: "orga-x-prod", Org: "orga", Env: "x-prod"}, {Host: "orga-x-prod", Org: "orga-x", Env: "prod"}}, rows)

	g := victim.startGateway(t)
	status, _, _ := g.get(t, "orga-x-prod.localhost", "/echo/helloworld")
	require.Equal(t, http.StatusNotFound, status, "neither environment is served")
	// The gateway logs the collision after each full load, the first
	// right after it is ready.
	var lines []map[string]any
	require.Eventually(t, func() bool {
		lines = g.logLines(t, "environments share one gateway host; serving none of them until all but one are deleted")
		return len(lines) > 0
	}, 10*time.Second, 20*time.Millisecond)
	for _, line := range lines {
		require.Equal(t, "orga-x-prod.localhost", line["host"])
		require.Equal(t, []any{"orga/x-prod", "orga-x/prod"}, line["environments"])
	}

	_, err = admin.DeleteEnvironment(ctx, "orga-x", "prod")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, body, _ := g.get(t, "orga-x-prod.localhost", "/echo/helloworld")
		return status == http.StatusOK && strings.Contains(body, "victim")
	}, 5*time.Second, 20*time.Millisecond, "the survivor owns the host again")
	rows, err = srv.App.DB.HostCollisions(ctx)
	require.NoError(t, err)
	require.Empty(t, rows)
}

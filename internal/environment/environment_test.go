package environment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/environment"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// encode stands for the wire encoding of an operation's response: the
// resource's name, which is all these tests look at.
func encode(resource any) ([]byte, error) {
	switch r := resource.(type) {
	case *keyplane.Organization:
		return json.Marshal(map[string]string{"organization": r.Name})
	case *keyplane.Environment:
		return json.Marshal(map[string]string{"environment": r.Name, "deploymentType": r.DeploymentType})
	}
	return nil, errors.New("unexpected resource")
}

// newService is the service over a fresh database, and what its tracker
// logs.
func newService(t *testing.T) (*environment.Service, *postgres.DB, *bytes.Buffer) {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	var log bytes.Buffer
	tracker := operation.NewTracker(prometheus.NewRegistry(), slog.New(slog.NewJSONHandler(&log, nil)))
	return environment.NewService(db, tracker, encode), db, &log
}

func count(t *testing.T, db *postgres.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// TestCreateOrganization_AParentNamesItAndAsksForAnOperation: Apigee's
// clients name a project as parent, which names the organization when
// it has no name of its own and gets them a finished operation, stored
// with the organization; keyplane's own clients give no parent and get
// none. A bad parent or name stores nothing.
func TestCreateOrganization_AParentNamesItAndAsksForAnOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newService(t)

	org := &keyplane.Organization{}
	op, err := s.CreateOrganization(ctx, org, "projects/acme")
	require.NoError(t, err)
	require.Equal(t, "acme", org.Name)
	require.False(t, org.CreatedAt.IsZero(), "filled in with what was stored")
	require.True(t, op.Done())
	require.Equal(t, operation.TypeInsert, op.Type)
	require.Equal(t, "organizations/acme", op.Target)
	require.JSONEq(t, `{"organization":"acme"}`, string(op.Response))
	stored, err := db.GetOperation(ctx, "acme", op.UUID)
	require.NoError(t, err)
	require.JSONEq(t, `{"organization":"acme"}`, string(stored.Response))

	op, err = s.CreateOrganization(ctx, &keyplane.Organization{Name: "own"}, "")
	require.NoError(t, err)
	require.Nil(t, op)
	require.Zero(t, count(t, db, `SELECT count(*) FROM operations WHERE org = 'own'`))

	for _, parent := range []string{"acme", "projects/", "projects/a/b", "folders/acme"} {
		_, err := s.CreateOrganization(ctx, &keyplane.Organization{Name: "x"}, parent)
		requireCode(t, err, keyplane.InvalidArgument, `parent "`+parent+`" is invalid: use projects/{project}`)
	}
	_, err = s.CreateOrganization(ctx, &keyplane.Organization{Name: "Not a name"}, "")
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
	require.ErrorContains(t, err, "name")
	require.Equal(t, 2, count(t, db, `SELECT count(*) FROM organizations`))
}

// TestCreateEnvironment_TypesDefaultAndAreChecked: an environment takes
// PROXY deployments of PROGRAMMABLE proxies unless told otherwise (the
// UNSPECIFIED values included), other values are refused naming the
// field, and its creation is a finished operation, stored and reported.
func TestCreateEnvironment_TypesDefaultAndAreChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, log := newService(t)
	_, err := s.CreateOrganization(ctx, &keyplane.Organization{Name: "o"}, "")
	require.NoError(t, err)

	for _, tt := range []struct {
		name, deployment, proxy string
		wantDeployment          string
		wantProxy               string
	}{
		{"plain", "", "", keyplane.DeploymentTypeProxy, keyplane.ProxyTypeProgrammable},
		{"unspecified", "DEPLOYMENT_TYPE_UNSPECIFIED", "API_PROXY_TYPE_UNSPECIFIED", keyplane.DeploymentTypeProxy, keyplane.ProxyTypeProgrammable},
		{"archive", keyplane.DeploymentTypeArchive, keyplane.ProxyTypeConfigurable, keyplane.DeploymentTypeArchive, keyplane.ProxyTypeConfigurable},
	} {
		env := &keyplane.Environment{Name: tt.name, DeploymentType: tt.deployment, APIProxyType: tt.proxy}
		op, err := s.CreateEnvironment(ctx, "o", env)
		require.NoError(t, err)
		require.True(t, op.Done())
		require.Equal(t, "organizations/o/environments/"+tt.name, op.Target)
		require.JSONEq(t, `{"environment":"`+tt.name+`","deploymentType":"`+tt.wantDeployment+`"}`, string(op.Response))
		stored, err := db.GetEnvironment(ctx, "o", tt.name)
		require.NoError(t, err)
		require.Equal(t, tt.wantDeployment, stored.DeploymentType)
		require.Equal(t, tt.wantProxy, stored.APIProxyType)
		require.True(t, env.CreatedAt.Equal(stored.CreatedAt), "the creation reports the time stored: %v, %v", env.CreatedAt, stored.CreatedAt)
		require.Contains(t, log.String(), `"operation":"`+op.ResourceName()+`"`)
	}

	for _, tt := range []struct {
		env *keyplane.Environment
		msg string
	}{
		{&keyplane.Environment{Name: "bad", DeploymentType: "HYBRID"}, `deploymentType "HYBRID" is invalid: use PROXY or ARCHIVE`},
		{&keyplane.Environment{Name: "bad", APIProxyType: "CLASSIC"}, `apiProxyType "CLASSIC" is invalid: use PROGRAMMABLE or CONFIGURABLE`},
	} {
		_, err := s.CreateEnvironment(ctx, "o", tt.env)
		requireCode(t, err, keyplane.InvalidArgument, tt.msg)
	}
	_, err = s.CreateEnvironment(ctx, "nowhere", &keyplane.Environment{Name: "e"})
	requireCode(t, err, keyplane.NotFound, `organization "nowhere" not found`)
	require.Equal(t, 3, count(t, db, `SELECT count(*) FROM environments`))
	require.Equal(t, 3, count(t, db, `SELECT count(*) FROM operations`), "a refused creation records no operation")
}

// TestDeleteEnvironment_OnlyAnEmptyOne: an environment holding TLS
// material is kept, and no operation recorded; an empty one is deleted
// with the finished operation that reports it.
func TestDeleteEnvironment_OnlyAnEmptyOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _ := newService(t)
	_, err := s.CreateOrganization(ctx, &keyplane.Organization{Name: "o"}, "")
	require.NoError(t, err)
	_, err = s.CreateEnvironment(ctx, "o", &keyplane.Environment{Name: "e"})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO keystores (org, env, name) VALUES ('o', 'e', 'ks')`)
	require.NoError(t, err)

	_, err = s.DeleteEnvironment(ctx, "o", "e")
	requireCode(t, err, keyplane.FailedPrecondition, `environment "e" still holds keystores, references, target servers or deployments; delete them first`)
	require.Equal(t, 1, count(t, db, `SELECT count(*) FROM operations`), "only the creation's")

	_, err = db.Pool.Exec(ctx, `DELETE FROM keystores`)
	require.NoError(t, err)
	op, err := s.DeleteEnvironment(ctx, "o", "e")
	require.NoError(t, err)
	require.True(t, op.Done())
	require.Equal(t, operation.TypeDelete, op.Type)
	require.JSONEq(t, `{"environment":"e","deploymentType":"PROXY"}`, string(op.Response), "the response is the environment as it was")
	_, err = s.GetEnvironment(ctx, "o", "e")
	requireCode(t, err, keyplane.NotFound, `environment "organizations/o/environments/e" not found`)
	_, err = s.DeleteEnvironment(ctx, "o", "e")
	requireCode(t, err, keyplane.NotFound, `environment "organizations/o/environments/e" not found`)
}

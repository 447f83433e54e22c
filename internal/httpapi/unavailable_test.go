package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
)

// TestDatabaseOutage_Answers503ThenRecovers cuts the server off from its
// database (its connections are terminated and new ones refused), expects
// 503 UNAVAILABLE and a failing /readyz, then lets the database back and
// expects the server to recover without a restart.
func TestDatabaseOutage_Answers503ThenRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.Base(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	db, err := pgx.ParseConfig(b.srv.DatabaseURL)
	require.NoError(t, err)
	ident := pgx.Identifier{db.Database}.Sanitize()

	_, err = admin.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS false`)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db.Database)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		r := b.c.do("GET", "/v1/organizations/myorg", "")
		return r.Status == http.StatusServiceUnavailable && r.errorBody(t).Status == "UNAVAILABLE"
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, b.c.do("GET", "/readyz", "").Status)

	_, err = admin.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.c.do("GET", "/v1/organizations/myorg", "").Status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusOK, b.c.do("GET", "/readyz", "").Status)
}

package httpapi_test

import (
	"net/http"
	"testing"
	"time"

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
	restore := pgtest.CutOff(t, b.srv.DatabaseURL)

	require.Eventually(t, func() bool {
		r := b.c.do("GET", "/v1/organizations/myorg", "")
		return r.Status == http.StatusServiceUnavailable && r.errorBody(t).Status == "UNAVAILABLE"
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, b.c.do("GET", "/readyz", "").Status)

	restore()
	require.Eventually(t, func() bool {
		return b.c.do("GET", "/v1/organizations/myorg", "").Status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusOK, b.c.do("GET", "/readyz", "").Status)
}

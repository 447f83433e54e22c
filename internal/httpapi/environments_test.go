package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyplane/keyplane/api"

	"github.com/stretchr/testify/require"
)

func TestEnvironments_DeleteTakesUnusedUploadSlotsAlong(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}")
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", plainArchive(t))
	require.Equal(t, 200, r.Status, string(r.Body))

	b.c.ok("DELETE", envPath, "")
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
	require.Zero(t, n)

	// An environment with a deployment is kept, and so are its slots.
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	op := b.deploy(t, plainArchive(t))
	require.Nil(t, op.Error, "%+v", op.Error)
	b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}")
	b.c.fails("DELETE", envPath, "", 400, "FAILED_PRECONDITION",
		`environment "dev" still holds keystores, references, target servers or deployments; delete them first`)
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM archive_uploads`).Scan(&n))
	require.Equal(t, 2, n)
}

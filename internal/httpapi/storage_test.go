package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/servertest"
)

func setupEnvWith(t *testing.T, opt servertest.Options) *testBundle {
	t.Helper()
	b := setupWith(t, opt)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"PROGRAMMABLE"}`)
	return b
}

// downloadStatus asks for a download URL of a deployment's archive and
// fetches it, returning the status and body.
func (b *testBundle) downloadStatus(t *testing.T, op api.Operation) (int, string) {
	t.Helper()
	dl := decode[api.GenerateDownloadURLResponse](t, b.c.ok("POST", "/v1/"+op.Metadata.TargetResourceName+":generateDownloadUrl", "{}"))
	r := (&client{t: t}).do("GET", dl.DownloadURI, "")
	return r.Status, string(r.Body)
}

// The archives of deployments that newer ones replaced are swept, all but
// the newest KeepArchives of each environment; the live one stays.
func TestSweep_PrunesArchivesOfReplacedDeployments(t *testing.T) {
	t.Parallel()
	b := setupEnvWith(t, servertest.Options{})
	var ops []api.Operation
	for range 4 {
		op := b.deploy(t, plainArchive(t))
		require.Nil(t, op.Error, "%+v", op.Error)
		ops = append(ops, op)
	}
	// The oldest is still being validated, as far as the sweep can tell:
	// its archive is needed, however many deployments came after it.
	_, err := b.srv.App.DB.Pool.Exec(context.Background(), `UPDATE operations SET state = 'IN_PROGRESS' WHERE uuid = $1`,
		ops[0].Name[strings.LastIndex(ops[0].Name, "/")+1:])
	require.NoError(t, err)
	svc, err := deploy.NewService(b.srv.App.DB, b.srv.App.DB.JobPool, deploy.Config{SigningKeys: [][]byte{[]byte("unused")}, KeepArchives: 2})
	require.NoError(t, err)
	res, err := svc.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1), res.ArchivesPruned)

	status, body := b.downloadStatus(t, ops[1])
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "archive no longer kept")
	status, _ = b.downloadStatus(t, ops[0])
	require.Equal(t, http.StatusOK, status, "an unfinished deployment keeps its archive")
	status, _ = b.downloadStatus(t, ops[3])
	require.Equal(t, http.StatusOK, status, "the live deployment's archive is kept")
	status, _ = b.downloadStatus(t, ops[2])
	require.Equal(t, http.StatusOK, status)

	res, err = svc.Sweep(context.Background())
	require.NoError(t, err)
	require.Zero(t, res.ArchivesPruned, "a second sweep finds nothing more")
}

// An organization may create only so many deployments a day.
func TestQuota_DeploymentsPerDay(t *testing.T) {
	t.Parallel()
	b := setupEnvWith(t, servertest.Options{Quotas: deploy.Quotas{DeploymentsPerDay: 2}})
	for range 2 {
		b.deploy(t, plainArchive(t))
	}
	uri := b.upload(t, plainArchive(t))
	r := b.c.do("POST", envPath+"/archiveDeployments", `{"gcsUri":"`+uri+`"}`)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	e := r.errorBody(t)
	require.Equal(t, "RESOURCE_EXHAUSTED", e.Status)
	require.Contains(t, e.Message, "quota of deployments per day")
}

// An organization may store only so many bytes of archives.
func TestQuota_ArchiveBytes(t *testing.T) {
	t.Parallel()
	zip := plainArchive(t)
	b := setupEnvWith(t, servertest.Options{Quotas: deploy.Quotas{ArchiveBytes: int64(len(zip)) + 10}})
	b.upload(t, zip)
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	r := b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", zip)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	e := r.errorBody(t)
	require.Equal(t, "RESOURCE_EXHAUSTED", e.Status)
	require.Contains(t, e.Message, "quota of stored archive bytes")
}

// An organization may hold only so many aliases.
func TestQuota_Aliases(t *testing.T) {
	t.Parallel()
	b := setupEnvWith(t, servertest.Options{AliasQuota: 1})
	b.c.ok("POST", ksPath, `{"name":"ks"}`)
	body := func(alias string) string {
		return `{"alias":"` + alias + `","keySize":"2048","sigAlg":"SHA256withRSA","subject":{"commonName":"x"},"certValidityInDays":30}`
	}
	b.c.ok("POST", ksPath+"/ks/aliases?alias=a&format=selfsignedcert", body("a"))
	r := b.c.do("POST", ksPath+"/ks/aliases?alias=b&format=selfsignedcert", body("b"))
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	e := r.errorBody(t)
	require.Equal(t, "RESOURCE_EXHAUSTED", e.Status)
	require.Contains(t, e.Message, "quota of aliases")
}

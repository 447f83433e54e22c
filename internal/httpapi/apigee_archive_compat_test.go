package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apigee "google.golang.org/api/apigee/v1"
)

func TestApigeeGoClient_ArchiveDeploymentsAndOperations(t *testing.T) {
	t.Parallel()
	b := mtlsSetup(t)
	svc := officialClient(t, b)
	ctx := context.Background()
	deployments := svc.Organizations.Environments.ArchiveDeployments
	const env = "organizations/myorg/environments/dev"

	deployOne := func(archive []byte, labels map[string]string) *apigee.GoogleLongrunningOperation {
		up, err := deployments.GenerateUploadUrl(env, &apigee.GoogleCloudApigeeV1GenerateUploadUrlRequest{}).Context(ctx).Do()
		require.NoError(t, err)
		// A plain HTTP PUT, as gsutil sends it.
		req, err := http.NewRequest("PUT", up.UploadUri, bytes.NewReader(archive))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/zip")
		req.Header.Set("x-goog-content-length-range", "0,1073741824")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)

		op, err := deployments.Create(env, &apigee.GoogleCloudApigeeV1ArchiveDeployment{GcsUri: up.UploadUri, Labels: labels}).Context(ctx).Do()
		require.NoError(t, err)
		require.False(t, op.Done)
		for !op.Done {
			time.Sleep(20 * time.Millisecond)
			op, err = svc.Organizations.Operations.Get(op.Name).Context(ctx).Do()
			require.NoError(t, err)
		}
		return op
	}

	good := deployOne(mtlsArchive(t, `{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://mtls-keystore-ref","keyAlias":"my_alias","trustStore":"ref://mtls-truststore-ref"}`),
		map[string]string{"build": "1"})
	require.Nil(t, good.Error)
	var meta struct{ State, OperationType, TargetResourceName string }
	require.NoError(t, json.Unmarshal(good.Metadata, &meta))
	require.Equal(t, "FINISHED", meta.State)
	var deployed apigee.GoogleCloudApigeeV1ArchiveDeployment
	require.NoError(t, json.Unmarshal(good.Response, &deployed))
	require.Equal(t, meta.TargetResourceName, deployed.Name)

	bad := deployOne(mtlsArchive(t, `{"enabled":true,"trustStore":"does-not-exist"}`), nil)
	require.NotNil(t, bad.Error)
	require.Equal(t, int64(3), bad.Error.Code)
	require.Contains(t, bad.Error.Message, `missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`)

	got, err := deployments.Get(deployed.Name).Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"build": "1"}, got.Labels)
	require.NotZero(t, got.CreatedAt)
	require.Equal(t, good.Name, got.Operation)

	// Pages of one: the client follows nextPageToken, newest first.
	var listed []string
	require.NoError(t, deployments.List(env).PageSize(1).Pages(ctx, func(page *apigee.GoogleCloudApigeeV1ListArchiveDeploymentsResponse) error {
		require.LessOrEqual(t, len(page.ArchiveDeployments), 1)
		for _, d := range page.ArchiveDeployments {
			listed = append(listed, d.Name)
		}
		return nil
	}))
	require.Len(t, listed, 2)
	require.Equal(t, deployed.Name, listed[1])

	var ops []string
	token := ""
	for {
		page, err := svc.Organizations.Operations.List("organizations/myorg").PageSize(1).PageToken(token).Context(ctx).Do()
		require.NoError(t, err)
		for _, op := range page.Operations {
			ops = append(ops, op.Name)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	require.Equal(t, bad.Name, ops[0], "newest first")
	require.Contains(t, ops, good.Name)

	patched, err := deployments.Patch(deployed.Name, &apigee.GoogleCloudApigeeV1ArchiveDeployment{Labels: map[string]string{"build": "2"}}).
		UpdateMask("labels").Context(ctx).Do()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"build": "2"}, patched.Labels)

	dl, err := deployments.GenerateDownloadUrl(deployed.Name, &apigee.GoogleCloudApigeeV1GenerateDownloadUrlRequest{}).Context(ctx).Do()
	require.NoError(t, err)
	res, err := http.Get(dl.DownloadUri)
	require.NoError(t, err)
	archive, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "PK", string(archive[:2]))

	_, err = deployments.Delete(listed[0]).Context(ctx).Do()
	require.NoError(t, err)
	_, err = deployments.Get(listed[0]).Context(ctx).Do()
	require.Error(t, err)
}

func TestUpload_LargerThanTheLimitIsRefusedNamingIt(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	up := decode[struct{ UploadURI string }](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	req, err := http.NewRequest("PUT", up.UploadURI, bytes.NewReader(make([]byte, 64<<20+1)))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 413, res.StatusCode)
	require.Contains(t, string(body), "archive exceeds the upload limit of 64 MiB")
}

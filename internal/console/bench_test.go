package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/testzip"
)

// BenchmarkKeystoresPage renders the TLS Keystores page of an environment
// of 1,000 keystores, each with an alias, as a signed-in browser asks for
// it: the first page, a page in the middle, and the expiry view of the
// organization. The time per operation is the server's time per page (the
// client is on loopback and reads the page only).
func BenchmarkKeystoresPage(b *testing.B) {
	srv := servertest.Start(b)
	ctx := context.Background()
	c := srv.CreateEnvironments(b, "myorg", api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeArchive})
	leaf := testcerts.New(b, testcerts.Options{CommonName: "bench"})
	in := api.KeyCertFile{Cert: leaf.CertPEM(), Key: leaf.KeyPEM(b)}
	const keystores = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, keystores)
	for i := range keystores {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("ks-%04d", i)
			if _, err := c.CreateKeystore(ctx, "myorg", "dev", name); err != nil {
				errs <- err
				return
			}
			if _, err := c.CreateAliasFromKeyCert(ctx, "myorg", "dev", name, "a", in, api.AliasOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}

	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(b *testing.B, path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "keyplane_session", Value: srv.Token})
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		_, _ = fmt.Fprint(&sb, res.Status)
		buf := make([]byte, 32<<10)
		n := 0
		for {
			m, err := res.Body.Read(buf)
			n += m
			if err != nil {
				break
			}
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || n == 0 {
			b.Fatalf("%s: %s", path, sb.String())
		}
	}
	for _, tc := range []struct{ name, path string }{
		{"keystores-page-1", dev + "/keystores"},
		{"keystores-page-20", dev + "/keystores?page=20"},
		{"keystore", dev + "/keystores/ks-0500"},
		{"alias", dev + "/keystores/ks-0500/aliases/a"},
		{"certificates", org + "/certificates"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				get(b, tc.path)
			}
		})
	}

	// With a live deployment, the page also reads the expiry view to say
	// which keystores the deployment uses.
	archive := testzip.Files(b, map[string]string{
		"src/main/apigee/apiproxies/mtls/config.yaml":         "basepath: /mtls\noperations:\n  - name: get\n    http_match: [{path_template: \"/\", method: GET}]\n    target:\n      target_server_id: mtlstarget-docs\n",
		"src/main/apigee/environments/dev/deployments.json":   `{"proxies":[{"name":"mtls"}],"sharedflows":[]}`,
		"src/main/apigee/environments/dev/targetservers.json": `[{"name":"mtlstarget-docs","host":"mtls.example.com","port":443,"protocol":"HTTP","sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ks-0000","keyAlias":"a","trustStore":"ks-0001"}}]`,
	})
	uri, err := c.GenerateUploadURL(ctx, "myorg", "dev")
	require.NoError(b, err)
	require.NoError(b, c.UploadArchive(ctx, uri, bytes.NewReader(archive)))
	op, err := c.CreateArchiveDeployment(ctx, "myorg", "dev", uri, nil)
	require.NoError(b, err)
	for !op.Done {
		time.Sleep(50 * time.Millisecond)
		op, err = c.GetOperation(ctx, "myorg", op.Name[strings.LastIndex(op.Name, "/")+1:])
		require.NoError(b, err)
	}
	require.Nil(b, op.Error)
	b.Run("keystores-page-1-live", func(b *testing.B) {
		for b.Loop() {
			get(b, dev+"/keystores")
		}
	})
	b.Run("keystore-live", func(b *testing.B) {
		for b.Loop() {
			get(b, dev+"/keystores/ks-0000")
		}
	})
}

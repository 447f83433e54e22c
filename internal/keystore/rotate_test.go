package keystore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

func post(t *testing.T, srv *servertest.Server, path, ct string, body []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode, path)
}

func TestRotateMasterKey_InterruptedThenResumed(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	post(t, srv, "/v1/organizations", "application/json", []byte(`{"name":"o"}`))
	post(t, srv, "/v1/organizations/o/environments", "application/json", []byte(`{"name":"e"}`))
	post(t, srv, "/v1/organizations/o/environments/e/keystores", "application/json", []byte(`{"name":"ks"}`))
	const n = 5
	for i := range n {
		c := testcerts.New(t, testcerts.Options{CommonName: fmt.Sprint("a", i)})
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		require.NoError(t, w.WriteField("certFile", string(c.CertPEM())))
		require.NoError(t, w.WriteField("keyFile", string(c.KeyPEM(t))))
		require.NoError(t, w.Close())
		post(t, srv, fmt.Sprintf("/v1/organizations/o/environments/e/keystores/ks/aliases?alias=a%d&format=keycertfile", i), w.FormDataContentType(), buf.Bytes())
	}

	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	next := base64.StdEncoding.EncodeToString(newKey)
	both, err := seal.ParseKeyring(srv.MasterKey + ",new:" + next)
	require.NoError(t, err)
	ctx := context.Background()
	db, err := postgres.Open(ctx, srv.DatabaseURL)
	require.NoError(t, err)
	defer db.Close()
	sealedUnder := func(id string) (count int) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM aliases WHERE key_id = $1`, id).Scan(&count))
		return count
	}

	// Interrupted after its first batch of two.
	stop, cancel := context.WithCancel(ctx)
	total, err := keystore.RotateMasterKey(stop, db, both, 2, func(int) { cancel() })
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, 2, total)
	require.Equal(t, 2, sealedUnder("new"))

	// Run again: it finishes the rest, and a third run finds nothing to do.
	total, err = keystore.RotateMasterKey(ctx, db, both, 2, nil)
	require.NoError(t, err)
	require.Equal(t, n-2, total)
	require.Equal(t, n, sealedUnder("new"))
	total, err = keystore.RotateMasterKey(ctx, db, both, 2, nil)
	require.NoError(t, err)
	require.Zero(t, total)

	// A key sealed under a master key the keyring does not hold does not
	// stop the rotation; it is named at the end.
	_, err = db.Pool.Exec(ctx, `UPDATE aliases SET key_id = 'ghost' WHERE id = (SELECT min(id) FROM aliases)`)
	require.NoError(t, err)
	total, err = keystore.RotateMasterKey(ctx, db, both, 2, nil)
	require.EqualError(t, err, `private keys sealed under master keys that KEYPLANE_MASTER_KEY does not hold were left as they are (1 under "ghost"); add those keys and run again`)
	require.Zero(t, total)
	_, err = db.Pool.Exec(ctx, `UPDATE aliases SET key_id = 'new' WHERE key_id = 'ghost'`)
	require.NoError(t, err)

	// The old key can go: every key opens under the new one alone.
	only, err := seal.ParseKeyring("new:" + next)
	require.NoError(t, err)
	svc := keystore.NewService(db, only)
	for i := range n {
		csr, err := svc.CSR(ctx, "o", "e", "ks", fmt.Sprint("a", i))
		require.NoError(t, err)
		require.Contains(t, string(csr), "CERTIFICATE REQUEST")
	}
}

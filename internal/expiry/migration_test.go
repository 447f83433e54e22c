package expiry_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// certificateRow is one row of alias_certificates, which the expiry view
// reads.
type certificateRow struct {
	AliasID                       int64
	Version                       int64
	Idx                           int
	Org                           string
	NotAfter                      time.Time
	Subject, Issuer, SerialNumber string
}

func certificateRows(t *testing.T, db *postgres.DB) []certificateRow {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		SELECT alias_id, version, idx, org, not_after, subject, issuer, serial_number
		FROM alias_certificates ORDER BY alias_id, version, idx`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[certificateRow])
	require.NoError(t, err)
	return out
}

// The migration that adds alias_certificates fills it from the aliases
// already stored; what it writes must be what creating and replacing
// aliases writes, or the expiry view would differ between an upgraded
// database and a new one.
func TestMigration_BackfillEqualsWhatAliasWritesStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, 3*time.Second)
	ca := testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "leaf", Parent: ca, NotAfter: time.Now().Add(30 * 24 * time.Hour)})
	_, err := b.client.CreateAliasFromKeyCert(ctx, "myorg", "dev", "ks", "chain",
		api.KeyCertFile{Cert: testcerts.Chain(leaf, ca), Key: leaf.KeyPEM(t)}, api.AliasOptions{})
	require.NoError(t, err)
	b.alias(t, "other", testcerts.New(t, testcerts.Options{CommonName: "other"}))
	b.alias(t, "gone", testcerts.New(t, testcerts.Options{CommonName: "gone"}))
	renewed := testcerts.WithKey(t, testcerts.Options{CommonName: "leaf", Parent: ca, NotAfter: time.Now().Add(60 * 24 * time.Hour)}, leaf.Key)
	_, err = b.client.UpdateAliasCertificate(ctx, "myorg", "dev", "ks", "chain", testcerts.Chain(renewed, ca), api.AliasOptions{})
	require.NoError(t, err)
	_, err = b.client.DeleteAlias(ctx, "myorg", "dev", "ks", "gone")
	require.NoError(t, err)

	db := b.source.db
	written := certificateRows(t, db)
	require.Len(t, written, 3, "the renewed chain's two certificates and other's; none of gone's")
	var versions []int64
	for _, r := range written {
		require.Equal(t, "myorg", r.Org)
		if r.NotAfter.Equal(renewed.Cert.NotAfter) {
			require.Equal(t, 0, r.Idx)
			versions = append(versions, r.Version)
		}
		require.False(t, r.NotAfter.Equal(leaf.Cert.NotAfter), "the replaced leaf's row is gone")
	}
	require.Equal(t, []int64{2}, versions, "the replacement's rows carry its version")

	url := b.srv.DatabaseURL
	for {
		v, _, err := postgres.Version(url)
		require.NoError(t, err)
		if v < 5 {
			break
		}
		require.NoError(t, postgres.Migrate(url, "down"))
	}
	var exists bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT to_regclass('alias_certificates') IS NOT NULL`).Scan(&exists))
	require.False(t, exists)
	require.NoError(t, postgres.Migrate(url, "up"))
	require.Equal(t, written, certificateRows(t, db))
}

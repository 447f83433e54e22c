package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

// TestCreateOrganization_NamesDifferingInCaseTakeTurns: two organizations
// whose names differ only in case would claim the same gateway hosts;
// created at the same moment, they take turns on an advisory lock, so the
// second sees the first and is refused, where both would otherwise see no
// rival and both be stored.
func TestCreateOrganization_NamesDifferingInCaseTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)

	// Holding the lock the creations take makes both wait for it, so that
	// they really run at once when it is released.
	tx := begin(t, db)
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('organization:acme'))`)
	require.NoError(t, err)
	upper := result(func() error { return createOrganization(ctx, db, "Acme") })
	lower := result(func() error { return createOrganization(ctx, db, "acme") })
	waitForLockWait(t, db, 2)
	require.NoError(t, tx.Rollback(ctx))

	errs := map[string]error{"Acme": receive(t, upper), "acme": receive(t, lower)}
	var created, refused string
	for name, err := range errs {
		if err == nil {
			created = name
		} else {
			refused = name
		}
	}
	require.NotEmpty(t, created, "one is created: %v", errs)
	require.NotEmpty(t, refused, "one is refused: %v", errs)
	requireCode(t, errs[refused], keyplane.AlreadyExists, `organization "`+refused+
		`" cannot be created: its gateway host names are taken (host names are {org}-{env}, compared without case)`)
	names, err := db.ListOrganizations(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{created}, names)

	// The same name again is told apart from a name differing in case.
	requireCode(t, createOrganization(ctx, db, created), keyplane.AlreadyExists, `organization "`+created+`" already exists`)
}

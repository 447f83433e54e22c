package postgres_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/postgres"
)

// operationPages reads organization o's operations size at a time and
// returns the ids of each page.
func operationPages(t *testing.T, db *postgres.DB, size int) [][]uuid.UUID {
	t.Helper()
	var pages [][]uuid.UUID
	token := ""
	for {
		ops, next, err := keyplane.KeysetPage(size, token, true,
			func(after keyplane.Cursor, limit int) ([]*keyplane.Operation, error) {
				return db.ListOperations(context.Background(), "o", keyplane.OperationFilter{}, after, limit)
			}, cursorOf)
		require.NoError(t, err)
		var ids []uuid.UUID
		for _, op := range ops {
			ids = append(ids, operationID(op))
		}
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		require.Len(t, ids, size, "a page that is not the last is full")
		token = next
	}
}

// TestKeysetPage_TiesAndBoundaries: a list newest first is read page by
// page with every item exactly once, items created at the same instant
// ordered by id, whatever page boundary falls between them; the last page
// has no token, even when it is full; and items created while the list is
// read do not shift the pages still to come.
func TestKeysetPage_TiesAndBoundaries(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	type op struct {
		id uuid.UUID
		at time.Time
	}
	var ops []op
	for _, at := range []time.Time{base, base, base, base.Add(-time.Microsecond), base.Add(time.Microsecond), base, base.Add(-time.Hour)} {
		ops = append(ops, op{seedOperation(t, db, "o", at), at})
	}
	slices.SortFunc(ops, func(a, b op) int {
		return cmp.Or(b.at.Compare(a.at), -cmp.Compare(a.id.String(), b.id.String()))
	})
	var want []uuid.UUID
	for _, o := range ops {
		want = append(want, o.id)
	}

	for size := 1; size <= len(want)+1; size++ {
		pages := operationPages(t, db, size)
		require.Equal(t, want, slices.Concat(pages...), "pages of %d", size)
		require.Len(t, pages, max(1, (len(want)+size-1)/size), "pages of %d: no empty page after a full last one", size)
	}

	// Items created after the first page was read are not in the pages
	// that follow it, which are those of the list as it was.
	first, next, err := keyplane.KeysetPage(3, "", true,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Operation, error) {
			return db.ListOperations(context.Background(), "o", keyplane.OperationFilter{}, after, limit)
		}, cursorOf)
	require.NoError(t, err)
	require.Len(t, first, 3)
	seedOperation(t, db, "o", time.Time{})
	seedOperation(t, db, "o", base.Add(time.Hour))
	rest, _, err := keyplane.KeysetPage(10, next, true,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Operation, error) {
			return db.ListOperations(context.Background(), "o", keyplane.OperationFilter{}, after, limit)
		}, cursorOf)
	require.NoError(t, err)
	var ids []uuid.UUID
	for _, op := range rest {
		ids = append(ids, operationID(op))
	}
	require.Equal(t, want[3:], ids)
}

// TestKeysetPage_DeploymentsTiedByName: deployments created at the same
// instant are ordered by their names, and page by them.
func TestKeysetPage_DeploymentsTiedByName(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedEnv(t, db, "o", "e")
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, id := range []string{"b", "d", "a", "c"} {
		seedDeploymentAt(t, db, "o", "e", id, at)
	}
	seedDeploymentAt(t, db, "o", "e", "newest", at.Add(time.Second))
	var got []string
	token := ""
	for {
		ds, next, err := keyplane.KeysetPage(2, token, false,
			func(after keyplane.Cursor, limit int) ([]*keyplane.ArchiveDeployment, error) {
				return db.ListDeployments(context.Background(), "o", "e", nil, after, limit)
			}, deploymentCursor)
		require.NoError(t, err)
		for _, d := range ds {
			got = append(got, deploymentCursor(d).ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	require.Equal(t, []string{"newest", "d", "c", "b", "a"}, got)
}

// TestKeysetPage_RefusesTokensOfOtherLists: a list keyed by UUID refuses
// the token of a list keyed by name, and every list refuses a token that
// is not one, with the same words; a negative page size is refused too.
// Nothing is read for a refused page.
func TestKeysetPage_RefusesTokensOfOtherLists(t *testing.T) {
	t.Parallel()
	deploymentToken := keyplane.Cursor{Time: time.Now(), ID: "d1"}.Token()
	fetched := false
	fetch := func(keyplane.Cursor, int) ([]*keyplane.Operation, error) { fetched = true; return nil, nil }
	for _, token := range []string{
		deploymentToken,
		"not base64!",
		base64.RawURLEncoding.EncodeToString([]byte("123")),
		base64.RawURLEncoding.EncodeToString([]byte("123|")),
		base64.RawURLEncoding.EncodeToString([]byte("yesterday|" + uuid.NewString())),
	} {
		_, _, err := keyplane.KeysetPage(10, token, true, fetch, cursorOf)
		requireCode(t, err, keyplane.InvalidArgument, "pageToken is invalid")
	}
	_, _, err := keyplane.KeysetPage(-1, "", true, fetch, cursorOf)
	requireCode(t, err, keyplane.InvalidArgument, "pageSize must not be negative")
	require.False(t, fetched)

	// The name-keyed list takes its own token back, at the microsecond.
	c, err := keyplane.ParseCursor(deploymentToken)
	require.NoError(t, err)
	require.Equal(t, "d1", c.ID)
	_, err = keyplane.ParseUUIDCursor(keyplane.Cursor{Time: time.Now(), ID: uuid.NewString()}.Token())
	require.NoError(t, err)
}

package auth

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// openStore is a fresh database holding organization o.
func openStore(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = db.Pool.Exec(context.Background(), `INSERT INTO organizations (name) VALUES ('o')`)
	require.NoError(t, err)
	return db
}

// issue creates a token and returns its secret and id.
func issue(t *testing.T, tokens *Tokens, org, role, expireTime string) (secret, id string) {
	t.Helper()
	tok, secret, err := tokens.Create(context.Background(), bootstrapAdmin, org, role, expireTime)
	require.NoError(t, err)
	return secret, tok.ID.String()
}

var bootstrapAdmin = &Principal{TokenID: BootstrapID, Org: AllOrgs, Role: keyplane.RoleAdmin}

// clock is a settable time for the services' now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// TestAuthenticate_TokensAndTheirEnds: the bootstrap token is an
// administrator of every organization; an issued token is its
// organization's, in its role, until it expires or is revoked; a revocation
// takes effect within CacheTTL, the time a lookup is reused.
func TestAuthenticate_TokensAndTheirEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openStore(t)
	c := &clock{t: time.Now()}
	tokens := NewTokens(db)
	a := NewAuthenticator(db, "boot")
	a.now = c.now

	p, err := a.Authenticate(ctx, "boot")
	require.NoError(t, err)
	require.Equal(t, &Principal{TokenID: BootstrapID, Org: AllOrgs, Role: keyplane.RoleAdmin}, p)
	require.Equal(t, "bootstrap", p.Actor())

	secret, id := issue(t, tokens, "o", keyplane.RoleDeployer, c.t.Add(time.Hour).UTC().Format(time.RFC3339))
	require.True(t, strings.HasPrefix(secret, TokenPrefix), secret)
	p, err = a.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, &Principal{TokenID: id, Org: "o", Role: keyplane.RoleDeployer}, p)
	require.Equal(t, "organizations/o/tokens/"+id, p.Actor())

	// Revoked: still accepted from the cache, for less than CacheTTL.
	_, err = tokens.Revoke(ctx, "o", id)
	require.NoError(t, err)
	_, err = a.Authenticate(ctx, secret)
	require.NoError(t, err, "a lookup is reused within CacheTTL")
	c.t = c.t.Add(CacheTTL)
	_, err = a.Authenticate(ctx, secret)
	requireCode(t, err, keyplane.Unauthenticated, "bearer token has been revoked")

	expiring, _ := issue(t, tokens, "o", keyplane.RoleViewer, c.t.Add(time.Minute).UTC().Format(time.RFC3339))
	_, err = a.Authenticate(ctx, expiring)
	require.NoError(t, err)
	c.t = c.t.Add(time.Minute)
	_, err = a.Authenticate(ctx, expiring)
	requireCode(t, err, keyplane.Unauthenticated, "bearer token expired at "+c.t.UTC().Format(time.RFC3339))

	_, err = a.Authenticate(ctx, "")
	requireCode(t, err, keyplane.Unauthenticated, "request is missing a bearer token: send Authorization: Bearer <token>")
	_, err = a.Authenticate(ctx, "kp_guessed")
	requireCode(t, err, keyplane.Unauthenticated, "bearer token is not valid")
	_, err = NewAuthenticator(db, "").Authenticate(ctx, "boot")
	requireCode(t, err, keyplane.Unauthenticated, "bearer token is not valid")
}

// TestTokens_OnlyTheHashIsKept: the secret appears in Create's answer
// and nowhere else: the database holds its SHA-256 and no column holds
// the secret.
func TestTokens_OnlyTheHashIsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openStore(t)
	secret, id := issue(t, NewTokens(db), "o", keyplane.RoleAdmin, "")
	var hash []byte
	var row string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT hash, t::text FROM tokens t WHERE id = $1`, id).Scan(&hash, &row))
	sum := sha256.Sum256([]byte(secret))
	require.Equal(t, sum[:], hash)
	require.NotContains(t, row, strings.TrimPrefix(secret, TokenPrefix))

	list, next, err := NewTokens(db).List(ctx, "o", 0, "")
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, list, 1)
	require.Equal(t, id, list[0].ID.String())
	require.Equal(t, sum[:], list[0].Hash, "a listed token is its hash, never its secret")
}

// TestTokens_CreateRefusesBadAttributes: each attribute is checked,
// naming it, before anything is stored.
func TestTokens_CreateRefusesBadAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openStore(t)
	c := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	tokens := NewTokens(db)
	tokens.now = c.now
	for _, tt := range []struct {
		org, role, expire string
		code              keyplane.Code
		msg               string
	}{
		{"o", "", "", keyplane.InvalidArgument, "role is required: admin, deployer or viewer"},
		{"o", "root", "", keyplane.InvalidArgument, `role "root" is invalid: use admin, deployer or viewer`},
		{AllOrgs, keyplane.RoleDeployer, "", keyplane.InvalidArgument, `a token of every organization ("*") must have the role admin`},
		{"o", keyplane.RoleViewer, "tomorrow", keyplane.InvalidArgument, `expireTime "tomorrow" is not an RFC 3339 time such as 2026-12-31T23:59:59Z`},
		{"o", keyplane.RoleViewer, "2026-06-01T12:00:00Z", keyplane.InvalidArgument, "expireTime 2026-06-01T12:00:00Z is in the past"},
		{"nowhere", keyplane.RoleViewer, "", keyplane.NotFound, `organization "nowhere" not found`},
	} {
		_, _, err := tokens.Create(ctx, bootstrapAdmin, tt.org, tt.role, tt.expire)
		requireCode(t, err, tt.code, tt.msg)
	}
	_, _, err := tokens.Create(ctx, bootstrapAdmin, "Bad Name", keyplane.RoleViewer, "")
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
	require.ErrorContains(t, err, "organization")
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&n))
	require.Zero(t, n)

	_, err = tokens.Revoke(ctx, "o", "not-a-uuid")
	requireCode(t, err, keyplane.NotFound, `token "organizations/o/tokens/not-a-uuid" not found`)
	_, err = tokens.Revoke(ctx, "o", strings.Repeat("x", 200))
	requireCode(t, err, keyplane.NotFound, `token "organizations/o/tokens/`+keyplane.Clip(strings.Repeat("x", 200), 64)+`" not found`)
}

// TestPrincipal_RolesGrantInTheirOrganization: a role's rights hold in
// its own organization only, except for tokens of every organization.
func TestPrincipal_RolesGrantInTheirOrganization(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p                  Principal
		org                string
		read, write, admin bool
	}{
		{Principal{Org: "o", Role: keyplane.RoleViewer}, "o", true, false, false},
		{Principal{Org: "o", Role: keyplane.RoleDeployer}, "o", true, true, false},
		{Principal{Org: "o", Role: keyplane.RoleAdmin}, "o", true, true, true},
		{Principal{Org: "o", Role: keyplane.RoleAdmin}, "p", false, false, false},
		{Principal{Org: AllOrgs, Role: keyplane.RoleAdmin}, "p", true, true, true},
	} {
		require.Equal(t, tt.read, tt.p.CanRead(tt.org), "%+v reads %s", tt.p, tt.org)
		require.Equal(t, tt.write, tt.p.CanWrite(tt.org), "%+v writes %s", tt.p, tt.org)
		require.Equal(t, tt.admin, tt.p.CanAdmin(tt.org), "%+v administers %s", tt.p, tt.org)
	}
}

// Package auth decides who a request comes from and what it may do. Bearer
// tokens are random, shown once, and stored only as SHA-256 hashes; a token
// belongs to one organization (or to all, "*", for administrators) and has
// one role: admin (everything, tokens included), deployer (every write in
// its organization) or viewer (reads only).
//
// Storage is the Store (and AuditStore, for the audit log) interface
// declared in this package, in the domain's types (package keyplane), and
// implemented by internal/postgres. Every service is built this way, though
// each has one implementation: the interface is the list of what the rules
// may do to the database, readable beside them, and it keeps the service
// from reaching into the SQL layer.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
)

// AllOrgs is the organization of a token that administers every
// organization.
const AllOrgs = "*"

// Principal is the caller of a request.
type Principal struct {
	// TokenID identifies the token: its id, or "bootstrap" for the token of
	// KEYPLANE_BOOTSTRAP_TOKEN. It is what the audit log records.
	TokenID string
	Org     string
	Role    string
}

// Actor is the principal's name in the audit log.
func (p *Principal) Actor() string {
	if p.TokenID == BootstrapID {
		return BootstrapID
	}
	return "organizations/" + p.Org + "/tokens/" + p.TokenID
}

// BootstrapID is the TokenID of the bootstrap administrator token.
const BootstrapID = "bootstrap"

// CanRead reports whether p may read resources of org.
func (p *Principal) CanRead(org string) bool { return p.Org == AllOrgs || p.Org == org }

// CanWrite reports whether p may change resources of org.
func (p *Principal) CanWrite(org string) bool {
	return p.CanRead(org) && (p.Role == keyplane.RoleAdmin || p.Role == keyplane.RoleDeployer)
}

// CanAdmin reports whether p may manage tokens and read the audit log of
// org.
func (p *Principal) CanAdmin(org string) bool { return p.CanRead(org) && p.Role == keyplane.RoleAdmin }

// Store is the storage tokens live in; *postgres.DB implements it.
type Store interface {
	TokenByHash(ctx context.Context, hash []byte) (*keyplane.Token, error)
	CreateToken(ctx context.Context, t *keyplane.Token) error
	ListTokens(ctx context.Context, org string, after keyplane.Cursor, limit int) ([]*keyplane.Token, error)
	RevokeToken(ctx context.Context, org string, id uuid.UUID) (*keyplane.Token, error)
}

// CacheTTL is how long a token lookup is reused. It bounds how late a
// revocation takes effect, so it stays under a second.
const CacheTTL = 500 * time.Millisecond

// maxCached bounds the cache; past it the cache starts over, so a flood of
// random tokens cannot grow memory.
const maxCached = 10000

// Authenticator checks bearer tokens. Lookups go through a short-lived
// cache keyed by the token's hash, so the common request costs no database
// round-trip.
type Authenticator struct {
	store     Store
	bootstrap [sha256.Size]byte
	hasBoot   bool
	now       func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

type cached struct {
	rec *keyplane.Token // nil: no such token
	at  time.Time
}

// NewAuthenticator checks tokens against store and, when bootstrap is not
// empty, accepts it as an administrator's of every organization.
func NewAuthenticator(store Store, bootstrap string) *Authenticator {
	a := &Authenticator{store: store, now: time.Now, cache: map[[sha256.Size]byte]cached{}}
	if bootstrap != "" {
		a.bootstrap, a.hasBoot = sha256.Sum256([]byte(bootstrap)), true
	}
	return a
}

// Authenticate returns the principal of a bearer token.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, keyplane.Errorf(keyplane.Unauthenticated, "request is missing a bearer token: send Authorization: Bearer <token>")
	}
	hash := sha256.Sum256([]byte(token))
	// Comparing hashes in constant time: neither length nor prefix of the
	// bootstrap token leaks through timing.
	if a.hasBoot && subtle.ConstantTimeCompare(hash[:], a.bootstrap[:]) == 1 {
		return &Principal{TokenID: BootstrapID, Org: AllOrgs, Role: keyplane.RoleAdmin}, nil
	}
	rec, err := a.lookup(ctx, hash)
	if err != nil {
		return nil, err
	}
	now := a.now()
	switch {
	case rec == nil:
		return nil, keyplane.Errorf(keyplane.Unauthenticated, "bearer token is not valid")
	case rec.RevokedAt != nil:
		return nil, keyplane.Errorf(keyplane.Unauthenticated, "bearer token has been revoked")
	case rec.ExpireTime != nil && !now.Before(*rec.ExpireTime):
		return nil, keyplane.Errorf(keyplane.Unauthenticated, "bearer token expired at %s", rec.ExpireTime.UTC().Format(time.RFC3339))
	}
	return &Principal{TokenID: rec.ID.String(), Org: rec.Org, Role: rec.Role}, nil
}

func (a *Authenticator) lookup(ctx context.Context, hash [sha256.Size]byte) (*keyplane.Token, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < CacheTTL {
		return c.rec, nil
	}
	rec, err := a.store.TokenByHash(ctx, hash[:])
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
	a.cache[hash] = cached{rec: rec, at: now}
	a.mu.Unlock()
	return rec, nil
}

// Tokens issues, lists and revokes tokens.
type Tokens struct {
	store Store
	now   func() time.Time
}

// NewTokens returns the token service over store.
func NewTokens(store Store) *Tokens { return &Tokens{store: store, now: time.Now} }

// TokenPrefix starts every token keyplane issues, so that secret scanners
// can recognise a leaked one.
const TokenPrefix = "kp_"

// Create issues a token of role for org, expiring at expireTime (RFC 3339;
// empty for never), and returns it with its secret: the answer is the only
// place the secret ever appears.
func (t *Tokens) Create(ctx context.Context, creator *Principal, org, role, expireTime string) (*keyplane.Token, string, error) {
	if org != AllOrgs {
		if err := keyplane.CheckName("organization", org); err != nil {
			return nil, "", err
		}
	}
	switch role {
	case keyplane.RoleAdmin, keyplane.RoleDeployer, keyplane.RoleViewer:
	case "":
		return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "role is required: admin, deployer or viewer")
	default:
		return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "role %q is invalid: use admin, deployer or viewer", role)
	}
	if org == AllOrgs && role != keyplane.RoleAdmin {
		return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "a token of every organization (\"*\") must have the role admin")
	}
	rec := &keyplane.Token{ID: uuid.New(), Org: org, Role: role, CreatedBy: creator.Actor()}
	if expireTime != "" {
		exp, err := time.Parse(time.RFC3339, expireTime)
		if err != nil {
			return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "expireTime %q is not an RFC 3339 time such as 2026-12-31T23:59:59Z", expireTime)
		}
		if !exp.After(t.now()) {
			return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "expireTime %s is in the past", expireTime)
		}
		rec.ExpireTime = &exp
	}
	secret := newSecret()
	sum := sha256.Sum256([]byte(secret))
	rec.Hash = sum[:]
	if err := t.store.CreateToken(ctx, rec); err != nil {
		return nil, "", err
	}
	return rec, secret, nil
}

// newSecret returns a token of 256 random bits.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// List returns a page of an organization's tokens, never their secrets,
// and the token of the next page, empty on the last.
func (t *Tokens) List(ctx context.Context, org string, pageSize int, pageToken string) ([]*keyplane.Token, string, error) {
	return keyplane.KeysetPage(pageSize, pageToken, true,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Token, error) {
			return t.store.ListTokens(ctx, org, after, limit)
		},
		func(r *keyplane.Token) keyplane.Cursor {
			return keyplane.Cursor{Time: r.CreatedAt, ID: r.ID.String()}
		})
}

// Revoke revokes a token; lookups cached elsewhere expire within CacheTTL.
func (t *Tokens) Revoke(ctx context.Context, org, id string) (*keyplane.Token, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, keyplane.Errorf(keyplane.NotFound, "token \"organizations/%s/tokens/%s\" not found", org, keyplane.Clip(id, 64))
	}
	return t.store.RevokeToken(ctx, org, u)
}

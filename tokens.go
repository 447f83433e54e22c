package keyplane

import (
	"time"

	"github.com/google/uuid"
)

// Token roles, from most to least powerful.
const (
	RoleAdmin    = "admin"
	RoleDeployer = "deployer"
	RoleViewer   = "viewer"
)

// Token is a bearer token's attributes. The secret itself is never kept:
// only its hash, by which a request's token is found.
type Token struct {
	ID         uuid.UUID
	Org        string // "*" for every organization
	Role       string
	Hash       []byte
	ExpireTime *time.Time
	RevokedAt  *time.Time
	CreatedBy  string
	CreatedAt  time.Time
}

// ResourceName is the token's resource name, the actor its changes are
// recorded under.
func (t *Token) ResourceName() string { return "organizations/" + t.Org + "/tokens/" + t.ID.String() }

// AuditEntry is one recorded change: who (a token's resource name, never
// the token), what, when and how it ended.
type AuditEntry struct {
	ID       int64
	Org      string
	Actor    string
	Role     string
	Method   string
	Resource string
	Status   int
	Outcome  string
	Time     time.Time
}

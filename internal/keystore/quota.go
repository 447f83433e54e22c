package keystore

import (
	"github.com/keyplane/keyplane"
)

// DefaultAliasQuota is how many aliases one organization may hold unless
// configured.
const DefaultAliasQuota = 10000

// WithAliasQuota makes CreateAlias refuse, with ResourceExhausted, an
// alias beyond limit in one organization (limit <= 0: no limit); it
// returns s. The store checks the limit in the statement that inserts the
// alias, so that concurrent uploads cannot pass it together and an upload
// pays no extra round trip for it.
func (s *Service) WithAliasQuota(limit int) *Service {
	s.aliasQuota = limit
	return s
}

// errAliasQuota is the refusal of an alias beyond the organization's quota.
func errAliasQuota(org string, quota int) error {
	return keyplane.Errorf(keyplane.ResourceExhausted,
		"quota exceeded: organization %q holds %d aliases, its quota of aliases (KEYPLANE_QUOTA_ALIASES)", org, quota)
}

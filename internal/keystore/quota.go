package keystore

import (
	"context"

	"github.com/keyplane/keyplane"
)

// DefaultAliasQuota is how many aliases one organization may hold unless
// configured.
const DefaultAliasQuota = 10000

// WithAliasQuota makes CreateAlias refuse, with ResourceExhausted, an
// alias beyond limit in one organization (limit <= 0: no limit), as count
// counts them; it returns s.
func (s *Service) WithAliasQuota(limit int, count func(ctx context.Context, org string) (int, error)) *Service {
	s.aliasQuota, s.countAliases = limit, count
	return s
}

// checkAliasQuota refuses a new alias once the organization holds its
// quota of them.
func (s *Service) checkAliasQuota(ctx context.Context, org string) error {
	if s.aliasQuota <= 0 || s.countAliases == nil {
		return nil
	}
	n, err := s.countAliases(ctx, org)
	if err != nil {
		return err
	}
	if n >= s.aliasQuota {
		return keyplane.Errorf(keyplane.ResourceExhausted,
			"quota exceeded: organization %q holds %d aliases, its quota of aliases (KEYPLANE_QUOTA_ALIASES)", org, s.aliasQuota)
	}
	return nil
}

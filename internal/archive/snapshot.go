package archive

import (
	"context"
	"time"

	"github.com/keyplane/keyplane"
)

// TLSSource reads an environment's TLS material (internal/postgres's
// TLSReader is one): what LoadSnapshot needs, declared where it is used.
type TLSSource interface {
	TargetServers(ctx context.Context, org, env string, names []string) (map[string]keyplane.TargetServer, error)
	References(ctx context.Context, org, env string, names []string) (map[string]keyplane.Reference, error)
	Keystores(ctx context.Context, org, env string, truststores []string, keyAliases map[string][]string) (map[string]map[string]keyplane.Alias, error)
}

// LoadSnapshot loads from src, in a constant number of queries, what
// validating b needs of an environment: the environment's target servers
// the bundle uses but does not define, the references they resolve through,
// and the TLS material they name. It also returns the version of each
// alias loaded, by alias id, for pinning. Deployments and target-server
// checks load what they validate through it.
func LoadSnapshot(ctx context.Context, src TLSSource, org, env string, b *Bundle, now time.Time) (*Snapshot, map[int64]int64, error) {
	servers, err := src.TargetServers(ctx, org, env, nonNil(b.EnvTargetServerNames()))
	if err != nil {
		return nil, nil, err
	}
	refs, err := src.References(ctx, org, env, nonNil(b.ReferenceNames(servers)))
	if err != nil {
		return nil, nil, err
	}
	material := b.Material(servers, refs)
	stores, err := src.Keystores(ctx, org, env, material.Truststores, material.KeyAliases)
	if err != nil {
		return nil, nil, err
	}
	snap := &Snapshot{Org: org, Env: env, Now: now, References: refs, TargetServers: servers,
		Keystores: map[string]Keystore{}}
	versions := map[int64]int64{}
	for name, aliases := range stores {
		ks := Keystore{Aliases: map[string]Alias{}}
		for alias, a := range aliases {
			al := Alias{ID: a.ID, HasKey: a.KeySealed != nil}
			for _, c := range a.CertsInfo {
				al.Certs = append(al.Certs, Cert{NotAfter: time.UnixMilli(c.ExpiryDate)})
			}
			ks.Aliases[alias] = al
			versions[a.ID] = a.Version
		}
		snap.Keystores[name] = ks
	}
	return snap, versions, nil
}

// nonNil keeps an empty list of names from meaning "every name" to a
// TLSSource.
func nonNil(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

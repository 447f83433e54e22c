package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane"
)

// TLSReader is the one loader of an environment's TLS material: target
// servers, references and aliases with their chains and sealed keys, as
// domain values. A deployment reads through it to validate (locking what
// it read until it commits, see DeployTx), a target server's create or
// update to check its settings, and a gateway to build its connections
// (in a read-only snapshot, without locks; see EnvironmentTLS), so that
// all of them read the same rows the same way.
type TLSReader struct {
	tx pgx.Tx
	// lock keeps what is read from being deleted or changed until tx ends:
	// a delete waiting for it then sees whether the deployment made the
	// rows live.
	lock bool
}

// lockClause is clause when the reader locks, else nothing.
func (r TLSReader) lockClause(clause string) string {
	if r.lock {
		return " " + clause
	}
	return ""
}

// named is the condition that keeps the rows named $3, none when names is
// nil (every row).
func named(names []string) string {
	if names == nil {
		return " AND $3::text[] IS NULL"
	}
	return " AND name = ANY($3)"
}

// TargetServers loads the named target servers of an environment, or all
// of them when names is nil.
func (r TLSReader) TargetServers(ctx context.Context, org, env string, names []string) (map[string]keyplane.TargetServer, error) {
	out := map[string]keyplane.TargetServer{}
	if names != nil && len(names) == 0 {
		return out, nil
	}
	rows, err := r.tx.Query(ctx, `
		SELECT name, body FROM target_servers WHERE org = $1 AND env = $2`+named(names)+`
		ORDER BY name`+r.lockClause("FOR KEY SHARE"), org, env, names)
	if err != nil {
		return nil, err
	}
	var name string
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&name, &body}, func() (err error) {
		out[name], err = unmarshalTargetServer(body)
		return err
	})
	return out, err
}

// References loads the named references of an environment, or all of them
// when names is nil.
func (r TLSReader) References(ctx context.Context, org, env string, names []string) (map[string]keyplane.Reference, error) {
	out := map[string]keyplane.Reference{}
	if names != nil && len(names) == 0 {
		return out, nil
	}
	rows, err := r.tx.Query(ctx, `
		SELECT name, description, resource_type, refers FROM "references"
		WHERE org = $1 AND env = $2`+named(names)+`
		ORDER BY name`+r.lockClause("FOR KEY SHARE"), org, env, names)
	if err != nil {
		return nil, err
	}
	var ref keyplane.Reference
	_, err = pgx.ForEachRow(rows, []any{&ref.Name, &ref.Description, &ref.ResourceType, &ref.Refers}, func() error {
		out[ref.Name] = ref
		return nil
	})
	return out, err
}

// Keystores loads, in one query, the named keystores of an environment with
// every alias of the truststores and only the named aliases of the others:
// a deployment reads what it checks, however large the keystores are. A
// keystore is in the result whenever it exists, even when none of its
// aliases is. Each alias comes with its chain, certificate facts and sealed
// key.
//
// A locking reader keeps what it read as read until its transaction ends:
// the keystores cannot be deleted, nor the aliases deleted or given a new
// certificate (a delete or replacement waits, then sees whether the
// deployment made them live). Waiting for a concurrent change, it reads
// the changed rows.
func (r TLSReader) Keystores(ctx context.Context, org, env string, truststores []string, keyAliases map[string][]string) (map[string]map[string]keyplane.Alias, error) {
	out := map[string]map[string]keyplane.Alias{}
	names := slices.Clone(truststores)
	var keystores, aliases []string
	for ks, as := range keyAliases {
		names = append(names, ks)
		for _, a := range as {
			keystores, aliases = append(keystores, ks), append(aliases, a)
		}
	}
	if len(names) == 0 {
		return out, nil
	}
	// ks locks the keystores that exist; wanted finds every alias of the
	// truststores, then each wanted (keystore, alias) pair through the
	// (keystore_id, name) index; al locks those aliases and reads them.
	// UNION cannot lock rows, hence the separate al.
	rows, err := r.tx.Query(ctx, `
		WITH ks AS MATERIALIZED (
			SELECT id, name FROM keystores WHERE org = $1 AND env = $2 AND name = ANY($3)
			ORDER BY id`+r.lockClause("FOR KEY SHARE")+`
		), wanted AS (
			SELECT a.id FROM ks JOIN aliases a ON a.keystore_id = ks.id WHERE ks.name = ANY($4)
			UNION
			SELECT a.id FROM unnest($5::text[], $6::text[]) AS w(keystore, alias)
			JOIN ks ON ks.name = w.keystore
			JOIN aliases a ON a.keystore_id = ks.id AND a.name = w.alias
		), al AS MATERIALIZED (
			SELECT keystore_id, name, id, version, type, chain_pem, certs_info, not_before, not_after, key_sealed, coalesce(key_id, '') AS key_id
			FROM aliases WHERE id IN (SELECT id FROM wanted)
			ORDER BY id`+r.lockClause("FOR SHARE")+`
		)
		SELECT ks.name, al.name, al.id, al.version, al.type, al.chain_pem, al.certs_info, al.not_before, al.not_after, al.key_sealed, al.key_id
		FROM ks LEFT JOIN al ON al.keystore_id = ks.id`,
		org, env, names, truststores, keystores, aliases)
	if err != nil {
		return nil, err
	}
	var ks string
	var alias, typ, chain, keyID *string
	var id, version *int64
	var info, sealed []byte
	var notBefore, notAfter *time.Time
	_, err = pgx.ForEachRow(rows, []any{&ks, &alias, &id, &version, &typ, &chain, &info, &notBefore, &notAfter, &sealed, &keyID}, func() error {
		if out[ks] == nil {
			out[ks] = map[string]keyplane.Alias{}
		}
		if alias == nil {
			return nil
		}
		a := keyplane.Alias{ID: *id, Version: *version, Org: org, Env: env, Keystore: ks, Name: *alias, Type: *typ,
			ChainPEM: *chain, NotBefore: *notBefore, NotAfter: *notAfter}
		if sealed != nil {
			a.KeySealed, a.KeyID = slices.Clone(sealed), *keyID
		}
		var err error
		if a.CertsInfo, err = unmarshalCertsInfo(info); err != nil {
			return err
		}
		out[ks][*alias] = a
		return nil
	})
	return out, err
}

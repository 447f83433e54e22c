package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyplane/keyplane"
)

// certificateRows are the alias_certificates columns of one chain, leaf
// first, as the arrays the alias writes unnest.
type certificateRows struct {
	notAfter                      []time.Time
	subject, issuer, serialNumber []string
}

func newCertificateRows(info []keyplane.CertInfo) certificateRows {
	var c certificateRows
	for _, ci := range info {
		c.notAfter = append(c.notAfter, time.UnixMilli(ci.ExpiryDate))
		c.subject = append(c.subject, ci.Subject)
		c.issuer = append(c.issuer, ci.Issuer)
		c.serialNumber = append(c.serialNumber, ci.SerialNumber)
	}
	return c
}

// certificateKey decodes the ID of a certificate cursor: the alias id and
// the index in its chain.
func certificateKey(c keyplane.Cursor) (aliasID int64, index int32, err error) {
	bad := keyplane.Errorf(keyplane.InvalidArgument, "pageToken is invalid")
	id, idx, ok := strings.Cut(c.ID, ".")
	if !ok {
		return 0, 0, bad
	}
	aliasID, err = strconv.ParseInt(id, 10, 64)
	if err != nil || aliasID <= 0 {
		return 0, 0, bad
	}
	i, err := strconv.ParseInt(idx, 10, 32)
	if err != nil || i < 0 {
		return 0, 0, bad
	}
	return aliasID, int32(i), nil
}

// ListCertificates returns up to limit certificates of an organization's
// aliases that expire at or before before (zero: whenever), soonest first,
// after the keyset position, with what uses each. It is one query that
// reads the page from the alias_certificates_expiry_idx range, then looks
// up the users of the page's rows only: its cost does not grow with the
// number of certificates before the page or after it.
//
// A certificate is used by the environment's live deployment when that
// deployment used its keystore or pinned its alias: a keystore is the unit
// a TLS setting names, and every alias of a truststore counts at runtime.
func (db *DB) ListCertificates(ctx context.Context, org string, before time.Time, after keyplane.Cursor, limit int) ([]*keyplane.Certificate, error) {
	// Both bounds are always given, as infinities when absent, so that
	// the index range serves every page: an "IS NULL OR" condition would
	// leave a generic plan nothing to seek to.
	upper := pgtype.Timestamptz{Time: before, Valid: true}
	if before.IsZero() {
		upper.InfinityModifier = pgtype.Infinity
	}
	lower := pgtype.Timestamptz{Time: after.Time, Valid: true}
	var afterAlias int64
	var afterIndex int32 = -1
	if after.IsZero() {
		lower.InfinityModifier = pgtype.NegativeInfinity
	} else {
		var err error
		if afterAlias, afterIndex, err = certificateKey(after); err != nil {
			return nil, err
		}
	}
	rows, err := db.Pool.Query(ctx, `
		WITH page AS MATERIALIZED (
			SELECT alias_id, idx, not_after, subject, issuer, serial_number
			FROM alias_certificates
			WHERE org = $1 AND not_after <= $2 AND (not_after, alias_id, idx) > ($3, $4, $5)
			ORDER BY not_after, alias_id, idx LIMIT $6
		)
		SELECT p.alias_id, k.env, k.name, a.name, p.idx, p.subject, p.issuer, p.serial_number, p.not_after,
			coalesce((
				SELECT array_agg(l.deployment) FROM live_deployments l
				WHERE l.org = k.org AND l.env = k.env AND EXISTS (
					SELECT 1 FROM deployment_items i
					WHERE i.org = l.org AND i.env = l.env AND i.deployment = l.deployment
					  AND (i.kind = 'keystore' AND i.name = k.name OR i.kind = 'alias' AND i.name = k.name || '/' || a.name))
			), '{}'),
			coalesce((
				SELECT array_agg(r.name ORDER BY r.name) FROM "references" r
				WHERE r.org = k.org AND r.env = k.env AND r.refers = k.name
			), '{}')
		FROM page p
		JOIN aliases a ON a.id = p.alias_id
		JOIN keystores k ON k.id = a.keystore_id
		ORDER BY p.not_after, p.alias_id, p.idx`,
		org, upper, lower, afterAlias, afterIndex, limit)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*keyplane.Certificate, error) {
		c := &keyplane.Certificate{}
		return c, row.Scan(&c.AliasID, &c.Env, &c.Keystore, &c.Alias, &c.Index, &c.Subject, &c.Issuer, &c.SerialNumber,
			&c.NotAfter, &c.Deployments, &c.References)
	})
	if err != nil {
		return nil, wrap(err)
	}
	if len(out) == 0 && after.IsZero() {
		return nil, db.parentExists(ctx, org, "")
	}
	return out, nil
}

// AliasExpiries returns every alias of every organization with the earliest
// expiry of its chain, in one query.
func (db *DB) AliasExpiries(ctx context.Context) ([]keyplane.AliasExpiry, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT k.org, k.env, k.name, a.name, a.not_after
		FROM aliases a JOIN keystores k ON k.id = a.keystore_id`)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyplane.AliasExpiry, error) {
		var e keyplane.AliasExpiry
		return e, row.Scan(&e.Org, &e.Env, &e.Keystore, &e.Alias, &e.NotAfter)
	})
	return out, wrap(err)
}

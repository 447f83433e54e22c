package expiry_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/expiry"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// BenchmarkList_PageCostDoesNotGrowWithDepth reads pages of the expiry
// view of an organization of 40,000 certificates (another organization
// holds as many): the first page, a page 39,000 certificates deep, and the
// first page of a one-day window. Keyset pagination from an index makes
// them cost the same (about 0.7 ms each on the development machine).
func BenchmarkList_PageCostDoesNotGrowWithDepth(b *testing.B) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// Rows are written directly: creating 40,000 aliases through the API
	// would measure uploads, not the view.
	for _, sql := range []string{
		`INSERT INTO organizations (name) VALUES ('myorg'), ('otherorg')`,
		`INSERT INTO environments (org, name, deployment_type, api_proxy_type)
		 SELECT name, 'dev', 'ARCHIVE', 'PROGRAMMABLE' FROM organizations`,
		`INSERT INTO keystores (org, env, name) SELECT o.name, 'dev', 'ks-' || g FROM organizations o, generate_series(1, 100) g`,
		`INSERT INTO aliases (keystore_id, name, type, chain_pem, certs_info, not_before, not_after)
		 SELECT k.id, 'a-' || g, 'CERT', '', '[]', now(), now() + g * interval '37 minutes' + k.id * interval '1 second'
		 FROM keystores k, generate_series(1, 200) g`,
		`INSERT INTO alias_certificates (alias_id, version, idx, org, not_after, subject, issuer, serial_number)
		 SELECT a.id, 1, i, k.org, a.not_after + i * interval '90 days', 'CN=' || a.name, 'CN=ca', a.id::text
		 FROM aliases a JOIN keystores k ON k.id = a.keystore_id, generate_series(0, 1) i`,
		`ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	var deep keyplane.Certificate
	err = db.Pool.QueryRow(ctx, `
		SELECT alias_id, idx, not_after FROM alias_certificates WHERE org = 'myorg'
		ORDER BY not_after, alias_id, idx OFFSET 39000 LIMIT 1`).Scan(&deep.AliasID, &deep.Index, &deep.NotAfter)
	if err != nil {
		b.Fatal(err)
	}
	svc := expiry.NewService(db)
	day := 24 * time.Hour
	for _, bc := range []struct {
		name   string
		within *time.Duration
		token  string
	}{
		{"first page", nil, ""},
		{"39000 deep", nil, deep.Cursor().Token()},
		{"within 1d", &day, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := svc.List(ctx, "myorg", bc.within, 100, bc.token)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Certificates) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

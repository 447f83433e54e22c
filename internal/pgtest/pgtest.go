// Package pgtest gives each test its own migrated PostgreSQL database,
// cloned from a template so that a test pays for CREATE DATABASE, not for
// running every migration. The server to use comes from
// KEYPLANE_TEST_DATABASE_URL, which `make test` sets to the private cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/migrations"
)

// EnvVar names the variable holding the URL of the test server.
const EnvVar = "KEYPLANE_TEST_DATABASE_URL"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Base returns the URL of the test server's administrative database, for
// tests that manage databases themselves.
func Base(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a private PostgreSQL", EnvVar)
	}
	return base
}

// URL returns the URL of a new, migrated database that is dropped when the
// test ends. Without KEYPLANE_TEST_DATABASE_URL the test fails: the suite
// is meant to run against a real PostgreSQL, which `make test` starts.
func URL(t testing.TB) string {
	t.Helper()
	base := Base(t)
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("pgtest: prepare template database: %v", templateErr)
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	name := "keyplane_test_" + randomHex(8)
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return withDatabase(base, name)
}

// ensureTemplate creates, once per schema, a migrated template database.
// Its name carries a hash of the migrations, so a changed schema gets a new
// template; an advisory lock keeps parallel test binaries from racing.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	name := "keyplane_template_" + migrationsHash()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7419)`); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock(7419)`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", err
	}
	if err := postgres.Migrate(withDatabase(base, building), "up"); err != nil {
		return "", err
	}
	if err := postgres.MigrateJobs(ctx, withDatabase(base, building)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

// withDatabase returns base with its database name replaced.
func withDatabase(base, db string) string {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return base
	}
	u := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", cfg.User, db, cfg.Host, cfg.Port)
	if cfg.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%d&sslmode=disable", cfg.User, cfg.Password, db, cfg.Host, cfg.Port)
	}
	return u
}

func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := migrations.FS.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CutOff makes the database of url unreachable, as an outage would: its
// connections are terminated and new ones refused. The returned function
// lets connections in again; the test's end does too.
func CutOff(t testing.TB, url string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, Base(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ident := pgx.Identifier{cfg.Database}.Sanitize()
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, cfg.Database); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

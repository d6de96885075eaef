// Package storetest opens real sekisho databases for tests: a SQLite file in
// a temporary folder, and a fresh PostgreSQL database that is dropped when
// the test ends. PostgreSQL is required; tests fail, never skip, without it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/sekisho/sekisho/store"
)

// PostgresURL is the server the tests create their databases on; override
// with SEKISHO_TEST_POSTGRES_URL.
func PostgresURL() string {
	if u := os.Getenv("SEKISHO_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Dialects are the databases every storage-facing test runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn as a subtest on a fresh database of each dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, Open(t, d)) })
	}
}

// Open returns a migrated, empty database of dialect d, closed (and on
// PostgreSQL dropped) when t ends.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	u := URL(t, d)
	db, err := store.Open(context.Background(), u, t.TempDir())
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns a database URL of dialect d for a fresh, empty database that
// is dropped when t ends ("" for SQLite in the data folder).
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite:" + t.TempDir() + "/" + store.SQLiteFile
	}
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Fatalf("PostgreSQL is required for the tests and did not answer at %s: %v (start it, or set SEKISHO_TEST_POSTGRES_URL)", PostgresURL(), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "sekisho_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	pu, _ := url.Parse(PostgresURL())
	pu.Path = "/" + name
	return pu.String()
}

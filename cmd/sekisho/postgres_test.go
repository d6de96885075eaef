package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// The operator commands work the same on PostgreSQL. The key file still
// lives in the data folder; the database does not.
func TestPostgres(t *testing.T) {
	c := newTestCLI(t)
	c.extra = []string{"--database-url", storetest.URL(t, store.Postgres)}

	out := c.ok("workspaces", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.example", "--reason", "pg test")
	link(t, out)
	c.ok("users", "create", "--workspace", "acme", "--email", "bob@acme.example", "--role", "user_admin", "--reason", "pg test")
	out = c.ok("users", "list", "--workspace", "acme")
	if f := userRow(t, out, "admin@acme.example"); f[2] != "workspace_admin" || f[3] != "invited" {
		t.Errorf("admin row: %q", f)
	}
	if f := userRow(t, out, "bob@acme.example"); f[2] != "user_admin" {
		t.Errorf("bob row: %q", f)
	}
	if _, err := os.Stat(c.dataDir + "/" + store.SQLiteFile); err == nil {
		t.Error("a SQLite file was created although the database is PostgreSQL")
	}
	if out := c.ok("audit", "export", "--workspace", "acme"); strings.Count(out, `"actor_kind":"operator"`) != 3 {
		t.Errorf("export on PostgreSQL:\n%s", out)
	}
}

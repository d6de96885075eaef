package store

import (
	"context"
	"database/sql"
	"testing"
)

// The durability settings SECURITY.md asks of SQLite, on every connection
// of both pools: WAL, synchronous=FULL, busy_timeout 5000, foreign keys on;
// the read pool is query-only and the writer is a single connection.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.write.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", db.write.Stats().MaxOpenConnections)
	}
	check := func(pool string, p *sql.DB, queryOnly int) {
		// Take several connections at once so that more than one is checked.
		var conns []*sql.Conn
		for range 3 {
			c, err := p.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if pool == "write" {
				break
			}
		}
		for i, c := range conns {
			var mode string
			var sync, busy, fk, qo int
			for _, x := range []struct {
				pragma string
				dest   any
			}{
				{"journal_mode", &mode}, {"synchronous", &sync}, {"busy_timeout", &busy},
				{"foreign_keys", &fk}, {"query_only", &qo},
			} {
				if err := c.QueryRowContext(ctx, "PRAGMA "+x.pragma).Scan(x.dest); err != nil {
					t.Fatalf("%s conn %d: PRAGMA %s: %v", pool, i, x.pragma, err)
				}
			}
			if mode != "wal" || sync != 2 || busy != 5000 || fk != 1 || qo != queryOnly {
				t.Errorf("%s conn %d: journal_mode=%s synchronous=%d busy_timeout=%d foreign_keys=%d query_only=%d; want wal 2 (FULL) 5000 1 %d",
					pool, i, mode, sync, busy, fk, qo, queryOnly)
			}
		}
		for _, c := range conns {
			c.Close()
		}
	}
	check("write", db.write, 0)
	check("read", db.read, 1)
}

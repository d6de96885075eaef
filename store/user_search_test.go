package store_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// The admin list's substring search goes through an index (migration
// 0004): trigram indexes on PostgreSQL, a trigram FTS5 table in front of
// the LIKE on SQLite. These tests hold it to what the LIKE alone matched.

// searchMatches is what UserFilter.Query means: the lowered query is in
// the email or in the lowered name, every character literal. The tests'
// emails are lower case, as the services store them.
func searchMatches(u *sekisho.User, q string) bool {
	q = strings.ToLower(q)
	return strings.Contains(u.Email, q) || strings.Contains(strings.ToLower(u.Name), q)
}

// search returns every user of w that Users finds for q, in pages of
// limit.
func search(t *testing.T, db *store.DB, w *sekisho.Workspace, q string, limit int) []*sekisho.User {
	t.Helper()
	var all []*sekisho.User
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("search %q: pagination does not end", q)
		}
		var page []*sekisho.User
		view(t, db, func(tx *store.Tx) error {
			var err error
			page, err = tx.Users(store.UserFilter{WorkspaceID: w.ID, Query: q, After: after, Limit: limit})
			return err
		})
		if len(page) > limit {
			t.Fatalf("search %q: page of %d, limit %d", q, len(page), limit)
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1].ID
	}
}

// wantSearch checks that Users finds for q exactly the users of us that
// match it, in id order.
func wantSearch(t *testing.T, db *store.DB, w *sekisho.Workspace, q string, us []*sekisho.User) {
	t.Helper()
	var want []*sekisho.User
	for _, u := range sortedByID(us) {
		if searchMatches(u, q) {
			want = append(want, u)
		}
	}
	if got := search(t, db, w, q, 100); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("search %q: got %q, want %q", q, emails(got), emails(want))
	}
}

func TestUserSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		alice := newUser(t, db, w, "alice@example.test", withName("Alice Liddell"))
		bob := newUser(t, db, w, "bob@corp.test", withName("Bob SMITH"))
		upper := newUser(t, db, w, "mueller@example.test", withName("ÄLICE MÜLLER"))
		lower := newUser(t, db, w, "weiss@example.test", withName("älice weiß"))
		yamada := newUser(t, db, w, "yamada@example.jp", withName("山田 健二"))
		tanaka := newUser(t, db, w, "tanaka@example.jp", withName("田中 花子"))
		// Go and PostgreSQL lower İ to i; FTS5's own folding does not.
		istanbul := newUser(t, db, w, "office@example.tr", withName("İSTANBUL Office"))
		pct := newUser(t, db, w, "percent@example.test", withName("50% off_now"))
		a1b := newUser(t, db, w, "a1b@example.test", withName("a1b a%b"))
		bsl := newUser(t, db, w, "back@example.test", withName(`C:\Temp`))
		quote := newUser(t, db, w, "quote@example.test", withName(`Say "hi" NEAR(x) OR *`))
		noName := newUser(t, db, w, "nameless@example.test")
		// Another workspace whose users match every query below.
		for _, u := range []*sekisho.User{alice, bob, upper, lower, yamada, tanaka, istanbul, pct, a1b, bsl, quote, noName} {
			newUser(t, db, other, u.Email, withName(u.Name))
		}
		us := []*sekisho.User{alice, bob, upper, lower, yamada, tanaka, istanbul, pct, a1b, bsl, quote, noName}

		for _, c := range []struct {
			q    string
			want []*sekisho.User
		}{
			{"liddell", []*sekisho.User{alice}},
			{"LIDDELL", []*sekisho.User{alice}},
			{"ALICE@", []*sekisho.User{alice}},
			{"corp.test", []*sekisho.User{bob}},
			{"lice", []*sekisho.User{alice, upper, lower}},
			{"ÄLICE", []*sekisho.User{upper, lower}},
			{"älice", []*sekisho.User{upper, lower}},
			{"Müller", []*sekisho.User{upper}},
			{"WEIß", []*sekisho.User{lower}},
			{"istanbul", []*sekisho.User{istanbul}},
			{"İstanbul", []*sekisho.User{istanbul}},
			{"山田 健二", []*sekisho.User{yamada}},
			{"田 健", []*sekisho.User{yamada}},
			{"田", []*sekisho.User{yamada, tanaka}},
			{"山田", []*sekisho.User{yamada}},
			{"e", us},
			{"ce", []*sekisho.User{alice, upper, lower, istanbul, pct}},
			{"%", []*sekisho.User{pct, a1b}},
			{"0%", []*sekisho.User{pct}},
			{"0% o", []*sekisho.User{pct}},
			{"f_n", []*sekisho.User{pct}},
			{"_", []*sekisho.User{pct}},
			{"a_b", nil},
			{"a%b", []*sekisho.User{a1b}},
			{"1%b", nil},
			{`\`, []*sekisho.User{bsl}},
			{`:\t`, []*sekisho.User{bsl}},
			{`\\`, nil},
			{`"hi"`, []*sekisho.User{quote}},
			{`"`, []*sekisho.User{quote}},
			{`near(x) or *`, []*sekisho.User{quote}},
			{"*", []*sekisho.User{quote}},
			{"zzz", nil},
			{"xyzzy", nil},
		} {
			got := search(t, db, w, c.q, 100)
			if want := sortedByID(c.want); !slices.Equal(ids(got), ids(want)) {
				t.Errorf("search %q: got %q, want %q", c.q, emails(got), emails(want))
			}
		}

		// Every substring of one to five characters of every email and
		// name, in both cases: whatever path a query takes, it finds what
		// the LIKE finds.
		seen := map[string]bool{}
		for _, u := range us {
			for _, s := range []string{u.Email, u.Name, strings.ToUpper(u.Name)} {
				rs := []rune(s)
				for i := range rs {
					for n := 1; n <= 5 && i+n <= len(rs); n++ {
						if q := string(rs[i : i+n]); !seen[q] {
							seen[q] = true
							wantSearch(t, db, w, q, us)
						}
					}
				}
			}
		}
	})
}

// A search walks its matches in pages by id, as the unfiltered list does,
// on whichever path it takes.
func TestUserSearchPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		var us []*sekisho.User
		for i := range 40 {
			name := fmt.Sprintf("Member %02d", i)
			if i%3 == 0 {
				name = fmt.Sprintf("Needle %02d", i)
			}
			us = append(us, newUser(t, db, w, fmt.Sprintf("user%02d@example.test", i), withName(name)))
			newUser(t, db, other, fmt.Sprintf("user%02d@example.test", i), withName(name))
		}
		for _, q := range []string{"needle", "NEEDLE 3", "ne", "n", "user", "@example.test", "member 1"} {
			var want []*sekisho.User
			for _, u := range sortedByID(us) {
				if searchMatches(u, q) {
					want = append(want, u)
				}
			}
			for _, limit := range []int{1, 4, 7, 100} {
				if got := search(t, db, w, q, limit); !slices.Equal(ids(got), ids(want)) {
					t.Errorf("search %q, limit %d: got %q, want %q", q, limit, emails(got), emails(want))
				}
			}
		}
	})
}

// Renames, new emails and deletions reach the search at once: on SQLite
// its table follows users by triggers.
func TestUserSearchFollowsChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "carol@example.test", withName("Carol Danvers"))
		keep := newUser(t, db, w, "dave@example.test", withName("Dave Carolson"))
		found := func(q string, want ...*sekisho.User) {
			t.Helper()
			if got := search(t, db, w, q, 100); !slices.Equal(ids(got), ids(sortedByID(want))) {
				t.Errorf("search %q: got %q, want %q", q, emails(got), emails(sortedByID(want)))
			}
		}
		found("danvers", u)
		found("carol", u, keep)

		u.Name = "Carol Marvel"
		update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(u) })
		found("danvers")
		found("marvel", u)

		u.Email = "captain@example.test"
		update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(u) })
		found("carol@")
		found("captain@", u)
		found("carol", u, keep)

		// Changes to other columns keep the user findable.
		u.Status, u.HasMFA = sekisho.StatusDisabled, true
		update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(u) })
		update(t, db, func(tx *store.Tx) error { return tx.SetPasswordHash(u.ID, "$argon2id$other") })
		found("marvel", u)
		found("captain@", u)

		update(t, db, func(tx *store.Tx) error { return tx.DeleteUser(w.ID, u.ID) })
		found("marvel")
		found("captain@")
		found("carol", keep)

		// A new user with the deleted one's text is found, and only once.
		again := newUser(t, db, w, "captain@example.test", withName("Carol Marvel"))
		found("marvel", again)
		found("captain@", again)
	})
}

// Users created before migration 0004 are found after it: the migration
// fills the index from the rows it finds.
func TestUserSearchMigration(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db, err := store.OpenNoMigrate(url, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.MigrateTo(ctx, 3); err != nil {
			t.Fatalf("migrate to 3: %v", err)
		}
		w := newWorkspace(t, db, "acme")
		var us []*sekisho.User
		for i := range 30 {
			us = append(us, newUser(t, db, w, fmt.Sprintf("old%02d@example.test", i), withName(fmt.Sprintf("Ältere Person %02d", i))))
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if have, want, err := db.SchemaVersion(ctx); err != nil || have != want || have < 4 {
			t.Fatalf("SchemaVersion = %d, %d, %v", have, want, err)
		}
		us = append(us, newUser(t, db, w, "new@example.test", withName("Neue Person")))
		for _, q := range []string{"ältere", "ÄLTERE PERSON 1", "person", "old0", "old17@", "new@", "erson 2", "ä"} {
			wantSearch(t, db, w, q, us)
		}
		if d == store.SQLite {
			// The backfill itself, not a scan, finds them.
			var n int
			if err := rawDB(t, d, url).QueryRow(`SELECT COUNT(*) FROM users_search WHERE users_search MATCH '"ältere person"'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			equal(t, "users_search matches after the backfill", n, 30)
		}
	})
}

// On SQLite the search table names users by rowid, which users does not
// declare: VACUUM and the backup (VACUUM INTO) must keep the rowids, gaps
// left by deletions included, or the search would miss users.
func TestUserSearchBackup(t *testing.T) {
	url := storetest.URL(t, store.SQLite)
	db := openURL(t, url)
	w := newWorkspace(t, db, "acme")
	var us []*sekisho.User
	for i := range 50 {
		u := newUser(t, db, w, fmt.Sprintf("user%02d@example.test", i), withName(fmt.Sprintf("Person %02d", i)))
		if i%4 == 1 {
			update(t, db, func(tx *store.Tx) error { return tx.DeleteUser(w.ID, u.ID) })
			continue
		}
		us = append(us, u)
	}
	check := func(what string, db *store.DB) {
		t.Helper()
		for _, q := range []string{"person", "user1", "person 4", "rson 33", "@example"} {
			var want []*sekisho.User
			for _, u := range sortedByID(us) {
				if searchMatches(u, q) {
					want = append(want, u)
				}
			}
			if got := search(t, db, w, q, 100); !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%s: search %q: got %q, want %q", what, q, emails(got), emails(want))
			}
		}
	}
	check("before", db)

	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := db.BackupTo(ctx, backup); err != nil {
		t.Fatal(err)
	}
	check("backup", openURL(t, "sqlite:"+backup))

	db.Close()
	raw := rawDB(t, store.SQLite, url)
	if _, err := raw.Exec("VACUUM"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	check("after VACUUM", openURL(t, url))
}

// A query that the trigram table matches for many users, in other
// workspaces most of all, takes SQLite's walk in id order instead, with the
// same results; so does PostgreSQL's planner with a common pattern.
func TestUserSearchManyMatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		update(t, db, func(tx *store.Tx) error {
			for i := range 2100 {
				u := &sekisho.User{ID: store.NewID(), WorkspaceID: other.ID, Email: fmt.Sprintf("common%04d@example.test", i),
					Name: "Common Name", Role: sekisho.RoleMember, Status: sekisho.StatusActive, JoinedAt: t0, CreatedAt: t0, UpdatedAt: t0}
				if err := tx.CreateUser(u, ""); err != nil {
					return err
				}
			}
			return nil
		})
		var us []*sekisho.User
		for i := range 12 {
			name := fmt.Sprintf("Rare %02d", i)
			if i%2 == 0 {
				name = fmt.Sprintf("Common %02d", i)
			}
			us = append(us, newUser(t, db, w, fmt.Sprintf("member%02d@example.test", i), withName(name)))
		}
		for _, q := range []string{"common", "COMMON 0", "mmo", "rare", "@example.test", "member1"} {
			wantSearch(t, db, w, q, us)
			for _, limit := range []int{1, 5} {
				var want []*sekisho.User
				for _, u := range sortedByID(us) {
					if searchMatches(u, q) {
						want = append(want, u)
					}
				}
				if got := search(t, db, w, q, limit); !slices.Equal(ids(got), ids(want)) {
					t.Errorf("search %q, limit %d: got %q, want %q", q, limit, emails(got), emails(want))
				}
			}
		}
	})
}

package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// benchUsers is the size of the workspace the list benchmarks read.
const benchUsers = 100_000

// BenchmarkUsers measures the admin list's query, tx.Users with one row
// more than the page as the service asks, on a workspace of 100,000 users of
// whom a third have MFA: the first page, a page deep in the keyset walk,
// the MFA filter, the substring search (one match, ten, every user, and
// a two-letter query, too short for the trigram index) and the count of
// users without MFA that turning Require MFA on answers with. The users
// are seeded inside the benchmark, so plain `go test` never pays for
// them. PostgreSQL is analyzed after the seeding, as autovacuum would be
// within a minute of such a load: its plans depend on the statistics.
func BenchmarkUsers(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			url := storetest.URL(b, d)
			db := openURL(b, url)
			wsID, deep := seedBenchUsers(b, db, benchUsers)
			if d == store.Postgres {
				if _, err := rawDB(b, d, url).Exec("ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}
			noMFA := false
			for _, c := range []struct {
				name string
				f    store.UserFilter
			}{
				{"first-page", store.UserFilter{WorkspaceID: wsID, Limit: 51}},
				{"deep-page", store.UserFilter{WorkspaceID: wsID, After: deep, Limit: 51}},
				{"mfa-disabled", store.UserFilter{WorkspaceID: wsID, MFA: &noMFA, Limit: 51}},
				{"mfa-disabled-deep", store.UserFilter{WorkspaceID: wsID, MFA: &noMFA, After: deep, Limit: 51}},
				{"search-one-match", store.UserFilter{WorkspaceID: wsID, Query: fmt.Sprintf("u%06d", benchUsers-1), Limit: 51}},
				{"search-ten-names", store.UserFilter{WorkspaceID: wsID, Query: fmt.Sprintf("USER %05d", (benchUsers-1)/10), Limit: 51}},
				{"search-every-user", store.UserFilter{WorkspaceID: wsID, Query: "@bench.test", Limit: 51}},
				{"search-every-user-deep", store.UserFilter{WorkspaceID: wsID, Query: "@bench.test", After: deep, Limit: 51}},
				{"search-two-letters", store.UserFilter{WorkspaceID: wsID, Query: "99", Limit: 51}},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						err := db.View(context.Background(), func(tx *store.Tx) error {
							us, err := tx.Users(c.f)
							if err == nil && len(us) == 0 {
								err = fmt.Errorf("no users for %+v", c.f)
							}
							return err
						})
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			// The count that turning Require MFA on answers with.
			b.Run("count-without-mfa", func(b *testing.B) {
				for b.Loop() {
					err := db.View(context.Background(), func(tx *store.Tx) error {
						n, err := tx.CountUsersWithoutMFA(wsID)
						if err == nil && n != benchUsers-(benchUsers+2)/3 {
							err = fmt.Errorf("%d users without MFA", n)
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// seedBenchUsers creates a workspace of n active members, every third with
// MFA, in transactions of 10,000, and returns its id and the id of the
// user 90 % of the way through the list (a deep keyset cursor).
func seedBenchUsers(b *testing.B, db *store.DB, n int) (wsID, deep string) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	w := &sekisho.Workspace{ID: store.NewID(), Slug: "bench", Name: "Bench", CreatedAt: now}
	if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateWorkspace(w) }); err != nil {
		b.Fatal(err)
	}
	const batch = 10_000
	for start := 0; start < n; start += batch {
		err := db.Update(ctx, func(tx *store.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				u := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: fmt.Sprintf("u%06d@bench.test", i),
					Name: fmt.Sprintf("User %06d", i), Role: sekisho.RoleMember, Status: sekisho.StatusActive,
					HasMFA: i%3 == 0, JoinedAt: now, CreatedAt: now, UpdatedAt: now}
				if err := tx.CreateUser(u, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"); err != nil {
					return err
				}
				if i == n*9/10 {
					deep = u.ID
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return w.ID, deep
}

package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
)

// UsersWithoutMFA lists exactly whom CountUsersWithoutMFA counts (active
// and invited users without MFA of one workspace), in id order, up to the
// limit; on SQLite the query walks the (workspace_id, has_mfa, id) index
// instead of sorting the workspace.
func TestUsersWithoutMFA(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db := openURL(t, url)
		ws := []*sekisho.Workspace{newWorkspace(t, db, "a"), newWorkspace(t, db, "b")}
		rng := rand.New(rand.NewPCG(3, 4))
		statuses := []sekisho.Status{sekisho.StatusActive, sekisho.StatusInvited, sekisho.StatusDisabled}
		want := map[string][]string{}
		for i := range 60 {
			w := ws[rng.IntN(len(ws))]
			u := newUser(t, db, w, fmt.Sprintf("u%d@%s.test", i, w.Slug),
				withMFA(rng.IntN(3) == 0), withStatus(statuses[rng.IntN(len(statuses))]))
			if !u.HasMFA && u.Status != sekisho.StatusDisabled {
				want[w.ID] = append(want[w.ID], u.ID)
			}
		}
		for _, w := range ws {
			slices.Sort(want[w.ID])
			var n int
			view(t, db, func(tx *store.Tx) (err error) { n, err = tx.CountUsersWithoutMFA(w.ID); return err })
			if n != len(want[w.ID]) || n < 6 {
				t.Fatalf("workspace %s: count %d, want %d (and enough to page)", w.Slug, n, len(want[w.ID]))
			}
			for _, limit := range []int{5, 100} {
				var us []*sekisho.User
				view(t, db, func(tx *store.Tx) (err error) { us, err = tx.UsersWithoutMFA(w.ID, limit); return err })
				var got []string
				for _, u := range us {
					got = append(got, u.ID)
				}
				exp := want[w.ID][:min(limit, len(want[w.ID]))]
				if !slices.Equal(got, exp) {
					t.Errorf("workspace %s, limit %d: %v, want %v", w.Slug, limit, got, exp)
				}
			}
		}
		if d == store.SQLite {
			raw := rawDB(t, d, url)
			rows, err := raw.Query(`EXPLAIN QUERY PLAN SELECT id FROM users WHERE workspace_id = ? AND has_mfa = ? AND status <> ? ORDER BY id LIMIT ?`,
				ws[0].ID, false, sekisho.StatusDisabled, 20)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, "users_workspace_mfa") || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("plan %q: want the (workspace_id, has_mfa, id) index and no sort", p)
			}
		}
	})
}

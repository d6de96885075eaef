package store_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
)

// The kept count of users without MFA equals counting them, through
// inserts, factor changes, status changes and deletes in two workspaces.
func TestCountUsersWithoutMFA(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db := openURL(t, url)
		raw := rawDB(t, d, url)
		ws := []*sekisho.Workspace{newWorkspace(t, db, "a"), newWorkspace(t, db, "b")}
		rng := rand.New(rand.NewPCG(1, 2))
		statuses := []sekisho.Status{sekisho.StatusActive, sekisho.StatusInvited, sekisho.StatusDisabled}
		var users []*sekisho.User
		check := func(step int) {
			t.Helper()
			for _, w := range ws {
				var kept, counted int
				view(t, db, func(tx *store.Tx) (err error) { kept, err = tx.CountUsersWithoutMFA(w.ID); return err })
				q := "SELECT COUNT(*) FROM users WHERE workspace_id = $1 AND NOT has_mfa AND status <> 'disabled'"
				if d == store.SQLite {
					q = "SELECT COUNT(*) FROM users WHERE workspace_id = ? AND NOT has_mfa AND status <> 'disabled'"
				}
				if err := raw.QueryRow(q, w.ID).Scan(&counted); err != nil {
					t.Fatal(err)
				}
				if kept != counted {
					t.Fatalf("step %d, workspace %s: kept count %d, counted %d", step, w.Slug, kept, counted)
				}
			}
		}
		check(0)
		for step := 1; step <= 200; step++ {
			switch op := rng.IntN(4); {
			case op == 0 || len(users) == 0:
				w := ws[rng.IntN(len(ws))]
				users = append(users, newUser(t, db, w, fmt.Sprintf("u%d@%s.test", step, w.Slug),
					withMFA(rng.IntN(2) == 0), withStatus(statuses[rng.IntN(len(statuses))])))
			case op == 1:
				u := users[rng.IntN(len(users))]
				u.HasMFA = !u.HasMFA
				update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(u) })
			case op == 2:
				u := users[rng.IntN(len(users))]
				u.Status = statuses[rng.IntN(len(statuses))]
				update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(u) })
			default:
				i := rng.IntN(len(users))
				update(t, db, func(tx *store.Tx) error { return tx.DeleteUser(users[i].WorkspaceID, users[i].ID) })
				users = append(users[:i], users[i+1:]...)
			}
			check(step)
		}
	})
}

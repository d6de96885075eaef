package store_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
)

// invalidationLog records what a subscriber is given.
type invalidationLog struct {
	mu   sync.Mutex
	got  []string // "user:<id>" or "workspace:<id>"
	lost int
}

func (l *invalidationLog) add(inv store.Invalidation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if inv.WorkspaceID != "" {
		l.got = append(l.got, "workspace:"+inv.WorkspaceID)
	} else {
		l.got = append(l.got, "user:"+inv.UserID)
	}
}

func (l *invalidationLog) lose() { l.mu.Lock(); l.lost++; l.mu.Unlock() }

// take returns what was given since the last take, without repeats.
func (l *invalidationLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	slices.Sort(got)
	return slices.Compact(got)
}

// subscribe subscribes a log to db's feed and waits until the feed is
// live (on PostgreSQL the listener connects in the background).
func subscribe(t *testing.T, db *store.DB) *invalidationLog {
	t.Helper()
	l := new(invalidationLog)
	db.Invalidations().Subscribe(l.add, l.lose)
	for deadline := time.Now().Add(10 * time.Second); !db.Invalidations().Sync(ctx); {
		if time.Now().After(deadline) {
			t.Fatal("the invalidation feed did not come up within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	l.lost = 0 // the listener's start counts as a loss
	l.mu.Unlock()
	return l
}

// Every change that can alter a session check reaches every instance, and
// is applied there before the write that made it returns (PostgreSQL), or
// by the next Sync after the instance's own writes and within PollEvery
// of another process's (SQLite); touching a session is not such a change.
// Writes come from another connection, as from a second instance or the
// CLI, and from the instance itself.
func TestInvalidations(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		a, b := openURL(t, url), openURL(t, url)
		log := subscribe(t, a)
		subscribe(t, b)

		w := newWorkspace(t, b, "acme")
		u := newUser(t, b, w, "u@acme.test")
		v := newUser(t, b, w, "v@acme.test")
		s := newSession(t, b, u, "token-u", t0)
		if !a.Invalidations().Sync(ctx) {
			t.Fatal("Sync: false")
		}
		log.take()

		user, ws := "user:"+u.ID, "workspace:"+w.ID
		for _, step := range []struct {
			name string
			db   *store.DB
			fn   func(tx *store.Tx) error
			want []string
		}{
			{"touch", b, func(tx *store.Tx) error { return tx.TouchSession(s.ID, t0.Add(time.Minute).UnixMilli()) }, nil},
			{"new session", b, func(tx *store.Tx) error {
				n := *s
				n.ID = store.NewID()
				return tx.CreateSession(&n, hashOf("token-u2"))
			}, nil},
			{"re-authentication", b, func(tx *store.Tx) error { return tx.SetSessionAuth(s.ID, sekisho.AAL2, t0.UnixMilli()) }, []string{user}},
			{"role change", b, func(tx *store.Tx) error {
				u.Role = sekisho.RoleUserAdmin
				return tx.UpdateUser(u)
			}, []string{user}},
			{"role change by the instance itself", a, func(tx *store.Tx) error {
				u.Role = sekisho.RoleMember
				return tx.UpdateUser(u)
			}, []string{user}},
			{"sign-out", b, func(tx *store.Tx) error { _, err := tx.DeleteSession(u.ID, s.ID); return err }, []string{user}},
			{"policy", b, func(tx *store.Tx) error {
				w.RequireMFA = true
				return tx.UpdateWorkspacePolicy(w)
			}, []string{ws}},
			{"user deleted", b, func(tx *store.Tx) error { return tx.DeleteUser(w.ID, v.ID) }, []string{"user:" + v.ID}},
			{"rolled back", b, func(tx *store.Tx) error {
				if _, err := tx.DeleteUserSessions(u.ID, ""); err != nil {
					return err
				}
				return errRollback
			}, nil},
		} {
			err := step.db.Update(ctx, step.fn)
			if err != nil && err != errRollback {
				t.Fatalf("%s: %v", step.name, err)
			}
			if d == store.SQLite && step.db != a {
				// Another process's writes are seen within PollEvery.
				time.Sleep(store.PollEvery)
			}
			if d == store.SQLite && !a.Invalidations().Sync(ctx) {
				t.Fatalf("%s: Sync: false", step.name)
			}
			if got := log.take(); !slices.Equal(got, step.want) {
				t.Errorf("%s: invalidated %v, want %v", step.name, got, step.want)
			}
		}
		if log.lost != 0 {
			t.Errorf("lost called %d times after the feed came up", log.lost)
		}
	})
}

var errRollback = errorString("roll back")

type errorString string

func (e errorString) Error() string { return string(e) }

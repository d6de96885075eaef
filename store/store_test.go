// The conformance suite of package store: every test runs on a fresh
// database of each dialect (storetest.Each), so that SQLite and PostgreSQL
// are held to one contract.
package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

var ctx = context.Background()

// t0 is the tests' fixed "now", a whole millisecond in UTC.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// jst is a zone other than UTC, to show times come back in UTC.
var jst = time.FixedZone("JST", 9*60*60)

// msUTC is what a stored time reads back as: UTC, millisecond precision.
func msUTC(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func update(t testing.TB, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t testing.TB, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.View(ctx, fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// hashOf stands for the SHA-256 the services store instead of a token.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newWorkspace(t testing.TB, db *store.DB, slug string) *sekisho.Workspace {
	t.Helper()
	w := &sekisho.Workspace{ID: store.NewID(), Slug: slug, Name: "Workspace " + slug, CreatedAt: t0}
	update(t, db, func(tx *store.Tx) error { return tx.CreateWorkspace(w) })
	return w
}

func newUser(t testing.TB, db *store.DB, w *sekisho.Workspace, email string, opts ...func(u *sekisho.User)) *sekisho.User {
	t.Helper()
	u := &sekisho.User{
		ID: store.NewID(), WorkspaceID: w.ID, Email: email, Name: "", Locale: "en",
		Role: sekisho.RoleMember, Status: sekisho.StatusActive,
		JoinedAt: t0, CreatedAt: t0, UpdatedAt: t0,
	}
	for _, o := range opts {
		o(u)
	}
	update(t, db, func(tx *store.Tx) error { return tx.CreateUser(u, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA") })
	return u
}

func withRole(r sekisho.Role) func(*sekisho.User)         { return func(u *sekisho.User) { u.Role = r } }
func withStatus(s sekisho.Status) func(*sekisho.User)     { return func(u *sekisho.User) { u.Status = s } }
func withName(n string) func(*sekisho.User)               { return func(u *sekisho.User) { u.Name = n } }
func withMFA(b bool) func(*sekisho.User)                  { return func(u *sekisho.User) { u.HasMFA = b } }
func withCreated(c time.Time) func(*sekisho.User)         { return func(u *sekisho.User) { u.CreatedAt = c } }
func isErr(err, target error) bool                        { return errors.Is(err, target) }
func equal[T any](t testing.TB, what string, got, want T) { t.Helper(); deepEqual(t, what, got, want) }

func deepEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// parallel runs fn(i) for i in [0, n) on n goroutines released together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// eachURL is storetest.Each for tests that need the database's URL: to open
// it twice, or to reach it with raw SQL behind the store's back.
func eachURL(t *testing.T, fn func(t *testing.T, d store.Dialect, url string)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d, storetest.URL(t, d)) })
	}
}

func openURL(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(ctx, url, t.TempDir())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDB opens url with database/sql, without the store.
func rawDB(t testing.TB, d store.Dialect, url string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if d == store.SQLite {
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:")+"?_pragma=busy_timeout(5000)")
	} else {
		db, err = sql.Open("pgx", url)
	}
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrate(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db := openURL(t, url)
		if db.Dialect() != d {
			t.Errorf("Dialect() = %q, want %q", db.Dialect(), d)
		}
		have, want, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want < 1 || have != want {
			t.Fatalf("SchemaVersion = %d, %d; want equal and ≥ 1", have, want)
		}
		w := newWorkspace(t, db, "acme")
		db.Close()

		// Open again: nothing to do, nothing lost.
		db2 := openURL(t, url)
		if err := db2.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		have2, want2, err := db2.SchemaVersion(ctx)
		if err != nil || have2 != have || want2 != want {
			t.Fatalf("SchemaVersion after reopen = %d, %d, %v; want %d, %d", have2, want2, err, have, want)
		}
		view(t, db2, func(tx *store.Tx) error {
			got, err := tx.Workspace(w.ID)
			if err != nil {
				return err
			}
			equal(t, "workspace after reopen", got, w)
			return nil
		})
		raw := rawDB(t, d, url)
		var rows int
		if err := raw.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != want {
			t.Errorf("schema_migrations has %d rows, want %d (one per migration, applied once)", rows, want)
		}
		if err := db2.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		db2.Close()

		// A database migrated by a newer binary is refused.
		newer := want + 1
		q := "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
		if d == store.Postgres {
			q = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"
		}
		if _, err := raw.Exec(q, newer, fmt.Sprintf("%04d_future.sql", newer), t0.UnixMilli()); err != nil {
			t.Fatal(err)
		}
		db3, err := store.Open(ctx, url, t.TempDir())
		if err == nil {
			db3.Close()
			t.Fatal("Open on a database newer than the binary succeeded")
		}
		if msg := err.Error(); !strings.Contains(msg, "newer") || !strings.Contains(msg, fmt.Sprint(newer)) {
			t.Errorf("error %q should say the schema (version %d) is newer than the binary", msg, newer)
		}
		db4, err := store.OpenNoMigrate(url, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db4.Close()
		if have, want4, err := db4.SchemaVersion(ctx); err != nil || have != newer || want4 != want {
			t.Errorf("SchemaVersion on newer database = %d, %d, %v; want %d, %d", have, want4, err, newer, want)
		}
		if err := db4.Migrate(ctx); err == nil {
			t.Error("Migrate on a newer database succeeded")
		}
	})
}

// Instances (or `sekisho migrate` and a starting server) that migrate one
// empty database at the same time must all succeed, applying each
// migration once.
func TestMigrateConcurrent(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		const n = 4
		errs := make([]error, n)
		parallel(n, func(i int) {
			db, err := store.Open(ctx, url, t.TempDir())
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
			}
		}
		db := openURL(t, url)
		have, want, err := db.SchemaVersion(ctx)
		if err != nil || have != want {
			t.Errorf("SchemaVersion = %d, %d, %v", have, want, err)
		}
	})
}

func TestOpenBadURL(t *testing.T) {
	_, err := store.Open(ctx, "mysql://user:secret@host/db", t.TempDir())
	if err == nil {
		t.Fatal("Open of a mysql:// URL succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
}

// pool_max_conns sets the pool size and never reaches the server, which
// would refuse it as an unknown setting; a bad value is refused by name.
func TestPoolMaxConns(t *testing.T) {
	u := storetest.URL(t, store.Postgres)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	db, err := store.Open(ctx, u+sep+"pool_max_conns=3", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().MaxOpenConnections; n != 3 {
		t.Errorf("MaxOpenConnections = %d, want 3", n)
	}
	for _, bad := range []string{"0", "x", "1001"} {
		_, err := store.Open(ctx, u+sep+"pool_max_conns="+bad, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "pool_max_conns") {
			t.Errorf("pool_max_conns=%s: %v, want an error naming it", bad, err)
		}
	}
}

func TestSQLiteFileNotWorldReadable(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dialect() != store.SQLite {
		t.Fatalf("empty URL opened %q, want sqlite", db.Dialect())
	}
	fi, err := os.Stat(dir + "/" + store.SQLiteFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v, want no group or other access", perm)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		boom := errors.New("boom")
		w := &sekisho.Workspace{ID: store.NewID(), Slug: "gone", Name: "Gone", CreatedAt: t0}
		err := db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.CreateWorkspace(w); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		view(t, db, func(tx *store.Tx) error {
			if _, err := tx.Workspace(w.ID); !isErr(err, store.ErrNotFound) {
				t.Errorf("workspace of a rolled back transaction: err = %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}

// TestEndedContext: a transaction whose context ends midway fails with the
// context's error, never the driver's "transaction has already been
// committed or rolled back", so a client that hangs up is not answered and
// logged as a fault of ours (CI's black-box test once saw that 500).
func TestEndedContext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for name, run := range map[string]func(context.Context, func(*store.Tx) error) error{"Update": db.Update, "View": db.View} {
			ctx, cancel := context.WithCancel(ctx)
			err := run(ctx, func(tx *store.Tx) error {
				cancel()
				// database/sql rolls the transaction back in the background
				// once ctx ends; give it the time to, so that Commit meets a
				// finished transaction, as it did in CI.
				time.Sleep(20 * time.Millisecond)
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s whose context ended: err = %v, want context.Canceled", name, err)
			}
		}
		_, _, _, err := db.SessionByToken(canceled(), hashOf("any"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SessionByToken with an ended context: err = %v, want context.Canceled", err)
		}
	})
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx
}

func TestViewIsReadOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := &sekisho.Workspace{ID: store.NewID(), Slug: "ro", Name: "RO", CreatedAt: t0}
		if err := db.View(ctx, func(tx *store.Tx) error { return tx.CreateWorkspace(w) }); err == nil {
			t.Error("a write inside View succeeded")
		}
		view(t, db, func(tx *store.Tx) error {
			n, err := tx.CountWorkspaces()
			if n != 0 {
				t.Errorf("CountWorkspaces = %d after a refused write", n)
			}
			return err
		})
	})
}

func TestWorkspaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		view(t, db, func(tx *store.Tx) error {
			n, err := tx.CountWorkspaces()
			if n != 0 {
				t.Errorf("CountWorkspaces on an empty database = %d", n)
			}
			return err
		})
		w := &sekisho.Workspace{
			ID: store.NewID(), Slug: "zeta", Name: "Zeta Inc.",
			RequireMFA: true, MFAGraceDays: 7, MFAEnforcedSince: t0.Add(-time.Hour),
			ResetRequiresAccessCode: true, CreatedAt: t0,
		}
		update(t, db, func(tx *store.Tx) error { return tx.CreateWorkspace(w) })
		a := newWorkspace(t, db, "alpha")

		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Workspace(w.ID)
			if err != nil {
				return err
			}
			equal(t, "Workspace", got, w)
			got, err = tx.WorkspaceBySlug("zeta")
			if err != nil {
				return err
			}
			equal(t, "WorkspaceBySlug", got, w)
			if _, err := tx.Workspace(store.NewID()); !isErr(err, store.ErrNotFound) {
				t.Errorf("Workspace(unknown): err = %v, want ErrNotFound", err)
			}
			if _, err := tx.WorkspaceBySlug("nope"); !isErr(err, store.ErrNotFound) {
				t.Errorf("WorkspaceBySlug(unknown): err = %v, want ErrNotFound", err)
			}
			all, err := tx.Workspaces()
			if err != nil {
				return err
			}
			equal(t, "Workspaces (by slug)", all, []*sekisho.Workspace{a, w})
			n, err := tx.CountWorkspaces()
			if n != 2 {
				t.Errorf("CountWorkspaces = %d, want 2", n)
			}
			return err
		})

		dup := &sekisho.Workspace{ID: store.NewID(), Slug: "zeta", Name: "Other", CreatedAt: t0}
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateWorkspace(dup) }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate slug: err = %v, want ErrDuplicate", err)
		}

		update(t, db, func(tx *store.Tx) error {
			got, err := tx.LockWorkspace(w.ID)
			if err != nil {
				return err
			}
			equal(t, "LockWorkspace", got, w)
			if _, err := tx.LockWorkspace(store.NewID()); !isErr(err, store.ErrNotFound) {
				t.Errorf("LockWorkspace(unknown): err = %v, want ErrNotFound", err)
			}
			return nil
		})

		// Policy round trip: a time in another zone with nanoseconds comes
		// back in UTC at millisecond precision.
		since := time.Date(2026, 2, 3, 4, 5, 6, 789_654_321, jst)
		p := *a
		p.RequireMFA, p.MFAGraceDays, p.MFAEnforcedSince, p.ResetRequiresAccessCode = true, 14, since, true
		p.Name, p.Slug = "ignored", "ignored" // not policy fields
		update(t, db, func(tx *store.Tx) error { return tx.UpdateWorkspacePolicy(&p) })
		want := *a
		want.RequireMFA, want.MFAGraceDays, want.MFAEnforcedSince, want.ResetRequiresAccessCode = true, 14, msUTC(since), true
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Workspace(a.ID)
			if err != nil {
				return err
			}
			equal(t, "after UpdateWorkspacePolicy", got, &want)
			if got.MFAEnforcedSince.Location() != time.UTC || got.MFAEnforcedSince.Nanosecond() != 789_000_000 {
				t.Errorf("MFAEnforcedSince = %v, want UTC with ms precision", got.MFAEnforcedSince)
			}
			return nil
		})
		// And back off: the zero time is stored as NULL and read as zero.
		update(t, db, func(tx *store.Tx) error { return tx.UpdateWorkspacePolicy(a) })
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Workspace(a.ID)
			if err != nil {
				return err
			}
			equal(t, "policy cleared", got, a)
			return nil
		})
	})
}

// LockWorkspace serializes the transactions that take it: the second one
// waits until the first ends.
func TestLockWorkspaceSerializes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "lock")
		var second atomic.Bool
		done := make(chan error, 1)
		update(t, db, func(tx *store.Tx) error {
			if _, err := tx.LockWorkspace(w.ID); err != nil {
				return err
			}
			go func() {
				done <- db.Update(ctx, func(tx *store.Tx) error {
					_, err := tx.LockWorkspace(w.ID)
					second.Store(true)
					return err
				})
			}()
			time.Sleep(200 * time.Millisecond)
			if second.Load() {
				t.Error("a second transaction locked the workspace while the first held it")
			}
			return nil
		})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !second.Load() {
			t.Error("the second transaction never got the lock")
		}
	})
}

// The last-admin rule as the services apply it: lock the workspace, count
// the active admins, demote only if another remains. Two admins demoting
// each other at once must leave one.
func TestLastAdminUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		errLast := errors.New("last admin")
		for round := range 25 {
			w := newWorkspace(t, db, fmt.Sprintf("round-%d", round))
			admins := []*sekisho.User{
				newUser(t, db, w, "a@example.test", withRole(sekisho.RoleWorkspaceAdmin)),
				newUser(t, db, w, "b@example.test", withRole(sekisho.RoleWorkspaceAdmin)),
			}
			errs := make([]error, 2)
			parallel(2, func(i int) {
				errs[i] = db.Update(ctx, func(tx *store.Tx) error {
					if _, err := tx.LockWorkspace(w.ID); err != nil {
						return err
					}
					n, err := tx.CountAdmins(w.ID, sekisho.StatusActive)
					if err != nil {
						return err
					}
					if n <= 1 {
						return errLast
					}
					u := *admins[i]
					u.Role = sekisho.RoleMember
					return tx.UpdateUser(&u)
				})
			})
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, errLast):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			view(t, db, func(tx *store.Tx) error {
				n, err := tx.CountAdmins(w.ID, sekisho.StatusActive)
				if n != 1 || ok != 1 {
					t.Fatalf("round %d: %d demotions succeeded, %d admins left; want 1 and 1", round, ok, n)
				}
				return err
			})
		}
	})
}

// Many writers at once queue; none fails with "database is locked" (SQLite)
// or a serialization error, while readers keep reading.
func TestConcurrentWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "busy")
		const n = 50
		var failed atomic.Int32
		parallel(2*n, func(i int) {
			if i%2 == 1 { // a reader beside every writer
				err := db.View(ctx, func(tx *store.Tx) error {
					_, err := tx.Users(store.UserFilter{WorkspaceID: w.ID, Limit: 1000})
					return err
				})
				if err != nil {
					failed.Add(1)
					t.Errorf("reader %d: %v", i, err)
				}
				return
			}
			err := db.Update(ctx, func(tx *store.Tx) error {
				u := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: fmt.Sprintf("u%d@example.test", i),
					Role: sekisho.RoleMember, Status: sekisho.StatusActive, CreatedAt: t0, UpdatedAt: t0}
				if err := tx.CreateUser(u, ""); err != nil {
					return err
				}
				return tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0, WorkspaceID: w.ID, Type: "user.created",
					Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem, TargetID: u.ID})
			})
			if err != nil {
				failed.Add(1)
				t.Errorf("writer %d: %v", i, err)
			}
		})
		if failed.Load() > 0 {
			return
		}
		view(t, db, func(tx *store.Tx) error {
			us, err := tx.Users(store.UserFilter{WorkspaceID: w.ID, Limit: 1000})
			if len(us) != n {
				t.Errorf("%d users after %d parallel creations", len(us), n)
			}
			evs, err2 := tx.AuditEvents(store.AuditFilter{WorkspaceID: w.ID, Limit: 1000})
			if len(evs) != n {
				t.Errorf("%d audit events after %d parallel creations", len(evs), n)
			}
			return errors.Join(err, err2)
		})
	})
}

func TestSchemaVersionEmpty(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db, err := store.OpenNoMigrate(url, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		have, want, err := db.SchemaVersion(ctx)
		if err != nil || have != 0 || want < 1 {
			t.Errorf("SchemaVersion of an empty database = %d, %d, %v; want 0, ≥ 1, nil", have, want, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if have, want2, err := db.SchemaVersion(ctx); err != nil || have != want || want2 != want {
			t.Errorf("SchemaVersion after Migrate = %d, %d, %v; want %d, %d", have, want2, err, want, want)
		}
	})
}

// Two handles on one SQLite file (the server and an operator's CLI) write
// at once: each IMMEDIATE transaction waits for the other's lock instead of
// failing with "database is locked".
func TestSQLiteTwoHandles(t *testing.T) {
	url := storetest.URL(t, store.SQLite)
	dbs := []*store.DB{openURL(t, url), openURL(t, url)}
	w := newWorkspace(t, dbs[0], "shared")
	const n = 50
	parallel(n, func(i int) {
		db := dbs[i%2]
		err := db.Update(ctx, func(tx *store.Tx) error {
			if _, err := tx.LockWorkspace(w.ID); err != nil {
				return err
			}
			return tx.CreateUser(&sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: fmt.Sprintf("u%d@example.test", i),
				Role: sekisho.RoleMember, Status: sekisho.StatusActive, CreatedAt: t0, UpdatedAt: t0}, "")
		})
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	})
	view(t, dbs[1], func(tx *store.Tx) error {
		us, err := tx.Users(store.UserFilter{WorkspaceID: w.ID, Limit: 1000})
		if len(us) != n {
			t.Errorf("%d users, want %d", len(us), n)
		}
		return err
	})
}

package store_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

func newTOTP(t testing.TB, db *store.DB, u *sekisho.User, name string, step int64) *store.Authenticator {
	t.Helper()
	a := &store.Authenticator{
		Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: name, CreatedAt: t0},
		Secret:        "v1:sealed-" + name, ExpiresAt: t0.Add(10 * time.Minute).UnixMilli(),
	}
	update(t, db, func(tx *store.Tx) error {
		if err := tx.CreateAuthenticator(a); err != nil {
			return err
		}
		ok, err := tx.ConfirmAuthenticator(u.ID, a.ID, step, t0.UnixMilli())
		if !ok && err == nil {
			t.Fatalf("ConfirmAuthenticator of a new authenticator = false")
		}
		return err
	})
	return a
}

func TestAuthenticators(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		bob := newUser(t, db, w, "bob@example.test")
		created := time.Date(2026, 3, 1, 18, 0, 0, 42_424_242, jst)
		a := &store.Authenticator{
			Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: "Phone", CreatedAt: created},
			Secret:        "v1:nonce:ciphertext", ExpiresAt: t0.Add(10 * time.Minute).UnixMilli(),
		}
		update(t, db, func(tx *store.Tx) error { return tx.CreateAuthenticator(a) })
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateAuthenticator(a) }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate authenticator id: err = %v, want ErrDuplicate", err)
		}
		want := *a
		want.CreatedAt = msUTC(created)
		get := func(userID, id string) (*store.Authenticator, error) {
			var got *store.Authenticator
			err := db.View(ctx, func(tx *store.Tx) error {
				var err error
				got, err = tx.Authenticator(userID, id)
				return err
			})
			return got, err
		}
		got, err := get(u.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "pending Authenticator", got, &want)
		if got.Confirmed() {
			t.Error("a pending authenticator reports Confirmed")
		}
		if _, err := get(bob.ID, a.ID); !isErr(err, store.ErrNotFound) {
			t.Errorf("Authenticator(another user): err = %v, want ErrNotFound", err)
		}
		count := func(userID string) int {
			t.Helper()
			var n int
			view(t, db, func(tx *store.Tx) (err error) { n, err = tx.CountConfirmedAuthenticators(userID); return err })
			return n
		}
		equal(t, "CountConfirmedAuthenticators while pending", count(u.ID), 0)

		useStep := func(id string, step int64) bool {
			t.Helper()
			var ok bool
			update(t, db, func(tx *store.Tx) (err error) {
				ok, err = tx.UseTOTPStep(id, step, t0.Add(time.Duration(step)*time.Second).UnixMilli())
				return err
			})
			return ok
		}
		if useStep(a.ID, 1000) {
			t.Error("UseTOTPStep on a pending authenticator = true")
		}

		// Confirm once, by its own user only.
		confirm := func(userID string) bool {
			t.Helper()
			var ok bool
			update(t, db, func(tx *store.Tx) (err error) {
				ok, err = tx.ConfirmAuthenticator(userID, a.ID, 100, t0.Add(time.Minute).UnixMilli())
				return err
			})
			return ok
		}
		if confirm(bob.ID) {
			t.Error("ConfirmAuthenticator by another user = true")
		}
		if !confirm(u.ID) {
			t.Fatal("ConfirmAuthenticator = false")
		}
		if confirm(u.ID) {
			t.Error("ConfirmAuthenticator a second time = true")
		}
		got, _ = get(u.ID, a.ID)
		if !got.Confirmed() || !got.ConfirmedAt.Equal(t0.Add(time.Minute)) || got.LastUsedStep != 100 || got.ExpiresAt != 0 {
			t.Errorf("after confirm: confirmed %v, step %d, expires %d; want %v, 100, 0", got.ConfirmedAt, got.LastUsedStep, got.ExpiresAt, t0.Add(time.Minute))
		}
		equal(t, "CountConfirmedAuthenticators", count(u.ID), 1)
		equal(t, "CountConfirmedAuthenticators of another user", count(bob.ID), 0)

		// Steps: the enrollment step, earlier ones and repeats are refused.
		for _, c := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {100, false}, {103, true}, {102, false}, {104, true}} {
			if got := useStep(a.ID, c.step); got != c.want {
				t.Errorf("UseTOTPStep(%d) = %v, want %v", c.step, got, c.want)
			}
		}
		got, _ = get(u.ID, a.ID)
		if got.LastUsedStep != 104 || !got.LastUsedAt.Equal(t0.Add(104*time.Second)) {
			t.Errorf("after use: step %d at %v, want 104 at %v", got.LastUsedStep, got.LastUsedAt, t0.Add(104*time.Second))
		}
		if useStep(store.NewID(), 500) {
			t.Error("UseTOTPStep(unknown id) = true")
		}

		// Rename, reseal, list.
		b := newTOTP(t, db, u, "Tablet", 7)
		newTOTP(t, db, bob, "Bob's", 7)
		update(t, db, func(tx *store.Tx) error {
			if ok, err := tx.RenameAuthenticator(bob.ID, a.ID, "stolen"); ok || err != nil {
				t.Errorf("RenameAuthenticator by another user = %v, %v", ok, err)
			}
			if ok, err := tx.RenameAuthenticator(u.ID, a.ID, "Work phone"); !ok || err != nil {
				t.Errorf("RenameAuthenticator = %v, %v", ok, err)
			}
			return tx.SetAuthenticatorSecret(a.ID, "v2:resealed")
		})
		view(t, db, func(tx *store.Tx) error {
			as, err := tx.Authenticators(u.ID)
			if err != nil {
				return err
			}
			var names []string
			for _, x := range as {
				names = append(names, x.Name)
			}
			// Oldest first: a was created at 09:00:00.042, b at 09:00.
			equal(t, "Authenticators", names, []string{"Tablet", "Work phone"})
			if len(as) == 2 && as[1].Secret != "v2:resealed" {
				t.Errorf("secret after SetAuthenticatorSecret = %q", as[1].Secret)
			}
			all, err := tx.AllAuthenticatorSecrets()
			if err != nil {
				return err
			}
			if len(all) != 3 {
				t.Errorf("AllAuthenticatorSecrets: %d rows, want 3", len(all))
			}
			if !slices.Contains(all, [4]string{a.ID, w.ID, u.ID, "v2:resealed"}) {
				t.Errorf("AllAuthenticatorSecrets = %v, lacks %v", all, [4]string{a.ID, w.ID, u.ID, "v2:resealed"})
			}
			return nil
		})

		update(t, db, func(tx *store.Tx) error {
			if ok, err := tx.DeleteAuthenticator(bob.ID, b.ID); ok || err != nil {
				t.Errorf("DeleteAuthenticator by another user = %v, %v", ok, err)
			}
			if ok, err := tx.DeleteAuthenticator(u.ID, b.ID); !ok || err != nil {
				t.Errorf("DeleteAuthenticator = %v, %v", ok, err)
			}
			if ok, err := tx.DeleteAuthenticator(u.ID, b.ID); ok || err != nil {
				t.Errorf("DeleteAuthenticator again = %v, %v", ok, err)
			}
			return nil
		})
		equal(t, "count after delete", count(u.ID), 1)
		newTOTP(t, db, u, "Another", 1)
		update(t, db, func(tx *store.Tx) error {
			n, err := tx.DeleteAuthenticators(u.ID)
			equal(t, "DeleteAuthenticators", n, int64(2))
			return err
		})
		equal(t, "count after DeleteAuthenticators", count(u.ID), 0)
		equal(t, "other user's count", count(bob.ID), 1)
	})
}

// 20 sign-ins with one code at once, each in its own transaction: exactly
// one is accepted (Keycloak #13607).
func TestUseTOTPStepParallel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		a := newTOTP(t, db, u, "Phone", 1000)
		for round, step := range []int64{1001, 1002, 1005} {
			var wins atomic.Int32
			parallel(20, func(i int) {
				err := db.Update(ctx, func(tx *store.Tx) error {
					ok, err := tx.UseTOTPStep(a.ID, step, t0.UnixMilli())
					if ok {
						wins.Add(1)
					}
					return err
				})
				if err != nil {
					t.Errorf("round %d, UseTOTPStep %d: %v", round, i, err)
				}
			})
			if n := wins.Load(); n != 1 {
				t.Errorf("step %d: %d of 20 parallel uses accepted, want exactly 1", step, n)
			}
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		bob := newUser(t, db, w, "bob@example.test")
		now := t0.UnixMilli()
		salt := func(userID string) (string, int) {
			t.Helper()
			var s string
			var n int
			view(t, db, func(tx *store.Tx) (err error) { s, n, err = tx.RecoveryCodeSalt(userID); return err })
			return s, n
		}
		use := func(userID, hash string) bool {
			t.Helper()
			var ok bool
			update(t, db, func(tx *store.Tx) (err error) { ok, err = tx.UseRecoveryCode(userID, hash, now); return err })
			return ok
		}
		hashes := func(set string) []string {
			var hs []string
			for i := range 10 {
				hs = append(hs, fmt.Sprintf("%s-hash-%d", set, i))
			}
			return hs
		}

		if s, n := salt(u.ID); s != "" || n != 0 {
			t.Errorf("RecoveryCodeSalt with no codes = %q, %d; want \"\", 0", s, n)
		}
		update(t, db, func(tx *store.Tx) error { return tx.ReplaceRecoveryCodes(u.ID, "salt-1", hashes("one"), now) })
		update(t, db, func(tx *store.Tx) error { return tx.ReplaceRecoveryCodes(bob.ID, "salt-b", hashes("bob"), now) })
		if s, n := salt(u.ID); s != "salt-1" || n != 10 {
			t.Errorf("RecoveryCodeSalt = %q, %d; want salt-1, 10", s, n)
		}
		if use(bob.ID, "one-hash-0") {
			t.Error("another user's code accepted")
		}
		if !use(u.ID, "one-hash-0") {
			t.Error("UseRecoveryCode = false for an unused code")
		}
		if use(u.ID, "one-hash-0") {
			t.Error("UseRecoveryCode accepted a code twice")
		}
		if use(u.ID, "no-such-hash") {
			t.Error("UseRecoveryCode accepted an unknown hash")
		}
		if s, n := salt(u.ID); s != "salt-1" || n != 9 {
			t.Errorf("RecoveryCodeSalt after one use = %q, %d; want salt-1, 9", s, n)
		}

		// Regenerating replaces the whole set.
		update(t, db, func(tx *store.Tx) error { return tx.ReplaceRecoveryCodes(u.ID, "salt-2", hashes("two"), now) })
		if s, n := salt(u.ID); s != "salt-2" || n != 10 {
			t.Errorf("RecoveryCodeSalt after replace = %q, %d; want salt-2, 10", s, n)
		}
		if use(u.ID, "one-hash-1") {
			t.Error("a code of the replaced set was accepted")
		}

		// A parallel double spend: exactly one success.
		for _, h := range []string{"two-hash-3", "two-hash-7"} {
			var wins atomic.Int32
			parallel(20, func(i int) {
				err := db.Update(ctx, func(tx *store.Tx) error {
					ok, err := tx.UseRecoveryCode(u.ID, h, now)
					if ok {
						wins.Add(1)
					}
					return err
				})
				if err != nil {
					t.Errorf("UseRecoveryCode %d: %v", i, err)
				}
			})
			if n := wins.Load(); n != 1 {
				t.Errorf("%s: %d of 20 parallel uses accepted, want exactly 1", h, n)
			}
		}
		if _, n := salt(u.ID); n != 8 {
			t.Errorf("remaining after two spends = %d, want 8", n)
		}

		update(t, db, func(tx *store.Tx) error { return tx.DeleteRecoveryCodes(u.ID) })
		if s, n := salt(u.ID); s != "" || n != 0 {
			t.Errorf("RecoveryCodeSalt after delete = %q, %d; want \"\", 0", s, n)
		}
		if use(u.ID, "two-hash-0") {
			t.Error("a deleted code was accepted")
		}
		if s, n := salt(bob.ID); s != "salt-b" || n != 10 {
			t.Errorf("other user's codes = %q, %d; want untouched", s, n)
		}
	})
}

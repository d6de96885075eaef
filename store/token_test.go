package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		bob := newUser(t, db, w, "bob@example.test")
		now := t0.UnixMilli()
		exp := t0.Add(time.Hour).UnixMilli()
		reset := hashOf("reset-link")
		update(t, db, func(tx *store.Tx) error { return tx.CreateToken(reset, store.PurposePasswordReset, u.ID, now, exp) })
		if err := db.Update(ctx, func(tx *store.Tx) error {
			return tx.CreateToken(reset, store.PurposeInvitation, bob.ID, now, exp)
		}); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate token hash: err = %v, want ErrDuplicate", err)
		}

		tokenUser := func(hash, purpose string, at int64) (string, error) {
			var id string
			err := db.View(ctx, func(tx *store.Tx) (err error) { id, err = tx.TokenUser(hash, purpose, at); return err })
			return id, err
		}
		useToken := func(hash, purpose string, at int64) (string, error) {
			var id string
			err := db.Update(ctx, func(tx *store.Tx) (err error) { id, err = tx.UseToken(hash, purpose, at); return err })
			return id, err
		}

		// TokenUser shows the link's user without spending it.
		for range 2 {
			if id, err := tokenUser(reset, store.PurposePasswordReset, now); id != u.ID || err != nil {
				t.Errorf("TokenUser = %q, %v; want %s", id, err, u.ID)
			}
		}
		if _, err := tokenUser(reset, store.PurposeInvitation, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("TokenUser(wrong purpose): err = %v, want ErrNotFound", err)
		}
		if _, err := tokenUser(reset, store.PurposePasswordReset, exp); !isErr(err, store.ErrNotFound) {
			t.Errorf("TokenUser(at expiry): err = %v, want ErrNotFound", err)
		}

		// UseToken: not with another purpose, not once expired, then once.
		if _, err := useToken(reset, store.PurposeInvitation, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("UseToken(wrong purpose): err = %v, want ErrNotFound", err)
		}
		if _, err := useToken(reset, store.PurposePasswordReset, exp); !isErr(err, store.ErrNotFound) {
			t.Errorf("UseToken(at expiry): err = %v, want ErrNotFound", err)
		}
		if _, err := useToken(reset, store.PurposePasswordReset, exp+1); !isErr(err, store.ErrNotFound) {
			t.Errorf("UseToken(after expiry): err = %v, want ErrNotFound", err)
		}
		if _, err := useToken(hashOf("never issued"), store.PurposePasswordReset, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("UseToken(unknown): err = %v, want ErrNotFound", err)
		}
		if id, err := useToken(reset, store.PurposePasswordReset, exp-1); id != u.ID || err != nil {
			t.Errorf("UseToken = %q, %v; want %s", id, err, u.ID)
		}
		if _, err := useToken(reset, store.PurposePasswordReset, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("UseToken a second time: err = %v, want ErrNotFound", err)
		}
		if _, err := tokenUser(reset, store.PurposePasswordReset, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("TokenUser of a spent token: err = %v, want ErrNotFound", err)
		}

		// A link clicked many times at once works once.
		invite := hashOf("invite-link")
		update(t, db, func(tx *store.Tx) error { return tx.CreateToken(invite, store.PurposeInvitation, bob.ID, now, exp) })
		var wins atomic.Int32
		parallel(20, func(i int) {
			id, err := useToken(invite, store.PurposeInvitation, now)
			switch {
			case err == nil:
				wins.Add(1)
				if id != bob.ID {
					t.Errorf("UseToken returned %q, want %s", id, bob.ID)
				}
			case !isErr(err, store.ErrNotFound):
				t.Errorf("UseToken %d: %v", i, err)
			}
		})
		if n := wins.Load(); n != 1 {
			t.Errorf("%d of 20 parallel UseToken succeeded, want exactly 1", n)
		}

		// The first-run setup token has no user.
		setup := hashOf("setup")
		update(t, db, func(tx *store.Tx) error { return tx.CreateToken(setup, store.PurposeSetup, "", now, exp) })
		if id, err := tokenUser(setup, store.PurposeSetup, now); id != "" || err != nil {
			t.Errorf("TokenUser(setup) = %q, %v; want \"\", nil", id, err)
		}
		update(t, db, func(tx *store.Tx) error { return tx.DeleteSetupTokens() })
		if _, err := tokenUser(setup, store.PurposeSetup, now); !isErr(err, store.ErrNotFound) {
			t.Errorf("setup token after DeleteSetupTokens: err = %v", err)
		}
		setup2 := hashOf("setup-2")
		update(t, db, func(tx *store.Tx) error { return tx.CreateToken(setup2, store.PurposeSetup, "", now, exp) })
		if id, err := useToken(setup2, store.PurposeSetup, now); id != "" || err != nil {
			t.Errorf("UseToken(setup) = %q, %v; want \"\", nil", id, err)
		}

		// DeleteTokens: the user's tokens of one purpose only.
		update(t, db, func(tx *store.Tx) error {
			for _, x := range []struct{ token, purpose, user string }{
				{"r1", store.PurposePasswordReset, u.ID},
				{"r2", store.PurposePasswordReset, u.ID},
				{"c1", store.PurposeAccessCode, u.ID},
				{"rb", store.PurposePasswordReset, bob.ID},
			} {
				if err := tx.CreateToken(hashOf(x.token), x.purpose, x.user, now, exp); err != nil {
					return err
				}
			}
			return tx.DeleteTokens(u.ID, store.PurposePasswordReset)
		})
		for token, want := range map[string]bool{"r1": false, "r2": false, "c1": true, "rb": true} {
			purpose := store.PurposePasswordReset
			if token == "c1" {
				purpose = store.PurposeAccessCode
			}
			_, err := tokenUser(hashOf(token), purpose, now)
			if want && err != nil || !want && !isErr(err, store.ErrNotFound) {
				t.Errorf("token %s after DeleteTokens: err = %v, want kept %v", token, err, want)
			}
		}
	})
}

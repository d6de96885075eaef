package store_test

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// An access code survives the cleanup of expired rows, and UnusedToken
// finds it expired or not: its expiry must not unlock what it guards. A
// used one is not returned.
func TestUnusedTokenKeptUntilUsed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		bob := newUser(t, db, w, "bob@example.test")
		now := t0.UnixMilli()
		update(t, db, func(tx *store.Tx) error {
			return tx.CreateToken(hashOf("code"), store.PurposeAccessCode, u.ID, now, now+1)
		})
		update(t, db, func(tx *store.Tx) error {
			return tx.CreateToken(hashOf("link"), store.PurposePasswordReset, u.ID, now, now+1)
		})
		later := t0.Add(365 * 24 * time.Hour).UnixMilli()
		update(t, db, func(tx *store.Tx) error { return tx.DeleteExpired(later, later) })

		unused := func(userID, purpose string) (*store.Token, error) {
			var tok *store.Token
			err := db.View(ctx, func(tx *store.Tx) (err error) { tok, err = tx.UnusedToken(userID, purpose); return err })
			return tok, err
		}
		tok, err := unused(u.ID, store.PurposeAccessCode)
		if err != nil || tok.Hash != hashOf("code") || tok.CreatedAt != now || tok.ExpiresAt != now+1 {
			t.Fatalf("UnusedToken after a year and a cleanup = %+v, %v; want the code", tok, err)
		}
		for _, q := range [][2]string{{u.ID, store.PurposePasswordReset}, {bob.ID, store.PurposeAccessCode}} {
			if tok, err := unused(q[0], q[1]); !isErr(err, store.ErrNotFound) {
				t.Errorf("UnusedToken(%s, %s) = %+v, %v; want ErrNotFound (cleaned up, or none)", q[0], q[1], tok, err)
			}
		}
		update(t, db, func(tx *store.Tx) error {
			_, err := tx.UseToken(hashOf("code"), store.PurposeAccessCode, now)
			return err
		})
		if tok, err := unused(u.ID, store.PurposeAccessCode); !isErr(err, store.ErrNotFound) {
			t.Errorf("UnusedToken after use = %+v, %v; want ErrNotFound", tok, err)
		}
	})
}

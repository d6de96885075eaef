package store_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// newSession stores a session of u created at created, under the hash of token.
func newSession(t testing.TB, db *store.DB, u *sekisho.User, token string, created time.Time) *sekisho.Session {
	t.Helper()
	s := &sekisho.Session{
		ID: store.NewID(), UserID: u.ID, WorkspaceID: u.WorkspaceID, AAL: sekisho.AAL1,
		AuthTime: created, CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test/1.0",
	}
	update(t, db, func(tx *store.Tx) error { return tx.CreateSession(s, hashOf(token)) })
	return s
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := &sekisho.Workspace{ID: store.NewID(), Slug: "acme", Name: "Acme", RequireMFA: true, MFAGraceDays: 3,
			MFAEnforcedSince: t0.Add(-time.Hour), CreatedAt: t0}
		update(t, db, func(tx *store.Tx) error { return tx.CreateWorkspace(w) })
		u := newUser(t, db, w, "alice@example.test", withName("Alice"), withMFA(true))
		other := newUser(t, db, w, "bob@example.test")

		created := time.Date(2026, 3, 1, 18, 0, 0, 123_456_789, jst)
		s := &sekisho.Session{
			ID: store.NewID(), UserID: u.ID, WorkspaceID: w.ID, AAL: sekisho.AAL2,
			AuthTime: created, CreatedAt: created, LastSeenAt: created.Add(time.Minute), ExpiresAt: created.Add(24 * time.Hour),
			IP: "2001:db8::1", UserAgent: "Mozilla/5.0",
		}
		update(t, db, func(tx *store.Tx) error { return tx.CreateSession(s, hashOf("token-1")) })
		wantS := *s
		wantS.AuthTime, wantS.CreatedAt, wantS.LastSeenAt, wantS.ExpiresAt = msUTC(s.AuthTime), msUTC(s.CreatedAt), msUTC(s.LastSeenAt), msUTC(s.ExpiresAt)

		gs, gu, gw, err := db.SessionByToken(ctx, hashOf("token-1"))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "SessionByToken session", gs, &wantS)
		equal(t, "SessionByToken user", gu, u)
		equal(t, "SessionByToken workspace", gw, w)
		if _, _, _, err := db.SessionByToken(ctx, hashOf("never issued")); !isErr(err, store.ErrNotFound) {
			t.Errorf("SessionByToken(unknown): err = %v, want ErrNotFound", err)
		}
		if _, _, _, err := db.SessionByToken(ctx, "token-1"); !isErr(err, store.ErrNotFound) {
			t.Errorf("SessionByToken(the token instead of its hash): err = %v, want ErrNotFound", err)
		}
		// The same token hash cannot be stored twice.
		dup := *s
		dup.ID = store.NewID()
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateSession(&dup, hashOf("token-1")) }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate token hash: err = %v, want ErrDuplicate", err)
		}

		lastSeen := func() time.Time {
			t.Helper()
			s, _, _, err := db.SessionByToken(ctx, hashOf("token-1"))
			if err != nil {
				t.Fatal(err)
			}
			return s.LastSeenAt
		}
		// TouchSession only moves last_seen_at forward.
		later := wantS.LastSeenAt.Add(10 * time.Minute)
		update(t, db, func(tx *store.Tx) error { return tx.TouchSession(s.ID, later.UnixMilli()) })
		equal(t, "LastSeenAt after touch", lastSeen(), later)
		update(t, db, func(tx *store.Tx) error { return tx.TouchSession(s.ID, later.Add(-time.Minute).UnixMilli()) })
		equal(t, "LastSeenAt after an earlier touch", lastSeen(), later)
		update(t, db, func(tx *store.Tx) error { return tx.TouchSession(s.ID, later.UnixMilli()) })
		equal(t, "LastSeenAt after an equal touch", lastSeen(), later)

		// SetSessionAuth: a fresh credential check and its level.
		reauth := t0.Add(2 * time.Hour)
		update(t, db, func(tx *store.Tx) error { return tx.SetSessionAuth(s.ID, sekisho.AAL1, reauth.UnixMilli()) })
		gs, _, _, err = db.SessionByToken(ctx, hashOf("token-1"))
		if err != nil {
			t.Fatal(err)
		}
		if gs.AAL != sekisho.AAL1 || !gs.AuthTime.Equal(reauth) {
			t.Errorf("after SetSessionAuth: %s at %v, want aal1 at %v", gs.AAL, gs.AuthTime, reauth)
		}
		update(t, db, func(tx *store.Tx) error {
			return tx.SetSessionAuth(s.ID, sekisho.AAL2, reauth.Add(time.Minute).UnixMilli())
		})
		gs, _, _, _ = db.SessionByToken(ctx, hashOf("token-1"))
		if gs.AAL != sekisho.AAL2 || !gs.AuthTime.Equal(reauth.Add(time.Minute)) {
			t.Errorf("after SetSessionAuth: %s at %v, want aal2", gs.AAL, gs.AuthTime)
		}

		// UserSessions: the user's own, newest first.
		s2 := newSession(t, db, u, "token-2", t0.Add(time.Hour))
		s3 := newSession(t, db, u, "token-3", t0.Add(-time.Hour))
		so := newSession(t, db, other, "token-other", t0)
		view(t, db, func(tx *store.Tx) error {
			ss, err := tx.UserSessions(u.ID)
			if err != nil {
				return err
			}
			// s was created at 09:00:00.123 UTC, s2 at 10:00, s3 at 08:00.
			if got, want := sessionIDs(ss), []string{s2.ID, s.ID, s3.ID}; !slices.Equal(got, want) {
				t.Errorf("UserSessions = %v, want newest first %v", got, want)
			}
			if len(ss) == 3 {
				x := wantS
				x.AAL, x.AuthTime, x.LastSeenAt = sekisho.AAL2, reauth.Add(time.Minute), later
				equal(t, "UserSessions[1]", ss[1], &x)
			}
			return nil
		})

		// DeleteSession: only the user's own, once.
		update(t, db, func(tx *store.Tx) error {
			if ok, err := tx.DeleteSession(other.ID, s3.ID); ok || err != nil {
				t.Errorf("DeleteSession(another user's session) = %v, %v; want false", ok, err)
			}
			if ok, err := tx.DeleteSession(u.ID, s3.ID); !ok || err != nil {
				t.Errorf("DeleteSession = %v, %v; want true", ok, err)
			}
			if ok, err := tx.DeleteSession(u.ID, s3.ID); ok || err != nil {
				t.Errorf("DeleteSession again = %v, %v; want false", ok, err)
			}
			return nil
		})
		if _, _, _, err := db.SessionByToken(ctx, hashOf("token-3")); !isErr(err, store.ErrNotFound) {
			t.Errorf("deleted session still found: %v", err)
		}

		// DeleteUserSessions keeps the one asked for, and others' sessions.
		newSession(t, db, u, "token-4", t0)
		update(t, db, func(tx *store.Tx) error {
			n, err := tx.DeleteUserSessions(u.ID, s.ID)
			equal(t, "DeleteUserSessions count", n, int64(2))
			return err
		})
		view(t, db, func(tx *store.Tx) error {
			ss, err := tx.UserSessions(u.ID)
			equal(t, "sessions left", sessionIDs(ss), []string{s.ID})
			ss, err2 := tx.UserSessions(other.ID)
			equal(t, "other user's sessions", sessionIDs(ss), []string{so.ID})
			return errors.Join(err, err2)
		})
		update(t, db, func(tx *store.Tx) error {
			n, err := tx.DeleteUserSessions(u.ID, "")
			equal(t, "DeleteUserSessions(keep none) count", n, int64(1))
			return err
		})
		if _, _, _, err := db.SessionByToken(ctx, hashOf("token-1")); !isErr(err, store.ErrNotFound) {
			t.Errorf("session still found after DeleteUserSessions: %v", err)
		}
	})
}

func sessionIDs(ss []*sekisho.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func TestDeleteExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		now := t0
		idle := time.Hour
		mk := func(token string, lastSeen, expires time.Time) {
			s := &sekisho.Session{ID: store.NewID(), UserID: u.ID, WorkspaceID: w.ID, AAL: sekisho.AAL1,
				AuthTime: lastSeen, CreatedAt: lastSeen, LastSeenAt: lastSeen, ExpiresAt: expires}
			update(t, db, func(tx *store.Tx) error { return tx.CreateSession(s, hashOf(token)) })
		}
		mk("live", now.Add(-time.Minute), now.Add(time.Hour))
		mk("expired", now.Add(-time.Minute), now.Add(-time.Millisecond))
		mk("idle", now.Add(-idle-time.Millisecond), now.Add(time.Hour))
		mk("edge", now.Add(-idle), now) // neither before now nor idle yet

		ms := func(t time.Time) int64 { return t.UnixMilli() }
		pendingOld := &store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: "old", CreatedAt: now.Add(-time.Hour)},
			Secret: "s", ExpiresAt: ms(now.Add(-time.Second))}
		pendingNew := &store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: "new", CreatedAt: now},
			Secret: "s", ExpiresAt: ms(now.Add(10 * time.Minute))}
		// A confirmed authenticator whose (stale) expiry has passed stays.
		confirmed := &store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: "phone", ConfirmedAt: now.Add(-time.Hour), CreatedAt: now.Add(-2 * time.Hour)},
			Secret: "s", ExpiresAt: ms(now.Add(-time.Hour))}
		update(t, db, func(tx *store.Tx) error {
			for _, a := range []*store.Authenticator{pendingOld, pendingNew, confirmed} {
				if err := tx.CreateAuthenticator(a); err != nil {
					return err
				}
			}
			for _, f := range []struct {
				token   string
				expires time.Time
			}{{"flow-old", now.Add(-time.Millisecond)}, {"flow-new", now.Add(time.Minute)}} {
				if err := tx.CreateFlow(hashOf(f.token), &store.Flow{UserID: u.ID, Kind: "mfa", CreatedAt: ms(now.Add(-time.Hour)), ExpiresAt: ms(f.expires)}); err != nil {
					return err
				}
				if err := tx.CreateToken(hashOf(f.token), store.PurposeInvitation, u.ID, ms(now.Add(-time.Hour)), ms(f.expires)); err != nil {
					return err
				}
			}
			return nil
		})

		update(t, db, func(tx *store.Tx) error { return tx.DeleteExpired(ms(now), ms(now.Add(-idle))) })

		for token, want := range map[string]bool{"live": true, "expired": false, "idle": false, "edge": true} {
			_, _, _, err := db.SessionByToken(ctx, hashOf(token))
			if want && err != nil || !want && !isErr(err, store.ErrNotFound) {
				t.Errorf("session %q after DeleteExpired: err = %v, want kept %v", token, err, want)
			}
		}
		view(t, db, func(tx *store.Tx) error {
			if _, err := tx.Flow(hashOf("flow-old")); !isErr(err, store.ErrNotFound) {
				t.Errorf("expired flow: err = %v, want ErrNotFound", err)
			}
			if _, err := tx.Flow(hashOf("flow-new")); err != nil {
				t.Errorf("live flow: %v", err)
			}
			if _, err := tx.TokenUser(hashOf("flow-new"), store.PurposeInvitation, ms(now)); err != nil {
				t.Errorf("live token: %v", err)
			}
			as, err := tx.Authenticators(u.ID)
			if err != nil {
				return err
			}
			var names []string
			for _, a := range as {
				names = append(names, a.Name)
			}
			slices.Sort(names)
			equal(t, "authenticators after DeleteExpired", names, []string{"new", "phone"})
			return nil
		})
		// The expired token's row is gone, not merely unusable: a token with
		// its hash can be stored again.
		update(t, db, func(tx *store.Tx) error {
			return tx.CreateToken(hashOf("flow-old"), store.PurposeInvitation, u.ID, ms(now), ms(now.Add(time.Hour)))
		})
	})
}

func TestFlows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "alice@example.test")
		f := &store.Flow{UserID: u.ID, Kind: "mfa", IP: "192.0.2.7", UserAgent: "ua", CreatedAt: t0.UnixMilli(), ExpiresAt: t0.Add(10 * time.Minute).UnixMilli()}
		h := hashOf("flow")
		update(t, db, func(tx *store.Tx) error { return tx.CreateFlow(h, f) })
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateFlow(h, f) }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate flow hash: err = %v, want ErrDuplicate", err)
		}
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Flow(h)
			if err != nil {
				return err
			}
			equal(t, "Flow", got, f)
			if _, err := tx.Flow(hashOf("nope")); !isErr(err, store.ErrNotFound) {
				t.Errorf("Flow(unknown): err = %v, want ErrNotFound", err)
			}
			return nil
		})

		// An enroll flow and its pending authenticator.
		a := &store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.ID, Kind: sekisho.KindTOTP, Name: "phone", CreatedAt: t0},
			Secret: "sealed", ExpiresAt: t0.Add(10 * time.Minute).UnixMilli()}
		he := hashOf("enroll")
		update(t, db, func(tx *store.Tx) error {
			if err := tx.CreateAuthenticator(a); err != nil {
				return err
			}
			if err := tx.CreateFlow(he, &store.Flow{UserID: u.ID, Kind: "enroll", CreatedAt: t0.UnixMilli(), ExpiresAt: t0.Add(time.Hour).UnixMilli()}); err != nil {
				return err
			}
			return tx.SetFlowAuthenticator(he, a.ID)
		})
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Flow(he)
			if err != nil {
				return err
			}
			if got.Kind != "enroll" || got.AuthenticatorID != a.ID {
				t.Errorf("enroll flow = %+v, want kind enroll with authenticator %s", got, a.ID)
			}
			return nil
		})

		// CountFlowFailure returns the new count.
		for want := 1; want <= 3; want++ {
			update(t, db, func(tx *store.Tx) error {
				n, err := tx.CountFlowFailure(h)
				equal(t, "CountFlowFailure", n, want)
				return err
			})
		}
		if err := db.Update(ctx, func(tx *store.Tx) error { _, err := tx.CountFlowFailure(hashOf("nope")); return err }); !isErr(err, store.ErrNotFound) {
			t.Errorf("CountFlowFailure(unknown): err = %v, want ErrNotFound", err)
		}

		// 50 parallel failures, each in its own transaction, are all counted
		// and each sees a different count.
		hp := hashOf("parallel")
		update(t, db, func(tx *store.Tx) error {
			return tx.CreateFlow(hp, &store.Flow{UserID: u.ID, Kind: "mfa", CreatedAt: 1, ExpiresAt: t0.UnixMilli()})
		})
		const n = 50
		seen := make([]atomic.Int32, n+1)
		parallel(n, func(i int) {
			err := db.Update(ctx, func(tx *store.Tx) error {
				c, err := tx.CountFlowFailure(hp)
				if err == nil && c >= 1 && c <= n {
					seen[c].Add(1)
				} else if err == nil {
					t.Errorf("CountFlowFailure returned %d", c)
				}
				return err
			})
			if err != nil {
				t.Errorf("CountFlowFailure %d: %v", i, err)
			}
		})
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.Flow(hp)
			if err != nil {
				return err
			}
			equal(t, "failures after 50 parallel CountFlowFailure", got.Failures, n)
			return nil
		})
		for c := 1; c <= n; c++ {
			if seen[c].Load() != 1 {
				t.Errorf("count %d returned %d times, want once", c, seen[c].Load())
			}
		}

		// DeleteFlow: true once, then false; in parallel, one winner.
		update(t, db, func(tx *store.Tx) error {
			if ok, err := tx.DeleteFlow(h); !ok || err != nil {
				t.Errorf("DeleteFlow = %v, %v; want true", ok, err)
			}
			if ok, err := tx.DeleteFlow(h); ok || err != nil {
				t.Errorf("DeleteFlow again = %v, %v; want false", ok, err)
			}
			return nil
		})
		var wins atomic.Int32
		parallel(20, func(i int) {
			err := db.Update(ctx, func(tx *store.Tx) error {
				ok, err := tx.DeleteFlow(hp)
				if ok {
					wins.Add(1)
				}
				return err
			})
			if err != nil {
				t.Errorf("DeleteFlow %d: %v", i, err)
			}
		})
		equal(t, "parallel DeleteFlow winners", wins.Load(), int32(1))

		// DeleteUserFlows ends every flow of the user, and only theirs.
		bob := newUser(t, db, w, "bob@example.test")
		update(t, db, func(tx *store.Tx) error {
			if err := tx.CreateFlow(hashOf("a2"), &store.Flow{UserID: u.ID, Kind: "mfa", CreatedAt: 1, ExpiresAt: 2}); err != nil {
				return err
			}
			if err := tx.CreateFlow(hashOf("b1"), &store.Flow{UserID: bob.ID, Kind: "mfa", CreatedAt: 1, ExpiresAt: 2}); err != nil {
				return err
			}
			return tx.DeleteUserFlows(u.ID)
		})
		view(t, db, func(tx *store.Tx) error {
			for _, x := range []string{"enroll", "a2"} {
				if _, err := tx.Flow(hashOf(x)); !isErr(err, store.ErrNotFound) {
					t.Errorf("flow %s after DeleteUserFlows: err = %v", x, err)
				}
			}
			_, err := tx.Flow(hashOf("b1"))
			return err
		})
	})
}

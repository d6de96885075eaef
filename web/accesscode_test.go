package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// askForAccessCodes has the workspace's MFA resets hand out access codes.
func (w *seedWorld) askForAccessCodes() {
	w.t.Helper()
	w.e.call("PATCH", "/api/v1/admin/workspace", w.adminTok(), map[string]any{"reset_requires_access_code": true, "password": adminPassword}).must(w.t, 200)
}

// TestAccessCodeExpiryKeepsEnrollmentLocked: the access code of an admin
// reset expires after 24 hours, and its expiry does not open what it
// guards. Past it — and past the cleanup of expired rows — enrollment at
// sign-in and from account settings answers 409 access_code_expired with
// the right code, a wrong one or none; the admin console shows the code
// pending and expired; a new reset gives a new code that works.
func TestAccessCodeExpiryKeepsEnrollmentLocked(t *testing.T) {
	for _, d := range storetest.Dialects {
		for _, pol := range seedPolicies {
			t.Run(string(d)+"/"+pol.name, func(t *testing.T) {
				t.Parallel()
				w := seedOpen(t, d, pol)
				t, e := w.t, w.e
				u := w.enrolled("member", "erin")
				w.applyPolicy()
				w.askForAccessCodes()
				code := w.reset(w.admin, u).must(t, 200).str("access_code")
				if code == "" {
					t.Fatal("no access code")
				}

				// One minute past the 24 hours, after the cleanup the server
				// runs on its own.
				e.clock.Add(24*time.Hour + time.Minute)
				now := e.clock.Now()
				if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
					return tx.DeleteExpired(now.UnixMilli(), now.Add(-time.Hour).UnixMilli())
				}); err != nil {
					t.Fatal(err)
				}

				d := w.user(u)
				if d.Body["access_code_pending"] != true || d.Body["access_code_expired"] != true || d.str("access_code_expires_at") == "" {
					t.Fatalf("admin view of an expired code: %s", d.Raw)
				}
				expired := func(r resp) {
					t.Helper()
					if r.Status != 409 || r.code() != "access_code_expired" {
						t.Fatalf("enrollment with an expired access code: %d %s, want 409 access_code_expired", r.Status, r.Raw)
					}
				}
				m := w.mark()
				r := w.signInStart(u)
				if w.pol.required {
					if r.str("state") != "mfa_enrollment_required" || r.Body["access_code_required"] != true || r.Body["access_code_expired"] != true {
						t.Fatalf("sign-in after the code expired: %s", r.Raw)
					}
					for _, c := range []string{code, "", "ABCD-EFGH"} {
						expired(e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": r.str("flow_token"), "access_code": c}))
					}
				} else {
					if r.str("state") != "signed_in" {
						t.Fatalf("sign-in after the code expired: %s", r.Raw)
					}
					u.token = r.str("session_token")
					for _, c := range []string{code, "", "ABCD-EFGH"} {
						expired(e.call("POST", "/api/v1/me/mfa/totp", u.token, map[string]string{"name": "phone", "access_code": c}))
					}
				}
				w.mailedNone(m)
				if d := w.user(u); seedObj(d.Body, "user")["mfa_enabled"] != false || len(d.Body["authenticators"].([]any)) != 0 {
					t.Fatalf("a factor was enrolled past the expired code: %s", d.Raw)
				}

				// A new reset replaces the expired code; the new one works
				// and, used, is no longer pending.
				code2 := w.reset(w.admin, u).must(t, 200).str("access_code")
				if code2 == "" || code2 == code {
					t.Fatalf("new access code %q (old %q)", code2, code)
				}
				if d := w.user(u); d.Body["access_code_pending"] != true || d.Body["access_code_expired"] != false {
					t.Fatalf("admin view of the new code: %s", d.Raw)
				}
				w.recoverAfterReset(u, code2)
				if d := w.user(u); d.Body["access_code_pending"] != false || d.Body["access_code_expired"] != nil {
					t.Fatalf("admin view after the code was used: %s", d.Raw)
				}
			})
		}
	}
}

// TestAccessCodeStorage: an access code is stored as an argon2id PHC string
// with a salt of its own, never as itself or a fast hash, since 40 bits
// under SHA-256 fall to anyone with a copy of the database in minutes. A
// code stored by an earlier version as hex SHA-256 still works for the
// hours it has left.
func TestAccessCodeStorage(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			w := seedOpen(t, d, seedPolicies[0])
			t, e := w.t, w.e
			w.askForAccessCodes()
			erin, frank := w.enrolled("member", "erin"), w.enrolled("member", "frank")
			stored := func(p *seedPerson) string {
				t.Helper()
				var tok *store.Token
				if err := e.db.View(context.Background(), func(tx *store.Tx) error {
					var err error
					tok, err = tx.UnusedToken(p.id, store.PurposeAccessCode)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return tok.Hash
			}
			code := w.reset(w.admin, erin).must(t, 200).str("access_code")
			h := stored(erin)
			norm, _ := secret.NormalizeAccessCode(code)
			if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, norm) || strings.Contains(h, secret.HashToken(norm)) {
				t.Fatalf("access code %s stored as %q, want an argon2id PHC string", code, h)
			}
			if ok, _, err := secret.NewHasher(testParams, 1).Verify(context.Background(), h, norm); err != nil || !ok {
				t.Fatalf("the stored hash does not verify the code: %v %v", ok, err)
			}
			// Two codes never share a salt.
			w.reset(w.admin, frank).must(t, 200)
			salt := func(phc string) string { return strings.Split(phc, "$")[4] }
			if salt(h) == salt(stored(frank)) {
				t.Fatal("two access codes share a salt")
			}

			// An earlier version's row: hex SHA-256 of the displayed form.
			legacy := "7K3M-Q9XD"
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				if err := tx.DeleteTokens(frank.id, store.PurposeAccessCode); err != nil {
					return err
				}
				now := e.clock.Now()
				return tx.CreateToken(secret.HashToken(legacy), store.PurposeAccessCode, frank.id, now.UnixMilli(), now.Add(time.Hour).UnixMilli())
			}); err != nil {
				t.Fatal(err)
			}
			frank.token = w.signInStart(frank).str("session_token")
			if r := e.call("POST", "/api/v1/me/mfa/totp", frank.token, map[string]string{"name": "phone", "access_code": "7K3M-Q9XE"}).must(t, 400); r.code() != "invalid_access_code" {
				t.Fatalf("a wrong code against a SHA-256 row: %s", r.Raw)
			}
			w.recoverAfterReset(frank, "7k3m q9xd")
			w.recoverAfterReset(erin, code)
		})
	}
}

// TestAccessCodeRacesReset: a code is hashed outside any transaction, so an
// admin may reset again between the check and the enrollment. The old code
// must not let an authenticator in after the reset that replaced it: when
// everything is done, either the enrollment came first (and the reset
// removed its authenticator) or it was refused.
func TestAccessCodeRacesReset(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			w := seedOpen(t, d, seedPolicies[0])
			t, e := w.t, w.e
			w.askForAccessCodes()
			u := w.enrolled("member", "erin")
			adminTok := w.adminTok()
			code := w.reset(w.admin, u).must(t, 200).str("access_code")
			var refused int
			for i := 0; i < 20; i++ {
				tok := w.signInStart(u).str("session_token")
				var wg sync.WaitGroup
				var enroll, reset resp
				wg.Go(func() {
					enroll = e.call("POST", "/api/v1/me/mfa/totp", tok, map[string]string{"name": "phone", "access_code": code})
				})
				wg.Go(func() {
					reset = e.call("DELETE", "/api/v1/admin/users/"+u.id+"/mfa", adminTok, map[string]string{"password": adminPassword})
				})
				wg.Wait()
				reset.must(t, 200)
				switch {
				case enroll.Status == 201:
				case enroll.Status == 401 || enroll.code() == "invalid_access_code":
					refused++
				default:
					t.Fatalf("enrollment racing a reset: %d %s", enroll.Status, enroll.Raw)
				}
				var auths []*store.Authenticator
				if err := e.db.View(context.Background(), func(tx *store.Tx) error {
					var err error
					auths, err = tx.Authenticators(u.id)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if len(auths) != 0 {
					t.Fatalf("round %d: an authenticator made with the replaced code outlived the reset (enrollment %d)", i, enroll.Status)
				}
				code = reset.str("access_code")
			}
			t.Logf("%d of 20 enrollments refused", refused)
		})
	}
}

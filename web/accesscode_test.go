package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

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
				e.call("PATCH", "/api/v1/admin/workspace", w.adminTok(), map[string]any{"reset_requires_access_code": true, "password": adminPassword}).must(t, 200)
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

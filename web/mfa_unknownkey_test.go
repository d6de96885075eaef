package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
)

// TestMFAUnknownKeyIsInternal: a TOTP secret sealed under a key this
// instance's ring lacks (after `sekisho keys rotate`, before every
// instance has the new key) is the server's failure, not the user's: the
// right code answers 500, and neither the user's second-factor throttle
// nor their sign-in flow counts it, nor does the audit log call it a wrong
// code. Once the key is back, the same flow signs in.
func TestMFAUnknownKeyIsInternal(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		authID := mfaAuthID(e, m.token, "phone")

		var sealed string
		setSecret := func(v string) {
			t.Helper()
			err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				all, err := tx.AllAuthenticatorSecrets()
				for _, r := range all {
					if r[0] == authID && sealed == "" {
						sealed = r[3]
					}
				}
				if err != nil || v == "" {
					return err
				}
				return tx.SetAuthenticatorSecret(authID, v)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		setSecret("")
		keyID, rest, ok := strings.Cut(sealed, ":")
		if !ok || keyID == "k9" {
			t.Fatalf("sealed secret %q", sealed)
		}
		setSecret("k9:" + rest) // a key id the ring does not hold

		failures := func() int {
			t.Helper()
			var n int
			err := e.db.View(context.Background(), func(tx *store.Tx) (err error) { n, err = tx.ThrottleFailures("mfa:" + m.userID); return err })
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		flow := m.passwordStep()
		// More attempts than a flow allows (5) and than the throttle
		// lets through without backoff (10).
		for i := range 12 {
			r := m.second(flow, e.code(seed))
			if r.Status != 500 || r.code() != "internal_error" {
				t.Fatalf("attempt %d with an unknown key: %d %s, want 500 internal_error", i, r.Status, r.Raw)
			}
		}
		if n := failures(); n != 0 {
			t.Fatalf("second-factor failures %d after the server could not check, want 0", n)
		}
		if !strings.Contains(e.logs.String(), "internal error") {
			t.Fatal("the unknown key was not logged")
		}
		r := e.call("GET", "/api/v1/admin/audit-events?type=mfa.verify", mustAdmin(t, e), nil).must(t, 200)
		if evs, _ := r.Body["events"].([]any); len(evs) != 0 {
			t.Fatalf("audited as wrong codes: %s", r.Raw)
		}

		setSecret(sealed)
		m.second(flow, e.code(seed)).must(t, 200)
	})
}

// mustAdmin signs the admin of acme in again (enrollment tests leave no
// handle on their session).
func mustAdmin(t *testing.T, e *env) string {
	t.Helper()
	return e.signIn("acme", "admin@acme.test", adminPassword)
}

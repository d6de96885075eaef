package web_test

import (
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// Someone guessing at an account's password has it throttled. The owner who
// proves control of the mailbox, by a password reset or by accepting the
// invitation, signs in with the new password at once: the guesses made
// before do not keep them waiting.
func TestMailboxProofClearsPasswordThrottle(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { mailboxProofClearsThrottle(t, d) })
	}
}

func mailboxProofClearsThrottle(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const oldPassword, newPassword = "harbor lilac compass 8", "quiet meadow lantern 31"
	guess := func(email string) {
		t.Helper()
		for range 6 {
			r := acctSignIn(e, "acme", email, "wrong password 123")
			if r.Status != 401 && r.Status != 429 {
				t.Fatalf("wrong password: %d %s", r.Status, r.Raw)
			}
		}
		if r := acctSignIn(e, "acme", email, "wrong password 123"); r.Status != 429 {
			t.Fatalf("the account is not throttled after the guesses: %d %s", r.Status, r.Raw)
		}
	}

	// A password reset.
	e.invite(admin, "alice@acme.test", "member", oldPassword)
	guess("alice@acme.test")
	e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "alice@acme.test"}).must(t, 202)
	token := acctMailToken(t, e.mail, "alice@acme.test", acctSubjReset, "password-reset")
	e.call("POST", "/api/v1/password-reset/confirm", "", map[string]string{"token": token, "password": newPassword}).must(t, 200)
	if r := acctSignIn(e, "acme", "alice@acme.test", newPassword); r.Status != 200 {
		t.Fatalf("sign-in right after the reset: %d %s", r.Status, r.Raw)
	}

	// An invitation accepted while someone guesses at the invited account.
	inv := e.call("POST", "/api/v1/admin/users", admin, map[string]string{"email": "bob@acme.test", "role": "member"}).must(t, 201)
	guess("Bob@acme.test")
	e.accept(inv.str("invitation_url"), newPassword)
	if r := acctSignIn(e, "acme", "bob@acme.test", newPassword); r.Status != 200 {
		t.Fatalf("sign-in right after accepting the invitation: %d %s", r.Status, r.Raw)
	}
}

package web_test

import (
	"slices"
	"testing"
	"time"
)

// TestMFARemoveNeedsRecentAuth: adding and removing factors needs a recent
// authentication, which the request may bring along as a password or code.
func TestMFARemoveNeedsRecentAuth(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		seed2, _ := e.enroll(&m.token, "tablet")
		tablet := mfaAuthID(e, m.token, "tablet")

		e.clock.Add(6 * time.Minute)
		for _, c := range []struct{ method, path string }{
			{"DELETE", "/api/v1/me/mfa/totp/" + tablet},
			{"DELETE", "/api/v1/me/mfa"},
			{"POST", "/api/v1/me/mfa/recovery-codes"},
		} {
			if r := e.call(c.method, c.path, m.token, nil); r.Status != 403 || r.code() != "reauthentication_required" {
				t.Fatalf("%s %s without recent auth: %d %s", c.method, c.path, r.Status, r.Raw)
			}
		}
		if r := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "laptop"}); r.Status != 403 || r.code() != "reauthentication_required" {
			t.Fatalf("adding without recent auth: %d %s", r.Status, r.Raw)
		}
		e.call("DELETE", "/api/v1/me/mfa/totp/"+tablet, m.token, map[string]string{"password": m.password + "x"}).must(t, 401)
		e.call("DELETE", "/api/v1/me/mfa", m.token, map[string]string{"code": mfaWrong(e, seed)}).must(t, 401)
		if got := mfaConfirmed(mfaStatus(e, m.token)); len(got) != 2 {
			t.Fatalf("after refused removals: %v", got)
		}

		// A code in the body is a fresh authentication.
		e.call("DELETE", "/api/v1/me/mfa/totp/"+tablet, m.token, map[string]string{"code": e.code(seed2)}).must(t, 204)
		if got := mfaConfirmed(mfaStatus(e, m.token)); !slices.Equal(got, []string{"phone"}) {
			t.Fatalf("after removing the tablet: %v", got)
		}
		// And lasts a few minutes: no proof needed right after.
		e.enroll(&m.token, "spare")
		e.call("DELETE", "/api/v1/me/mfa/totp/"+mfaAuthID(e, m.token, "spare"), m.token, nil).must(t, 204)

		// So is a password.
		e.clock.Add(6 * time.Minute)
		e.call("DELETE", "/api/v1/me/mfa", m.token, nil).must(t, 403)
		e.call("DELETE", "/api/v1/me/mfa", m.token, map[string]string{"password": m.password}).must(t, 204)
		st := mfaStatus(e, m.token)
		if st.Body["enabled"] != false || len(mfaAuths(st)) != 0 || mfaRemaining(st) != 0 {
			t.Fatalf("after removing all: %s", st.Raw)
		}
		e.signIn("acme", m.email, m.password) // no second step any more
	})
}

// TestMFADeviceReplacement walks flow 6 and the removal of the last factor:
// at no step is the user without a confirmed authenticator until they ask
// for it; each change mails the user once, is audited, and signs out the
// user's other sessions but not the one that made it.
func TestMFADeviceReplacement(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		oldSeed, codes := e.enroll(&m.token, "old phone")
		tok := m.token
		atLeastOne := func(step string) {
			t.Helper()
			if got := mfaConfirmed(mfaStatus(e, tok)); len(got) == 0 {
				t.Fatalf("%s: no confirmed authenticator", step)
			}
		}
		// once checks that the last action sent exactly one mail, with
		// subject, and one more audit event of typ.
		once := func(step, subject, typ string, auditBefore int) {
			t.Helper()
			if n := mfaMails(e, m.email, ""); n != 1 || mfaMails(e, m.email, subject) != 1 {
				t.Fatalf("%s: %d mails, want one %q: %+v", step, n, subject, e.mail.Messages())
			}
			if n := mfaAudit(e, m.wsID, typ, m.userID) - auditBefore; n != 1 {
				t.Fatalf("%s: %d %s events", step, n, typ)
			}
			e.mail.Reset()
		}
		signedOut := func(step, other string) {
			t.Helper()
			if r := e.call("GET", "/api/v1/session", other, nil); r.Status != 401 {
				t.Fatalf("%s: the other session still works: %d %s", step, r.Status, r.Raw)
			}
			if r := e.call("GET", "/api/v1/session", tok, nil); r.Status != 200 {
				t.Fatalf("%s: the session that made the change was signed out: %d %s", step, r.Status, r.Raw)
			}
		}
		atLeastOne("enrolled")

		// Add the new phone.
		other := m.signInTOTP(oldSeed)
		e.mail.Reset()
		enrolled := mfaAudit(e, m.wsID, "mfa.enrolled", m.userID)
		id, newSeed := mfaStart(e, tok, "new phone", nil)
		atLeastOne("new phone pending")
		if n := mfaMails(e, m.email, ""); n != 0 {
			t.Fatalf("%d mails for a pending authenticator", n)
		}
		e.clock.Add(40 * time.Second) // the user scans the code
		mfaConfirm(e, &tok, id, newSeed).must(t, 200)
		atLeastOne("new phone confirmed")
		once("adding", mfaSubjectAdded, "mfa.enrolled", enrolled)
		signedOut("adding", other)
		if got := mfaConfirmed(mfaStatus(e, tok)); !slices.Equal(got, []string{"old phone", "new phone"}) {
			t.Fatalf("after adding: %v", got)
		}

		// Remove the old one.
		other = m.signInTOTP(newSeed)
		removed := mfaAudit(e, m.wsID, "mfa.removed", m.userID)
		e.call("DELETE", "/api/v1/me/mfa/totp/"+mfaAuthID(e, tok, "old phone"), tok, nil).must(t, 204)
		atLeastOne("old phone removed")
		once("removing", mfaSubjectRemoved, "mfa.removed", removed)
		signedOut("removing", other)
		st := mfaStatus(e, tok)
		if got := mfaConfirmed(st); !slices.Equal(got, []string{"new phone"}) || mfaRemaining(st) != 10 || st.Body["enabled"] != true {
			t.Fatalf("after replacing: %s", st.Raw)
		}
		m.second(m.passwordStep(), e.code(oldSeed)).must(t, 401)
		m.signInTOTP(newSeed)

		// Removing the last one removes the recovery codes with it.
		other = m.signInTOTP(newSeed)
		e.mail.Reset()
		removed = mfaAudit(e, m.wsID, "mfa.removed", m.userID)
		e.call("DELETE", "/api/v1/me/mfa/totp/"+mfaAuthID(e, tok, "new phone"), tok, nil).must(t, 204)
		once("removing the last", mfaSubjectRemoved, "mfa.removed", removed)
		signedOut("removing the last", other)
		st = mfaStatus(e, tok)
		if st.Body["enabled"] != false || len(mfaAuths(st)) != 0 || mfaRemaining(st) != 0 {
			t.Fatalf("after removing the last: %s", st.Raw)
		}
		e.signIn("acme", m.email, m.password)

		// Enrolling again brings a new set; the old codes stay dead.
		againSeed, again := e.enroll(&tok, "again")
		if len(again) != 10 {
			t.Fatalf("%d recovery codes on enrolling again", len(again))
		}
		m.recover(m.passwordStep(), codes[1]).must(t, 401)

		// Removing everything at once.
		other = m.signInTOTP(againSeed)
		e.mail.Reset()
		all := mfaAudit(e, m.wsID, "mfa.removed_all", m.userID)
		e.call("DELETE", "/api/v1/me/mfa", tok, nil).must(t, 204)
		once("removing all", mfaSubjectRemoved, "mfa.removed_all", all)
		signedOut("removing all", other)
		st = mfaStatus(e, tok)
		if st.Body["enabled"] != false || len(mfaAuths(st)) != 0 || mfaRemaining(st) != 0 {
			t.Fatalf("after removing all: %s", st.Raw)
		}
	})
}

// TestMFARemoveRefusedWhileRequired: while the workspace requires MFA the
// last authenticator stays; one of two may go.
func TestMFARemoveRefusedWhileRequired(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		wsID, admin := e.workspace("acme")
		m := mfaJoin(e, "acme", wsID, admin, "alice")
		e.enroll(&m.token, "phone")
		e.enroll(&admin, "admin phone") // an admin without MFA may not require it
		e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true}).must(t, 200)

		phone := mfaAuthID(e, m.token, "phone")
		for _, path := range []string{"/api/v1/me/mfa/totp/" + phone, "/api/v1/me/mfa"} {
			r := e.call("DELETE", path, m.token, map[string]string{"password": m.password}).must(t, 409)
			if r.code() != "mfa_required_by_workspace" {
				t.Fatalf("DELETE %s: %s", path, r.Raw)
			}
		}
		e.enroll(&m.token, "tablet")
		e.call("DELETE", "/api/v1/me/mfa/totp/"+phone, m.token, nil).must(t, 204)
		e.call("DELETE", "/api/v1/me/mfa/totp/"+mfaAuthID(e, m.token, "tablet"), m.token, nil).must(t, 409)
		if got := mfaConfirmed(mfaStatus(e, m.token)); !slices.Equal(got, []string{"tablet"}) {
			t.Fatalf("left: %v", got)
		}
	})
}

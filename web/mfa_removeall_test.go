package web_test

import "testing"

// TestRemoveAllMFAWithoutMFA: removing all MFA when there is none removes
// nothing, so it answers 409 mfa_not_enabled, emails nobody and leaves no
// mfa.removed_all event; with MFA it still removes, mails and records.
func TestRemoveAllMFAWithoutMFA(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		e.mail.Reset()
		if r := e.call("DELETE", "/api/v1/me/mfa", m.token, nil).must(t, 409); r.code() != "mfa_not_enabled" {
			t.Fatalf("remove all without MFA: %s", r.Raw)
		}
		if msgs := e.mail.Messages(); len(msgs) != 0 {
			t.Fatalf("mail for removing nothing: %+v", msgs)
		}
		if n := mfaAudit(e, m.wsID, "mfa.removed_all", m.userID); n != 0 {
			t.Fatalf("%d mfa.removed_all events for removing nothing", n)
		}

		e.enroll(&m.token, "phone")
		e.mail.Reset()
		e.call("DELETE", "/api/v1/me/mfa", m.token, nil).must(t, 204)
		if n := len(e.mail.Messages()); n != 1 {
			t.Fatalf("%d mails for removing all MFA, want 1", n)
		}
		if n := mfaAudit(e, m.wsID, "mfa.removed_all", m.userID); n != 1 {
			t.Fatalf("%d mfa.removed_all events, want 1", n)
		}
	})
}

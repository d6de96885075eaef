package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/secret"
)

// TestMFARecoveryCodes walks flow 7: a recovery code signs in once, in any
// reasonable spelling, only as the second factor; using one notifies the
// user and is audited; regenerating replaces the set and needs a recent
// authentication; a parallel double spend succeeds once.
func TestMFARecoveryCodes(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, codes := e.enroll(&m.token, "phone")
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes", len(codes))
		}

		// Never in place of the password, nor without one.
		for _, rc := range []string{codes[0], strings.ReplaceAll(codes[0], "-", "")} {
			r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": m.email, "password": rc}).must(t, 401)
			if r.code() != "invalid_credentials" {
				t.Fatalf("recovery code as password: %s", r.Raw)
			}
		}
		e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": m.email, "recovery_code": codes[0]}).must(t, 400)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"recovery_code": codes[0]}).must(t, 401)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": secret.NewToken(), "recovery_code": codes[0]}).must(t, 401)

		// Once.
		e.mail.Reset()
		r := m.recover(m.passwordStep(), codes[0]).must(t, 200)
		if r.str("state") != "signed_in" || r.Body["recovery_codes_remaining"] != float64(9) {
			t.Fatalf("recovery sign-in: %s", r.Raw)
		}
		tok := r.str("session_token")
		if s := e.call("GET", "/api/v1/session", tok, nil).must(t, 200); s.str("aal") != "aal2" {
			t.Fatalf("session: %s", s.Raw)
		}
		if n := mfaMails(e, m.email, ""); n != 1 || mfaMails(e, m.email, mfaSubjectRecovery) != 1 {
			t.Fatalf("%d mails after a recovery code, want the one notice: %+v", n, e.mail.Messages())
		}
		if msg, _ := e.mail.Last(m.email); !strings.Contains(msg.Text, "9") || strings.Contains(msg.Text, codes[0]) {
			t.Fatalf("notice: %q", msg.Text)
		}
		if n := mfaAudit(e, m.wsID, "mfa.recovery_code_used", m.userID); n != 1 {
			t.Fatalf("%d mfa.recovery_code_used events", n)
		}
		if n := mfaRemaining(mfaStatus(e, tok)); n != 9 {
			t.Fatalf("remaining %d, want 9", n)
		}
		m.recover(m.passwordStep(), codes[0]).must(t, 401)
		m.recover(m.passwordStep(), strings.ToLower(codes[0])).must(t, 401)

		// Case, spaces and dashes do not matter.
		for i, typed := range []string{
			strings.ToLower(codes[1]),
			strings.ReplaceAll(codes[2], "-", ""),
			"  " + strings.ReplaceAll(strings.ToLower(codes[3]), "-", " ") + " ",
			strings.ToLower(codes[4][:9]) + strings.ReplaceAll(codes[4][9:], "-", " - "),
		} {
			if r := m.recover(m.passwordStep(), typed); r.Status != 200 {
				t.Fatalf("code %d typed as %q: %d %s", i+1, typed, r.Status, r.Raw)
			}
		}
		if n := mfaRemaining(mfaStatus(e, tok)); n != 5 {
			t.Fatalf("remaining %d, want 5", n)
		}
		if n := mfaMails(e, m.email, mfaSubjectRecovery); n != 5 {
			t.Fatalf("%d recovery notices for 5 codes used", n)
		}
		if n := mfaAudit(e, m.wsID, "mfa.recovery_code_used", m.userID); n != 5 {
			t.Fatalf("%d mfa.recovery_code_used events for 5 codes used", n)
		}
		// TOTP is unaffected.
		other := m.signInTOTP(seed)

		// Regenerating needs a recent authentication.
		e.clock.Add(6 * time.Minute)
		tok = m.signInTOTP(seed)
		e.clock.Add(6 * time.Minute)
		re := e.call("POST", "/api/v1/me/mfa/recovery-codes", tok, nil).must(t, 403)
		if re.code() != "reauthentication_required" {
			t.Fatalf("regenerate: %s", re.Raw)
		}
		e.call("POST", "/api/v1/me/mfa/recovery-codes", tok, map[string]string{"password": m.password + "x"}).must(t, 401)
		e.mail.Reset()
		before := mfaAudit(e, m.wsID, "mfa.recovery_codes_regenerated", m.userID)
		re = e.call("POST", "/api/v1/me/mfa/recovery-codes", tok, map[string]string{"password": m.password}).must(t, 200)
		var fresh []string
		for _, x := range re.Body["recovery_codes"].([]any) {
			c := x.(string)
			if !mfaRecoveryFormat.MatchString(c) {
				t.Fatalf("new code %q", c)
			}
			for _, old := range codes {
				if c == old {
					t.Fatalf("new code %q was an old one", c)
				}
			}
			fresh = append(fresh, c)
		}
		if len(fresh) != 10 {
			t.Fatalf("%d new codes", len(fresh))
		}
		if mfaMails(e, m.email, "") != 1 || mfaMails(e, m.email, mfaSubjectRegenerated) != 1 {
			t.Fatalf("mails after regenerating: %+v", e.mail.Messages())
		}
		if n := mfaAudit(e, m.wsID, "mfa.recovery_codes_regenerated", m.userID) - before; n != 1 {
			t.Fatalf("%d regeneration events", n)
		}
		if n := mfaRemaining(mfaStatus(e, tok)); n != 10 {
			t.Fatalf("remaining %d after regenerating", n)
		}
		// The user's other sessions end: one may have been opened with an old code.
		e.call("GET", "/api/v1/session", other, nil).must(t, 401)
		// Old unused codes are gone, new ones work.
		for _, old := range codes[5:] {
			m.recover(m.passwordStep(), old).must(t, 401)
		}
		m.recover(m.passwordStep(), fresh[0]).must(t, 200)

		// A parallel double spend: 20 sign-ins with the same code.
		e.mail.Reset()
		flows := mfaFlows(t, m, []*env{e}, 20)
		var bodies []map[string]string
		for _, f := range flows {
			bodies = append(bodies, map[string]string{"flow_token": f, "recovery_code": fresh[1]})
		}
		counts := mfaParallel(t, []*env{e}, bodies)
		// A 429 needs nine losers counted first, so at least that many
		// double spends reached the check.
		if counts[200] != 1 || counts[401] < 9 || counts[200]+counts[401]+counts[429] != 20 {
			t.Fatalf("20 parallel uses of one recovery code: %v, want exactly one 200 and the rest 401 or 429", counts)
		}
		if n := mfaMails(e, m.email, mfaSubjectRecovery); n != 1 {
			t.Fatalf("%d notices for one code spent", n)
		}
		if n := mfaAudit(e, m.wsID, "mfa.recovery_code_used", m.userID); n != 7 {
			t.Fatalf("%d mfa.recovery_code_used events, want 7", n)
		}
		if n := mfaRemaining(mfaStatus(e, tok)); n != 8 {
			t.Fatalf("remaining %d, want 8", n)
		}
	})
}

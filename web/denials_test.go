package web_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
)

// denialEvents returns the denied audit events of typ on target with
// their reasons (SECURITY.md: every denial is an audit event).
func denialEvents(e *env, wsID, typ, target string) []*sekisho.AuditEvent {
	e.t.Helper()
	var out []*sekisho.AuditEvent
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		evs, err := tx.AuditEvents(store.AuditFilter{WorkspaceID: wsID, Type: typ, TargetID: target, Limit: 1000})
		for _, ev := range evs {
			if ev.Result == sekisho.ResultDenied {
				out = append(out, ev)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestThrottledSecondFactorAudited: a second-factor attempt the throttle
// refuses (429) is a denial in the audit log, as a throttled password is:
// at sign-in (mfa.verify), when confirming a new factor
// (mfa.enroll_verify), and once TOTP is blocked after 100 failures — a
// refusal that changes no counter, so a recovery code still gets in at
// once.
func TestThrottledSecondFactorAudited(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, codes := e.enroll(&m.token, "phone")
		wantDenied := func(typ string, n int) {
			t.Helper()
			evs := denialEvents(e, m.wsID, typ, m.userID)
			if len(evs) != n {
				t.Fatalf("%d denied %s events, want %d: %+v", len(evs), typ, n, evs)
			}
			for _, ev := range evs {
				if ev.Details["reason"] != "throttled" {
					t.Fatalf("denied %s: %+v, want reason throttled", typ, ev)
				}
			}
		}

		// Confirming a new authenticator: ten wrong codes, then 429.
		r := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "tablet"}).must(t, 201)
		confirm := func() resp {
			return e.call("POST", "/api/v1/me/mfa/totp/"+r.str("id")+"/confirm", m.token, map[string]string{"code": mfaWrong(e, seed)})
		}
		for range 10 {
			confirm().must(t, 401)
		}
		wantDenied("mfa.enroll_verify", 0)
		confirm().must(t, 429)
		wantDenied("mfa.enroll_verify", 1)

		// At sign-in, the same counter: refused at once.
		m.second(m.passwordStep(), mfaWrong(e, seed)).must(t, 429)
		wantDenied("mfa.verify", 1)

		// Blocked after 100 consecutive failures (reached here directly,
		// without backoff): TOTP is refused and audited, and the refusal
		// leaves the recovery codes usable at once.
		err := e.db.Update(context.Background(), func(tx *store.Tx) error {
			if err := tx.ThrottleReset("mfa:" + m.userID); err != nil {
				return err
			}
			for range 100 {
				if _, _, err := tx.ThrottleAttempt("mfa:"+m.userID, e.clock.Now(), store.ThrottleRule{Free: 1000}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			m.second(m.passwordStep(), e.code(seed)).must(t, 429)
		}
		wantDenied("mfa.verify", 4)
		m.recover(m.passwordStep(), codes[0]).must(t, 200)
	})
}

// TestConflictRefusalsAudited: an admin or policy change that the state
// refuses (409) is a denial in the audit log with its reason: Require MFA
// by an admin without MFA, demoting or deleting the last workspace admin,
// disabling oneself.
func TestConflictRefusalsAudited(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		wsID, admin := e.workspace("acme")
		adminID := e.call("GET", "/api/v1/session", admin, nil).must(t, 200).Body["user"].(map[string]any)["id"].(string)
		steps := []struct {
			method, path string
			body         any
			code, typ    string
			target       string
		}{
			{"PATCH", "/api/v1/admin/workspace", map[string]any{"require_mfa": true, "password": adminPassword}, "admin_mfa_required", "workspace.policy_changed", ""},
			{"PATCH", "/api/v1/admin/users/" + adminID, map[string]any{"role": "member"}, "last_workspace_admin", "user.update", adminID},
			{"PATCH", "/api/v1/admin/users/" + adminID, map[string]any{"status": "disabled"}, "cannot_disable_self", "user.update", adminID},
			{"DELETE", "/api/v1/admin/users/" + adminID, nil, "cannot_delete_self", "user.delete", adminID},
		}
		for _, s := range steps {
			if r := e.call(s.method, s.path, admin, s.body).must(t, 409); r.code() != s.code {
				t.Fatalf("%s %s: %s, want %s", s.method, s.path, r.Raw, s.code)
			}
			var found bool
			for _, ev := range denialEvents(e, wsID, s.typ, s.target) {
				found = found || ev.Details["reason"] == s.code && ev.ActorID == adminID
			}
			if !found {
				t.Fatalf("%s refused with %s, not audited as a denial", s.typ, s.code)
			}
		}
		// Refused means unchanged.
		if ws := e.call("GET", "/api/v1/admin/workspace", admin, nil).must(t, 200); ws.Body["require_mfa"] != false {
			t.Fatalf("policy changed: %s", ws.Raw)
		}
		e.call("GET", "/api/v1/session", admin, nil).must(t, 200)
	})
}

// TestReauthThrottledAudited: re-authentication is throttled like sign-in,
// by password and by code, and each refusal is a denial in the audit log.
func TestReauthThrottledAudited(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		for _, p := range []struct {
			method string
			proof  func() map[string]string
		}{
			{"password", func() map[string]string { return map[string]string{"password": "not the password at all"} }},
			{"totp", func() map[string]string { return map[string]string{"code": mfaWrong(e, seed)} }},
		} {
			throttled := false
			for range 30 {
				r := e.call("POST", "/api/v1/session/reauthenticate", m.token, p.proof())
				if r.Status == 429 {
					throttled = true
					break
				}
				r.must(t, 401)
			}
			if !throttled {
				t.Fatalf("%s: 30 wrong proofs and no 429", p.method)
			}
			var found bool
			for _, ev := range denialEvents(e, m.wsID, "session.reauthenticated", m.userID) {
				found = found || ev.Details["reason"] == "throttled" && ev.Details["method"] == p.method
			}
			if !found {
				t.Fatalf("re-authentication by %s throttled, not audited as a denial", p.method)
			}
		}
	})
}

package web_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestOTPAuthLabel: the otpauth label is "issuer:account" and the account
// name holds no colon (Key URI Format), decoded or not, while it still
// names the email and the workspace — from account settings and from the
// forced enrollment of a sign-in.
func TestOTPAuthLabel(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		check := func(uri, email, slug string) {
			t.Helper()
			u, err := url.Parse(uri)
			if err != nil {
				t.Fatal(err)
			}
			account, ok := strings.CutPrefix(strings.TrimPrefix(u.Path, "/"), "sekisho:")
			if want := email + " (" + slug + ")"; !ok || account != want {
				t.Fatalf("label %q, want sekisho:%s", u.Path, want)
			}
			if strings.Contains(account, ":") || strings.Contains(strings.ToUpper(u.EscapedPath()), "%3A") {
				t.Fatalf("account name with a colon: %q", u.EscapedPath())
			}
		}
		check(e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "phone"}).must(t, 201).str("otpauth_uri"), m.email, "acme")

		_, admin := e.workspace("globex")
		e.enroll(&admin, "admin phone")
		e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}).must(t, 200)
		e.invite(admin, "bob@globex.test", "member", mfaPassword)
		r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "globex", "email": "bob@globex.test", "password": mfaPassword}).must(t, 200)
		if r.str("state") != "mfa_enrollment_required" {
			t.Fatalf("sign-in: %s", r.Raw)
		}
		check(e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": r.str("flow_token")}).must(t, 200).str("otpauth_uri"), "bob@globex.test", "globex")
	})
}

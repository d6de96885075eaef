package web_test

import (
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestBasicFlow walks the foundation end to end over HTTP on each
// database: an operator creates a workspace, its admin accepts the
// invitation and invites a member, who signs in, checks the session,
// enrolls TOTP, signs out and signs in with password and code.
func TestBasicFlow(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { basicFlow(t, d) })
	}
}

func basicFlow(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	e.invite(admin, "alice@acme.test", "member", "tulip marmalade orbit 7")
	tok := e.signIn("acme", "alice@acme.test", "tulip marmalade orbit 7")

	s := e.call("GET", "/api/v1/session", tok, nil).must(t, 200)
	if s.str("aal") != "aal1" || s.Body["user"].(map[string]any)["email"] != "alice@acme.test" {
		t.Fatalf("session: %s", s.Raw)
	}
	seed, codes := e.enroll(&tok, "phone")
	if len(codes) != 10 {
		t.Fatalf("got %d recovery codes", len(codes))
	}
	e.call("GET", "/api/v1/session", tok, nil).must(t, 200) // upgraded in place
	e.call("POST", "/api/v1/sign-out", tok, nil).must(t, 204)
	e.call("GET", "/api/v1/session", tok, nil).must(t, 401)

	r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "alice@acme.test", "password": "tulip marmalade orbit 7"}).must(t, 200)
	if r.str("state") != "mfa_required" {
		t.Fatalf("state: %s", r.Raw)
	}
	code := e.code(seed)
	r2 := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": code}).must(t, 200)
	s = e.call("GET", "/api/v1/session", r2.str("session_token"), nil).must(t, 200)
	if s.str("aal") != "aal2" {
		t.Fatalf("aal: %s", s.Raw)
	}
	// The same code again, in a new flow, is refused.
	r = e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "alice@acme.test", "password": "tulip marmalade orbit 7"}).must(t, 200)
	e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": code}).must(t, 401)
	// A recovery code works once.
	r3 := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "recovery_code": codes[0]}).must(t, 200)
	if r3.Body["recovery_codes_remaining"].(float64) != 9 {
		t.Fatalf("remaining: %s", r3.Raw)
	}
}

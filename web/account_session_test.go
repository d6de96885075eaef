package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestAccountSessionExpiry checks the idle (1 h) and absolute (24 h)
// session lifetimes against the injected clock.
func TestAccountSessionExpiry(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctSessionExpiry(t, d) })
	}
}

func acctSessionExpiry(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const password = "velvet canyon drummer 1"
	e.invite(admin, "alice@acme.test", "member", password)

	signedIn := e.clock.Now()
	r := acctSignIn(e, "acme", "alice@acme.test", password).must(t, 200)
	busy := r.str("session_token")
	if want := signedIn.Add(24 * time.Hour).Format(time.RFC3339); r.str("expires_at") != want {
		t.Fatalf("expires_at %s, want %s", r.str("expires_at"), want)
	}
	idle := e.signIn("acme", "alice@acme.test", password)
	nearlyIdle := e.signIn("acme", "alice@acme.test", password)

	e.clock.Add(50 * time.Minute)
	e.call("GET", "/api/v1/session", busy, nil).must(t, 200)
	e.clock.Add(9 * time.Minute)
	e.call("GET", "/api/v1/session", nearlyIdle, nil).must(t, 200)
	e.clock.Add(time.Minute)
	acctWantError(t, e.call("GET", "/api/v1/session", idle, nil), 401, "session_expired")
	e.call("GET", "/api/v1/session", busy, nil).must(t, 200)
	// The list shows the sessions that still work, whether or not the
	// periodic cleanup has deleted the idle one yet.
	live := map[any]bool{acctSessionID(e, nearlyIdle): true, acctSessionID(e, busy): true}
	list := e.call("GET", "/api/v1/me/sessions", busy, nil).must(t, 200).Body["sessions"].([]any)
	if len(list) != 2 || !live[list[0].(map[string]any)["id"]] || !live[list[1].(map[string]any)["id"]] {
		t.Fatalf("sessions at the idle timeout: %v, want %v", list, live)
	}

	// Used every 50 minutes, a session lives until its absolute expiry.
	for e.clock.Now().Add(50 * time.Minute).Before(signedIn.Add(24 * time.Hour)) {
		e.clock.Add(50 * time.Minute)
		s := e.call("GET", "/api/v1/session", busy, nil).must(t, 200)
		idleEnd, _ := time.Parse(time.RFC3339, s.str("idle_expires_at"))
		want := e.clock.Now().Add(time.Hour)
		if end := signedIn.Add(24 * time.Hour); end.Before(want) {
			want = end
		}
		if !idleEnd.Equal(want) {
			t.Fatalf("idle_expires_at %v at %v, want %v", idleEnd, e.clock.Now(), want)
		}
	}
	e.clock.Add(signedIn.Add(24*time.Hour - time.Minute).Sub(e.clock.Now()))
	s := e.call("GET", "/api/v1/session", busy, nil).must(t, 200)
	if s.str("idle_expires_at") != s.str("expires_at") {
		t.Fatalf("a minute before the end the idle expiry %s passes the absolute %s", s.str("idle_expires_at"), s.str("expires_at"))
	}
	e.clock.Add(time.Minute)
	acctWantError(t, e.call("GET", "/api/v1/session", busy, nil), 401, "session_expired")
	// An expired session is of no use for anything else either.
	acctWantError(t, e.call("GET", "/api/v1/me/sessions", busy, nil), 401, "session_expired")
	e.signIn("acme", "alice@acme.test", password)
}

// TestAccountSessions covers the user's own session list and revoking one,
// and that another instance refuses a revoked session at once.
func TestAccountSessions(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctSessions(t, d) })
	}
}

func acctSessions(t *testing.T, d store.Dialect) {
	a := newEnv(t, d)
	_, admin := a.workspace("acme")
	const password = "mango stairwell glacier 3"
	aliceID := a.invite(admin, "alice@acme.test", "member", password)
	b := acctSecondInstance(a)

	t1 := a.signIn("acme", "alice@acme.test", password)
	a.clock.Add(time.Minute)
	t2 := b.signIn("acme", "alice@acme.test", password)
	a.clock.Add(time.Minute)
	t3 := a.signIn("acme", "alice@acme.test", password)
	id1, id2, id3 := acctSessionID(a, t1), acctSessionID(b, t2), acctSessionID(a, t3)

	list := a.call("GET", "/api/v1/me/sessions", t1, nil).must(t, 200).Body["sessions"].([]any)
	if len(list) != 3 {
		t.Fatalf("sessions: %v", list)
	}
	for i, want := range []string{id3, id2, id1} { // newest first
		s := list[i].(map[string]any)
		if s["id"] != want || s["current"] != (want == id1) || s["ip"] != "127.0.0.1" || !strings.HasPrefix(s["user_agent"].(string), "Go-http-client") {
			t.Fatalf("session %d: %v, want id %s", i, s, want)
		}
	}

	// Revoked through A, refused by B at the next request.
	a.call("DELETE", "/api/v1/me/sessions/"+id2, t1, nil).must(t, 204)
	acctWantError(t, b.call("GET", "/api/v1/session", t2, nil), 401, "unauthenticated")
	acctWantError(t, a.call("GET", "/api/v1/session", t2, nil), 401, "unauthenticated")
	acctWantError(t, a.call("DELETE", "/api/v1/me/sessions/"+id2, t1, nil), 404, "not_found")
	// Someone else's session is not one's own to revoke.
	adminSession := acctSessionID(a, admin)
	acctWantError(t, a.call("DELETE", "/api/v1/me/sessions/"+adminSession, t1, nil), 404, "not_found")
	a.call("GET", "/api/v1/session", admin, nil).must(t, 200)

	// Signing out on B ends the session for A too.
	b.call("POST", "/api/v1/sign-out", t3, nil).must(t, 204)
	acctWantError(t, a.call("GET", "/api/v1/session", t3, nil), 401, "unauthenticated")
	if list := b.call("GET", "/api/v1/me/sessions", t1, nil).must(t, 200).Body["sessions"].([]any); len(list) != 1 {
		t.Fatalf("sessions left: %v", list)
	}
	// Revoking the current session is signing out.
	a.call("DELETE", "/api/v1/me/sessions/"+id1, t1, nil).must(t, 204)
	acctWantError(t, b.call("GET", "/api/v1/session", t1, nil), 401, "unauthenticated")

	ev := acctFindEvent(a, admin, "session.revoked", "success", "user", aliceID, aliceID)
	if ev.Details["session_id"] != id1 {
		t.Fatalf("newest session.revoked: %+v", ev)
	}
	acctFindEvent(a, admin, "session.sign_out", "success", "user", aliceID, aliceID)
}

// TestAccountChangePassword covers PUT /me/password.
func TestAccountChangePassword(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctChangePassword(t, d) })
	}
}

func acctChangePassword(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const oldPassword, newPassword = "cobalt windmill sparrow 6", "amber lighthouse tango 9"
	aliceID := e.invite(admin, "alice@acme.test", "member", oldPassword)
	here := e.signIn("acme", "alice@acme.test", oldPassword)
	other := e.signIn("acme", "alice@acme.test", oldPassword)
	mails := len(acctMails(e.mail, "alice@acme.test"))

	change := func(current, next string) resp {
		return e.call("PUT", "/api/v1/me/password", here, map[string]string{"current_password": current, "new_password": next})
	}
	for _, current := range []string{"", "not my password 1", strings.ToUpper(oldPassword)} {
		r := change(current, newPassword)
		if r.Status != 400 || r.Body["error"].(map[string]any)["field"] != "current_password" {
			t.Fatalf("current %q: %s", current, r.Raw)
		}
	}
	// Failed attempts changed nothing.
	e.call("GET", "/api/v1/session", other, nil).must(t, 200)
	if n := len(acctMails(e.mail, "alice@acme.test")); n != mails {
		t.Fatalf("%d mails after refused changes", n-mails)
	}

	change(oldPassword, newPassword).must(t, 204)
	e.call("GET", "/api/v1/session", here, nil).must(t, 200)
	acctWantError(t, e.call("GET", "/api/v1/session", other, nil), 401, "unauthenticated")
	acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", oldPassword), 401, "invalid_credentials")
	e.signIn("acme", "alice@acme.test", newPassword)
	if got := acctMails(e.mail, "alice@acme.test")[mails:]; len(got) != 1 || got[0] != acctSubjChanged {
		t.Fatalf("mails after the change: %q", got)
	}
	acctFindEvent(e, admin, "password.changed", "success", "user", aliceID, aliceID)
}

// TestAccountPasswordReset covers forgot-password: the same answer for
// everyone, a single-use link valid one hour, sessions revoked, and MFA
// kept.
func TestAccountPasswordReset(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctPasswordReset(t, d) })
	}
}

func acctPasswordReset(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const oldPassword, newPassword = "papaya sundial ferret 2", "cinder hammock violet 8"
	aliceID := e.invite(admin, "alice@acme.test", "member", oldPassword)
	aliceTok := e.signIn("acme", "alice@acme.test", oldPassword)
	seed, _ := e.enroll(&aliceTok, "phone")
	acctCreate(e, admin, "dave@acme.test", "", "member") // dave never accepts
	before := len(e.mail.Messages())

	request := func(slug, email string) resp {
		return e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": slug, "email": email})
	}
	known := request("acme", "Alice@acme.test").must(t, 202)
	for _, r := range []resp{request("acme", "nobody@acme.test"), request("nowhere", "alice@acme.test"), request("acme", "dave@acme.test")} {
		if r.Status != known.Status || r.Raw != known.Raw {
			t.Fatalf("answer %d %s, for an existing user %d %s", r.Status, r.Raw, known.Status, known.Raw)
		}
	}
	if msgs := e.mail.Messages()[before:]; len(msgs) != 1 || msgs[0].To != "alice@acme.test" {
		t.Fatalf("mails after four requests: %+v", msgs)
	}
	expired := acctMailToken(t, e.mail, "alice@acme.test", acctSubjReset, "password-reset")
	e.clock.Add(time.Hour)
	acctWantError(t, e.call("POST", "/api/v1/password-reset/confirm", "", map[string]string{"token": expired, "password": newPassword}), 404, "invalid_token")

	// A signed-in session, kept alive, to see the reset revoke it.
	r := acctSignIn(e, "acme", "alice@acme.test", oldPassword).must(t, 200)
	if r.str("state") != "mfa_required" {
		t.Fatalf("sign-in: %s", r.Raw)
	}
	session := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(seed)}).must(t, 200).str("session_token")

	request("acme", "alice@acme.test").must(t, 202)
	token := acctMailToken(t, e.mail, "alice@acme.test", acctSubjReset, "password-reset")
	if token == expired {
		t.Fatal("the same reset link twice")
	}
	e.clock.Add(30 * time.Minute)
	e.call("GET", "/api/v1/session", session, nil).must(t, 200)
	e.clock.Add(29 * time.Minute)
	confirm := func(password string) resp {
		return e.call("POST", "/api/v1/password-reset/confirm", "", map[string]string{"token": token, "password": password})
	}
	acctWantError(t, confirm("Password1234"), 400, "password_common")
	mails := len(acctMails(e.mail, "alice@acme.test"))
	confirm(newPassword).must(t, 200)
	acctWantError(t, confirm("yet another password 4"), 404, "invalid_token")

	acctWantError(t, e.call("GET", "/api/v1/session", session, nil), 401, "unauthenticated")
	if got := acctMails(e.mail, "alice@acme.test")[mails:]; len(got) != 1 || got[0] != acctSubjChanged {
		t.Fatalf("mails after the reset: %q", got)
	}
	acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", oldPassword), 401, "invalid_credentials")
	// The reset changed the password only: the second factor is still asked for.
	r = acctSignIn(e, "acme", "alice@acme.test", newPassword).must(t, 200)
	if r.str("state") != "mfa_required" {
		t.Fatalf("sign-in after reset: %s", r.Raw)
	}
	session = e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(seed)}).must(t, 200).str("session_token")
	if mfa := e.call("GET", "/api/v1/me/mfa", session, nil).must(t, 200); mfa.Body["enabled"] != true || len(mfa.Body["authenticators"].([]any)) != 1 {
		t.Fatalf("MFA after reset: %s", mfa.Raw)
	}

	admin = acctAdmin(e, "acme")
	acctFindEvent(e, admin, "password.reset_requested", "success", "anonymous", "", aliceID)
	acctFindEvent(e, admin, "password.reset", "success", "anonymous", "", aliceID)
}

// TestAccountAdminChanges checks that disabling a user and changing their
// role end their sessions at once, and that re-enabling lets them back in.
func TestAccountAdminChanges(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctAdminChanges(t, d) })
	}
}

func acctAdminChanges(t *testing.T, d store.Dialect) {
	a := newEnv(t, d)
	_, admin := a.workspace("acme")
	adminID := acctUserID(a, admin)
	const password = "orchid tramway puzzle 7"
	id := a.invite(admin, "alice@acme.test", "member", password)
	b := acctSecondInstance(a)
	onA, onB := a.signIn("acme", "alice@acme.test", password), b.signIn("acme", "alice@acme.test", password)

	patch := func(body map[string]string) resp {
		return a.call("PATCH", "/api/v1/admin/users/"+id, admin, body).must(t, 200)
	}
	// A name change is no reason to sign anyone out.
	patch(map[string]string{"name": "Alice A."})
	b.call("GET", "/api/v1/session", onB, nil).must(t, 200)

	if u := patch(map[string]string{"status": "disabled"}); u.str("status") != "disabled" {
		t.Fatalf("after disabling: %s", u.Raw)
	}
	acctWantError(t, a.call("GET", "/api/v1/session", onA, nil), 401, "unauthenticated")
	acctWantError(t, b.call("GET", "/api/v1/session", onB, nil), 401, "unauthenticated")
	acctWantError(t, acctSignIn(b, "acme", "alice@acme.test", password), 403, "account_disabled")

	patch(map[string]string{"status": "active"})
	acctWantError(t, a.call("GET", "/api/v1/session", onA, nil), 401, "unauthenticated")
	again := b.signIn("acme", "alice@acme.test", password)

	patch(map[string]string{"role": "user_admin"})
	acctWantError(t, b.call("GET", "/api/v1/session", again, nil), 401, "unauthenticated")
	promoted := a.signIn("acme", "alice@acme.test", password)
	if s := b.call("GET", "/api/v1/session", promoted, nil).must(t, 200); s.str("role") != "user_admin" {
		t.Fatalf("after the role change: %s", s.Raw)
	}
	b.call("GET", "/api/v1/admin/users", promoted, nil).must(t, 200)

	for _, c := range []struct{ typ, key, want string }{
		{"user.disabled", "status", "active→disabled"},
		{"user.enabled", "status", "disabled→active"},
		{"user.role_changed", "role", "member→user_admin"},
	} {
		if ev := acctFindEvent(a, admin, c.typ, "success", "user", adminID, id); ev.Details[c.key] != c.want {
			t.Errorf("%s details %v", c.typ, ev.Details)
		}
	}
}

// TestAccountHeaders checks the headers every API answer carries and the
// development session cookie.
func TestAccountHeaders(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctHeaders(t, d) })
	}
}

func acctHeaders(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const password = "basil orbit trombone 5"
	e.invite(admin, "alice@acme.test", "member", password)
	tok := e.signIn("acme", "alice@acme.test", password)

	ids := map[string]bool{}
	for _, r := range []resp{
		e.call("GET", "/api/v1/session", tok, nil).must(t, 200),
		e.call("GET", "/api/v1/session", "", nil).must(t, 401),
		e.call("GET", "/api/v1/no-such-thing", "", nil).must(t, 404),
		acctSignIn(e, "acme", "alice@acme.test", "wrong password 123").must(t, 401),
		e.call("POST", "/api/v1/sign-in", "", "{not json").must(t, 400),
		e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "x@acme.test"}).must(t, 202),
	} {
		h := r.Header
		if !strings.Contains(h.Get("Cache-Control"), "no-store") || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("X-Request-Id") == "" {
			t.Fatalf("headers of %d %s: %v", r.Status, r.Raw, h)
		}
		if ids[h.Get("X-Request-Id")] {
			t.Fatalf("request id %s twice", h.Get("X-Request-Id"))
		}
		ids[h.Get("X-Request-Id")] = true
	}

	// Over plain http the web pages' cookie has no __Host- prefix.
	cookie := http.Header{"Cookie": {"sekisho_session=" + tok}}
	s := e.callWith("GET", "/api/v1/session", cookie, nil).must(t, 200)
	if s.Body["user"].(map[string]any)["email"] != "alice@acme.test" {
		t.Fatalf("session by cookie: %s", s.Raw)
	}
	// A cross-site form post can't use the cookie to sign the user out.
	crossSite := http.Header{"Cookie": {"sekisho_session=" + tok}, "Sec-Fetch-Site": {"cross-site"}}
	if r := e.callWith("POST", "/api/v1/sign-out", crossSite, nil); r.Status != 403 {
		t.Fatalf("cross-site sign-out: %d %s", r.Status, r.Raw)
	}
	e.callWith("GET", "/api/v1/session", cookie, nil).must(t, 200)
	e.callWith("POST", "/api/v1/sign-out", cookie, nil).must(t, 204)
	acctWantError(t, e.callWith("GET", "/api/v1/session", cookie, nil), 401, "unauthenticated")
	acctWantError(t, e.callWith("GET", "/api/v1/session", http.Header{"Cookie": {"sekisho_session=forged"}}, nil), 401, "unauthenticated")
}

// TestAccountHealth checks /healthz and /readyz, which reports a database
// that stopped answering.
func TestAccountHealth(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctHealth(t, d) })
	}
}

func acctHealth(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	e.call("GET", "/healthz", "", nil).must(t, 200)
	e.call("GET", "/readyz", "", nil).must(t, 200)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	acctWantError(t, e.call("GET", "/readyz", "", nil), 503, "database_unavailable")
	e.call("GET", "/healthz", "", nil).must(t, 200)
}

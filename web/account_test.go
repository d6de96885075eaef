package web_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestAccountSetup covers the first run: a setup link exists only while the
// database has no workspace, every link works until one creates the
// workspace, a link works once, and
// it creates the workspace with a signed-in workspace admin.
func TestAccountSetup(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctSetup(t, d) })
	}
}

func acctSetup(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	ctx := context.Background()
	link1, err := e.svc.SetupLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	link2, err := e.svc.SetupLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := acctSetupToken.FindStringSubmatch(link1), acctSetupToken.FindStringSubmatch(link2)
	if m1 == nil || m2 == nil || m1[1] == m2[1] {
		t.Fatalf("setup links %q, %q", link1, link2)
	}
	const password = "lantern quarry mosaic 42"
	body := func(token, slug, password string) map[string]string {
		return map[string]string{"token": token, "workspace_slug": slug, "workspace_name": "Kaisha Example",
			"email": " Root@Kaisha.TEST ", "name": "Root", "password": password}
	}

	acctWantError(t, e.call("POST", "/api/v1/setup", "", body("not-a-token", "kaisha", password)), 404, "invalid_token")
	// A refused password leaves the token usable: the admin just retries.
	acctWantError(t, e.call("POST", "/api/v1/setup", "", body(m2[1], "kaisha", "too short")), 400, "password_too_short")
	acctWantError(t, e.call("POST", "/api/v1/setup", "", body(m2[1], "kaisha", "kaisha example forever")), 400, "password_personal")
	acctWantError(t, e.call("POST", "/api/v1/setup", "", body(m2[1], "kaisha", "my root@kaisha.test pw")), 400, "password_personal")

	r := e.call("POST", "/api/v1/setup", "", body(m2[1], "kaisha", password)).must(t, 201)
	if r.str("state") != "signed_in" || r.str("session_token") == "" {
		t.Fatalf("setup answer: %s", r.Raw)
	}
	s := e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(t, 200)
	u := s.Body["user"].(map[string]any)
	if s.str("role") != "workspace_admin" || u["email"] != "root@kaisha.test" || u["status"] != "active" ||
		s.Body["workspace"].(map[string]any)["slug"] != "kaisha" || s.Body["workspace"].(map[string]any)["name"] != "Kaisha Example" {
		t.Fatalf("session after setup: %s", s.Raw)
	}
	adminID := u["id"].(string)

	// The token works once, whatever the second request asks for, and the
	// other link died with the workspace's creation.
	acctWantError(t, e.call("POST", "/api/v1/setup", "", body(m2[1], "other", password)), 404, "invalid_token")
	acctWantError(t, e.call("POST", "/api/v1/setup", "", body(m1[1], "other", password)), 404, "invalid_token")
	// Once a workspace exists there is no setup link at all.
	if link, err := e.svc.SetupLink(ctx); err != nil || link != "" {
		t.Fatalf("SetupLink after setup = %q, %v", link, err)
	}
	admin := e.signIn("kaisha", "root@kaisha.test", password)
	ev := acctFindEvent(e, admin, "workspace.created", "success", "anonymous", "", adminID)
	if ev.Details["via"] != "setup" || ev.Details["slug"] != "kaisha" {
		t.Fatalf("workspace.created details: %+v", ev)
	}
	users := e.call("GET", "/api/v1/admin/users", admin, nil).must(t, 200).Body["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users after setup: %v", users)
	}
}

// TestAccountInvitation covers invitation links: emailed, single use,
// valid 7 days, and the user they create.
func TestAccountInvitation(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctInvitation(t, d) })
	}
}

func acctInvitation(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	adminID := acctUserID(e, admin)
	const bobPassword = "saffron kettle drizzle 9"

	id, token := acctCreate(e, admin, "Bob@Acme.test", "Bob", "member")
	if got := acctMailToken(t, e.mail, "bob@acme.test", acctSubjInvitation, "invitations"); got != token {
		t.Fatalf("mailed token %q, API token %q", got, token)
	}
	u := e.call("GET", "/api/v1/admin/users/"+id, admin, nil).must(t, 200).Body["user"].(map[string]any)
	if u["status"] != "invited" || u["email"] != "bob@acme.test" || u["joined_at"] != nil {
		t.Fatalf("invited user: %v", u)
	}

	// Before accepting, bob gets the answer of someone who does not exist.
	invited := acctSignIn(e, "acme", "bob@acme.test", bobPassword)
	unknown := acctSignIn(e, "acme", "nobody@acme.test", bobPassword)
	acctWantError(t, invited, 401, "invalid_credentials")
	if invited.Raw != unknown.Raw {
		t.Fatalf("invited user %q, unknown user %q", invited.Raw, unknown.Raw)
	}

	// One email, one user per workspace, however it is spelled.
	for _, email := range []string{"bob@acme.test", " BOB@ACME.TEST "} {
		acctWantError(t, e.call("POST", "/api/v1/admin/users", admin, map[string]string{"email": email}), 409, "email_taken")
	}

	acc := acctAccept(e, token, bobPassword).must(t, 200)
	if acc.Body["user"].(map[string]any)["status"] != "active" || acc.str("workspace") != "acme" {
		t.Fatalf("accept answer: %s", acc.Raw)
	}
	u = e.call("GET", "/api/v1/admin/users/"+id, admin, nil).must(t, 200).Body["user"].(map[string]any)
	if u["status"] != "active" || u["joined_at"] == nil {
		t.Fatalf("accepted user: %v", u)
	}
	// The link works once: a second use neither succeeds nor changes the password.
	acctWantError(t, acctAccept(e, token, "another fine password 2"), 404, "invalid_token")
	acctWantError(t, acctSignIn(e, "acme", "bob@acme.test", "another fine password 2"), 401, "invalid_credentials")
	e.signIn("acme", "bob@acme.test", bobPassword)

	// Seven days: the last minute still works, the end does not.
	_, carolToken := acctCreate(e, admin, "carol@acme.test", "", "member")
	daveID, daveToken := acctCreate(e, admin, "dave@acme.test", "", "member")
	e.clock.Add(7*24*time.Hour - time.Minute)
	acctAccept(e, carolToken, "marigold stencil 77 ok").must(t, 200)
	e.clock.Add(time.Minute)
	acctWantError(t, acctAccept(e, daveToken, "obsidian trellis 55 no"), 404, "invalid_token")
	admin = acctAdmin(e, "acme")
	if s := e.call("GET", "/api/v1/admin/users/"+daveID, admin, nil).must(t, 200).Body["user"].(map[string]any)["status"]; s != "invited" {
		t.Fatalf("dave after the link expired: %v", s)
	}
	acctWantError(t, acctSignIn(e, "acme", "dave@acme.test", "obsidian trellis 55 no"), 401, "invalid_credentials")

	acctFindEvent(e, admin, "user.invited", "success", "user", adminID, id)
	acctFindEvent(e, admin, "user.invitation_accepted", "success", "anonymous", "", id)

	// The same email in another workspace is another user with their own password.
	_, globex := e.workspace("globex")
	gid, gtoken := acctCreate(e, globex, "bob@acme.test", "Bob", "member")
	if gid == id {
		t.Fatal("one user in two workspaces")
	}
	const globexPassword = "walnut cathedral ripple 3"
	acctAccept(e, gtoken, globexPassword).must(t, 200)
	acctWantError(t, acctSignIn(e, "acme", "bob@acme.test", globexPassword), 401, "invalid_credentials")
	acctWantError(t, acctSignIn(e, "globex", "bob@acme.test", bobPassword), 401, "invalid_credentials")
	if got := acctUserID(e, e.signIn("acme", "bob@acme.test", bobPassword)); got != id {
		t.Fatalf("acme bob is %s, want %s", got, id)
	}
	if got := acctUserID(e, e.signIn("globex", "bob@acme.test", globexPassword)); got != gid {
		t.Fatalf("globex bob is %s, want %s", got, gid)
	}
}

// TestAccountPasswordRules checks SECURITY.md's password rules over the
// API: lengths in code points, common and personal passwords refused with
// the reason, and passwords compared whole, never truncated or folded.
func TestAccountPasswordRules(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctPasswordRules(t, d) })
	}
}

func acctPasswordRules(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")

	_, token := acctCreate(e, admin, "bob.smith@acme.test", "", "member")
	const japanese12 = "すずめのこえがきこえるよ"
	if utf8.RuneCountInString(japanese12) != 12 || len(japanese12) != 36 {
		t.Fatal("japanese12 is not 12 code points of 3 bytes")
	}
	refused := []struct{ password, code string }{
		{"elevenchars", "password_too_short"},
		{string([]rune(japanese12)[:11]), "password_too_short"}, // 33 bytes, 11 code points
		{strings.Repeat("b", 129), "password_too_long"},
		{strings.Repeat("😀", 129), "password_too_long"},
		{"Password1234", "password_common"},
		{"I am Bob.Smith, the builder", "password_personal"},
		{"x bob.smith@acme.test x", "password_personal"},
		{"my favourite place is ACME", "password_personal"},
		{"tab\tinside password", "password_not_printable"},
	}
	for _, c := range refused {
		r := acctAccept(e, token, c.password)
		acctWantError(t, r, 400, c.code)
		if f := r.Body["error"].(map[string]any)["field"]; f != "password" {
			t.Errorf("%.20q: field %v", c.password, f)
		}
	}
	// None of the refusals spent the link.
	acctAccept(e, token, japanese12).must(t, 200)
	e.signIn("acme", "bob.smith@acme.test", japanese12)

	long := "correct horse battery staple, then more words to go past the seventy-two bytes bcrypt keeps: done!!!"
	if len(long) != 100 {
		t.Fatalf("len %d", len(long))
	}
	accepted := []struct{ email, password string }{
		{"emoji@acme.test", strings.Repeat("😀", 128)}, // 512 bytes, the most a sign-in takes
		{"long@acme.test", long},
		{"spaces@acme.test", "  spaced out password  "},
	}
	for _, c := range accepted {
		_, tok := acctCreate(e, admin, c.email, "", "member")
		acctAccept(e, tok, c.password).must(t, 200)
		e.signIn("acme", c.email, c.password)
	}
	// Compared whole: no truncation, no case folding, no trimming.
	for _, c := range []struct{ email, password string }{
		{"long@acme.test", long[:72]},
		{"long@acme.test", long + "!"},
		{"long@acme.test", strings.ToUpper(long)},
		{"spaces@acme.test", "spaced out password"},
		{"emoji@acme.test", strings.Repeat("😀", 127)},
	} {
		acctWantError(t, acctSignIn(e, "acme", c.email, c.password), 401, "invalid_credentials")
	}

	// The same rules guard a password change, naming the field at fault.
	bob := e.signIn("acme", "bob.smith@acme.test", japanese12)
	for _, c := range refused[:5] {
		r := e.call("PUT", "/api/v1/me/password", bob, map[string]string{"current_password": japanese12, "new_password": c.password})
		acctWantError(t, r, 400, c.code)
		if f := r.Body["error"].(map[string]any)["field"]; f != "new_password" {
			t.Errorf("change to %.20q: field %v, want new_password", c.password, f)
		}
	}
	e.signIn("acme", "bob.smith@acme.test", japanese12)
}

// TestAccountSignInErrors checks that a failed sign-in says nothing about
// which part was wrong, and what is told only to someone who knows the
// password.
func TestAccountSignInErrors(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctSignInErrors(t, d) })
	}
}

func acctSignInErrors(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	adminID := acctUserID(e, admin)
	const password = "pebble orchard violin 5"
	id := e.invite(admin, "alice@acme.test", "member", password)

	wrong := acctSignIn(e, "acme", "alice@acme.test", password+"x")
	acctWantError(t, wrong, 401, "invalid_credentials")
	for _, r := range []resp{
		acctSignIn(e, "nowhere", "alice@acme.test", password),
		acctSignIn(e, "acme", "nobody@acme.test", password),
		acctSignIn(e, "acme", "alice@acme.test", strings.ToUpper(password)),
	} {
		if r.Status != wrong.Status || r.Raw != wrong.Raw || r.Header.Get("Retry-After") != "" {
			t.Fatalf("answer %d %q differs from a wrong password's %d %q", r.Status, r.Raw, wrong.Status, wrong.Raw)
		}
	}
	ev := acctFindEvent(e, admin, "user.sign_in", "failure", "anonymous", "", id)
	if ev.Details["reason"] != "invalid_credentials" || ev.Details["email"] != "alice@acme.test" {
		t.Fatalf("failure event: %+v", ev)
	}
	for _, ev := range acctAudit(e, admin, "type=user.sign_in") {
		if ev.Details["password"] != "" || strings.Contains(ev.UserAgent+strings.Join(acctValues(ev.Details), " "), password) {
			t.Fatalf("password in audit event %+v", ev)
		}
	}

	// Slug and email are not case-sensitive; the password is.
	e.signIn(" ACME ", "Alice@ACME.test", password)
	if ev := acctFindEvent(e, admin, "user.sign_in", "success", "anonymous", "", id); ev.Details["aal"] != "aal1" {
		t.Fatalf("success event: %+v", ev)
	}

	e.call("PATCH", "/api/v1/admin/users/"+id, admin, map[string]string{"status": "disabled"}).must(t, 200)
	acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", password), 403, "account_disabled")
	// Without the password, a disabled account looks like any other.
	if r := acctSignIn(e, "acme", "alice@acme.test", "not her password 1"); r.Raw != wrong.Raw {
		t.Fatalf("disabled user, wrong password: %s", r.Raw)
	}
	acctFindEvent(e, admin, "user.disabled", "success", "user", adminID, id)
	acctFindEvent(e, admin, "user.sign_in", "denied", "anonymous", "", id)
}

func acctValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

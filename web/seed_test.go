package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// The seed (shared/seed/README.md) as a test suite: every lockout case of
// the help-center article, played over HTTP on each database, under an
// optional and a required MFA policy. Each case ends by showing what the
// seed could not promise: the user is back in, the workspace's policy was
// never switched off, the user was never deleted, every step is in the
// audit log with its actor, and every factor change mailed the user once.

// seedPolicy is the workspace policy a case runs under.
type seedPolicy struct {
	name     string
	required bool
	grace    int // days
}

var seedPolicies = []seedPolicy{
	{"optional", false, 0},
	// A grace period that is still running for everyone: recovery after a
	// reset must not wait for it, nor hide behind it.
	{"required", true, 7},
}

// The notifications of the English templates (auth/notify.go).
const (
	seedSubjEnrolled = "An authenticator was added to your account"
	seedSubjRemoved  = "An authenticator was removed from your account"
	seedSubjReset    = "Your multi-factor authentication was reset"
	seedSubjRecovery = "A recovery code was used to sign in"
	seedSubjInvite   = "You are invited to sekisho"
)

const seedPassword = "violet harbor quartz 42"

// seedPerson is a user of a seed workspace and what they hold.
type seedPerson struct {
	id, email, password string
	token               string   // their latest session
	seed                []byte   // the authenticator app they hold now
	authID              string   // its id
	codes               []string // their recovery codes
}

// seedWorld is one workspace of a running sekisho, with a workspace admin
// who has MFA.
type seedWorld struct {
	t     *testing.T
	e     *env
	pol   seedPolicy
	slug  string
	wsID  string
	admin *seedPerson
	// enforcedSince is mfa_enforced_since as the API gave it when the
	// policy was switched on; a policy toggled off and on again would
	// change it.
	enforcedSince string
}

func seedOpen(t *testing.T, d store.Dialect, pol seedPolicy) *seedWorld {
	return seedIn(newEnv(t, d), "acme", pol)
}

// seedIn creates workspace slug in e; its admin enrolls an authenticator
// app at once, so they may switch the policy on.
func seedIn(e *env, slug string, pol seedPolicy) *seedWorld {
	e.t.Helper()
	wsID, tok := e.workspace(slug)
	w := &seedWorld{t: e.t, e: e, pol: pol, slug: slug, wsID: wsID}
	w.admin = &seedPerson{email: "admin@" + slug + ".test", password: adminPassword, token: tok}
	w.admin.id = w.sessionUserID(tok)
	w.enrollSettings(w.admin, "admin phone", "")
	return w
}

func (w *seedWorld) sessionUserID(tok string) string {
	w.t.Helper()
	r := w.e.call("GET", "/api/v1/session", tok, nil).must(w.t, 200)
	return seedObj(r.Body, "user")["id"].(string)
}

// person has the admin invite a user with role, who accepts and signs in.
func (w *seedWorld) person(role, name string) *seedPerson {
	w.t.Helper()
	p := &seedPerson{email: name + "@" + w.slug + ".test", password: seedPassword}
	p.id = w.e.invite(w.adminTok(), p.email, role, p.password)
	p.token = w.e.signIn(w.slug, p.email, p.password)
	return p
}

// enrolled is person with an authenticator app and recovery codes.
func (w *seedWorld) enrolled(role, name string) *seedPerson {
	w.t.Helper()
	p := w.person(role, name)
	if codes := w.enrollSettings(p, name+"'s phone", ""); len(codes) != 10 {
		w.t.Fatalf("%s: %d recovery codes with the first factor, want 10", name, len(codes))
	}
	return p
}

// enrollSettings adds an authenticator app from account settings with p's
// session and returns the recovery codes that came with it (only with a
// first factor).
func (w *seedWorld) enrollSettings(p *seedPerson, name, accessCode string) []string {
	w.t.Helper()
	body := map[string]string{"name": name}
	if accessCode != "" {
		body["access_code"] = accessCode
	}
	r := w.e.call("POST", "/api/v1/me/mfa/totp", p.token, body).must(w.t, 201)
	seed := decodeSeed(w.t, r.str("secret"))
	if !strings.HasPrefix(r.str("otpauth_uri"), "otpauth://totp/") {
		w.t.Fatalf("otpauth_uri: %s", r.Raw)
	}
	c := w.e.call("POST", "/api/v1/me/mfa/totp/"+r.str("id")+"/confirm", p.token, map[string]string{"code": w.e.code(seed)}).must(w.t, 200)
	p.token = c.str("session_token") // aal2 under a new token
	p.seed, p.authID = seed, r.str("id")
	codes := seedStrings(c.Body["recovery_codes"])
	if len(codes) > 0 {
		p.codes = codes
	}
	return codes
}

// signInStart sends p's password; a correct password is never refused.
func (w *seedWorld) signInStart(p *seedPerson) resp {
	w.t.Helper()
	return w.e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": w.slug, "email": p.email, "password": p.password}).must(w.t, 200)
}

// signInMFA signs p in with password and a code of their authenticator
// app and returns the aal2 session.
func (w *seedWorld) signInMFA(p *seedPerson) string {
	w.t.Helper()
	r := w.signInStart(p)
	if r.str("state") != "mfa_required" {
		w.t.Fatalf("%s: state %q, want mfa_required: %s", p.email, r.str("state"), r.Raw)
	}
	s := w.e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": w.e.code(p.seed)}).must(w.t, 200)
	w.wantAAL(s.str("session_token"), "aal2")
	return s.str("session_token")
}

// forcedEnroll walks p through the enrollment of a sign-in that stopped
// after the password, and returns the recovery codes it issued.
func (w *seedWorld) forcedEnroll(p *seedPerson, flow, accessCode string) []string {
	w.t.Helper()
	body := map[string]string{"flow_token": flow}
	if accessCode != "" {
		body["access_code"] = accessCode
	}
	r := w.e.call("POST", "/api/v1/sign-in/enroll", "", body).must(w.t, 200)
	if r.str("secret") == "" || !strings.HasPrefix(r.str("otpauth_uri"), "otpauth://totp/") {
		w.t.Fatalf("enroll: %s", r.Raw)
	}
	seed := decodeSeed(w.t, r.str("secret"))
	c := w.e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": w.e.code(seed)}).must(w.t, 200)
	if c.str("state") != "signed_in" {
		w.t.Fatalf("enroll/confirm: %s", c.Raw)
	}
	codes := seedStrings(c.Body["recovery_codes"])
	if len(codes) != 10 {
		w.t.Fatalf("forced enrollment gave %d recovery codes, want 10: %s", len(codes), c.Raw)
	}
	w.wantAAL(c.str("session_token"), "aal2")
	p.seed, p.codes, p.token = seed, codes, c.str("session_token")
	p.authID = w.onlyAuthenticator(p)
	return codes
}

// onlyAuthenticator returns the id of p's one confirmed authenticator.
func (w *seedWorld) onlyAuthenticator(p *seedPerson) string {
	w.t.Helper()
	auths := w.myAuthenticators(p)
	if len(auths) != 1 {
		w.t.Fatalf("%s has %d authenticators, want 1", p.email, len(auths))
	}
	return auths[0]
}

// myAuthenticators lists the ids of p's confirmed authenticators, as
// account settings show them.
func (w *seedWorld) myAuthenticators(p *seedPerson) []string {
	w.t.Helper()
	r := w.e.call("GET", "/api/v1/me/mfa", p.token, nil).must(w.t, 200)
	var ids []string
	for _, a := range r.Body["authenticators"].([]any) {
		m := a.(map[string]any)
		if m["confirmed"] == true {
			ids = append(ids, m["id"].(string))
		}
	}
	if enabled := r.Body["enabled"] == true; enabled != (len(ids) > 0) {
		w.t.Fatalf("me/mfa: enabled %v with %d authenticators: %s", enabled, len(ids), r.Raw)
	}
	return ids
}

func (w *seedWorld) wantAAL(tok, aal string) {
	w.t.Helper()
	if r := w.e.call("GET", "/api/v1/session", tok, nil).must(w.t, 200); r.str("aal") != aal {
		w.t.Fatalf("session aal %q, want %s", r.str("aal"), aal)
	}
}

// adminTok returns a live session of the workspace admin, signing them in
// again when days have passed.
func (w *seedWorld) adminTok() string {
	w.t.Helper()
	if w.e.call("GET", "/api/v1/session", w.admin.token, nil).Status == 200 {
		return w.admin.token
	}
	if w.admin.seed == nil {
		w.admin.token = w.e.signIn(w.slug, w.admin.email, w.admin.password)
	} else {
		w.admin.token = w.signInMFA(w.admin)
	}
	return w.admin.token
}

// setPolicy has the workspace admin change Require MFA.
func (w *seedWorld) setPolicy(require bool, grace int) resp {
	w.t.Helper()
	r := w.e.call("PATCH", "/api/v1/admin/workspace", w.adminTok(),
		map[string]any{"require_mfa": require, "mfa_grace_days": grace, "password": w.admin.password}).must(w.t, 200)
	if r.Body["require_mfa"] != require || r.Body["mfa_grace_days"] != float64(grace) {
		w.t.Fatalf("policy: %s", r.Raw)
	}
	if require {
		// Switching on mails the users without MFA from the background;
		// wait for it, or a later step (a reset) may find its mail among
		// its own.
		w.e.svc.Wait()
		w.enforcedSince = r.str("mfa_enforced_since")
		if w.enforcedSince == "" {
			w.t.Fatalf("no mfa_enforced_since: %s", r.Raw)
		}
	}
	if n := w.audited("workspace.policy_changed", "user", w.admin.id, ""); n == 0 {
		w.t.Fatal("policy change not audited")
	}
	return r
}

// applyPolicy switches the case's policy on, after its users set up MFA
// as the seed's users had.
func (w *seedWorld) applyPolicy() {
	w.t.Helper()
	if w.pol.required {
		w.setPolicy(true, w.pol.grace)
	}
}

// reset has by reset p's MFA through the admin API.
func (w *seedWorld) reset(by *seedPerson, p *seedPerson) resp {
	w.t.Helper()
	return w.e.call("DELETE", "/api/v1/admin/users/"+p.id+"/mfa", by.token, map[string]string{"password": by.password})
}

// mark is where the next step's mail starts.
func (w *seedWorld) mark() int { return len(w.e.mail.Messages()) }

// mailedOnce checks that exactly one email went out since mark, to p,
// with subject.
func (w *seedWorld) mailedOnce(mark int, p *seedPerson, subject string) {
	w.t.Helper()
	msgs := w.e.mail.Messages()[mark:]
	if len(msgs) != 1 || !strings.EqualFold(msgs[0].To, p.email) || msgs[0].Subject != subject {
		var got []string
		for _, m := range msgs {
			got = append(got, m.To+": "+m.Subject)
		}
		w.t.Fatalf("mail since the step: %q, want exactly one to %s: %q", got, p.email, subject)
	}
}

// mailedNone checks that no email went out since mark.
func (w *seedWorld) mailedNone(mark int) {
	w.t.Helper()
	if msgs := w.e.mail.Messages()[mark:]; len(msgs) != 0 {
		w.t.Fatalf("unexpected mail: %+v", msgs)
	}
}

// seedEvent is an audit event as the API returns it.
type seedEvent struct {
	Type      string            `json:"type"`
	Result    string            `json:"result"`
	ActorKind string            `json:"actor_kind"`
	ActorID   string            `json:"actor_id"`
	TargetID  string            `json:"target_id"`
	Reason    string            `json:"reason"`
	Details   map[string]string `json:"details"`
}

// events returns the workspace's audit events of typ (on target, if set),
// newest first, as its admin reads them.
func (w *seedWorld) events(typ, target string) []seedEvent {
	w.t.Helper()
	q := url.Values{"type": {typ}, "limit": {"200"}}
	if target != "" {
		q.Set("target", target)
	}
	r := w.e.call("GET", "/api/v1/admin/audit-events?"+q.Encode(), w.adminTok(), nil).must(w.t, 200)
	var out struct {
		Events []seedEvent `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &out); err != nil {
		w.t.Fatal(err)
	}
	return out.Events
}

// audited counts successful events of typ by the actor on target.
func (w *seedWorld) audited(typ, actorKind, actorID, target string) int {
	w.t.Helper()
	n := 0
	for _, ev := range w.events(typ, target) {
		if ev.ActorKind == actorKind && ev.ActorID == actorID && ev.Result == sekisho.ResultSuccess {
			n++
		}
	}
	return n
}

func (w *seedWorld) wantAudited(typ, actorKind, actorID, target string, want int) {
	w.t.Helper()
	if n := w.audited(typ, actorKind, actorID, target); n != want {
		w.t.Fatalf("audit: %d %s events by %s %s on %s, want %d: %+v", n, typ, actorKind, actorID, target, want, w.events(typ, target))
	}
}

// wantEnrolled checks the audit log's enrollments of p: from account
// settings the actor is p; in a sign-in flow, before any session, it is
// the anonymous client that proved p's password (the target says whom).
func (w *seedWorld) wantEnrolled(p *seedPerson, inSettings, inSignIn int) {
	w.t.Helper()
	w.wantAudited("mfa.enrolled", "user", p.id, p.id, inSettings)
	w.wantAudited("mfa.enrolled", "anonymous", "", p.id, inSignIn)
}

// user returns what the admin console shows of p.
func (w *seedWorld) user(p *seedPerson) resp {
	w.t.Helper()
	return w.e.call("GET", "/api/v1/admin/users/"+p.id, w.adminTok(), nil).must(w.t, 200)
}

// finish shows how the case ended: p is the same user as before, the
// policy is what it was and was never switched off in between (a toggle
// would move mfa_enforced_since), and nobody was deleted.
func (w *seedWorld) finish(p *seedPerson, wantRequire bool) {
	w.t.Helper()
	ws := w.e.call("GET", "/api/v1/admin/workspace", w.adminTok(), nil).must(w.t, 200)
	if ws.Body["require_mfa"] != wantRequire {
		w.t.Fatalf("require_mfa is %v, want %v", ws.Body["require_mfa"], wantRequire)
	}
	if wantRequire && ws.str("mfa_enforced_since") != w.enforcedSince {
		w.t.Fatalf("mfa_enforced_since moved from %s to %s: the policy was toggled", w.enforcedSince, ws.str("mfa_enforced_since"))
	}
	// Once switched on, every later policy change kept it on (refused
	// attempts are audited too, as denials, and changed nothing).
	var evs []seedEvent
	for _, ev := range w.events("workspace.policy_changed", "") {
		if ev.Result == "success" {
			evs = append(evs, ev)
		}
	}
	oldestOn := len(evs)
	for i, ev := range evs {
		if ev.Details["require_mfa"] == "true" {
			oldestOn = i
		}
	}
	if wantRequire {
		for _, ev := range evs[:oldestOn] {
			if ev.Details["require_mfa"] != "true" {
				w.t.Fatalf("the policy was switched off: %+v", evs)
			}
		}
	} else if oldestOn != len(evs) {
		w.t.Fatalf("the policy was switched on: %+v", evs)
	}
	u := seedObj(w.user(p).Body, "user")
	if u["id"] != p.id || u["email"] != p.email || u["status"] != "active" {
		w.t.Fatalf("user changed: %v", u)
	}
	// The same email is still the same one user.
	list := w.e.call("GET", "/api/v1/admin/users?q="+url.QueryEscape(p.email), w.adminTok(), nil).must(w.t, 200)
	if users := list.Body["users"].([]any); len(users) != 1 || users[0].(map[string]any)["id"] != p.id {
		w.t.Fatalf("users with %s: %s", p.email, list.Raw)
	}
	if ev := w.events("user.deleted", ""); len(ev) != 0 {
		w.t.Fatalf("a user was deleted: %+v", ev)
	}
}

func seedObj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func seedStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

func seedTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// TestSeed plays each case of the seed on each database under each policy.
func TestSeed(t *testing.T) {
	cases := []struct {
		name string
		run  func(w *seedWorld)
	}{
		{"case1-lost-device/recovery-code", seedLostDeviceRecoveryCode},
		{"case1-lost-device/admin-reset", seedLostDeviceAdminReset},
		{"case2-changed-device", seedChangedDevice},
		{"case3-removed-then-enforced", seedRemovedThenEnforced},
		{"locked-out-workspace-admin", seedLockedOutAdmin},
		{"reset-with-access-code", seedAccessCode},
		{"attacker", seedAttacker},
		{"flow9-delete-and-recreate", seedDeleteRecreate},
	}
	for _, d := range storetest.Dialects {
		for _, pol := range seedPolicies {
			for _, c := range cases {
				t.Run(string(d)+"/"+pol.name+"/"+c.name, func(t *testing.T) {
					t.Parallel()
					c.run(seedOpen(t, d, pol))
				})
			}
		}
	}
}

// Case 1, self-service: the device is lost, a recovery code signs the
// user in at aal2, they enroll a new authenticator and remove the old one.
// No admin is needed.
func seedLostDeviceRecoveryCode(w *seedWorld) {
	t, e := w.t, w.e
	u := w.enrolled("member", "alice")
	w.applyPolicy()
	lost, lostSeed := u.authID, u.seed

	r := w.signInStart(u)
	if r.str("state") != "mfa_required" || !slices.Contains(seedStrings(r.Body["methods"]), "recovery_code") {
		t.Fatalf("sign-in: %s", r.Raw)
	}
	m := w.mark()
	s := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "recovery_code": u.codes[0]}).must(t, 200)
	if s.str("state") != "signed_in" || s.Body["recovery_codes_remaining"] != float64(9) {
		t.Fatalf("recovery sign-in: %s", s.Raw)
	}
	w.mailedOnce(m, u, seedSubjRecovery)
	u.token = s.str("session_token")
	w.wantAAL(u.token, "aal2")

	m = w.mark()
	if codes := w.enrollSettings(u, "new phone", ""); len(codes) != 0 {
		t.Fatalf("a second factor issued %d recovery codes", len(codes))
	}
	w.mailedOnce(m, u, seedSubjEnrolled)
	if ids := w.myAuthenticators(u); len(ids) != 2 {
		t.Fatalf("authenticators %v, want the lost and the new one", ids)
	}
	m = w.mark()
	e.call("DELETE", "/api/v1/me/mfa/totp/"+lost, u.token, nil).must(t, 204)
	w.mailedOnce(m, u, seedSubjRemoved)
	if ids := w.myAuthenticators(u); !slices.Equal(ids, []string{u.authID}) {
		t.Fatalf("authenticators %v, want only the new %s", ids, u.authID)
	}
	mfa := e.call("GET", "/api/v1/me/mfa", u.token, nil).must(t, 200)
	if mfa.Body["recovery_codes_remaining"] != float64(9) {
		t.Fatalf("me/mfa: %s", mfa.Raw)
	}

	// The lost phone no longer signs in, the spent code neither; the new
	// phone does.
	r = w.signInStart(u)
	e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(lostSeed)}).must(t, 401)
	e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "recovery_code": u.codes[0]}).must(t, 401)
	u.token = w.signInMFA(u)

	// Spending the code is a sign-in step, before any session exists.
	w.wantAudited("mfa.recovery_code_used", "anonymous", "", u.id, 1)
	w.wantEnrolled(u, 2, 0) // the first phone, then the new one
	w.wantAudited("mfa.removed", "user", u.id, u.id, 1)
	w.wantAudited("mfa.reset", "user", w.admin.id, u.id, 0)
	w.finish(u, w.pol.required)
}

// Case 1 with an admin: the seed's 解除 by a user admin and then by a
// workspace admin, while the policy stays as it is. The user is signed out
// and mailed; under a required policy they enroll at the next sign-in,
// under an optional one they sign in and enroll from account settings.
func seedLostDeviceAdminReset(w *seedWorld) {
	t, e := w.t, w.e
	ua := w.enrolled("user_admin", "uma")
	u := w.enrolled("member", "bob")
	w.applyPolicy()
	ua.token = w.signInMFA(ua)

	for _, by := range []*seedPerson{ua, w.admin} {
		w.adminTok()
		u.token = w.signInMFA(u)
		flowBefore := w.signInStart(u).str("flow_token")

		m := w.mark()
		r := w.reset(by, u).must(t, 200)
		if _, ok := r.Body["access_code"]; ok {
			t.Fatalf("access code without the workspace asking for one: %s", r.Raw)
		}
		w.mailedOnce(m, u, seedSubjReset)
		e.call("GET", "/api/v1/session", u.token, nil).must(t, 401)
		// A sign-in that was waiting for the lost phone is over too.
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flowBefore, "recovery_code": u.codes[1]}).must(t, 401)
		d := w.user(u)
		if seedObj(d.Body, "user")["mfa_enabled"] != false || len(d.Body["authenticators"].([]any)) != 0 || d.Body["recovery_codes_remaining"] != float64(0) {
			t.Fatalf("after reset: %s", d.Raw)
		}
		w.wantAudited("mfa.reset", "user", by.id, u.id, 1)

		r = w.signInStart(u)
		m = w.mark()
		if w.pol.required {
			// The grace period that still runs for others is over for a
			// reset user: enrollment comes before any session.
			if r.str("state") != "mfa_enrollment_required" || r.str("session_token") != "" {
				t.Fatalf("sign-in after reset: %s", r.Raw)
			}
			w.forcedEnroll(u, r.str("flow_token"), "")
		} else {
			if r.str("state") != "signed_in" || r.Body["mfa_enrollment_due_at"] != nil {
				t.Fatalf("sign-in after reset: %s", r.Raw)
			}
			u.token = r.str("session_token")
			w.wantAAL(u.token, "aal1")
			if codes := w.enrollSettings(u, "new phone", ""); len(codes) != 10 {
				t.Fatalf("%d recovery codes, want 10", len(codes))
			}
			w.wantAAL(u.token, "aal2")
		}
		w.mailedOnce(m, u, seedSubjEnrolled)
		u.token = w.signInMFA(u)
	}
	if w.pol.required {
		w.wantEnrolled(u, 1, 2)
	} else {
		w.wantEnrolled(u, 3, 0)
	}
	w.finish(u, w.pol.required)
}

// Case 2: the new device is at hand. The user adds it while signed in,
// then removes the old one, and holds a factor at every moment.
func seedChangedDevice(w *seedWorld) {
	t, e := w.t, w.e
	u := w.enrolled("member", "carol")
	w.applyPolicy()
	u.token = w.signInMFA(u)
	old := u.authID

	if w.pol.required {
		// The wrong order is refused rather than leaving zero factors.
		m := w.mark()
		r := e.call("DELETE", "/api/v1/me/mfa/totp/"+old, u.token, nil).must(t, 409)
		if r.code() != "mfa_required_by_workspace" {
			t.Fatalf("remove last factor: %s", r.Raw)
		}
		w.mailedNone(m)
	}
	m := w.mark()
	w.enrollSettings(u, "new phone", "")
	w.mailedOnce(m, u, seedSubjEnrolled)
	if ids := w.myAuthenticators(u); len(ids) != 2 {
		t.Fatalf("authenticators %v, want 2", ids)
	}
	m = w.mark()
	e.call("DELETE", "/api/v1/me/mfa/totp/"+old, u.token, nil).must(t, 204)
	w.mailedOnce(m, u, seedSubjRemoved)
	if ids := w.myAuthenticators(u); !slices.Equal(ids, []string{u.authID}) {
		t.Fatalf("authenticators %v, want only %s", ids, u.authID)
	}
	// The recovery codes of the first factor stay valid.
	mfa := e.call("GET", "/api/v1/me/mfa", u.token, nil).must(t, 200)
	if mfa.Body["recovery_codes_remaining"] != float64(10) {
		t.Fatalf("me/mfa: %s", mfa.Raw)
	}
	if seedObj(w.user(u).Body, "user")["mfa_enabled"] != true {
		t.Fatal("the admin console shows no MFA")
	}

	if w.pol.required {
		// Now the new phone is the last factor: neither it nor all MFA
		// can be removed while the workspace requires it.
		m = w.mark()
		r := e.call("DELETE", "/api/v1/me/mfa/totp/"+u.authID, u.token, nil).must(t, 409)
		if r.code() != "mfa_required_by_workspace" {
			t.Fatalf("remove last factor: %s", r.Raw)
		}
		r = e.call("DELETE", "/api/v1/me/mfa", u.token, nil).must(t, 409)
		if r.code() != "mfa_required_by_workspace" {
			t.Fatalf("remove all MFA: %s", r.Raw)
		}
		w.mailedNone(m)
		if ids := w.myAuthenticators(u); len(ids) != 1 {
			t.Fatalf("authenticators %v after refused removals", ids)
		}
	}
	u.token = w.signInMFA(u)
	w.wantEnrolled(u, 2, 0)
	w.wantAudited("mfa.removed", "user", u.id, u.id, 1)
	w.finish(u, w.pol.required)
}

// Case 3: the user set MFA up, removed it while it was optional, and then
// the workspace made it mandatory. The seed locked them out; here they sign
// in through the grace period and enroll after it, or at once with 0 grace
// days.
func seedRemovedThenEnforced(w *seedWorld) {
	if !w.pol.required {
		// Nothing is enforced: the history does not matter.
		u := w.setUpThenRemove("dave")
		for range 2 {
			r := w.signInStart(u)
			if r.str("state") != "signed_in" || r.Body["mfa_enrollment_due_at"] != nil {
				w.t.Fatalf("sign-in: %s", r.Raw)
			}
			w.e.clock.Add(30 * 24 * time.Hour)
		}
		w.finish(u, false)
		return
	}
	seedEnforcedAfterRemoval(w, w.pol.grace)
	// The same with 0 grace days, in a second workspace of the same server.
	seedEnforcedAfterRemoval(seedIn(w.e, "initech", w.pol), 0)
}

// setUpThenRemove creates a member who enrolls and then removes all MFA
// while it is optional.
func (w *seedWorld) setUpThenRemove(name string) *seedPerson {
	t := w.t
	u := w.enrolled("member", name)
	m := w.mark()
	w.e.call("DELETE", "/api/v1/me/mfa", u.token, nil).must(t, 204)
	w.mailedOnce(m, u, seedSubjRemoved)
	if ids := w.myAuthenticators(u); len(ids) != 0 {
		t.Fatalf("authenticators %v after removing all", ids)
	}
	w.wantAudited("mfa.removed_all", "user", u.id, u.id, 1)
	return u
}

func seedEnforcedAfterRemoval(w *seedWorld, grace int) {
	t, e := w.t, w.e
	u := w.setUpThenRemove("dave")
	// A session from before enforcement.
	r := w.signInStart(u)
	if r.str("state") != "signed_in" {
		t.Fatalf("sign-in while optional: %s", r.Raw)
	}
	before := r.str("session_token")

	p := w.setPolicy(true, grace)
	if p.Body["users_without_mfa"] != float64(1) {
		t.Fatalf("users_without_mfa: %s", p.Raw)
	}
	due := seedTime(t, w.enforcedSince).AddDate(0, 0, grace)

	if grace > 0 {
		// Inside the grace period: signed in, told when MFA becomes
		// mandatory, in the sign-in answer and in every session check.
		checkDue := func(r resp, field string) {
			t.Helper()
			got, _ := r.Body[field].(string)
			if got == "" || !seedTime(t, got).Equal(due) {
				t.Fatalf("%s = %q, want %s: %s", field, got, due, r.Raw)
			}
		}
		checkDue(e.call("GET", "/api/v1/session", before, nil).must(t, 200), "mfa_enrollment_due_at")
		r := w.signInStart(u)
		if r.str("state") != "signed_in" {
			t.Fatalf("sign-in in the grace period: %s", r.Raw)
		}
		checkDue(r, "mfa_enrollment_due_at")
		checkDue(e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(t, 200), "mfa_enrollment_due_at")

		// The last sign-in of the grace period, ten minutes before it ends.
		e.clock.Add(due.Sub(e.clock.Now()) - 10*time.Minute)
		r = w.signInStart(u)
		if r.str("state") != "signed_in" {
			t.Fatalf("sign-in at the end of the grace period: %s", r.Raw)
		}
		checkDue(r, "mfa_enrollment_due_at")
		before = r.str("session_token")
		e.call("GET", "/api/v1/session", before, nil).must(t, 200)
		e.clock.Add(11 * time.Minute)
	}
	// The grace is over: the old password-only session is no longer
	// accepted, and says why.
	s := e.call("GET", "/api/v1/session", before, nil).must(t, 401)
	if s.code() != "mfa_enrollment_required" {
		t.Fatalf("old session after the grace: %s", s.Raw)
	}
	r = w.signInStart(u)
	if r.str("state") != "mfa_enrollment_required" || r.str("session_token") != "" {
		t.Fatalf("sign-in after the grace: %s", r.Raw)
	}
	m := w.mark()
	w.forcedEnroll(u, r.str("flow_token"), "")
	w.mailedOnce(m, u, seedSubjEnrolled)
	if sess := e.call("GET", "/api/v1/session", u.token, nil).must(t, 200); sess.Body["mfa_enrollment_due_at"] != nil {
		t.Fatalf("due date after enrolling: %s", sess.Raw)
	}
	u.token = w.signInMFA(u)
	w.wantEnrolled(u, 1, 1)
	w.finish(u, true)
}

// A workspace admin who lost their device: another workspace admin resets
// them, never a user admin and never themself; where there is no other
// admin, the vendor's support team uses the operator CLI, with a reason.
func seedLockedOutAdmin(w *seedWorld) {
	t, e := w.t, w.e
	a := w.admin
	b := w.enrolled("workspace_admin", "bea")
	ua := w.enrolled("user_admin", "uma")
	w.applyPolicy()
	b.token, ua.token = w.signInMFA(b), w.signInMFA(ua)

	m := w.mark()
	if r := w.reset(ua, a).must(t, 403); r.code() != "forbidden" {
		t.Fatalf("user admin resets a workspace admin: %s", r.Raw)
	}
	if r := w.reset(b, b).must(t, 403); r.code() != "cannot_reset_own_mfa" {
		t.Fatalf("self reset: %s", r.Raw)
	}
	w.mailedNone(m)
	w.reset(b, a).must(t, 200)
	w.mailedOnce(m, a, seedSubjReset)
	e.call("GET", "/api/v1/session", a.token, nil).must(t, 401)
	w.admin = b // a can't read the audit log until they are back
	w.wantAudited("mfa.reset", "user", b.id, a.id, 1)
	w.wantAudited("mfa.reset", "user", ua.id, a.id, 0)
	w.recoverAfterReset(a, "")
	w.admin = a
	w.finish(a, w.pol.required)

	// A workspace with one admin: only the operator can help.
	s := seedIn(e, "solo", w.pol)
	s.applyPolicy()
	ctx := context.Background()
	for _, reason := range []string{"", "   "} {
		_, err := e.svc.ResetMFA(ctx, sekisho.Operator("support", reason), s.wsID, s.admin.id)
		if sekisho.CodeOf(err) != "reason_required" || sekisho.KindOf(err) != sekisho.KindInvalid {
			t.Fatalf("operator reset with reason %q: %v, want reason_required (400)", reason, err)
		}
	}
	m = s.mark()
	code, err := e.svc.ResetMFA(ctx, sekisho.Operator("support", "ticket 123"), s.wsID, s.admin.id)
	if err != nil || code != "" {
		t.Fatalf("operator reset: %q, %v", code, err)
	}
	s.mailedOnce(m, s.admin, seedSubjReset)
	e.call("GET", "/api/v1/session", s.admin.token, nil).must(t, 401)
	s.recoverAfterReset(s.admin, "")
	var found bool
	for _, ev := range s.events("mfa.reset", s.admin.id) {
		if ev.ActorKind == "operator" && ev.ActorID == "support" && ev.Reason == "ticket 123" && ev.Result == sekisho.ResultSuccess {
			found = true
		}
	}
	if !found {
		t.Fatalf("operator reset not audited with its reason: %+v", s.events("mfa.reset", ""))
	}
	s.finish(s.admin, w.pol.required)
}

// recoverAfterReset has p sign in after an MFA reset and set up a new
// authenticator: at the next sign-in under a required policy, from account
// settings under an optional one.
func (w *seedWorld) recoverAfterReset(p *seedPerson, accessCode string) {
	w.t.Helper()
	r := w.signInStart(p)
	m := w.mark()
	if w.pol.required {
		if r.str("state") != "mfa_enrollment_required" {
			w.t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		w.forcedEnroll(p, r.str("flow_token"), accessCode)
	} else {
		if r.str("state") != "signed_in" {
			w.t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		p.token = r.str("session_token")
		w.enrollSettings(p, "new phone", accessCode)
	}
	w.mailedOnce(m, p, seedSubjEnrolled)
	p.token = w.signInMFA(p)
}

// A reset in a workspace that asks for an access code: whoever knows only
// the password can't enroll their own phone.
func seedAccessCode(w *seedWorld) {
	t, e := w.t, w.e
	u := w.enrolled("member", "erin")
	w.applyPolicy()
	p := e.call("PATCH", "/api/v1/admin/workspace", w.adminTok(), map[string]any{"reset_requires_access_code": true, "password": adminPassword}).must(t, 200)
	if p.Body["reset_requires_access_code"] != true || p.Body["require_mfa"] != w.pol.required {
		t.Fatalf("policy: %s", p.Raw)
	}
	var audited bool
	for _, ev := range w.events("workspace.policy_changed", "") {
		audited = audited || ev.Details["reset_requires_access_code"] == "true" && ev.ActorID == w.admin.id
	}
	if !audited {
		t.Fatal("access-code policy not audited")
	}

	m := w.mark()
	r := w.reset(w.admin, u).must(t, 200)
	code := r.str("access_code")
	if code == "" {
		t.Fatalf("no access code: %s", r.Raw)
	}
	w.mailedOnce(m, u, seedSubjReset)
	if msg := e.mail.Messages()[m]; strings.Contains(msg.Text, code) || strings.Contains(msg.Text, strings.ReplaceAll(code, "-", "")) {
		t.Fatal("the access code was mailed: it must reach the user another way")
	}
	if w.user(u).Body["access_code_pending"] != true {
		t.Fatal("access code not pending")
	}
	wrong := "ABCD-EFGH"
	if wrong == code {
		wrong = "HGFE-DCBA"
	}

	if w.pol.required {
		r := w.signInStart(u)
		if r.str("state") != "mfa_enrollment_required" || r.Body["access_code_required"] != true {
			t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		flow := r.str("flow_token")
		enroll := func(code string) resp {
			return e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow, "access_code": code})
		}
		if r := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}).must(t, 400); r.code() != "access_code_required" {
			t.Fatalf("enroll without code: %s", r.Raw)
		}
		// Wrong codes count toward the flow's five failures.
		for i := 1; i <= 4; i++ {
			if r := enroll(wrong).must(t, 400); r.code() != "invalid_access_code" {
				t.Fatalf("wrong code %d: %s", i, r.Raw)
			}
		}
		if r := enroll(wrong).must(t, 401); r.code() != "flow_ended" {
			t.Fatalf("fifth wrong code: %s", r.Raw)
		}
		if r := enroll(code).must(t, 401); r.code() != "invalid_flow" {
			t.Fatalf("right code in an ended flow: %s", r.Raw)
		}
		// A new sign-in, and the code as the user might type it.
		r = w.signInStart(u)
		m = w.mark()
		w.forcedEnroll(u, r.str("flow_token"), strings.ToLower(strings.ReplaceAll(code, "-", " ")))
		w.mailedOnce(m, u, seedSubjEnrolled)
	} else {
		r := w.signInStart(u)
		if r.str("state") != "signed_in" {
			t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		u.token = r.str("session_token")
		m = w.mark()
		if r := e.call("POST", "/api/v1/me/mfa/totp", u.token, map[string]string{"name": "phone"}).must(t, 400); r.code() != "access_code_required" {
			t.Fatalf("enroll without code: %s", r.Raw)
		}
		if r := e.call("POST", "/api/v1/me/mfa/totp", u.token, map[string]string{"name": "phone", "access_code": wrong}).must(t, 400); r.code() != "invalid_access_code" {
			t.Fatalf("enroll with a wrong code: %s", r.Raw)
		}
		w.mailedNone(m)
		if codes := w.enrollSettings(u, "new phone", code); len(codes) != 10 {
			t.Fatalf("%d recovery codes", len(codes))
		}
		w.mailedOnce(m, u, seedSubjEnrolled)
	}
	if d := w.user(u); d.Body["access_code_pending"] != false || seedObj(d.Body, "user")["mfa_enabled"] != true {
		t.Fatalf("after enrolling with the code: %s", d.Raw)
	}
	u.token = w.signInMFA(u)

	// The code worked once: after another reset only the new code works.
	r = w.reset(w.admin, u).must(t, 200)
	code2 := r.str("access_code")
	if code2 == "" || code2 == code {
		t.Fatalf("second access code %q (first %q)", code2, code)
	}
	if w.pol.required {
		r := w.signInStart(u)
		if r := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": r.str("flow_token"), "access_code": code}).must(t, 400); r.code() != "invalid_access_code" {
			t.Fatalf("spent code: %s", r.Raw)
		}
	} else {
		u.token = w.e.signIn(w.slug, u.email, u.password)
		if r := e.call("POST", "/api/v1/me/mfa/totp", u.token, map[string]string{"name": "phone", "access_code": code}).must(t, 400); r.code() != "invalid_access_code" {
			t.Fatalf("spent code: %s", r.Raw)
		}
	}
	w.recoverAfterReset(u, code2)

	// A code left unused for a day expires, and its expiry does not open
	// the door: enrollment stays locked, the console shows the code pending
	// and expired, and the way back is another reset.
	code3 := w.reset(w.admin, u).must(t, 200).str("access_code")
	e.clock.Add(24*time.Hour + time.Minute)
	if d := w.user(u); d.Body["access_code_pending"] != true || d.Body["access_code_expired"] != true {
		t.Fatalf("admin view of an expired code: %s", d.Raw)
	}
	m = w.mark()
	if w.pol.required {
		r := w.signInStart(u)
		if r.Body["access_code_required"] != true || r.Body["access_code_expired"] != true {
			t.Fatalf("sign-in with an expired code: %s", r.Raw)
		}
		if r := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": r.str("flow_token"), "access_code": code3}).must(t, 409); r.code() != "access_code_expired" {
			t.Fatalf("enroll with an expired code: %s", r.Raw)
		}
	} else {
		u.token = w.e.signIn(w.slug, u.email, u.password)
		if r := e.call("POST", "/api/v1/me/mfa/totp", u.token, map[string]string{"name": "phone", "access_code": code3}).must(t, 409); r.code() != "access_code_expired" {
			t.Fatalf("enroll with an expired code: %s", r.Raw)
		}
	}
	w.mailedNone(m)
	w.recoverAfterReset(u, w.reset(w.admin, u).must(t, 200).str("access_code"))
	w.wantAudited("mfa.reset", "user", w.admin.id, u.id, 4)
	w.finish(u, w.pol.required)
}

// The attacker's side: the wrong role, another workspace, a replayed code,
// and a reset that does not open the door to anyone without the password.
func seedAttacker(w *seedWorld) {
	t, e := w.t, w.e
	ua := w.enrolled("user_admin", "uma")
	mallory := w.enrolled("member", "mallory")
	v := w.enrolled("member", "victor")
	w.applyPolicy()
	ua.token, mallory.token = w.signInMFA(ua), w.signInMFA(mallory)
	g := seedIn(e, "globex", w.pol)
	g.applyPolicy()

	m := w.mark()
	// The wrong role.
	w.reset(mallory, v).must(t, 403)
	w.reset(mallory, w.admin).must(t, 403)
	w.reset(ua, w.admin).must(t, 403)
	for _, p := range []*seedPerson{mallory, ua} {
		r := e.call("PATCH", "/api/v1/admin/workspace", p.token, map[string]any{"require_mfa": !w.pol.required, "password": p.password}).must(t, 403)
		if r.code() != "forbidden" {
			t.Fatalf("policy change by %s: %s", p.email, r.Raw)
		}
	}
	e.call("GET", "/api/v1/admin/audit-events", mallory.token, nil).must(t, 403)
	e.call("GET", "/api/v1/admin/users?mfa=disabled", mallory.token, nil).must(t, 403)
	// Another workspace's admin: the users do not exist for them.
	for _, target := range []*seedPerson{v, w.admin} {
		w.e.call("DELETE", "/api/v1/admin/users/"+target.id+"/mfa", g.adminTok(), map[string]string{"password": adminPassword}).must(t, 404)
		w.e.call("GET", "/api/v1/admin/users/"+target.id, g.adminTok(), nil).must(t, 404)
		w.e.call("PATCH", "/api/v1/admin/users/"+target.id, g.adminTok(), map[string]string{"status": "disabled"}).must(t, 404)
	}
	w.mailedNone(m)
	if ws := e.call("GET", "/api/v1/admin/workspace", w.adminTok(), nil).must(t, 200); ws.Body["require_mfa"] != w.pol.required {
		t.Fatalf("policy changed: %s", ws.Raw)
	}
	if d := w.user(v); seedObj(d.Body, "user")["mfa_enabled"] != true || len(d.Body["authenticators"].([]any)) != 1 {
		t.Fatalf("victim's MFA touched: %s", d.Raw)
	}
	// The refusals are audited as denials; no reset succeeded.
	for _, ev := range w.events("mfa.reset", "") {
		if ev.Result != "denied" {
			t.Fatalf("a reset happened: %+v", ev)
		}
	}
	if n := len(w.events("mfa.reset", "")); n != 3 {
		t.Fatalf("%d audited reset attempts, want the 3 refused ones", n)
	}
	if ev := g.events("mfa.reset", ""); len(ev) != 0 {
		t.Fatalf("resets happened in globex: %+v", ev)
	}

	// A replayed code: the code that signed in once never signs in again.
	r := w.signInStart(v)
	c := e.code(v.seed)
	e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": c}).must(t, 200)
	r = w.signInStart(v)
	if rr := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": c}).must(t, 401); rr.code() != "invalid_code" {
		t.Fatalf("replayed code: %s", rr.Raw)
	}

	// A reset: nobody gets in without the password.
	pending := w.signInStart(v).str("flow_token")
	w.reset(w.admin, v).must(t, 200)
	r = e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": w.slug, "email": v.email, "password": "not the password at all"}).must(t, 401)
	if r.code() != "invalid_credentials" {
		t.Fatalf("wrong password after reset: %s", r.Raw)
	}
	for _, flow := range []string{pending, strings.Repeat("A", 43)} {
		r := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}).must(t, 401)
		if r.code() != "invalid_flow" {
			t.Fatalf("enroll with flow %q: %s", flow, r.Raw)
		}
		e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": "123456"}).must(t, 401)
	}
	e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": pending, "recovery_code": v.codes[0]}).must(t, 401)

	// With the password the victim is back; the code that confirmed the
	// enrollment does not sign in a second time.
	r = w.signInStart(v)
	if w.pol.required {
		if r.str("state") != "mfa_enrollment_required" {
			t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		flow := r.str("flow_token")
		en := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}).must(t, 200)
		seed := decodeSeed(t, en.str("secret"))
		c := e.code(seed)
		e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": c}).must(t, 200)
		r = w.signInStart(v)
		if rr := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": c}).must(t, 401); rr.code() != "invalid_code" {
			t.Fatalf("enrollment code reused to sign in: %s", rr.Raw)
		}
		v.seed = seed
	} else {
		if r.str("state") != "signed_in" {
			t.Fatalf("sign-in after reset: %s", r.Raw)
		}
		v.token = r.str("session_token")
		w.wantAAL(v.token, "aal1")
		en := e.call("POST", "/api/v1/me/mfa/totp", v.token, map[string]string{"name": "phone"}).must(t, 201)
		seed := decodeSeed(t, en.str("secret"))
		c := e.code(seed)
		v.token = e.call("POST", "/api/v1/me/mfa/totp/"+en.str("id")+"/confirm", v.token, map[string]string{"code": c}).must(t, 200).str("session_token")
		r = w.signInStart(v)
		if rr := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": c}).must(t, 401); rr.code() != "invalid_code" {
			t.Fatalf("enrollment code reused to sign in: %s", rr.Raw)
		}
		v.seed = seed
	}
	v.token = w.signInMFA(v)
	w.wantAudited("mfa.reset", "user", w.admin.id, v.id, 1)
	w.finish(v, w.pol.required)
}

// Flow 9: deleting and recreating a user still works, though no case above
// needed it.
func seedDeleteRecreate(w *seedWorld) {
	t, e := w.t, w.e
	u := w.enrolled("member", "frank")
	w.applyPolicy()
	u.token = w.signInMFA(u)

	e.call("DELETE", "/api/v1/admin/users/"+u.id, w.adminTok(), nil).must(t, 204)
	e.call("GET", "/api/v1/session", u.token, nil).must(t, 401)
	w.wantAudited("user.deleted", "user", w.admin.id, u.id, 1)
	m := w.mark()
	r := e.call("POST", "/api/v1/admin/users", w.adminTok(), map[string]string{"email": u.email, "role": "member"}).must(t, 201)
	w.mailedOnce(m, u, seedSubjInvite)
	nu := seedObj(r.Body, "user")
	if nu["id"] == u.id || nu["email"] != u.email || nu["mfa_enabled"] != false {
		t.Fatalf("recreated user: %s", r.Raw)
	}
	e.accept(r.str("invitation_url"), u.password)
	s := w.signInStart(u)
	// A new member's grace period runs from their joining.
	if s.str("state") != "signed_in" || (s.Body["mfa_enrollment_due_at"] != nil) != w.pol.required {
		t.Fatalf("sign-in of the recreated user: %s", s.Raw)
	}
	if ws := e.call("GET", "/api/v1/admin/workspace", w.adminTok(), nil).must(t, 200); ws.Body["require_mfa"] != w.pol.required || (w.pol.required && ws.str("mfa_enforced_since") != w.enforcedSince) {
		t.Fatalf("policy changed: %s", ws.Raw)
	}
}

// TestSeedRequireMFAOnlyWithMFA: before Require MFA goes on, the console
// shows who has no MFA yet, and an admin without MFA can't switch it on
// (the seed's tip, made a rule).
func TestSeedRequireMFAOnlyWithMFA(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			wsID, tok := e.workspace("acme")
			w := &seedWorld{t: t, e: e, slug: "acme", wsID: wsID,
				admin: &seedPerson{email: "admin@acme.test", password: adminPassword, token: tok}}
			w.admin.id = w.sessionUserID(tok)
			alice := w.person("member", "alice")
			w.enrollSettings(alice, "phone", "")
			bob := w.person("member", "bob")
			r := e.call("POST", "/api/v1/admin/users", tok, map[string]string{"email": "carol@acme.test"}).must(t, 201)
			carol := seedObj(r.Body, "user")["id"].(string)

			without := func(want ...string) {
				t.Helper()
				ws := e.call("GET", "/api/v1/admin/workspace", w.admin.token, nil).must(t, 200)
				if ws.Body["users_without_mfa"] != float64(len(want)) {
					t.Fatalf("users_without_mfa: %s, want %d", ws.Raw, len(want))
				}
				slices.Sort(want)
				// The policy answer names them, in the users list's order.
				var listed []string
				for _, u := range ws.Body["users_without_mfa_list"].([]any) {
					listed = append(listed, u.(map[string]any)["id"].(string))
				}
				if !slices.Equal(listed, want) {
					t.Fatalf("users_without_mfa_list %v, want %v: %s", listed, want, ws.Raw)
				}
				l := e.call("GET", "/api/v1/admin/users?mfa=disabled", w.admin.token, nil).must(t, 200)
				var ids []string
				for _, u := range l.Body["users"].([]any) {
					ids = append(ids, u.(map[string]any)["id"].(string))
				}
				slices.Sort(ids)
				if !slices.Equal(ids, want) {
					t.Fatalf("users without MFA %v, want %v", ids, want)
				}
			}
			without(w.admin.id, bob.id, carol)
			m := w.mark()
			r = e.call("PATCH", "/api/v1/admin/workspace", w.admin.token, map[string]any{"require_mfa": true, "mfa_grace_days": 7, "password": adminPassword}).must(t, 409)
			if r.code() != "admin_mfa_required" {
				t.Fatalf("require MFA without MFA: %s", r.Raw)
			}
			w.mailedNone(m)
			if ws := e.call("GET", "/api/v1/admin/workspace", w.admin.token, nil).must(t, 200); ws.Body["require_mfa"] != false {
				t.Fatalf("policy changed: %s", ws.Raw)
			}
			// With MFA of their own, the admin may.
			w.enrollSettings(w.admin, "admin phone", "")
			without(bob.id, carol)
			p := w.setPolicy(true, 7)
			if p.Body["users_without_mfa"] != float64(2) || len(p.Body["users_without_mfa_list"].([]any)) != 2 {
				t.Fatalf("policy answer: %s", p.Raw)
			}
			l := e.call("GET", "/api/v1/admin/users?mfa=enabled", w.adminTok(), nil).must(t, 200)
			if n := len(l.Body["users"].([]any)); n != 2 {
				t.Fatalf("%d users with MFA, want admin and alice: %s", n, l.Raw)
			}
			// One change, and before it the refusal, as a denial.
			ev := w.events("workspace.policy_changed", "")
			if len(ev) != 2 || ev[0].ActorKind != "user" || ev[0].ActorID != w.admin.id || ev[0].Result != "success" || ev[0].Details["require_mfa"] != "true" || ev[0].Details["mfa_grace_days"] != "7" {
				t.Fatalf("policy change audit: %+v", ev)
			}
			if ev[1].ActorID != w.admin.id || ev[1].Result != "denied" || ev[1].Details["reason"] != "admin_mfa_required" {
				t.Fatalf("refused policy change audit: %+v", ev[1])
			}
		})
	}
}

// TestSeedPolicyChangeNotifies: PRODUCT.md — every policy change notifies
// the affected user by email. Switching Require MFA on affects everyone
// who has no MFA yet: each of them hears of it once, before the grace
// period starts running against them.
func TestSeedPolicyChangeNotifies(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			w := seedOpen(t, d, seedPolicies[1])
			w.enrolled("member", "alice")
			bob := w.person("member", "bob")
			m := w.mark()
			w.setPolicy(true, 7)
			w.e.svc.Wait() // the notifications go out in the background
			count := map[string]int{}
			for _, msg := range w.e.mail.Messages()[m:] {
				count[strings.ToLower(msg.To)]++
			}
			if count[bob.email] != 1 {
				t.Errorf("%s, who has no MFA, got %d emails about Require MFA, want 1", bob.email, count[bob.email])
			}
			for to, n := range count {
				if n > 1 {
					t.Errorf("%s got %d emails for one policy change", to, n)
				}
			}
		})
	}
}

package web_test

// The access-control tests of SECURITY.md: one table of every admin
// endpoint × caller role × own or other workspace × target role, checked
// against PRODUCT.md's permission table, with a database snapshot proving
// that a refused request changed nothing; then the rules around it (self
// actions, recent authentication, aal2 for admins with MFA, fields that are
// never taken from a request body, the last workspace admin, also under
// concurrent attempts).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

const permPassword = "permission matrix pass 1"

// permUser is a user of the matrix with a live session.
type permUser struct {
	id, email, token string
	role             sekisho.Role
	seed             []byte // nil without MFA
}

// permWorld is two workspaces, acme (the callers') and globex, each with a
// target of every role that has MFA and a live session.
type permWorld struct {
	t       *testing.T
	e       *env
	db      *contractDB
	ws      map[string]string // slug → id
	owner   map[string]string // slug → session of the workspace's first admin
	callers map[string]*permUser
	targets map[string]map[sekisho.Role]*permUser
	n       int
	// last is the state after the previous request when that request
	// changed nothing, so the next one need not read it again.
	last contractSnapshot
}

var permRoles = []sekisho.Role{sekisho.RoleMember, sekisho.RoleUserAdmin, sekisho.RoleWorkspaceAdmin}

// newUser invites a user of role into slug, signs them in and, with mfa,
// enrolls an authenticator (which raises that session to aal2): the
// callers of the matrix come in through the front door.
func (w *permWorld) newUser(slug string, role sekisho.Role, mfa bool) *permUser {
	w.t.Helper()
	w.n++
	w.last = nil
	u := &permUser{email: fmt.Sprintf("u%d-%s@%s.test", w.n, strings.ReplaceAll(string(role), "_", "-"), slug), role: role}
	u.id = w.e.invite(w.owner[slug], u.email, string(role), permPassword)
	u.token = w.e.signIn(slug, u.email, permPassword)
	if mfa {
		u.seed, _ = w.e.enroll(&u.token, "phone")
	}
	return u
}

// newTarget writes a user of role into slug's workspace directly, with a
// live session and, with mfa, a confirmed authenticator and recovery
// codes. Targets are only acted upon, so they skip the password and code
// hashing that makes real sign-ups slow under the race detector.
func (w *permWorld) newTarget(slug string, role sekisho.Role, mfa bool) *permUser {
	w.t.Helper()
	w.n++
	w.last = nil
	u := &permUser{id: store.NewID(), email: fmt.Sprintf("t%d-%s@%s.test", w.n, strings.ReplaceAll(string(role), "_", "-"), slug),
		role: role, token: secret.NewToken()}
	err := w.e.db.Update(context.Background(), func(tx *store.Tx) error {
		return permStoreUser(tx, w.e.clock.Now(), w.ws[slug], u, mfa)
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// permStoreUser writes u, active, with a session under u.token.
func permStoreUser(tx *store.Tx, now time.Time, wsID string, u *permUser, mfa bool) error {
	aal := sekisho.AAL1
	if mfa {
		aal = sekisho.AAL2
	}
	su := &sekisho.User{ID: u.id, WorkspaceID: wsID, Email: u.email, Role: u.role, Status: sekisho.StatusActive,
		HasMFA: mfa, JoinedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := tx.CreateUser(su, ""); err != nil {
		return err
	}
	if mfa {
		err := tx.CreateAuthenticator(&store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: u.id,
			Kind: sekisho.KindTOTP, Name: "phone", ConfirmedAt: now, CreatedAt: now}, Secret: "never opened"})
		if err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(u.id, "salt", []string{"h1", "h2", "h3"}, now.UnixMilli()); err != nil {
			return err
		}
	}
	return tx.CreateSession(&sekisho.Session{ID: store.NewID(), UserID: u.id, WorkspaceID: wsID, AAL: aal, AuthTime: now,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour)}, secret.HashToken(u.token))
}

func newPermWorld(t *testing.T, d store.Dialect) *permWorld {
	e := newEnv(t, d)
	w := &permWorld{t: t, e: e, db: e.contractDB(), ws: map[string]string{}, owner: map[string]string{},
		callers: map[string]*permUser{}, targets: map[string]map[sekisho.Role]*permUser{}}
	for _, slug := range []string{"acme", "globex"} {
		w.ws[slug], w.owner[slug] = e.workspace(slug)
		w.targets[slug] = map[sekisho.Role]*permUser{}
		for _, r := range permRoles {
			w.targets[slug][r] = w.newTarget(slug, r, true)
		}
	}
	// The workspace admin caller has MFA and so an aal2 session; the user
	// admin has none and acts at aal1, which is enough for them.
	w.callers["member"] = w.newUser("acme", sekisho.RoleMember, false)
	w.callers["user_admin"] = w.newUser("acme", sekisho.RoleUserAdmin, false)
	wa := w.newUser("acme", sekisho.RoleWorkspaceAdmin, true)
	wa.token = w.signInAAL2("acme", wa)
	w.callers["workspace_admin"] = wa
	w.callers["no session"] = &permUser{}
	w.callers["malformed token"] = &permUser{token: "not-a-token"}
	w.callers["unknown token"] = &permUser{token: secret.NewToken()} // well formed, never issued
	return w
}

// signInAAL2 signs u, who has MFA, in with password and code.
func (w *permWorld) signInAAL2(slug string, u *permUser) string {
	w.t.Helper()
	e := w.e
	r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": slug, "email": u.email, "password": permPassword}).must(w.t, 200)
	r = e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(u.seed)}).must(w.t, 200)
	if s := e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(w.t, 200); s.str("aal") != "aal2" {
		w.t.Fatalf("session after both factors: %s", s.Raw)
	}
	return r.str("session_token")
}

// user reads a user from the store; nil when they do not exist.
func (w *permWorld) user(slug, id string) *sekisho.User {
	w.t.Helper()
	var u *sekisho.User
	err := w.e.db.View(context.Background(), func(tx *store.Tx) error {
		var err error
		u, err = tx.User(w.ws[slug], id)
		return err
	})
	if err == store.ErrNotFound {
		return nil
	} else if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// check asserts r's status and, for errors, the error format and code, and
// that the status is one openapi.yaml documents for route.
func (w *permWorld) check(what, route string, r resp, status int, code string) bool {
	w.t.Helper()
	ok := true
	if r.Status != status {
		w.t.Errorf("%s: status %d, want %d: %.300s", what, r.Status, status, r.Raw)
		ok = false
	}
	if r.Status >= 400 {
		if msg := contractIsError(r); msg != "" {
			w.t.Errorf("%s: %s: %.300s", what, msg, r.Raw)
		}
		if code != "" && r.code() != code {
			w.t.Errorf("%s: code %q, want %q", what, r.code(), code)
		}
	}
	contractCheckResponse(w.t, contractDoc(w.t), route, r)
	return ok
}

// permAction is one admin request of the matrix.
type permAction struct {
	name, method, path string
	body               func(target sekisho.Role) any
	success            int
	mutates            bool
}

func (a permAction) targeted() bool { return strings.Contains(a.path, "{id}") }

var permTargeted = []permAction{
	{name: "view", method: "GET", path: "/api/v1/admin/users/{id}", success: 200},
	{name: "disable", method: "PATCH", path: "/api/v1/admin/users/{id}", success: 200, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"status": "disabled"} }},
	{name: "change role", method: "PATCH", path: "/api/v1/admin/users/{id}", success: 200, mutates: true,
		body: func(r sekisho.Role) any {
			to := map[sekisho.Role]string{sekisho.RoleMember: "user_admin", sekisho.RoleUserAdmin: "member", sekisho.RoleWorkspaceAdmin: "user_admin"}[r]
			return map[string]any{"role": to}
		}},
	{name: "promote", method: "PATCH", path: "/api/v1/admin/users/{id}", success: 200, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"role": "workspace_admin"} }},
	{name: "rename", method: "PATCH", path: "/api/v1/admin/users/{id}", success: 200, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"name": "Renamed By Admin"} }},
	{name: "delete", method: "DELETE", path: "/api/v1/admin/users/{id}", success: 204, mutates: true},
	{name: "reset MFA", method: "DELETE", path: "/api/v1/admin/users/{id}/mfa", success: 200, mutates: true},
}

var permUntargeted = []permAction{
	{name: "list users", method: "GET", path: "/api/v1/admin/users", success: 200},
	{name: "view policy", method: "GET", path: "/api/v1/admin/workspace", success: 200},
	{name: "change policy", method: "PATCH", path: "/api/v1/admin/workspace", success: 200, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"mfa_grace_days": 7} }},
	{name: "audit log", method: "GET", path: "/api/v1/admin/audit-events", success: 200},
	{name: "audit export", method: "GET", path: "/api/v1/admin/audit-events/export", success: 200},
	{name: "create member", method: "POST", path: "/api/v1/admin/users", success: 201, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"role": "member"} }},
	{name: "create user_admin", method: "POST", path: "/api/v1/admin/users", success: 201, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"role": "user_admin"} }},
	{name: "create workspace_admin", method: "POST", path: "/api/v1/admin/users", success: 201, mutates: true,
		body: func(sekisho.Role) any { return map[string]any{"role": "workspace_admin"} }},
}

// permExpect is PRODUCT.md's permission table as statuses. Targets of
// another workspace do not exist for the caller (404), except where the
// request is refused on its own terms before any target is looked up: a
// user admin granting the workspace admin role is refused whoever the
// target, which tells them nothing about it.
func permExpect(caller string, a permAction, own bool, target sekisho.Role) (int, string) {
	switch caller {
	case "no session", "malformed token", "unknown token":
		return 401, "unauthenticated"
	case "member":
		return 403, "forbidden"
	}
	ua := caller == "user_admin"
	if !a.targeted() {
		if ua && (a.name == "change policy" || a.name == "create workspace_admin") {
			return 403, "forbidden"
		}
		return a.success, ""
	}
	if ua && a.name == "promote" {
		return 403, "forbidden"
	}
	if !own {
		return 404, "not_found"
	}
	if ua && target == sekisho.RoleWorkspaceAdmin && a.name != "view" {
		return 403, "forbidden"
	}
	return a.success, ""
}

func TestPermissionMatrix(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			w := newPermWorld(t, d)
			w.matrix()
			w.selfActions()
			w.neverFromBody()
			w.aal2ForAdminsWithMFA()
			w.recentAuth() // moves the clock: last
		})
	}
}

func (w *permWorld) matrix() {
	callers := []string{"member", "user_admin", "workspace_admin", "no session", "malformed token", "unknown token"}
	for _, caller := range callers {
		c := w.callers[caller]
		for _, a := range permUntargeted {
			status, code := permExpect(caller, a, true, "")
			w.run(caller, c, a, "acme", "", status, code)
		}
		for _, a := range permTargeted {
			for _, slug := range []string{"acme", "globex"} {
				for _, role := range permRoles {
					status, code := permExpect(caller, a, slug == "acme", role)
					w.run(caller, c, a, slug, role, status, code)
				}
			}
		}
	}
}

// run makes one request of the matrix and checks its answer and effect.
func (w *permWorld) run(caller string, c *permUser, a permAction, slug string, role sekisho.Role, status int, code string) {
	w.t.Helper()
	e := w.e
	what := fmt.Sprintf("%s: %s", caller, a.name)
	var target *permUser
	if a.targeted() {
		what += fmt.Sprintf(" a %s of %s", role, slug)
		target = w.targets[slug][role]
		if a.mutates && status < 300 {
			// A success changes its target: give it one of its own.
			target = w.newTarget(slug, role, a.name == "reset MFA")
		}
	}
	var body any
	if a.body != nil {
		body = a.body(role)
	}
	var created string
	if strings.HasPrefix(a.name, "create ") {
		w.n++
		created = fmt.Sprintf("new%d@acme.test", w.n)
		body.(map[string]any)["email"] = created
	}
	path := a.path
	if target != nil {
		path = contractFill(path, target.id)
	}
	before := w.last
	if before == nil && !(a.mutates && status < 300) {
		before = w.db.snapshot(contractStateTables...)
	}
	r := e.call(a.method, path, c.token, body)
	w.last = nil
	if !w.check(what, a.method+" "+a.path, r, status, code) {
		return
	}
	if !(a.mutates && status < 300) {
		after := w.db.snapshot(contractStateTables...)
		if d := before.diff(after); d != "" {
			w.t.Errorf("%s: refused or read-only, yet the database changed:%s", what, d)
			return
		}
		w.last = after
	}
	if status >= 300 {
		return
	}
	w.checkEffect(what, a, r, slug, target, created)
}

// checkEffect verifies what a successful matrix request did.
func (w *permWorld) checkEffect(what string, a permAction, r resp, slug string, target *permUser, created string) {
	w.t.Helper()
	e := w.e
	var u *sekisho.User
	if target != nil {
		u = w.user(slug, target.id)
	}
	session := func() int { return e.call("GET", "/api/v1/session", target.token, nil).Status }
	switch a.name {
	case "list users":
		for _, x := range r.Body["users"].([]any) {
			if email := x.(map[string]any)["email"].(string); !strings.HasSuffix(email, "@acme.test") {
				w.t.Errorf("%s: lists %s of another workspace", what, email)
			}
		}
	case "view policy":
		if r.str("slug") != "acme" {
			w.t.Errorf("%s: %s", what, r.Raw)
		}
	case "view":
		if r.Body["user"].(map[string]any)["id"] != target.id {
			w.t.Errorf("%s: %s", what, r.Raw)
		}
	case "disable":
		if u.Status != sekisho.StatusDisabled || session() != 401 {
			w.t.Errorf("%s: status %s, session still valid: %v", what, u.Status, session() == 200)
		}
	case "change role", "promote":
		want := sekisho.Role(a.body(target.role).(map[string]any)["role"].(string))
		if u.Role != want {
			w.t.Errorf("%s: role %s, want %s", what, u.Role, want)
		}
		if changed := want != target.role; changed != (session() == 401) {
			w.t.Errorf("%s: role changed %v, session revoked %v", what, changed, session() == 401)
		}
	case "rename":
		if u.Name != "Renamed By Admin" {
			w.t.Errorf("%s: name %q", what, u.Name)
		}
	case "delete":
		if u != nil || session() != 401 {
			w.t.Errorf("%s: user still there or session valid", what)
		}
	case "reset MFA":
		if u.HasMFA || session() != 401 {
			w.t.Errorf("%s: has MFA %v, session %d", what, u.HasMFA, session())
		}
	case "create member", "create user_admin", "create workspace_admin":
		nu := r.Body["user"].(map[string]any)
		if nu["email"] != created || nu["role"] != strings.TrimPrefix(a.name, "create ") || nu["status"] != "invited" {
			w.t.Errorf("%s: %s", what, r.Raw)
		}
		if w.user("acme", nu["id"].(string)) == nil {
			w.t.Errorf("%s: the new user is not in the caller's workspace", what)
		}
	}
}

// selfActions: nobody resets, disables or deletes themselves through the
// admin API (account settings are for their own factors).
func (w *permWorld) selfActions() {
	type self struct {
		name, method, path string
		body               any
		status             map[string]int
		code               map[string]string
	}
	const uaS, waS, mS = "user_admin", "workspace_admin", "member"
	cases := []self{
		{"view self", "GET", "/api/v1/admin/users/{id}", nil,
			map[string]int{mS: 403, uaS: 200, waS: 200}, map[string]string{mS: "forbidden"}},
		{"reset own MFA", "DELETE", "/api/v1/admin/users/{id}/mfa", nil,
			map[string]int{mS: 403, uaS: 403, waS: 403}, map[string]string{mS: "forbidden", uaS: "cannot_reset_own_mfa", waS: "cannot_reset_own_mfa"}},
		{"disable self", "PATCH", "/api/v1/admin/users/{id}", map[string]any{"status": "disabled"},
			map[string]int{mS: 403, uaS: 409, waS: 409}, map[string]string{mS: "forbidden", uaS: "cannot_disable_self", waS: "cannot_disable_self"}},
		{"delete self", "DELETE", "/api/v1/admin/users/{id}", nil,
			map[string]int{mS: 403, uaS: 409, waS: 409}, map[string]string{mS: "forbidden", uaS: "cannot_delete_self", waS: "cannot_delete_self"}},
		{"promote self", "PATCH", "/api/v1/admin/users/{id}", map[string]any{"role": "workspace_admin"},
			map[string]int{mS: 403, uaS: 403, waS: 200}, map[string]string{mS: "forbidden", uaS: "forbidden"}},
	}
	for _, c := range cases {
		for _, caller := range []string{mS, uaS, waS} {
			u := w.callers[caller]
			before := w.db.snapshot(contractStateTables...)
			r := w.e.call(c.method, contractFill(c.path, u.id), u.token, c.body)
			w.check(caller+": "+c.name, c.method+" "+c.path, r, c.status[caller], c.code[caller])
			if d := before.diff(w.db.snapshot(contractStateTables...)); d != "" && r.Status != 200 {
				w.t.Errorf("%s: %s refused, yet the database changed:%s", caller, c.name, d)
			}
		}
	}
}

// neverFromBody: fields a caller may not set (workspace, id, role of
// oneself, status, MFA state) are not fields of any request; sending them
// is refused as a whole, and nothing changes.
func (w *permWorld) neverFromBody() {
	m, ua, wa := w.callers["member"], w.callers["user_admin"], w.callers["workspace_admin"]
	gm := w.targets["globex"][sekisho.RoleMember]
	am := w.targets["acme"][sekisho.RoleMember]
	cases := []struct {
		who        *permUser
		method     string
		path       string
		body       map[string]any
		field      string
		untargeted string
	}{
		{m, "PATCH", "/api/v1/me", map[string]any{"role": "workspace_admin"}, "role", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"name": "Fine", "role": "workspace_admin"}, "role", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"workspace_id": w.ws["globex"]}, "workspace_id", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"id": gm.id}, "id", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"status": "active"}, "status", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"email": "boss@acme.test"}, "email", ""},
		{m, "PATCH", "/api/v1/me", map[string]any{"mfa_enabled": true}, "mfa_enabled", ""},
		{ua, "POST", "/api/v1/admin/users", map[string]any{"email": "x1@acme.test", "workspace_id": w.ws["globex"]}, "workspace_id", ""},
		{ua, "POST", "/api/v1/admin/users", map[string]any{"email": "x2@acme.test", "id": gm.id}, "id", ""},
		{ua, "POST", "/api/v1/admin/users", map[string]any{"email": "x3@acme.test", "status": "active"}, "status", ""},
		{ua, "POST", "/api/v1/admin/users", map[string]any{"email": "x4@acme.test", "password": permPassword}, "password", ""},
		{wa, "PATCH", "/api/v1/admin/users/" + am.id, map[string]any{"workspace_id": w.ws["globex"]}, "workspace_id", ""},
		{wa, "PATCH", "/api/v1/admin/users/" + am.id, map[string]any{"email": "other@acme.test"}, "email", ""},
		{wa, "PATCH", "/api/v1/admin/users/" + am.id, map[string]any{"id": gm.id, "name": "X"}, "id", ""},
		{wa, "PATCH", "/api/v1/admin/users/" + am.id, map[string]any{"mfa_enabled": false}, "mfa_enabled", ""},
		{wa, "PATCH", "/api/v1/admin/workspace", map[string]any{"id": w.ws["globex"], "mfa_grace_days": 1}, "id", ""},
		{wa, "PATCH", "/api/v1/admin/workspace", map[string]any{"slug": "acme2"}, "slug", ""},
		{wa, "PATCH", "/api/v1/admin/workspace", map[string]any{"mfa_enforced_since": "2020-01-01T00:00:00Z"}, "mfa_enforced_since", ""},
		{wa, "DELETE", "/api/v1/admin/users/" + am.id + "/mfa", map[string]any{"workspace_id": w.ws["globex"]}, "workspace_id", ""},
		{m, "POST", "/api/v1/session/reauthenticate", map[string]any{"password": permPassword, "aal": "aal2"}, "aal", ""},
		{nil, "POST", "/api/v1/sign-in", map[string]any{"workspace": "acme", "email": m.email, "password": permPassword, "aal": "aal2"}, "aal", ""},
	}
	for _, c := range cases {
		tok := ""
		if c.who != nil {
			tok = c.who.token
		}
		what := fmt.Sprintf("%s %s with %q", c.method, c.path, c.field)
		before := w.db.snapshot(append(contractStateTables, contractLogTables...)...)
		r := w.e.call(c.method, c.path, tok, c.body)
		if r.Status != 400 || r.code() != "unknown_field" || r.contractErrField() != c.field {
			w.t.Errorf("%s: %d %s, want 400 unknown_field", what, r.Status, r.Raw)
		}
		if d := before.diff(w.db.snapshot(append(contractStateTables, contractLogTables...)...)); d != "" {
			w.t.Errorf("%s: the database changed:%s", what, d)
		}
	}
}

// aal2ForAdminsWithMFA: an admin who has MFA reaches the admin API only at
// aal2. Such an aal1 session would have to predate the admin's enrollment,
// and ConfirmTOTP ends every other session, so the test makes one by
// lowering the admin's session in the database.
func (w *permWorld) aal2ForAdminsWithMFA() {
	e, wa := w.e, w.callers["workspace_admin"]
	sid := e.call("GET", "/api/v1/session", wa.token, nil).must(w.t, 200).str("session_id")
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.SetSessionAuth(sid, sekisho.AAL1, e.clock.Now().UnixMilli())
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if s := e.call("GET", "/api/v1/session", wa.token, nil).must(w.t, 200); s.str("aal") != "aal1" {
		w.t.Fatalf("session: %s", s.Raw)
	}
	am := w.targets["acme"][sekisho.RoleMember]
	// refused: every admin request is refused and changes nothing; else
	// the reads succeed (the writes are left out to keep the world as is).
	tryAll := func(refused bool) {
		w.t.Helper()
		for _, a := range append(append([]permAction{}, permUntargeted...), permTargeted...) {
			if !refused && a.mutates {
				continue
			}
			var body any
			if a.body != nil {
				body = a.body(sekisho.RoleMember)
				if strings.HasPrefix(a.name, "create ") {
					body.(map[string]any)["email"] = "aal@acme.test"
				}
			}
			status, code := a.success, ""
			if refused {
				status, code = 403, "mfa_session_required"
			}
			before := w.db.snapshot(contractStateTables...)
			r := e.call(a.method, contractFill(a.path, am.id), wa.token, body)
			w.check("aal1 admin with MFA: "+a.name, a.method+" "+a.path, r, status, code)
			if d := before.diff(w.db.snapshot(contractStateTables...)); d != "" {
				w.t.Errorf("aal1 admin with MFA: %s: the database changed:%s", a.name, d)
			}
		}
	}
	tryAll(true)
	// A password proves only the first factor again: still aal1.
	e.call("POST", "/api/v1/session/reauthenticate", wa.token, map[string]string{"password": permPassword}).must(w.t, 200)
	tryAll(true)
	// Signing in with both factors gives an aal2 session that may.
	wa.token = w.signInAAL2("acme", wa)
	tryAll(false)
}

// recentAuth: resetting someone's MFA and changing the policy need an
// authentication within sekisho.ReauthWindow; the proof may travel in the
// same request.
func (w *permWorld) recentAuth() {
	e := w.e
	wa, ua := w.callers["workspace_admin"], w.callers["user_admin"]
	am, aua := w.targets["acme"][sekisho.RoleMember], w.targets["acme"][sekisho.RoleUserAdmin]
	stale := func() {
		w.t.Helper()
		e.clock.Add(sekisho.ReauthWindow + time.Minute) // well within the idle timeout
	}
	refused := func(who *permUser, method, path string, body any, status int, code string) {
		w.t.Helper()
		route := method + " " + strings.Replace(path, am.id, "{id}", 1)
		route = strings.Replace(route, aua.id, "{id}", 1)
		before := w.db.snapshot(contractStateTables...)
		r := e.call(method, path, who.token, body)
		w.check("stale "+route, route, r, status, code)
		if d := before.diff(w.db.snapshot(contractStateTables...)); d != "" {
			w.t.Errorf("stale %s: refused, yet the database changed:%s", route, d)
		}
	}
	resetAM := "/api/v1/admin/users/" + am.id + "/mfa"
	resetAUA := "/api/v1/admin/users/" + aua.id + "/mfa"

	stale()
	refused(wa, "DELETE", resetAM, nil, 403, "reauthentication_required")
	refused(wa, "PATCH", "/api/v1/admin/workspace", map[string]any{"mfa_grace_days": 3}, 403, "reauthentication_required")
	refused(ua, "DELETE", resetAUA, nil, 403, "reauthentication_required")
	refused(wa, "DELETE", resetAM, map[string]any{"password": "not the password at all"}, 401, "invalid_password")
	// Reads and the session itself are not affected.
	e.call("GET", "/api/v1/admin/users/"+am.id, wa.token, nil).must(w.t, 200)

	r := e.call("PATCH", "/api/v1/admin/workspace", wa.token, map[string]any{"mfa_grace_days": 3, "password": permPassword}).must(w.t, 200)
	if r.Body["mfa_grace_days"] != float64(3) {
		w.t.Errorf("policy: %s", r.Raw)
	}
	e.call("DELETE", resetAUA, ua.token, map[string]any{"password": permPassword}).must(w.t, 200)
	if u := w.user("acme", aua.id); u.HasMFA {
		w.t.Error("user admin's reset with a password did not reset")
	}

	stale()
	refused(wa, "DELETE", resetAM, nil, 403, "reauthentication_required")
	e.call("DELETE", resetAM, wa.token, map[string]any{"code": e.code(wa.seed)}).must(w.t, 200)
	if u := w.user("acme", am.id); u.HasMFA {
		w.t.Error("reset with a code did not reset")
	}
	if e.call("GET", "/api/v1/session", am.token, nil).Status != 401 {
		w.t.Error("the reset user's session survived")
	}
}

// TestPermissionLastWorkspaceAdmin: the last active workspace admin can't
// be demoted, disabled or deleted, by themselves or by the operator;
// invited and disabled admins do not count.
func TestPermissionLastWorkspaceAdmin(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			db := e.contractDB()
			ctx := context.Background()
			wsID, a := e.workspace("solo")
			aID := e.call("GET", "/api/v1/me", a, nil).must(t, 200).str("id")
			p := &permWorld{t: t, e: e}
			refused := func(what, method, path string, body any, status int, code string) {
				t.Helper()
				before := db.snapshot(contractStateTables...)
				r := e.call(method, path, a, body)
				p.check(what, method+" "+strings.Replace(path, aID, "{id}", 1), r, status, code)
				if d := before.diff(db.snapshot(contractStateTables...)); d != "" {
					t.Errorf("%s: refused, yet the database changed:%s", what, d)
				}
			}
			operatorRefused := func(what string, fn func() error) {
				t.Helper()
				before := db.snapshot(contractStateTables...)
				if err := fn(); sekisho.CodeOf(err) != "last_workspace_admin" {
					t.Errorf("operator %s: %v, want last_workspace_admin", what, err)
				}
				if d := before.diff(db.snapshot(contractStateTables...)); d != "" {
					t.Errorf("operator %s: refused, yet the database changed:%s", what, d)
				}
			}
			str := func(s string) *string { return &s }
			lastAdmin := func() {
				t.Helper()
				self := "/api/v1/admin/users/" + aID
				refused("demote self to member", "PATCH", self, map[string]any{"role": "member"}, 409, "last_workspace_admin")
				refused("demote self to user_admin", "PATCH", self, map[string]any{"role": "user_admin"}, 409, "last_workspace_admin")
				refused("disable self", "PATCH", self, map[string]any{"status": "disabled"}, 409, "cannot_disable_self")
				refused("delete self", "DELETE", self, nil, 409, "cannot_delete_self")
				operatorRefused("demote", func() error {
					_, err := e.svc.UpdateUser(ctx, operator, wsID, aID, auth.UserUpdate{Role: str("member")})
					return err
				})
				operatorRefused("disable", func() error {
					_, err := e.svc.UpdateUser(ctx, operator, wsID, aID, auth.UserUpdate{Status: str("disabled")})
					return err
				})
				operatorRefused("delete", func() error { return e.svc.DeleteUser(ctx, operator, wsID, aID) })
			}
			lastAdmin()

			// An invited admin does not count.
			r := e.call("POST", "/api/v1/admin/users", a, map[string]string{"email": "b@solo.test", "role": "workspace_admin"}).must(t, 201)
			bID := r.Body["user"].(map[string]any)["id"].(string)
			lastAdmin()

			// Once active, either may step down; a disabled admin does not count.
			e.accept(r.str("invitation_url"), permPassword)
			e.call("PATCH", "/api/v1/admin/users/"+bID, a, map[string]any{"status": "disabled"}).must(t, 200)
			lastAdmin()
			e.call("PATCH", "/api/v1/admin/users/"+bID, a, map[string]any{"status": "active"}).must(t, 200)
			b := e.signIn("solo", "b@solo.test", permPassword)
			e.call("PATCH", "/api/v1/admin/users/"+aID, a, map[string]any{"role": "member"}).must(t, 200)
			r = e.call("PATCH", "/api/v1/admin/users/"+bID, b, map[string]any{"role": "user_admin"}).must(t, 409)
			if r.code() != "last_workspace_admin" {
				t.Errorf("B demoting themselves: %s", r.Raw)
			}
			list := e.call("GET", "/api/v1/admin/users?role=workspace_admin&status=active", b, nil).must(t, 200)
			if us := list.Body["users"].([]any); len(us) != 1 || us[0].(map[string]any)["id"] != bID {
				t.Errorf("active workspace admins: %s", list.Raw)
			}
		})
	}
}

// permRaceReps is how many times each database runs the race of two
// workspace admins removing each other (SECURITY.md: 1,000). Under -race
// this takes about 14 s on SQLite, where every statement is parsed anew,
// and 4 s on PostgreSQL.
const permRaceReps = 1000

// permRaceActions are what one admin does to the other.
var permRaceActions = []string{"demote", "delete", "disable"}

func permRaceAct(ctx context.Context, e *env, a sekisho.Actor, wsID, targetID, action string) error {
	switch action {
	case "demote":
		role := string(sekisho.RoleMember)
		_, err := e.svc.UpdateUser(ctx, a, wsID, targetID, auth.UserUpdate{Role: &role})
		return err
	case "disable":
		status := string(sekisho.StatusDisabled)
		_, err := e.svc.UpdateUser(ctx, a, wsID, targetID, auth.UserUpdate{Status: &status})
		return err
	default:
		return e.svc.DeleteUser(ctx, a, wsID, targetID)
	}
}

// permRaceWorkspaces writes n workspaces with two active workspace admins
// each, in one transaction, and returns them.
func permRaceWorkspaces(t *testing.T, e *env, prefix string, n int) (ws []*sekisho.Workspace, admins [][2]*permUser) {
	t.Helper()
	now := e.clock.Now()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		ws, admins = nil, nil
		for i := range n {
			w := &sekisho.Workspace{ID: store.NewID(), Slug: fmt.Sprintf("%s%d", prefix, i), Name: "Race", CreatedAt: now}
			if err := tx.CreateWorkspace(w); err != nil {
				return err
			}
			var pair [2]*permUser
			for j := range pair {
				pair[j] = &permUser{id: store.NewID(), email: fmt.Sprintf("a%d@%s.test", j, w.Slug), role: sekisho.RoleWorkspaceAdmin, token: secret.NewToken()}
				if err := permStoreUser(tx, now, w.ID, pair[j], false); err != nil {
					return err
				}
			}
			ws, admins = append(ws, w), append(admins, pair)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ws, admins
}

// permActiveAdmins counts the active workspace admins of each workspace
// (a workspace with none is missing from the map, so it counts 0).
func permActiveAdmins(t *testing.T, e *env) map[string]int {
	t.Helper()
	rows, err := e.contractDB().db.Query(`SELECT workspace_id, COUNT(*) FROM users WHERE role = 'workspace_admin' AND status = 'active' GROUP BY workspace_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPermissionLastAdminRace: two workspace admins, each removing the other
// (demote, delete or disable, every pairing) at the same moment, through
// the service as the API calls it. Exactly one wins; the workspace never
// ends without an active workspace admin.
func TestPermissionLastAdminRace(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			ctx := context.Background()
			ws, admins := permRaceWorkspaces(t, e, "race", permRaceReps)
			// Races in different workspaces run side by side, a few at a
			// time, so that PostgreSQL's commits overlap; the two removals
			// of one workspace are released together.
			sem := make(chan struct{}, 4)
			var all sync.WaitGroup
			for i, w := range ws {
				if t.Failed() {
					break // one broken race tells enough
				}
				sem <- struct{}{}
				all.Go(func() {
					defer func() { <-sem }()
					// Each actor is what Authenticate made of an admin's
					// session just before the other's change landed.
					actions := [2]string{permRaceActions[i%3], permRaceActions[(i/3)%3]}
					var errs [2]error
					var wg sync.WaitGroup
					start := make(chan struct{})
					for j, u := range admins[i] {
						p, err := e.svc.Authenticate(ctx, u.token)
						if err != nil {
							t.Errorf("%s: %v", w.Slug, err)
							return
						}
						a := p.Actor("192.0.2.1", "")
						wg.Go(func() {
							<-start
							errs[j] = permRaceAct(ctx, e, a, w.ID, admins[i][1-j].id, actions[j])
						})
					}
					close(start)
					wg.Wait()
					wins := 0
					for _, err := range errs {
						switch {
						case err == nil:
							wins++
						// The loser is refused as the last admin's remover, or,
						// when the winner's change took its session, as signed out.
						case sekisho.CodeOf(err) != "last_workspace_admin" && !errors.Is(err, sekisho.ErrUnauthenticated):
							t.Errorf("%s %v: %v", w.Slug, actions, err)
						}
					}
					if wins != 1 {
						t.Errorf("%s %v: %d successes (%v)", w.Slug, actions, wins, errs)
					}
				})
			}
			all.Wait()
			counts := permActiveAdmins(t, e)
			for _, w := range ws {
				if counts[w.ID] != 1 {
					t.Fatalf("%s: %d active workspace admins", w.Slug, counts[w.ID])
				}
			}
		})
	}
}

// TestPermissionLastAdminRaceHTTP runs the same race through the API, with
// real sessions, fewer times: a loser may also find their session revoked
// by the winner (401), but never may both win.
func TestPermissionLastAdminRaceHTTP(t *testing.T) {
	const reps = 27
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			ws, admins := permRaceWorkspaces(t, e, "hrace", reps)
			req := func(target, action string) (string, string, any) {
				switch action {
				case "demote":
					return "PATCH", "/api/v1/admin/users/" + target, map[string]string{"role": "member"}
				case "disable":
					return "PATCH", "/api/v1/admin/users/" + target, map[string]string{"status": "disabled"}
				}
				return "DELETE", "/api/v1/admin/users/" + target, nil
			}
			for i := range ws {
				actions := [2]string{permRaceActions[i%3], permRaceActions[(i/3)%3]}
				var res [2]resp
				var wg sync.WaitGroup
				start := make(chan struct{})
				for j, u := range admins[i] {
					m, p, body := req(admins[i][1-j].id, actions[j])
					wg.Go(func() {
						<-start
						res[j] = e.call(m, p, u.token, body)
					})
				}
				close(start)
				wg.Wait()
				wins := 0
				for _, r := range res {
					switch {
					case r.Status < 300:
						wins++
					case r.Status == 409 && r.code() == "last_workspace_admin", r.Status == 401:
					default:
						t.Errorf("rep %d %v: %d %s", i, actions, r.Status, r.Raw)
					}
				}
				if wins != 1 {
					t.Fatalf("rep %d %v: %d successes: %s / %s", i, actions, wins, res[0].Raw, res[1].Raw)
				}
			}
			counts := permActiveAdmins(t, e)
			for _, w := range ws {
				if counts[w.ID] != 1 {
					t.Fatalf("%s: %d active workspace admins", w.Slug, counts[w.ID])
				}
			}
		})
	}
}

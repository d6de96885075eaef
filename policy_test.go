package sekisho_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
)

// The workspaces of these tests: the actor's own, and one they must never
// reach.
const (
	polWS    = "ws-acme"
	polOther = "ws-globex"
)

// polUser is a signed-in user of polWS at aal2 with MFA: the strongest
// session a role can have, so that a refusal below is about the role.
func polUser(id string, role sekisho.Role) sekisho.Actor {
	return sekisho.Actor{Kind: sekisho.ActorUser, UserID: id, WorkspaceID: polWS, Role: role, HasMFA: true, AAL: sekisho.AAL2}
}

var (
	polMember   = polUser("u-member", sekisho.RoleMember)
	polUA       = polUser("u-ua", sekisho.RoleUserAdmin)
	polWA       = polUser("u-wa", sekisho.RoleWorkspaceAdmin)
	polOperator = sekisho.Operator("support", "ticket 123")
)

// polTarget is an active user of polWS (or another workspace) acted on.
func polTarget(id string, role sekisho.Role) *sekisho.User {
	return &sekisho.User{ID: id, WorkspaceID: polWS, Role: role, Status: sekisho.StatusActive}
}

func polIn(u *sekisho.User, ws string) *sekisho.User {
	c := *u
	c.WorkspaceID = ws
	return &c
}

func polWithStatus(u *sekisho.User, s sekisho.Status) *sekisho.User {
	c := *u
	c.Status = s
	return &c
}

// polSelf is the target that is the actor.
func polSelf(a sekisho.Actor) *sekisho.User { return polTarget(a.UserID, a.Role) }

// polAAL1 is a with MFA but signed in with the password only.
func polAAL1(a sekisho.Actor) sekisho.Actor { a.AAL = sekisho.AAL1; return a }

// polNoMFA is a without MFA, signed in with the password (possible while
// the policy is optional or within its grace period).
func polNoMFA(a sekisho.Actor) sekisho.Actor { a.HasMFA, a.AAL = false, sekisho.AAL1; return a }

func polOtherWS(a sekisho.Actor) sekisho.Actor { a.WorkspaceID = polOther; return a }

var (
	polTMember = polTarget("t-member", sekisho.RoleMember)
	polTUA     = polTarget("t-ua", sekisho.RoleUserAdmin)
	polTWA     = polTarget("t-wa", sekisho.RoleWorkspaceAdmin)
)

// polWant is an expected outcome: "" for allowed, else the error code; its
// kind is checked too, since the kind decides the HTTP status.
type polWant struct {
	code string
	kind sekisho.Kind
}

var (
	polOK        = polWant{}
	polForbidden = polWant{"forbidden", sekisho.KindForbidden}
	polNotFound  = polWant{"not_found", sekisho.KindNotFound}
	polUnauth    = polWant{"unauthenticated", sekisho.KindUnauthorized}
	polAAL2      = polWant{"mfa_session_required", sekisho.KindForbidden}
	polReauth    = polWant{"reauthentication_required", sekisho.KindForbidden}
)

func polCheck(t *testing.T, name string, err error, want polWant) {
	t.Helper()
	if want == polOK {
		if err != nil {
			t.Errorf("%s: %v, want allowed", name, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: allowed, want %s", name, want.code)
		return
	}
	if got := sekisho.CodeOf(err); got != want.code || sekisho.KindOf(err) != want.kind {
		t.Errorf("%s: %v (kind %d), want %s (kind %d)", name, err, sekisho.KindOf(err), want.code, want.kind)
	}
}

// TestPermissionTable is PRODUCT.md's permission table, row by row, as the
// services compose the rules for each action.
func TestPermissionTable(t *testing.T) {
	firstErr := func(errs ...error) error {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	rows := []struct {
		action string
		do     func(a sekisho.Actor) error
		// allowed for member, user_admin, workspace_admin, operator
		allowed [4]bool
	}{
		{"list / view users of own workspace", func(a sekisho.Actor) error { return sekisho.CanAdminister(a, polWS) },
			[4]bool{false, true, true, true}},
		{"create a member", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanAdminister(a, polWS), sekisho.CanAssignRole(a, sekisho.RoleMember))
		}, [4]bool{false, true, true, true}},
		{"create a user admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanAdminister(a, polWS), sekisho.CanAssignRole(a, sekisho.RoleUserAdmin))
		}, [4]bool{false, true, true, true}},
		{"disable a member", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanManageUser(a, polTMember), sekisho.CanChangeStatus(a, polTMember, sekisho.StatusDisabled))
		}, [4]bool{false, true, true, true}},
		{"disable a user admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanManageUser(a, polTUA), sekisho.CanChangeStatus(a, polTUA, sekisho.StatusDisabled))
		}, [4]bool{false, true, true, true}},
		{"delete a member", func(a sekisho.Actor) error { return sekisho.CanDeleteUser(a, polTMember) },
			[4]bool{false, true, true, true}},
		{"delete a user admin", func(a sekisho.Actor) error { return sekisho.CanDeleteUser(a, polTUA) },
			[4]bool{false, true, true, true}},
		{"create a workspace admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanAdminister(a, polWS), sekisho.CanAssignRole(a, sekisho.RoleWorkspaceAdmin))
		}, [4]bool{false, false, true, true}},
		{"promote a member to workspace admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanManageUser(a, polTMember), sekisho.CanAssignRole(a, sekisho.RoleWorkspaceAdmin))
		}, [4]bool{false, false, true, true}},
		{"demote a workspace admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanManageUser(a, polTWA), sekisho.CanAssignRole(a, sekisho.RoleMember))
		}, [4]bool{false, false, true, true}},
		{"disable a workspace admin", func(a sekisho.Actor) error {
			return firstErr(sekisho.CanManageUser(a, polTWA), sekisho.CanChangeStatus(a, polTWA, sekisho.StatusDisabled))
		}, [4]bool{false, false, true, true}},
		{"delete a workspace admin", func(a sekisho.Actor) error { return sekisho.CanDeleteUser(a, polTWA) },
			[4]bool{false, false, true, true}},
		{"reset MFA of a member", func(a sekisho.Actor) error { return sekisho.CanResetMFA(a, polTMember) },
			[4]bool{false, true, true, true}},
		{"reset MFA of a user admin", func(a sekisho.Actor) error { return sekisho.CanResetMFA(a, polTUA) },
			[4]bool{false, true, true, true}},
		{"reset MFA of (another) workspace admin", func(a sekisho.Actor) error { return sekisho.CanResetMFA(a, polTWA) },
			[4]bool{false, false, true, true}},
		{"change workspace security policy", func(a sekisho.Actor) error { return sekisho.CanChangePolicy(a, polWS) },
			[4]bool{false, false, true, true}},
		{"read the audit log", func(a sekisho.Actor) error { return sekisho.CanAdminister(a, polWS) },
			[4]bool{false, true, true, true}},
	}
	actors := []struct {
		name string
		a    sekisho.Actor
	}{{"member", polMember}, {"user_admin", polUA}, {"workspace_admin", polWA}, {"operator", polOperator}}
	for _, r := range rows {
		for i, ac := range actors {
			err := r.do(ac.a)
			if ok := err == nil; ok != r.allowed[i] {
				t.Errorf("%s by %s: err %v, want allowed=%v", r.action, ac.name, err, r.allowed[i])
			}
			if err != nil && sekisho.KindOf(err) != sekisho.KindForbidden {
				t.Errorf("%s by %s: %v is not a forbidden error", r.action, ac.name, err)
			}
			// Nothing crosses workspaces: whatever the role, another
			// workspace's objects do not exist for the actor.
			if ac.a.Kind == sekisho.ActorUser {
				err := r.do(polOtherWS(ac.a))
				if sekisho.CodeOf(err) != "not_found" {
					t.Errorf("%s by %s of another workspace: %v, want not_found", r.action, ac.name, err)
				}
			}
		}
	}
}

func TestCanAdminister(t *testing.T) {
	cases := []struct {
		name string
		a    sekisho.Actor
		ws   string
		want polWant
	}{
		{"operator", polOperator, polWS, polOK},
		{"operator, any workspace", polOperator, polOther, polOK},
		{"anonymous", sekisho.Anonymous("192.0.2.1", "curl"), polWS, polUnauth},
		{"system", sekisho.Actor{Kind: sekisho.ActorSystem}, polWS, polUnauth},
		{"zero actor", sekisho.Actor{}, polWS, polUnauth},
		{"member", polMember, polWS, polForbidden},
		{"member of another workspace", polMember, polOther, polNotFound},
		{"user admin", polUA, polWS, polOK},
		{"user admin without MFA at aal1", polNoMFA(polUA), polWS, polOK},
		{"user admin with MFA at aal1", polAAL1(polUA), polWS, polAAL2},
		{"user admin of another workspace", polUA, polOther, polNotFound},
		{"workspace admin", polWA, polWS, polOK},
		{"workspace admin without MFA at aal1", polNoMFA(polWA), polWS, polOK},
		{"workspace admin with MFA at aal1", polAAL1(polWA), polWS, polAAL2},
		{"workspace admin of another workspace", polWA, polOther, polNotFound},
		// Another workspace is checked before the session's strength, so
		// an aal1 session learns nothing about foreign ids either.
		{"workspace admin at aal1 of another workspace", polAAL1(polWA), polOther, polNotFound},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanAdminister(c.a, c.ws), c.want)
	}
}

func TestCanManageUser(t *testing.T) {
	cases := []struct {
		name   string
		a      sekisho.Actor
		target *sekisho.User
		want   polWant
	}{
		{"workspace admin → member", polWA, polTMember, polOK},
		{"workspace admin → user admin", polWA, polTUA, polOK},
		{"workspace admin → workspace admin", polWA, polTWA, polOK},
		{"workspace admin at aal1 → member", polAAL1(polWA), polTMember, polAAL2},
		{"user admin → member", polUA, polTMember, polOK},
		{"user admin → user admin", polUA, polTUA, polOK},
		{"user admin → workspace admin", polUA, polTWA, polForbidden},
		{"user admin → themself", polUA, polSelf(polUA), polOK},
		{"member → member", polMember, polTMember, polForbidden},
		{"member → themself", polMember, polSelf(polMember), polForbidden},
		{"operator → workspace admin", polOperator, polTWA, polOK},
		{"workspace admin → member of another workspace", polWA, polIn(polTMember, polOther), polNotFound},
		{"user admin → workspace admin of another workspace", polUA, polIn(polTWA, polOther), polNotFound},
		{"anonymous → member", sekisho.Anonymous("", ""), polTMember, polUnauth},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanManageUser(c.a, c.target), c.want)
	}
}

func TestCanAssignRole(t *testing.T) {
	invalid := polWant{"invalid_role", sekisho.KindInvalid}
	cases := []struct {
		name string
		a    sekisho.Actor
		role sekisho.Role
		want polWant
	}{
		{"workspace admin gives member", polWA, sekisho.RoleMember, polOK},
		{"workspace admin gives user admin", polWA, sekisho.RoleUserAdmin, polOK},
		{"workspace admin gives workspace admin", polWA, sekisho.RoleWorkspaceAdmin, polOK},
		{"user admin gives member", polUA, sekisho.RoleMember, polOK},
		{"user admin gives user admin", polUA, sekisho.RoleUserAdmin, polOK},
		{"user admin gives workspace admin", polUA, sekisho.RoleWorkspaceAdmin, polForbidden},
		{"member gives workspace admin", polMember, sekisho.RoleWorkspaceAdmin, polForbidden},
		{"operator gives workspace admin", polOperator, sekisho.RoleWorkspaceAdmin, polOK},
		{"operator gives member", polOperator, sekisho.RoleMember, polOK},
		{"empty role", polWA, "", invalid},
		{"unknown role", polWA, "owner", invalid},
		{"role in another case", polWA, "WORKSPACE_ADMIN", invalid},
		{"operator, unknown role", polOperator, "root", invalid},
		{"user admin, unknown role", polUA, "superuser", invalid},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanAssignRole(c.a, c.role), c.want)
	}
}

func TestCanChangeStatus(t *testing.T) {
	invalid := polWant{"invalid_status", sekisho.KindInvalid}
	invited := polWithStatus(polTMember, sekisho.StatusInvited)
	disabled := polWithStatus(polTMember, sekisho.StatusDisabled)
	cases := []struct {
		name   string
		a      sekisho.Actor
		target *sekisho.User
		status sekisho.Status
		want   polWant
	}{
		{"disable a member", polWA, polTMember, sekisho.StatusDisabled, polOK},
		{"disable a workspace admin", polWA, polTWA, sekisho.StatusDisabled, polOK},
		{"enable a disabled member", polUA, disabled, sekisho.StatusActive, polOK},
		{"disable an invited member", polUA, invited, sekisho.StatusDisabled, polOK},
		{"activate an invited member", polWA, invited, sekisho.StatusActive, polWant{"user_invited", sekisho.KindConflict}},
		{"workspace admin disables themself", polWA, polSelf(polWA), sekisho.StatusDisabled, polWant{"cannot_disable_self", sekisho.KindConflict}},
		{"user admin disables themself", polUA, polSelf(polUA), sekisho.StatusDisabled, polWant{"cannot_disable_self", sekisho.KindConflict}},
		{"workspace admin keeps themself active", polWA, polSelf(polWA), sekisho.StatusActive, polOK},
		{"operator disables a workspace admin", polOperator, polTWA, sekisho.StatusDisabled, polOK},
		{"set invited", polWA, polTMember, sekisho.StatusInvited, invalid},
		{"empty status", polWA, polTMember, "", invalid},
		{"unknown status", polWA, polTMember, "deleted", invalid},
		{"operator, unknown status", polOperator, polTMember, "locked", invalid},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanChangeStatus(c.a, c.target, c.status), c.want)
	}
}

func TestCanDeleteUser(t *testing.T) {
	self := polWant{"cannot_delete_self", sekisho.KindConflict}
	cases := []struct {
		name   string
		a      sekisho.Actor
		target *sekisho.User
		want   polWant
	}{
		{"workspace admin deletes a member", polWA, polTMember, polOK},
		{"workspace admin deletes a user admin", polWA, polTUA, polOK},
		{"workspace admin deletes another workspace admin", polWA, polTWA, polOK},
		{"workspace admin deletes themself", polWA, polSelf(polWA), self},
		{"user admin deletes a member", polUA, polTMember, polOK},
		{"user admin deletes a user admin", polUA, polTUA, polOK},
		{"user admin deletes a workspace admin", polUA, polTWA, polForbidden},
		{"user admin deletes themself", polUA, polSelf(polUA), self},
		{"member deletes a member", polMember, polTMember, polForbidden},
		{"member deletes themself", polMember, polSelf(polMember), polForbidden},
		{"operator deletes a workspace admin", polOperator, polTWA, polOK},
		{"workspace admin deletes a member of another workspace", polWA, polIn(polTMember, polOther), polNotFound},
		{"workspace admin at aal1 deletes a member", polAAL1(polWA), polTMember, polAAL2},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanDeleteUser(c.a, c.target), c.want)
	}
}

func TestCanResetMFA(t *testing.T) {
	self := polWant{"cannot_reset_own_mfa", sekisho.KindForbidden}
	cases := []struct {
		name   string
		a      sekisho.Actor
		target *sekisho.User
		want   polWant
	}{
		{"user admin resets a member", polUA, polTMember, polOK},
		{"user admin resets another user admin", polUA, polTUA, polOK},
		{"user admin resets a workspace admin", polUA, polTWA, polForbidden},
		{"user admin resets themself", polUA, polSelf(polUA), self},
		{"workspace admin resets a member", polWA, polTMember, polOK},
		{"workspace admin resets a user admin", polWA, polTUA, polOK},
		{"workspace admin resets another workspace admin", polWA, polTWA, polOK},
		{"workspace admin resets themself", polWA, polSelf(polWA), self},
		{"workspace admin without MFA resets another", polNoMFA(polWA), polTWA, polOK},
		{"workspace admin with MFA at aal1", polAAL1(polWA), polTWA, polAAL2},
		{"member resets a member", polMember, polTMember, polForbidden},
		{"member resets themself", polMember, polSelf(polMember), polForbidden},
		{"operator resets the only workspace admin", polOperator, polTWA, polOK},
		{"operator resets a member", polOperator, polTMember, polOK},
		{"workspace admin resets an admin of another workspace", polWA, polIn(polTWA, polOther), polNotFound},
		{"user admin resets a member of another workspace", polUA, polIn(polTMember, polOther), polNotFound},
		{"anonymous", sekisho.Anonymous("", ""), polTMember, polUnauth},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanResetMFA(c.a, c.target), c.want)
	}
}

func TestCanChangePolicy(t *testing.T) {
	cases := []struct {
		name string
		a    sekisho.Actor
		ws   string
		want polWant
	}{
		{"workspace admin", polWA, polWS, polOK},
		{"workspace admin without MFA", polNoMFA(polWA), polWS, polOK},
		{"workspace admin with MFA at aal1", polAAL1(polWA), polWS, polAAL2},
		{"workspace admin of another workspace", polWA, polOther, polNotFound},
		{"user admin", polUA, polWS, polForbidden},
		{"member", polMember, polWS, polForbidden},
		{"operator", polOperator, polWS, polOK},
		{"anonymous", sekisho.Anonymous("", ""), polWS, polUnauth},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.CanChangePolicy(c.a, c.ws), c.want)
	}
}

func TestRequireRecentAuth(t *testing.T) {
	// The window is what the tests below and the web tests' clock
	// arithmetic assume.
	if sekisho.ReauthWindow != 5*time.Minute {
		t.Fatalf("ReauthWindow = %v, want 5m", sekisho.ReauthWindow)
	}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	at := func(authTime time.Time) sekisho.Actor { a := polMember; a.AuthTime = authTime; return a }
	cases := []struct {
		name string
		a    sekisho.Actor
		want polWant
	}{
		{"just now", at(now), polOK},
		{"a minute ago", at(now.Add(-time.Minute)), polOK},
		{"exactly 5 minutes ago", at(now.Add(-5 * time.Minute)), polOK},
		{"5 minutes and 1 ns ago", at(now.Add(-5*time.Minute - time.Nanosecond)), polReauth},
		{"5 minutes and 1 s ago", at(now.Add(-5*time.Minute - time.Second)), polReauth},
		{"an hour ago", at(now.Add(-time.Hour)), polReauth},
		{"never", at(time.Time{}), polReauth},
		{"admin, exactly 5 minutes ago", func() sekisho.Actor { a := polWA; a.AuthTime = now.Add(-5 * time.Minute); return a }(), polOK},
		{"admin, 6 minutes ago", func() sekisho.Actor { a := polWA; a.AuthTime = now.Add(-6 * time.Minute); return a }(), polReauth},
		// Operators act with database access; there is no session to
		// re-authenticate.
		{"operator", polOperator, polOK},
		{"operator with an old auth time", func() sekisho.Actor { a := polOperator; a.AuthTime = now.Add(-24 * time.Hour); return a }(), polOK},
	}
	for _, c := range cases {
		polCheck(t, c.name, sekisho.RequireRecentAuth(c.a, now), c.want)
	}
}

// TestLosesAdmin walks every (role, status) → (role, status) change: it
// loses an admin exactly when a workspace admin who is not disabled (active,
// or invited into a new workspace) stops being one.
func TestLosesAdmin(t *testing.T) {
	roles := []sekisho.Role{sekisho.RoleWorkspaceAdmin, sekisho.RoleUserAdmin, sekisho.RoleMember}
	statuses := []sekisho.Status{sekisho.StatusActive, sekisho.StatusInvited, sekisho.StatusDisabled}
	activeAdmin := func(r sekisho.Role, s sekisho.Status) int {
		if r == sekisho.RoleWorkspaceAdmin && s != sekisho.StatusDisabled {
			return 1
		}
		return 0
	}
	n, losing := 0, 0
	for _, r := range roles {
		for _, s := range statuses {
			for _, nr := range roles {
				for _, ns := range statuses {
					n++
					want := activeAdmin(r, s)-activeAdmin(nr, ns) == 1
					if want {
						losing++
					}
					if got := sekisho.LosesAdmin(r, s, nr, ns); got != want {
						t.Errorf("LosesAdmin(%s, %s → %s, %s) = %v, want %v", r, s, nr, ns, got, want)
					}
				}
			}
		}
	}
	// From each of the two admin states, the 7 non-admin targets lose it.
	if n != 81 || losing != 14 {
		t.Fatalf("walked %d combinations, %d losing; want 81 and 14", n, losing)
	}
	// The cases the services rely on, spelled out.
	spelled := []struct {
		r    sekisho.Role
		s    sekisho.Status
		nr   sekisho.Role
		ns   sekisho.Status
		want bool
		why  string
	}{
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, sekisho.RoleMember, sekisho.StatusActive, true, "demote"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, sekisho.RoleWorkspaceAdmin, sekisho.StatusDisabled, true, "disable"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, sekisho.RoleMember, sekisho.StatusDisabled, true, "delete (as DeleteUser asks)"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, false, "no change"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusInvited, sekisho.RoleMember, sekisho.StatusInvited, true, "demote an invited admin"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusInvited, sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, false, "an invited admin accepts"},
		{sekisho.RoleWorkspaceAdmin, sekisho.StatusDisabled, sekisho.RoleMember, sekisho.StatusDisabled, false, "demote a disabled admin"},
		{sekisho.RoleMember, sekisho.StatusActive, sekisho.RoleWorkspaceAdmin, sekisho.StatusActive, false, "promote"},
	}
	for _, c := range spelled {
		if got := sekisho.LosesAdmin(c.r, c.s, c.nr, c.ns); got != c.want {
			t.Errorf("%s: LosesAdmin = %v, want %v", c.why, got, c.want)
		}
	}
}

// enforced is when the policy of the MFA tests below was switched on.
var enforced = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func polWorkspace(require bool, grace int) *sekisho.Workspace {
	w := &sekisho.Workspace{ID: polWS, Slug: "acme", RequireMFA: require, MFAGraceDays: grace}
	if require {
		w.MFAEnforcedSince = enforced
	}
	return w
}

// polMFAUser is a member of polWS who joined at joined and whose MFA an
// admin last reset at reset (zero: never).
func polMFAUser(hasMFA bool, joined, reset time.Time) *sekisho.User {
	return &sekisho.User{ID: "u1", WorkspaceID: polWS, Role: sekisho.RoleMember, Status: sekisho.StatusActive,
		HasMFA: hasMFA, JoinedAt: joined, MFAResetAt: reset}
}

func TestMFAEnrollmentDue(t *testing.T) {
	before := enforced.Add(-days(30))
	never := time.Time{}
	cases := []struct {
		name    string
		w       *sekisho.Workspace
		u       *sekisho.User
		want    time.Time
		wantDue bool
	}{
		{"policy off", polWorkspace(false, 14), polMFAUser(false, before, never), never, false},
		{"policy off, reset user", polWorkspace(false, 14), polMFAUser(false, before, enforced), never, false},
		{"user has MFA", polWorkspace(true, 14), polMFAUser(true, before, never), never, false},
		{"user has MFA again after a reset", polWorkspace(true, 14), polMFAUser(true, before, enforced.Add(days(1))), never, false},
		{"joined before enforcement", polWorkspace(true, 14), polMFAUser(false, before, never), enforced.Add(days(14)), true},
		{"joined after enforcement", polWorkspace(true, 14), polMFAUser(false, enforced.Add(days(3)), never), enforced.Add(days(17)), true},
		{"joined the moment it was enforced", polWorkspace(true, 14), polMFAUser(false, enforced, never), enforced.Add(days(14)), true},
		{"still invited", polWorkspace(true, 14), polMFAUser(false, never, never), enforced.Add(days(14)), true},
		{"0 grace days, joined before", polWorkspace(true, 0), polMFAUser(false, before, never), enforced, true},
		{"0 grace days, joined after", polWorkspace(true, 0), polMFAUser(false, enforced.Add(days(3)), never), enforced.Add(days(3)), true},
		{"90 grace days", polWorkspace(true, 90), polMFAUser(false, before, never), enforced.Add(days(90)), true},
		// A reset under the policy ends the grace at once: the user
		// enrolls again at the next sign-in.
		{"reset after enforcement, inside the grace", polWorkspace(true, 14), polMFAUser(false, before, enforced.Add(days(2))), enforced.Add(days(2)), true},
		{"reset in the millisecond of enforcement", polWorkspace(true, 14), polMFAUser(false, before, enforced), enforced, true},
		{"reset a millisecond after enforcement", polWorkspace(true, 14), polMFAUser(false, before, enforced.Add(time.Millisecond)), enforced.Add(time.Millisecond), true},
		{"reset of a user who joined after enforcement", polWorkspace(true, 14), polMFAUser(false, enforced.Add(days(3)), enforced.Add(days(5))), enforced.Add(days(5)), true},
		{"reset after the grace ended keeps the earlier deadline", polWorkspace(true, 14), polMFAUser(false, before, enforced.Add(days(20))), enforced.Add(days(14)), true},
		{"reset after enforcement, 0 grace days", polWorkspace(true, 0), polMFAUser(false, before, enforced.Add(days(2))), enforced, true},
		// A reset while MFA was optional is history: the grace period of
		// the later enforcement applies in full.
		{"reset before enforcement", polWorkspace(true, 14), polMFAUser(false, before, enforced.Add(-days(1))), enforced.Add(days(14)), true},
		{"reset long before enforcement", polWorkspace(true, 7), polMFAUser(false, before, before.Add(days(1))), enforced.Add(days(7)), true},
	}
	for _, c := range cases {
		got, ok := sekisho.MFAEnrollmentDue(c.w, c.u)
		if ok != c.wantDue || !got.Equal(c.want) {
			t.Errorf("%s: MFAEnrollmentDue = %v, %v; want %v, %v", c.name, got, ok, c.want, c.wantDue)
		}
	}
}

// polMoment is a point in time relative to the grace period of a user who
// joined before enforcement of a 7-day grace.
type polMoment struct {
	name string
	now  time.Time
}

var (
	polGraceEnd = enforced.Add(days(7))
	polInside   = polMoment{"inside the grace", enforced.Add(days(1))}
	polLastNS   = polMoment{"last nanosecond of the grace", polGraceEnd.Add(-time.Nanosecond)}
	polAtEnd    = polMoment{"the instant the grace ends", polGraceEnd}
	polAfter    = polMoment{"after the grace", polGraceEnd.Add(days(30))}
)

// TestNextSignInStep decides every combination of MFA, policy and time.
// Nobody without MFA is ever refused: they sign in or enroll.
func TestNextSignInStep(t *testing.T) {
	joined := enforced.Add(-days(30))
	type want struct{ mfa, noMFA sekisho.SignInStep }
	cases := []struct {
		require bool
		at      polMoment
		want    want
	}{
		{false, polInside, want{sekisho.StepMFARequired, sekisho.StepSignedIn}},
		{false, polAtEnd, want{sekisho.StepMFARequired, sekisho.StepSignedIn}},
		{false, polAfter, want{sekisho.StepMFARequired, sekisho.StepSignedIn}},
		{true, polInside, want{sekisho.StepMFARequired, sekisho.StepSignedIn}},
		{true, polLastNS, want{sekisho.StepMFARequired, sekisho.StepSignedIn}},
		{true, polAtEnd, want{sekisho.StepMFARequired, sekisho.StepEnrollmentRequired}},
		{true, polAfter, want{sekisho.StepMFARequired, sekisho.StepEnrollmentRequired}},
	}
	for _, c := range cases {
		w := polWorkspace(c.require, 7)
		for _, hasMFA := range []bool{true, false} {
			want := c.want.noMFA
			if hasMFA {
				want = c.want.mfa
			}
			if got := sekisho.NextSignInStep(w, polMFAUser(hasMFA, joined, time.Time{}), c.at.now); got != want {
				t.Errorf("require=%v, has MFA=%v, %s: %s, want %s", c.require, hasMFA, c.at.name, got, want)
			}
		}
	}

	more := []struct {
		name string
		w    *sekisho.Workspace
		u    *sekisho.User
		now  time.Time
		want sekisho.SignInStep
	}{
		{"0 grace days: enrollment at once", polWorkspace(true, 0), polMFAUser(false, joined, time.Time{}), enforced, sekisho.StepEnrollmentRequired},
		{"0 grace days, joined later: enrollment at first sign-in", polWorkspace(true, 0), polMFAUser(false, enforced.Add(days(3)), time.Time{}), enforced.Add(days(3)), sekisho.StepEnrollmentRequired},
		{"joined late: own grace still running", polWorkspace(true, 7), polMFAUser(false, enforced.Add(days(5)), time.Time{}), enforced.Add(days(10)), sekisho.StepSignedIn},
		{"reset under the policy, inside what was the grace", polWorkspace(true, 7), polMFAUser(false, joined, enforced.Add(days(1))), enforced.Add(days(1)), sekisho.StepEnrollmentRequired},
		{"reset while optional, then enforced: full grace", polWorkspace(true, 7), polMFAUser(false, joined, enforced.Add(-days(1))), enforced.Add(days(1)), sekisho.StepSignedIn},
		{"reset while optional, then enforced: after the grace", polWorkspace(true, 7), polMFAUser(false, joined, enforced.Add(-days(1))), enforced.Add(days(8)), sekisho.StepEnrollmentRequired},
		{"reset user with MFA again", polWorkspace(true, 7), polMFAUser(true, joined, enforced.Add(days(1))), enforced.Add(days(1)), sekisho.StepMFARequired},
	}
	for _, c := range more {
		if got := sekisho.NextSignInStep(c.w, c.u, c.now); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestSessionMeetsPolicy decides every combination of MFA, policy, time and
// session assurance level.
func TestSessionMeetsPolicy(t *testing.T) {
	joined := enforced.Add(-days(30))
	cases := []struct {
		hasMFA  bool
		require bool
		at      polMoment
		aal     sekisho.AAL
		want    bool
	}{
		// An aal2 session has shown a second factor: it meets any policy.
		{true, false, polInside, sekisho.AAL2, true},
		{true, false, polAfter, sekisho.AAL2, true},
		{true, true, polInside, sekisho.AAL2, true},
		{true, true, polAfter, sekisho.AAL2, true},
		{false, false, polInside, sekisho.AAL2, true},
		{false, false, polAfter, sekisho.AAL2, true},
		{false, true, polInside, sekisho.AAL2, true},
		{false, true, polAfter, sekisho.AAL2, true},
		// A user with MFA holding a password-only session: fine while
		// optional; under the policy they must show the factor.
		{true, false, polInside, sekisho.AAL1, true},
		{true, false, polAfter, sekisho.AAL1, true},
		{true, true, polInside, sekisho.AAL1, false},
		{true, true, polAfter, sekisho.AAL1, false},
		// A user without MFA: fine while optional, and under the policy
		// until the grace ends.
		{false, false, polInside, sekisho.AAL1, true},
		{false, false, polAfter, sekisho.AAL1, true},
		{false, true, polInside, sekisho.AAL1, true},
		{false, true, polLastNS, sekisho.AAL1, true},
		{false, true, polAtEnd, sekisho.AAL1, false},
		{false, true, polAfter, sekisho.AAL1, false},
	}
	for _, c := range cases {
		got := sekisho.SessionMeetsPolicy(polWorkspace(c.require, 7), polMFAUser(c.hasMFA, joined, time.Time{}), c.aal, c.at.now)
		if got != c.want {
			t.Errorf("has MFA=%v, require=%v, %s, %s: %v, want %v", c.hasMFA, c.require, c.at.name, c.aal, got, c.want)
		}
	}

	// A reset under the policy ends an aal1 session's grace at once.
	w := polWorkspace(true, 7)
	reset := polMFAUser(false, joined, enforced.Add(days(1)))
	if sekisho.SessionMeetsPolicy(w, reset, sekisho.AAL1, enforced.Add(days(1))) {
		t.Error("aal1 session of a user reset under the policy still accepted")
	}
	if !sekisho.SessionMeetsPolicy(w, reset, sekisho.AAL1, enforced.Add(days(1)-time.Millisecond)) {
		t.Error("aal1 session refused before the reset")
	}
	// 0 grace days: an aal1 session without MFA ends when the policy starts.
	if sekisho.SessionMeetsPolicy(polWorkspace(true, 0), polMFAUser(false, joined, time.Time{}), sekisho.AAL1, enforced) {
		t.Error("0 grace days: aal1 session without MFA still accepted")
	}
}

// TestPolicyNeverRefuses is the product's promise at the level of the
// rules: for any state a correct password leads somewhere, never to a dead
// end, and "signed in" comes with a session the policy accepts.
func TestPolicyNeverRefuses(t *testing.T) {
	joined := enforced.Add(-days(30))
	for _, require := range []bool{false, true} {
		for _, grace := range []int{0, 1, 7, 90} {
			for _, hasMFA := range []bool{false, true} {
				for _, reset := range []time.Time{{}, enforced.Add(-days(1)), enforced.Add(days(1))} {
					for _, at := range []time.Duration{0, days(1), days(2), days(8), days(100)} {
						w := polWorkspace(require, grace)
						u := polMFAUser(hasMFA, joined, reset)
						now := enforced.Add(at)
						name := fmt.Sprintf("require=%v grace=%d mfa=%v reset=%v at=+%v", require, grace, hasMFA, reset, at)
						switch step := sekisho.NextSignInStep(w, u, now); step {
						case sekisho.StepSignedIn:
							if !sekisho.SessionMeetsPolicy(w, u, sekisho.AAL1, now) {
								t.Errorf("%s: signed in with a session the policy refuses", name)
							}
						case sekisho.StepMFARequired:
							if !hasMFA {
								t.Errorf("%s: asked for a factor the user does not have", name)
							}
						case sekisho.StepEnrollmentRequired:
							if !require || hasMFA {
								t.Errorf("%s: asked to enroll without need", name)
							}
						default:
							t.Errorf("%s: unknown step %q", name, step)
						}
					}
				}
			}
		}
	}
}

package sekisho

import "time"

// The rules of PRODUCT.md's permission table and MFA policy, as plain
// functions. They are the only place these decisions are made: services call
// them inside their transactions, with state read in that transaction.

// ReauthWindow is how recently a user must have proved a credential before a
// sensitive change (password, factors, recovery codes, admin actions on
// credentials or policy).
const ReauthWindow = 5 * time.Minute

// RequireRecentAuth returns ErrReauthRequired unless the actor proved a
// credential within ReauthWindow of now. Operators act with database access
// and are not asked.
func RequireRecentAuth(a Actor, now time.Time) error {
	if a.Kind == ActorOperator {
		return nil
	}
	if a.AuthTime.IsZero() || now.Sub(a.AuthTime) > ReauthWindow {
		return ErrReauthRequired
	}
	return nil
}

// CanAdminister returns nil when a may use the admin API of workspaceID at
// all: list and view users, read the audit log. An admin who has MFA must be
// signed in at aal2, so a stolen password alone never reaches the console.
func CanAdminister(a Actor, workspaceID string) error {
	switch a.Kind {
	case ActorOperator:
		return nil
	case ActorUser:
	default:
		return ErrUnauthenticated
	}
	if a.WorkspaceID != workspaceID {
		return ErrNotFound // another workspace does not exist for this actor
	}
	if !a.Role.IsAdmin() {
		return ErrForbidden
	}
	if a.HasMFA && a.AAL != AAL2 {
		return ErrAAL2Required
	}
	return nil
}

// CanManageUser returns nil when a may create, change, disable or delete
// target (a user of the actor's workspace). Only a workspace admin acts on a
// workspace admin; nobody disables or deletes themselves through the admin
// API (account settings are for that), so an admin can't lock themselves out
// by a slip of the mouse.
func CanManageUser(a Actor, target *User) error {
	if err := CanAdminister(a, target.WorkspaceID); err != nil {
		return err
	}
	if a.Kind == ActorOperator {
		return nil
	}
	if target.Role == RoleWorkspaceAdmin && a.Role != RoleWorkspaceAdmin {
		return Errorf(KindForbidden, "forbidden", "Only a workspace admin can change a workspace admin.")
	}
	return nil
}

// CanAssignRole returns nil when a may give role to a user: user admins
// create and manage members and user admins, never workspace admins.
func CanAssignRole(a Actor, role Role) error {
	if !role.Valid() {
		return Invalid("role", "invalid_role", "Role must be workspace_admin, user_admin or member.")
	}
	if a.Kind == ActorOperator {
		return nil
	}
	if role == RoleWorkspaceAdmin && a.Role != RoleWorkspaceAdmin {
		return Errorf(KindForbidden, "forbidden", "Only a workspace admin can make someone a workspace admin.")
	}
	return nil
}

// CanChangeStatus returns nil when a may set target's status to status.
func CanChangeStatus(a Actor, target *User, status Status) error {
	if status != StatusActive && status != StatusDisabled {
		return Invalid("status", "invalid_status", "Status can be set to active or disabled.")
	}
	if a.Kind == ActorUser && a.UserID == target.ID && status == StatusDisabled {
		return Errorf(KindConflict, "cannot_disable_self", "You cannot disable your own account.")
	}
	if status == StatusActive && target.Status == StatusInvited {
		return Errorf(KindConflict, "user_invited", "An invited user becomes active by accepting the invitation.")
	}
	return nil
}

// CanDeleteUser returns nil when a may delete target.
func CanDeleteUser(a Actor, target *User) error {
	if err := CanManageUser(a, target); err != nil {
		return err
	}
	if a.Kind == ActorUser && a.UserID == target.ID {
		return Errorf(KindConflict, "cannot_delete_self", "You cannot delete your own account.")
	}
	return nil
}

// CanResetMFA returns nil when a may reset target's MFA (the seed's 解除):
// user admins reset members and user admins, only another workspace admin
// resets a workspace admin, and nobody resets themselves through the admin
// path — their own factors are managed in account settings.
func CanResetMFA(a Actor, target *User) error {
	if err := CanManageUser(a, target); err != nil {
		return err
	}
	if a.Kind == ActorUser && a.UserID == target.ID {
		return Errorf(KindForbidden, "cannot_reset_own_mfa", "Manage your own authenticators in account settings.")
	}
	return nil
}

// CanChangePolicy returns nil when a may change workspaceID's security policy.
func CanChangePolicy(a Actor, workspaceID string) error {
	if err := CanAdminister(a, workspaceID); err != nil {
		return err
	}
	if a.Kind == ActorUser && a.Role != RoleWorkspaceAdmin {
		return Errorf(KindForbidden, "forbidden", "Only a workspace admin can change the security policy.")
	}
	return nil
}

// LosesAdmin reports whether changing a user from (role, status) to
// (newRole, newStatus) takes a workspace admin (active, or invited into a
// new workspace) away, so the caller must check that another one remains.
// Deleting counts as becoming a disabled member.
func LosesAdmin(role Role, status Status, newRole Role, newStatus Status) bool {
	was := role == RoleWorkspaceAdmin && status != StatusDisabled
	is := newRole == RoleWorkspaceAdmin && newStatus != StatusDisabled
	return was && !is
}

// MaxMFAGraceDays bounds Workspace.MFAGraceDays.
const MaxMFAGraceDays = 90

// MFAEnrollmentDue returns when u must have a second factor under w's
// policy; ok is false when no deadline applies (policy off, or u has MFA).
// The grace period runs from the later of enforcement and the user's
// joining; an admin reset under the policy ends it at once, since a reset
// user is expected to enroll again at the next sign-in.
func MFAEnrollmentDue(w *Workspace, u *User) (due time.Time, ok bool) {
	if !w.RequireMFA || u.HasMFA {
		return time.Time{}, false
	}
	start := w.MFAEnforcedSince
	if u.JoinedAt.After(start) {
		start = u.JoinedAt
	}
	due = start.AddDate(0, 0, w.MFAGraceDays)
	// A reset in the same millisecond as enforcement counts as under it:
	// times can't order the two, and enrolling at once is the safe side.
	if !u.MFAResetAt.IsZero() && !u.MFAResetAt.Before(w.MFAEnforcedSince) && u.MFAResetAt.Before(due) {
		due = u.MFAResetAt
	}
	return due, true
}

// SignInStep is what happens after a correct password.
type SignInStep string

const (
	StepSignedIn           SignInStep = "signed_in"               // session issued (aal1)
	StepMFARequired        SignInStep = "mfa_required"            // a second factor must follow
	StepEnrollmentRequired SignInStep = "mfa_enrollment_required" // enroll a factor before any session
)

// NextSignInStep decides the sign-in state machine of PRODUCT.md flow 3.
// Whatever the user's history, a user without MFA is never refused: they
// either sign in (policy off, or inside the grace period) or are walked
// through enrollment.
func NextSignInStep(w *Workspace, u *User, now time.Time) SignInStep {
	if u.HasMFA {
		return StepMFARequired
	}
	if due, ok := MFAEnrollmentDue(w, u); ok && !now.Before(due) {
		return StepEnrollmentRequired
	}
	return StepSignedIn
}

// SessionMeetsPolicy reports whether a session at aal still satisfies w's
// policy for u: an aal1 session of a user without MFA stops being accepted
// once their grace period ends, and the app sends them to sign in, where
// they enroll.
func SessionMeetsPolicy(w *Workspace, u *User, aal AAL, now time.Time) bool {
	if aal == AAL2 {
		return true
	}
	if u.HasMFA {
		// Possible only for a session that predates enrollment elsewhere;
		// under a required policy it must sign in again with the factor.
		return !w.RequireMFA
	}
	due, ok := MFAEnrollmentDue(w, u)
	return !ok || now.Before(due)
}

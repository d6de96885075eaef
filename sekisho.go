// Package sekisho holds the domain of sekisho, a sign-in service for
// multi-tenant B2B SaaS: workspaces, users, sessions, authenticators and
// audit events as plain types, and the rules that decide who may do what
// (policy.go). It has no HTTP and no SQL in it; the auth package applies these
// rules inside database transactions and the web package exposes them.
package sekisho

import "time"

// Role is a user's role inside their workspace.
type Role string

const (
	RoleWorkspaceAdmin Role = "workspace_admin"
	RoleUserAdmin      Role = "user_admin"
	RoleMember         Role = "member"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool {
	return r == RoleWorkspaceAdmin || r == RoleUserAdmin || r == RoleMember
}

// IsAdmin reports whether r may use the admin console at all.
func (r Role) IsAdmin() bool { return r == RoleWorkspaceAdmin || r == RoleUserAdmin }

// Status is a user's account status.
type Status string

const (
	StatusInvited  Status = "invited"  // created by an admin; has not set a password yet
	StatusActive   Status = "active"   // may sign in
	StatusDisabled Status = "disabled" // may not sign in; kept for audit and re-enabling
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool {
	return s == StatusInvited || s == StatusActive || s == StatusDisabled
}

// AAL is a session's authenticator assurance level (NIST SP 800-63B).
type AAL string

const (
	AAL1 AAL = "aal1" // password only
	AAL2 AAL = "aal2" // password and a second factor
)

// Workspace is a tenant. Its security policy travels with it.
type Workspace struct {
	ID   string
	Slug string
	Name string

	// RequireMFA makes a second factor mandatory for every member. Members
	// without one get MFAGraceDays from MFAEnforcedSince (or from joining,
	// whichever is later) before sign-in walks them through enrollment.
	RequireMFA       bool
	MFAGraceDays     int
	MFAEnforcedSince time.Time // zero while RequireMFA is false

	// ResetRequiresAccessCode makes an admin MFA reset hand out a one-time
	// access code the user must enter to enroll again.
	ResetRequiresAccessCode bool

	CreatedAt time.Time
}

// User is a person inside one workspace. The same email in two workspaces
// is two users.
type User struct {
	ID          string
	WorkspaceID string
	Email       string // normalized: trimmed, lower case
	Name        string
	Locale      string // "en" or "ja"; "" means the browser decides
	Role        Role
	Status      Status

	// HasMFA is true while the user holds at least one confirmed
	// authenticator (TOTP now, passkeys later).
	HasMFA bool
	// MFAResetAt is when an admin last reset the user's MFA; under a
	// required policy it ends any grace period, so the user enrolls again
	// at the next sign-in. Cleared when they enroll.
	MFAResetAt time.Time

	JoinedAt  time.Time // when the user first became active; zero while invited
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Session is a signed-in browser or API client. Only the token's hash is
// stored; the token itself is handed to the client once.
type Session struct {
	ID          string
	UserID      string
	WorkspaceID string
	AAL         AAL
	// AuthTime is when the user last proved a credential in this session:
	// sign-in or re-authentication. Sensitive changes need a recent one.
	AuthTime   time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	IP         string
	UserAgent  string
}

// IdleExpiresAt is when the session ends if it is not used before.
func (s *Session) IdleExpiresAt(idle time.Duration) time.Time { return s.LastSeenAt.Add(idle) }

// AuthenticatorKind names a kind of second factor.
type AuthenticatorKind string

const (
	KindTOTP    AuthenticatorKind = "totp"
	KindPasskey AuthenticatorKind = "passkey" // reserved for WebAuthn
)

// Authenticator is one second factor of a user. A TOTP authenticator is
// pending until a code confirms it; only confirmed ones count as MFA.
type Authenticator struct {
	ID          string
	UserID      string
	Kind        AuthenticatorKind
	Name        string
	ConfirmedAt time.Time // zero while pending
	LastUsedAt  time.Time
	CreatedAt   time.Time
}

// Confirmed reports whether the authenticator counts as a second factor.
func (a *Authenticator) Confirmed() bool { return !a.ConfirmedAt.IsZero() }

// ActorKind says who performed an action.
type ActorKind string

const (
	ActorUser      ActorKind = "user"      // a signed-in user of the workspace
	ActorOperator  ActorKind = "operator"  // the vendor's support team, through the CLI
	ActorAnonymous ActorKind = "anonymous" // someone not (yet) signed in
	ActorSystem    ActorKind = "system"    // sekisho itself
)

// Actor is whoever asks for an action, with what the rules need to know
// about them. Handlers build it from the session; the CLI builds an operator.
type Actor struct {
	Kind        ActorKind
	UserID      string
	WorkspaceID string
	Role        Role
	HasMFA      bool
	SessionID   string
	AAL         AAL
	AuthTime    time.Time
	Reason      string // required for operators, recorded in the audit log
	Operator    string // the operator's name (OS user), for the audit log
	IP          string
	UserAgent   string
}

// Operator returns the actor for the operator CLI.
func Operator(name, reason string) Actor {
	return Actor{Kind: ActorOperator, Operator: name, Reason: reason}
}

// Anonymous returns the actor for a request that is not signed in.
func Anonymous(ip, userAgent string) Actor {
	return Actor{Kind: ActorAnonymous, IP: ip, UserAgent: userAgent}
}

// AuditEvent is one append-only record of a security-relevant action.
type AuditEvent struct {
	ID          int64
	Time        time.Time
	WorkspaceID string // "" for events outside any workspace
	Type        string // dotted, e.g. "user.sign_in", "mfa.reset"
	Result      string // "success", "failure" or "denied"
	ActorKind   ActorKind
	ActorID     string // user id, or the operator's name
	TargetID    string // the user acted on, if any
	IP          string
	UserAgent   string
	Reason      string            // operator's --reason
	Details     map[string]string // never a secret
}

// Audit results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultDenied  = "denied"
)

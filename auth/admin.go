package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// Page sizes of admin lists.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// UserQuery filters the admin user list.
type UserQuery struct {
	Role   string // "" or a role
	Status string // "" or a status
	MFA    string // "", "enabled" or "disabled"
	Q      string // substring of email or name
	Cursor string // from the previous page's NextCursor
	Limit  int
}

// UserPage is one page of the admin user list.
type UserPage struct {
	Users      []*sekisho.User
	NextCursor string // "" on the last page
}

var errBadCursor = sekisho.Invalid("cursor", "invalid_cursor", "The cursor is not one this list gave out.")

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, sekisho.Invalid("limit", "invalid_limit", "Limit must be between 1 and 200.")
	}
	return n, nil
}

// Cursors are opaque to clients: the last row's key, base64url-encoded.
func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// The audit log's cursor is the last event's id, in decimal.
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	// A key is text: PostgreSQL would fail on NUL or invalid UTF-8.
	if err != nil || len(b) == 0 || len(b) > 64 || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return "", errBadCursor
	}
	return string(b), nil
}

// ListUsers returns a page of users of workspaceID. Admins of that
// workspace and operators only; anyone else gets ErrNotFound (another
// workspace) or ErrForbidden (a member).
func (s *Service) ListUsers(ctx context.Context, a sekisho.Actor, workspaceID string, q UserQuery) (*UserPage, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "users.list", "", err)
	}
	f := store.UserFilter{WorkspaceID: workspaceID, Query: strings.TrimSpace(q.Q)}
	if q.Role != "" {
		if f.Role = sekisho.Role(q.Role); !f.Role.Valid() {
			return nil, sekisho.Invalid("role", "invalid_role", "Role must be workspace_admin, user_admin or member.")
		}
	}
	if q.Status != "" {
		if f.Status = sekisho.Status(q.Status); !f.Status.Valid() {
			return nil, sekisho.Invalid("status", "invalid_status", "Status must be invited, active or disabled.")
		}
	}
	switch q.MFA {
	case "":
	case "enabled", "disabled":
		v := q.MFA == "enabled"
		f.MFA = &v
	default:
		return nil, sekisho.Invalid("mfa", "invalid_mfa", "mfa must be enabled or disabled.")
	}
	if len(f.Query) > 100 {
		return nil, sekisho.Invalid("q", "invalid_query", "Search for at most 100 characters.")
	}
	var err error
	if f.After, err = decodeCursor(q.Cursor); err != nil {
		return nil, err
	}
	if f.Limit, err = pageLimit(q.Limit); err != nil {
		return nil, err
	}
	f.Limit++ // one more tells whether there is a next page
	var page UserPage
	err = s.view(ctx, func(tx *store.Tx) error {
		var err error
		page.Users, err = tx.Users(f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(page.Users) == f.Limit {
		page.Users = page.Users[:f.Limit-1]
		page.NextCursor = encodeCursor(page.Users[len(page.Users)-1].ID)
	}
	return &page, nil
}

// UserDetail is a user as the admin console's detail page shows them.
type UserDetail struct {
	User                   *sekisho.User
	Authenticators         []sekisho.Authenticator // confirmed only
	RecoveryCodesRemaining int
	// AccessCodePending: an admin reset left an access code the user has
	// not used. It locks their enrollment even once expired
	// (AccessCodeExpired), until another reset replaces it.
	AccessCodePending   bool
	AccessCodeExpired   bool
	AccessCodeExpiresAt time.Time
}

// GetUser returns user id of workspaceID with their MFA state.
func (s *Service) GetUser(ctx context.Context, a sekisho.Actor, workspaceID, id string) (*UserDetail, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "user.view", id, err)
	}
	now := s.now()
	var d UserDetail
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		if d.User, err = tx.User(workspaceID, id); err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		auths, err := tx.Authenticators(id)
		if err != nil {
			return err
		}
		for _, au := range auths {
			if au.Confirmed() {
				d.Authenticators = append(d.Authenticators, au.Authenticator)
			}
		}
		if _, d.RecoveryCodesRemaining, err = tx.RecoveryCodeSalt(id); err != nil {
			return err
		}
		code, err := pendingAccessCode(tx, id)
		if err != nil || code == nil {
			return err
		}
		d.AccessCodePending, d.AccessCodeExpiresAt = true, accessCodeExpiry(code)
		d.AccessCodeExpired = !now.Before(d.AccessCodeExpiresAt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// NewUser is an admin's invitation of a user.
type NewUser struct {
	Email string
	Name  string
	Role  string
}

// CreateUser invites a user into workspaceID and returns them with their
// invitation link (also emailed). User admins invite members and user
// admins; only workspace admins invite workspace admins.
func (s *Service) CreateUser(ctx context.Context, a sekisho.Actor, workspaceID string, n NewUser) (*sekisho.User, string, error) {
	if err := checkOperator(a); err != nil {
		return nil, "", err
	}
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, "", s.refuse(ctx, a, "user.create", "", err)
	}
	role := sekisho.Role(n.Role)
	if n.Role == "" {
		role = sekisho.RoleMember
	}
	if err := sekisho.CanAssignRole(a, role); err != nil {
		return nil, "", s.refuse(ctx, a, "user.create", "", err)
	}
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return nil, "", err
	}
	name, err := checkName("name", n.Name, false)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	var u *sekisho.User
	var link string
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		w, err := lockForAdmin(tx, a, workspaceID)
		if err != nil {
			return err
		}
		u, link, err = s.invite(tx, c, now, a, w, email, name, role)
		return err
	})
	return u, link, err
}

// lockForAdmin locks the workspace for an admin change and checks, under
// the lock, that the acting admin's session still exists. Every change
// that takes an admin's rights away (a role change, disabling, deletion)
// deletes their sessions under the same lock, so a request authenticated
// just before such a change is refused instead of carried out after it.
func lockForAdmin(tx *store.Tx, a sekisho.Actor, workspaceID string) (*sekisho.Workspace, error) {
	w, err := tx.LockWorkspace(workspaceID)
	if err != nil {
		return nil, notFound(err, sekisho.ErrNotFound)
	}
	if a.Kind != sekisho.ActorUser {
		return w, nil
	}
	ok, err := tx.SessionExists(a.UserID, a.SessionID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, sekisho.ErrUnauthenticated
	}
	return w, nil
}

// UserUpdate changes a user; nil fields stay.
type UserUpdate struct {
	Name   *string
	Role   *string
	Status *string
}

// UpdateUser changes a user's name, role or status. A workspace always
// keeps an active workspace admin: the change that would remove the last
// one is refused with ErrLastAdmin, also when two admins try at once. A
// role change or disabling signs the user out everywhere.
func (s *Service) UpdateUser(ctx context.Context, a sekisho.Actor, workspaceID, id string, p UserUpdate) (*sekisho.User, error) {
	if err := checkOperator(a); err != nil {
		return nil, err
	}
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "user.update", id, err)
	}
	var name string
	if p.Name != nil {
		var err error
		if name, err = checkName("name", *p.Name, false); err != nil {
			return nil, err
		}
	}
	if p.Role != nil {
		if err := sekisho.CanAssignRole(a, sekisho.Role(*p.Role)); err != nil {
			return nil, s.refuse(ctx, a, "user.update", id, err)
		}
	}
	now := s.now()
	var u *sekisho.User
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		if _, err := lockForAdmin(tx, a, workspaceID); err != nil {
			return err
		}
		var err error
		if u, err = tx.User(workspaceID, id); err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		if err := sekisho.CanManageUser(a, u); err != nil {
			return deny(tx, now, a, "user.update", u.ID, err)
		}
		role, status := u.Role, u.Status
		if p.Role != nil {
			role = sekisho.Role(*p.Role)
		}
		if p.Status != nil && sekisho.Status(*p.Status) != u.Status {
			status = sekisho.Status(*p.Status)
			if err := sekisho.CanChangeStatus(a, u, status); err != nil {
				return deny(tx, now, a, "user.update", u.ID, err)
			}
		}
		if err := keepsAnAdmin(tx, u, role, status); err != nil {
			return deny(tx, now, a, "user.update", u.ID, err)
		}
		details := map[string]string{}
		if role != u.Role {
			details["role"] = string(u.Role) + "→" + string(role)
		}
		if status != u.Status {
			details["status"] = string(u.Status) + "→" + string(status)
		}
		if p.Name != nil && name != u.Name {
			details["name"] = "changed"
		}
		if len(details) == 0 {
			return nil
		}
		if role != u.Role || status == sekisho.StatusDisabled {
			if _, err := tx.DeleteUserSessions(u.ID, ""); err != nil {
				return err
			}
			if err := tx.DeleteUserFlows(u.ID); err != nil {
				return err
			}
		}
		typ := "user.updated"
		switch {
		case role != u.Role:
			typ = "user.role_changed"
		case status == sekisho.StatusDisabled:
			typ = "user.disabled"
		case status == sekisho.StatusActive && u.Status == sekisho.StatusDisabled:
			typ = "user.enabled"
		}
		u.Role, u.Status, u.UpdatedAt = role, status, now
		if p.Name != nil {
			u.Name = name
		}
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		return audit(tx, now, a, workspaceID, typ, sekisho.ResultSuccess, u.ID, details)
	})
	return u, err
}

// keepsAnAdmin returns ErrLastAdmin when changing u to (role, status)
// would leave the workspace without an admin: an active workspace admin
// goes only while another active one remains, and the invited admin of a
// new workspace only while another admin, active or invited, remains.
// Call it after LockWorkspace.
func keepsAnAdmin(tx *store.Tx, u *sekisho.User, role sekisho.Role, status sekisho.Status) error {
	if !sekisho.LosesAdmin(u.Role, u.Status, role, status) {
		return nil
	}
	counted := []sekisho.Status{sekisho.StatusActive}
	if u.Status == sekisho.StatusInvited {
		counted = append(counted, sekisho.StatusInvited)
	}
	n, err := tx.CountAdmins(u.WorkspaceID, counted...)
	if err != nil {
		return err
	}
	if n <= 1 {
		return sekisho.ErrLastAdmin
	}
	return nil
}

// DeleteUser deletes a user of workspaceID with their sessions and
// factors; their audit events stay. The last active workspace admin can't
// be deleted. Deleting is never needed to recover an account.
func (s *Service) DeleteUser(ctx context.Context, a sekisho.Actor, workspaceID, id string) error {
	if err := checkOperator(a); err != nil {
		return err
	}
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return s.refuse(ctx, a, "user.delete", id, err)
	}
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, _ *change) error {
		if _, err := lockForAdmin(tx, a, workspaceID); err != nil {
			return err
		}
		u, err := tx.User(workspaceID, id)
		if err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		if err := sekisho.CanDeleteUser(a, u); err != nil {
			return deny(tx, now, a, "user.delete", u.ID, err)
		}
		if err := keepsAnAdmin(tx, u, sekisho.RoleMember, sekisho.StatusDisabled); err != nil {
			return deny(tx, now, a, "user.delete", u.ID, err)
		}
		if err := tx.DeleteUser(workspaceID, id); err != nil {
			return err
		}
		return audit(tx, now, a, workspaceID, "user.deleted", sekisho.ResultSuccess, id, map[string]string{"email": u.Email, "role": string(u.Role)})
	})
}

// ResetMFA is the seed's 解除: it removes all of a user's authenticators
// and recovery codes and signs them out everywhere, in one transaction,
// while the workspace's policy stays as it is. Under a required policy the
// user enrolls again at their next sign-in. When the workspace asks for
// it, the reset returns a one-time access code the user needs to enroll.
func (s *Service) ResetMFA(ctx context.Context, a sekisho.Actor, workspaceID, id string) (accessCode string, err error) {
	if err := checkOperator(a); err != nil {
		return "", err
	}
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return "", s.refuse(ctx, a, "mfa.reset", id, err)
	}
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return "", err
	}
	// The code is made and hashed before the transaction, whether the
	// workspace asks for one or not, so that argon2id holds no lock.
	code := secret.NewAccessCode()
	codeHash, err := s.hashAccessCode(ctx, code)
	if err != nil {
		return "", err
	}
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		accessCode = ""
		w, err := lockForAdmin(tx, a, workspaceID)
		if err != nil {
			return err
		}
		u, err := tx.User(workspaceID, id)
		if err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		if err := sekisho.CanResetMFA(a, u); err != nil {
			return deny(tx, now, a, "mfa.reset", u.ID, err)
		}
		n, err := tx.DeleteAuthenticators(u.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteRecoveryCodes(u.ID); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(u.ID, ""); err != nil {
			return err
		}
		if err := tx.DeleteUserFlows(u.ID); err != nil {
			return err
		}
		if err := tx.ThrottleReset("mfa:" + u.ID); err != nil {
			return err
		}
		if err := tx.DeleteTokens(u.ID, store.PurposeAccessCode); err != nil {
			return err
		}
		if w.ResetRequiresAccessCode {
			accessCode = code
			// The row outlives the code's 24 hours (the cleanup keeps
			// access codes): unused, it locks enrollment even once expired.
			if err := tx.CreateToken(codeHash, store.PurposeAccessCode, u.ID, now.UnixMilli(), now.Add(accessCodeTTL).UnixMilli()); err != nil {
				return err
			}
		}
		u.HasMFA, u.MFAResetAt, u.UpdatedAt = false, now, now
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		c.notify(s.message(u, msgMFAReset, map[string]any{"AccessCode": accessCode != ""}))
		return audit(tx, now, a, workspaceID, "mfa.reset", sekisho.ResultSuccess, u.ID,
			map[string]string{"authenticators_removed": itoa(int(n)), "access_code": boolString(accessCode != "")})
	})
	if err != nil {
		return "", err
	}
	return accessCode, nil
}

// WorkspacePolicy is a workspace with whom Require MFA affects: the
// active and invited users without MFA, counted, and the first of them.
type WorkspacePolicy struct {
	Workspace       *sekisho.Workspace
	UsersWithoutMFA int
	// WithoutMFA is the first withoutMFAListed of them in the users list's
	// order, so the admin sees whom the switch affects before and after.
	WithoutMFA []*sekisho.User
}

// withoutMFAListed bounds the list of a policy answer: a workspace may have
// 100,000 users; the users list (?mfa=disabled) pages through the rest.
const withoutMFAListed = 20

// whomMFAAffects fills p's count and list of users without MFA.
func whomMFAAffects(tx *store.Tx, workspaceID string, p *WorkspacePolicy) error {
	var err error
	if p.UsersWithoutMFA, err = tx.CountUsersWithoutMFA(workspaceID); err != nil {
		return err
	}
	p.WithoutMFA, err = tx.UsersWithoutMFA(workspaceID, withoutMFAListed)
	return err
}

// GetWorkspace returns workspaceID's policy.
func (s *Service) GetWorkspace(ctx context.Context, a sekisho.Actor, workspaceID string) (*WorkspacePolicy, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "workspace.view", "", err)
	}
	var p WorkspacePolicy
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		if p.Workspace, err = tx.Workspace(workspaceID); err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		return whomMFAAffects(tx, workspaceID, &p)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// PolicyUpdate changes a workspace's security policy; nil fields stay.
type PolicyUpdate struct {
	RequireMFA              *bool
	MFAGraceDays            *int
	ResetRequiresAccessCode *bool
}

var errAdminMFARequired = sekisho.Errorf(sekisho.KindConflict, "admin_mfa_required",
	"Set up multi-factor authentication for your own account before requiring it for the workspace.")

// UpdateWorkspace changes workspaceID's security policy. Turning Require
// MFA on is refused while the admin making the change has no MFA, so they
// can't lock themselves out; it updates no user row: the policy is
// evaluated at every sign-in and session check.
func (s *Service) UpdateWorkspace(ctx context.Context, a sekisho.Actor, workspaceID string, p PolicyUpdate) (*WorkspacePolicy, error) {
	if err := checkOperator(a); err != nil {
		return nil, err
	}
	if err := sekisho.CanChangePolicy(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "workspace.policy_changed", "", err)
	}
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return nil, err
	}
	if p.MFAGraceDays != nil && (*p.MFAGraceDays < 0 || *p.MFAGraceDays > sekisho.MaxMFAGraceDays) {
		return nil, sekisho.Invalid("mfa_grace_days", "invalid_grace_days", "Grace days must be between 0 and 90.")
	}
	var out WorkspacePolicy
	batch := "" // the notices to users without MFA, when Require MFA was switched on
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		batch = ""
		w, err := lockForAdmin(tx, a, workspaceID)
		if err != nil {
			return err
		}
		before := *w
		if p.RequireMFA != nil && *p.RequireMFA != w.RequireMFA {
			if *p.RequireMFA && a.Kind == sekisho.ActorUser {
				me, err := tx.User(workspaceID, a.UserID)
				if err != nil {
					return err
				}
				if !me.HasMFA {
					return deny(tx, now, a, "workspace.policy_changed", "", errAdminMFARequired)
				}
			}
			w.RequireMFA = *p.RequireMFA
			w.MFAEnforcedSince = time.Time{}
			if w.RequireMFA {
				w.MFAEnforcedSince = now
				// Every user without MFA is told, however large the
				// workspace: by a batch that pages through them after the
				// commit, so that the change stays one row update.
				batch = store.NewID()
				if err := tx.AddMailBatch(batch, workspaceID, batchMFARequired, now.UnixMilli(), now.Add(outboxLease).UnixMilli()); err != nil {
					return err
				}
			}
		}
		if p.MFAGraceDays != nil {
			w.MFAGraceDays = *p.MFAGraceDays
		}
		if p.ResetRequiresAccessCode != nil {
			w.ResetRequiresAccessCode = *p.ResetRequiresAccessCode
		}
		if *w != before {
			if err := tx.UpdateWorkspacePolicy(w); err != nil {
				return err
			}
			err := audit(tx, now, a, workspaceID, "workspace.policy_changed", sekisho.ResultSuccess, "", map[string]string{
				"require_mfa":                boolString(w.RequireMFA),
				"mfa_grace_days":             itoa(w.MFAGraceDays),
				"reset_requires_access_code": boolString(w.ResetRequiresAccessCode),
			})
			if err != nil {
				return err
			}
		}
		out.Workspace = w
		return whomMFAAffects(tx, workspaceID, &out)
	})
	if err != nil {
		return nil, err
	}
	if batch != "" {
		s.bg.Go(func() { s.runBatch(s.stopCtx, batch) })
	}
	return &out, nil
}

// mfaRequiredPage is the next page of a Require MFA batch: the active
// users without MFA after b.AfterID, each told that MFA is now required
// and by when. None once the policy is off again: the notice would be
// wrong.
func (s *Service) mfaRequiredPage(tx *store.Tx, b *store.MailBatch) (lastID string, full bool, msgs []mail.Message, err error) {
	w, err := tx.Workspace(b.WorkspaceID)
	if err != nil || !w.RequireMFA {
		return "", false, nil, err
	}
	noMFA := false
	page, err := tx.Users(store.UserFilter{WorkspaceID: w.ID, Status: sekisho.StatusActive, MFA: &noMFA, After: b.AfterID, Limit: batchPage})
	if err != nil || len(page) == 0 {
		return "", false, nil, err
	}
	for _, u := range page {
		due, _ := sekisho.MFAEnrollmentDue(w, u)
		msgs = append(msgs, s.message(u, msgMFARequired, map[string]any{"Workspace": w.Name, "Due": due.Format("2006-01-02 15:04 MST")}))
	}
	return page[len(page)-1].ID, len(page) == batchPage, msgs, nil
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Actor  string
	Target string
	Type   string
	Since  time.Time
	Until  time.Time
	Cursor string
	Limit  int
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Events     []*sekisho.AuditEvent
	NextCursor string
}

// AuditEvents returns a page of workspaceID's audit log.
func (s *Service) AuditEvents(ctx context.Context, a sekisho.Actor, workspaceID string, q AuditQuery) (*AuditPage, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "audit.read", "", err)
	}
	f := store.AuditFilter{WorkspaceID: workspaceID, ActorID: q.Actor, TargetID: q.Target, Type: q.Type}
	for _, v := range []string{q.Actor, q.Target, q.Type} {
		if len(v) > 100 {
			return nil, sekisho.Invalid("filter", "invalid_filter", "Filters are at most 100 characters.")
		}
	}
	if !q.Since.IsZero() {
		f.Since = q.Since.UnixMilli()
	}
	if !q.Until.IsZero() {
		f.Until = q.Until.UnixMilli()
	}
	c, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	if c != "" {
		var ok bool
		if f.Before, ok = parseID(c); !ok {
			return nil, errBadCursor
		}
	}
	if f.Limit, err = pageLimit(q.Limit); err != nil {
		return nil, err
	}
	f.Limit++
	var page AuditPage
	err = s.view(ctx, func(tx *store.Tx) error {
		var err error
		page.Events, err = tx.AuditEvents(f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(page.Events) == f.Limit {
		page.Events = page.Events[:f.Limit-1]
		page.NextCursor = encodeCursor(itoa64(page.Events[len(page.Events)-1].ID))
	}
	return &page, nil
}

// UserEmails returns the emails of those of ids that are users of
// workspaceID (deleted users are missing), for showing audit events.
func (s *Service) UserEmails(ctx context.Context, a sekisho.Actor, workspaceID string, ids []string) (map[string]string, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "users.list", "", err)
	}
	if len(ids) > maxPageSize*2 {
		return nil, sekisho.Invalid("ids", "too_many_ids", "Look up at most %d users at once.", maxPageSize*2)
	}
	var out map[string]string
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.UserEmails(workspaceID, ids)
		return err
	})
	return out, err
}

// UserByEmail finds a user of workspaceID for the operator CLI.
func (s *Service) UserByEmail(ctx context.Context, a sekisho.Actor, workspaceID, email string) (*sekisho.User, error) {
	if err := sekisho.CanAdminister(a, workspaceID); err != nil {
		return nil, s.refuse(ctx, a, "user.view", "", err)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	var u *sekisho.User
	err = s.view(ctx, func(tx *store.Tx) error {
		var err error
		u, _, err = tx.UserByEmail(workspaceID, email)
		return notFound(err, sekisho.ErrNotFound)
	})
	return u, err
}

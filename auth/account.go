package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)

// checkSlug validates a workspace slug: URL-safe, 1–40 characters.
func checkSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return sekisho.Invalid("slug", "invalid_slug", "Use 1 to 40 lower-case letters, digits and dashes, not starting or ending with a dash.")
	}
	return nil
}

// checkName validates a display name (workspace or person).
func checkName(field, name string, required bool) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" && required {
		return "", sekisho.Invalid(field, field+"_required", "Enter a name.")
	}
	if utf8.RuneCountInString(name) > maxNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", sekisho.Invalid(field, "invalid_"+field, "Use at most 100 characters, without line breaks.")
	}
	return name, nil
}

// passwordThrottleKey is the throttle key of password guesses at one
// account, from the lower-cased slug and email as typed at sign-in.
func passwordThrottleKey(slug, email string) string {
	return "pw:" + strings.ToLower(slug) + ":" + strings.ToLower(email)
}

// SetupLink returns a one-time link for creating the first workspace and
// its admin, or "" when a workspace exists. Each call adds a link and keeps
// the earlier ones until they expire: every instance on a shared database,
// and every restart, prints one, and the link the operator copied must not
// stop working because another instance started. The first link used
// creates the workspace, and that deletes all of them (Setup), as does a
// workspace created by an operator (CreateWorkspace).
func (s *Service) SetupLink(ctx context.Context) (string, error) {
	now := s.now()
	var link string
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		link = ""
		n, err := tx.CountWorkspaces()
		if err != nil || n > 0 {
			return err
		}
		token := secret.NewToken()
		if err := tx.CreateToken(secret.HashToken(token), store.PurposeSetup, "", now.UnixMilli(), now.Add(setupTTL).UnixMilli()); err != nil {
			return err
		}
		link = s.cfg.BaseURL + "/setup/" + token
		return nil
	})
	return link, err
}

// SetupRequest creates the first workspace and its admin.
type SetupRequest struct {
	Token         string
	WorkspaceSlug string
	WorkspaceName string
	Email         string
	Name          string
	Password      string
}

// Setup spends the first-run token: it creates the first workspace and its
// workspace admin with a password, and signs the admin in.
func (s *Service) Setup(ctx context.Context, a sekisho.Actor, r SetupRequest) (*SignInResult, error) {
	if !secret.WellFormedToken(r.Token) {
		return nil, sekisho.ErrInvalidToken
	}
	slug := strings.ToLower(strings.TrimSpace(r.WorkspaceSlug))
	if err := checkSlug(slug); err != nil {
		return nil, err
	}
	wsName, err := checkName("workspace_name", r.WorkspaceName, true)
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(r.Email)
	if err != nil {
		return nil, err
	}
	name, err := checkName("name", r.Name, false)
	if err != nil {
		return nil, err
	}
	if err := secret.CheckPassword(r.Password, email, wsName, slug); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, r.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var res *SignInResult
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		if _, err := tx.UseToken(secret.HashToken(r.Token), store.PurposeSetup, now.UnixMilli()); err != nil {
			return notFound(err, sekisho.ErrInvalidToken)
		}
		if n, err := tx.CountWorkspaces(); err != nil {
			return err
		} else if n > 0 {
			return sekisho.ErrInvalidToken
		}
		w := &sekisho.Workspace{ID: store.NewID(), Slug: slug, Name: wsName, CreatedAt: now}
		if err := tx.CreateWorkspace(w); err != nil {
			return err
		}
		// The other setup links could create nothing any more (the
		// count above refuses them); deleting them says so at once.
		if err := tx.DeleteSetupTokens(); err != nil {
			return err
		}
		u := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: email, Name: name, Role: sekisho.RoleWorkspaceAdmin,
			Status: sekisho.StatusActive, JoinedAt: now, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(u, hash); err != nil {
			return err
		}
		if err := audit(tx, now, a, w.ID, "workspace.created", sekisho.ResultSuccess, u.ID, map[string]string{"slug": slug, "via": "setup"}); err != nil {
			return err
		}
		res, err = s.afterPassword(tx, now, a, w, u)
		return err
	})
	return res, err
}

// CreateWorkspace creates a workspace with its first workspace admin, who
// is invited; it returns the admin and their invitation link. Operators only.
func (s *Service) CreateWorkspace(ctx context.Context, a sekisho.Actor, slug, name, adminEmail string) (*sekisho.Workspace, *sekisho.User, string, error) {
	if a.Kind != sekisho.ActorOperator {
		return nil, nil, "", sekisho.ErrForbidden
	}
	if err := checkOperator(a); err != nil {
		return nil, nil, "", err
	}
	slug = strings.ToLower(strings.TrimSpace(slug))
	if err := checkSlug(slug); err != nil {
		return nil, nil, "", err
	}
	name, err := checkName("name", name, true)
	if err != nil {
		return nil, nil, "", err
	}
	email, err := NormalizeEmail(adminEmail)
	if err != nil {
		return nil, nil, "", err
	}
	now := s.now()
	w := &sekisho.Workspace{ID: store.NewID(), Slug: slug, Name: name, CreatedAt: now}
	var u *sekisho.User
	var link string
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		if err := tx.CreateWorkspace(w); errors.Is(err, store.ErrDuplicate) {
			return sekisho.Invalid("slug", "slug_taken", "A workspace with this slug exists already.")
		} else if err != nil {
			return err
		}
		if err := audit(tx, now, a, w.ID, "workspace.created", sekisho.ResultSuccess, "", map[string]string{"slug": slug}); err != nil {
			return err
		}
		// A workspace exists: the first-run setup links are spent.
		if err := tx.DeleteSetupTokens(); err != nil {
			return err
		}
		u, link, err = s.invite(tx, c, now, a, w, email, "", sekisho.RoleWorkspaceAdmin)
		return err
	})
	if err != nil {
		return nil, nil, "", err
	}
	return w, u, link, nil
}

// Workspaces lists every workspace. Operators only.
func (s *Service) Workspaces(ctx context.Context, a sekisho.Actor) ([]*sekisho.Workspace, error) {
	if a.Kind != sekisho.ActorOperator {
		return nil, sekisho.ErrForbidden
	}
	var out []*sekisho.Workspace
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Workspaces()
		return err
	})
	return out, err
}

// WorkspaceBySlug returns the workspace with slug, for the operator CLI and
// for the sign-in page.
func (s *Service) WorkspaceBySlug(ctx context.Context, slug string) (*sekisho.Workspace, error) {
	var w *sekisho.Workspace
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		w, err = tx.WorkspaceBySlug(strings.ToLower(strings.TrimSpace(slug)))
		return notFound(err, sekisho.ErrNotFound)
	})
	return w, err
}

// invite creates an invited user and queues their invitation email.
func (s *Service) invite(tx *store.Tx, c *change, now time.Time, a sekisho.Actor, w *sekisho.Workspace, email, name string, role sekisho.Role) (*sekisho.User, string, error) {
	u := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: email, Name: name, Role: role,
		Status: sekisho.StatusInvited, CreatedAt: now, UpdatedAt: now}
	if err := tx.CreateUser(u, ""); errors.Is(err, store.ErrDuplicate) {
		return nil, "", sekisho.Errorf(sekisho.KindConflict, "email_taken", "A user with this email exists in the workspace already.")
	} else if err != nil {
		return nil, "", err
	}
	token := secret.NewToken()
	if err := tx.CreateToken(secret.HashToken(token), store.PurposeInvitation, u.ID, now.UnixMilli(), now.Add(invitationTTL).UnixMilli()); err != nil {
		return nil, "", err
	}
	link := s.cfg.BaseURL + "/invitations/" + token
	c.notify(s.message(u, msgInvitation, map[string]any{"Workspace": w.Name, "Link": link}))
	if err := audit(tx, now, a, w.ID, "user.invited", sekisho.ResultSuccess, u.ID, map[string]string{"email": email, "role": string(role)}); err != nil {
		return nil, "", err
	}
	return u, link, nil
}

// Invitation describes the user an invitation link is for.
type Invitation struct {
	Workspace *sekisho.Workspace
	User      *sekisho.User
}

// Invitation returns whom an unexpired, unused invitation token is for.
func (s *Service) Invitation(ctx context.Context, token string) (*Invitation, error) {
	return s.tokenUser(ctx, token, store.PurposeInvitation)
}

func (s *Service) tokenUser(ctx context.Context, token, purpose string) (*Invitation, error) {
	if !secret.WellFormedToken(token) {
		return nil, sekisho.ErrInvalidToken
	}
	now := s.now()
	var inv Invitation
	err := s.view(ctx, func(tx *store.Tx) error {
		userID, err := tx.TokenUser(secret.HashToken(token), purpose, now.UnixMilli())
		if err != nil {
			return notFound(err, sekisho.ErrInvalidToken)
		}
		if inv.User, err = tx.UserByID(userID); err != nil {
			return notFound(err, sekisho.ErrInvalidToken)
		}
		inv.Workspace, err = tx.Workspace(inv.User.WorkspaceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// AcceptInvitation sets an invited user's password and makes them active.
// They then sign in as usual, so the workspace's MFA policy applies.
func (s *Service) AcceptInvitation(ctx context.Context, a sekisho.Actor, token, password string) (*Invitation, error) {
	return s.setPasswordWithToken(ctx, a, token, password, store.PurposeInvitation)
}

// RequestPasswordReset emails a reset link if the workspace and email name
// an active user. Its answer is the same either way.
func (s *Service) RequestPasswordReset(ctx context.Context, a sekisho.Actor, workspace, email string) error {
	slug := strings.ToLower(strings.TrimSpace(workspace))
	email = strings.ToLower(strings.TrimSpace(email))
	if slug == "" {
		return sekisho.Invalid("workspace", "workspace_required", "Enter your workspace.")
	}
	if email == "" {
		return sekisho.Invalid("email", "email_required", "Enter your email address.")
	}
	if len(slug) > 64 || len(email) > maxEmailLen {
		return nil
	}
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, c *change) error {
		// Throttle silently: a flood must not turn into a flood of mail.
		if wait, _, err := tx.ThrottleAttempt("reset:"+slug+":"+email, now, resetRule); err != nil || wait > 0 {
			return err
		}
		w, err := tx.WorkspaceBySlug(slug)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		u, _, err := tx.UserByEmail(w.ID, email)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != sekisho.StatusActive) {
			return nil
		} else if err != nil {
			return err
		}
		if err := tx.DeleteTokens(u.ID, store.PurposePasswordReset); err != nil {
			return err
		}
		token := secret.NewToken()
		if err := tx.CreateToken(secret.HashToken(token), store.PurposePasswordReset, u.ID, now.UnixMilli(), now.Add(passwordResetTTL).UnixMilli()); err != nil {
			return err
		}
		c.notify(s.message(u, msgPasswordReset, map[string]any{"Workspace": w.Name, "Link": s.cfg.BaseURL + "/password-reset/" + token}))
		return audit(tx, now, a, w.ID, "password.reset_requested", sekisho.ResultSuccess, u.ID, nil)
	})
}

// PasswordResetUser returns whom an unexpired reset token is for.
func (s *Service) PasswordResetUser(ctx context.Context, token string) (*Invitation, error) {
	return s.tokenUser(ctx, token, store.PurposePasswordReset)
}

// ConfirmPasswordReset sets a new password with a reset token and signs the
// user out everywhere. It never touches MFA: the next sign-in still asks
// for the second factor.
func (s *Service) ConfirmPasswordReset(ctx context.Context, a sekisho.Actor, token, password string) (*Invitation, error) {
	return s.setPasswordWithToken(ctx, a, token, password, store.PurposePasswordReset)
}

func (s *Service) setPasswordWithToken(ctx context.Context, a sekisho.Actor, token, password, purpose string) (*Invitation, error) {
	inv, err := s.tokenUser(ctx, token, purpose)
	if err != nil {
		return nil, err
	}
	if err := secret.CheckPassword(password, inv.User.Email, inv.Workspace.Name, inv.Workspace.Slug); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		userID, err := tx.UseToken(secret.HashToken(token), purpose, now.UnixMilli())
		if err != nil {
			return notFound(err, sekisho.ErrInvalidToken)
		}
		u, err := tx.UserByID(userID)
		if err != nil {
			return notFound(err, sekisho.ErrInvalidToken)
		}
		if err := tx.SetPasswordHash(u.ID, hash); err != nil {
			return err
		}
		// Whoever holds the token proved control of the mailbox: the
		// password guesses others made at this account must not keep its
		// owner waiting. The IP's and the second factor's counters stay.
		if err := tx.ThrottleReset(passwordThrottleKey(inv.Workspace.Slug, u.Email)); err != nil {
			return err
		}
		if purpose == store.PurposeInvitation {
			if u.Status != sekisho.StatusInvited {
				return sekisho.ErrInvalidToken
			}
			u.Status, u.JoinedAt, u.UpdatedAt = sekisho.StatusActive, now, now
			if err := tx.UpdateUser(u); err != nil {
				return err
			}
			inv.User = u
			return audit(tx, now, a, u.WorkspaceID, "user.invitation_accepted", sekisho.ResultSuccess, u.ID, nil)
		}
		if u.Status != sekisho.StatusActive {
			return sekisho.ErrInvalidToken
		}
		if _, err := tx.DeleteUserSessions(u.ID, ""); err != nil {
			return err
		}
		if err := tx.DeleteUserFlows(u.ID); err != nil {
			return err
		}
		c.notify(s.message(u, msgPasswordChanged, nil))
		return audit(tx, now, a, u.WorkspaceID, "password.reset", sekisho.ResultSuccess, u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// ChangePassword changes the actor's password after checking the current
// one, and signs out their other sessions.
func (s *Service) ChangePassword(ctx context.Context, a sekisho.Actor, current, next string) error {
	if current == "" {
		return sekisho.Invalid("current_password", "password_required", "Enter your current password.")
	}
	if err := s.checkOwnPassword(ctx, a, current); err != nil {
		if sekisho.CodeOf(err) == errWrongPassword.Code {
			return sekisho.Invalid("current_password", errWrongPassword.Code, "%s", errWrongPassword.Message)
		}
		return err
	}
	var u *sekisho.User
	var w *sekisho.Workspace
	if err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = tx.User(a.WorkspaceID, a.UserID); err != nil {
			return err
		}
		w, err = tx.Workspace(a.WorkspaceID)
		return err
	}); err != nil {
		return err
	}
	if err := secret.CheckPassword(next, u.Email, w.Name, w.Slug); err != nil {
		// The request calls it new_password; a form shows the reason there.
		var e *sekisho.Error
		if errors.As(err, &e) {
			moved := *e
			moved.Field = "new_password"
			return &moved
		}
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, c *change) error {
		if err := tx.SetPasswordHash(a.UserID, hash); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(a.UserID, a.SessionID); err != nil {
			return err
		}
		if err := tx.DeleteUserFlows(a.UserID); err != nil {
			return err
		}
		if err := tx.SetSessionAuth(a.SessionID, a.AAL, now.UnixMilli()); err != nil {
			return err
		}
		c.notify(s.message(u, msgPasswordChanged, nil))
		return audit(tx, now, a, a.WorkspaceID, "password.changed", sekisho.ResultSuccess, a.UserID, nil)
	})
}

// ProfileUpdate changes the actor's own profile; nil fields stay.
type ProfileUpdate struct {
	Name   *string
	Locale *string
}

// Me returns the actor's own user.
func (s *Service) Me(ctx context.Context, a sekisho.Actor) (*sekisho.User, error) {
	var u *sekisho.User
	err := s.view(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.User(a.WorkspaceID, a.UserID)
		return err
	})
	return u, err
}

// UpdateProfile changes the actor's name or language.
func (s *Service) UpdateProfile(ctx context.Context, a sekisho.Actor, p ProfileUpdate) (*sekisho.User, error) {
	var name string
	if p.Name != nil {
		var err error
		if name, err = checkName("name", *p.Name, false); err != nil {
			return nil, err
		}
	}
	if p.Locale != nil && *p.Locale != "" && *p.Locale != "en" && *p.Locale != "ja" {
		return nil, sekisho.Invalid("locale", "invalid_locale", `Locale must be "en", "ja" or "" (the browser's language).`)
	}
	now := s.now()
	var u *sekisho.User
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		var err error
		if u, err = tx.User(a.WorkspaceID, a.UserID); err != nil {
			return err
		}
		if p.Name != nil {
			u.Name = name
		}
		if p.Locale != nil {
			u.Locale = *p.Locale
		}
		u.UpdatedAt = now
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		return audit(tx, now, a, a.WorkspaceID, "user.profile_updated", sekisho.ResultSuccess, a.UserID, nil)
	})
	return u, err
}

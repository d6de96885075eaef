package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// maxAuthenticators bounds how many authenticators one user may hold.
const maxAuthenticators = 10

// MFAStatus is a user's second factors as account settings show them.
type MFAStatus struct {
	Authenticators         []sekisho.Authenticator
	RecoveryCodesRemaining int
	// Required is true while the workspace requires MFA, so the last factor
	// can't be removed.
	Required bool
}

// MFA returns the actor's own authenticators and recovery-code count.
func (s *Service) MFA(ctx context.Context, a sekisho.Actor) (*MFAStatus, error) {
	var st MFAStatus
	err := s.view(ctx, func(tx *store.Tx) error {
		w, err := tx.Workspace(a.WorkspaceID)
		if err != nil {
			return err
		}
		st.Required = w.RequireMFA
		auths, err := tx.Authenticators(a.UserID)
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		for _, au := range auths {
			if au.Confirmed() || au.ExpiresAt > now {
				st.Authenticators = append(st.Authenticators, au.Authenticator)
			}
		}
		_, st.RecoveryCodesRemaining, err = tx.RecoveryCodeSalt(a.UserID)
		return err
	})
	return &st, err
}

// TOTPEnrollment is a pending TOTP authenticator: what an authenticator
// app needs to be set up. The secret is shown once, here.
type TOTPEnrollment struct {
	ID        string
	Secret    string // base32
	URI       string // otpauth://
	ExpiresAt time.Time
}

// QRCodePNG renders the enrollment's URI as a QR code.
func (e *TOTPEnrollment) QRCodePNG(size int) ([]byte, error) { return totp.QRCodePNG(e.URI, size) }

const totpIssuer = "sekisho"

func checkAuthenticatorName(name string) (string, error) {
	name, err := checkName("name", name, false)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = "Authenticator app"
	}
	return name, nil
}

// newPendingTOTP creates a pending TOTP authenticator for u.
func (s *Service) newPendingTOTP(tx *store.Tx, now time.Time, w *sekisho.Workspace, u *sekisho.User, name string) (*TOTPEnrollment, error) {
	auths, err := tx.Authenticators(u.ID)
	if err != nil {
		return nil, err
	}
	// Expired pending ones are invisible to the user and wait only for the
	// cleanup: they take no place.
	held := 0
	for _, au := range auths {
		if au.Confirmed() || au.ExpiresAt > now.UnixMilli() {
			held++
		}
	}
	if held >= maxAuthenticators {
		return nil, sekisho.Errorf(sekisho.KindConflict, "too_many_authenticators", "You have %d authenticators. Remove one before adding another.", held)
	}
	seed := totp.NewSecret()
	id := store.NewID()
	sealed, err := s.sealSeed(u, id, seed)
	if err != nil {
		return nil, err
	}
	expires := now.Add(pendingTOTPTTL)
	if err := tx.CreateAuthenticator(&store.Authenticator{
		Authenticator: sekisho.Authenticator{ID: id, UserID: u.ID, Kind: sekisho.KindTOTP, Name: name, CreatedAt: now},
		Secret:        sealed, ExpiresAt: expires.UnixMilli(),
	}); err != nil {
		return nil, err
	}
	return &TOTPEnrollment{ID: id, Secret: totp.EncodeSecret(seed), URI: totp.URI(totpIssuer, totpAccount(w, u), seed), ExpiresAt: expires}, nil
}

// totpAccount is the account name of an otpauth label: the email with the
// workspace, so that someone in two workspaces tells the entries apart.
// The Key URI Format forbids a colon in it (the colon ends the issuer
// prefix), so not "acme: alice@…" but "alice@acme.test (acme)"; a slug
// never holds one, and an email only inside a quoted local part, which
// loses it here.
func totpAccount(w *sekisho.Workspace, u *sekisho.User) string {
	return strings.ReplaceAll(u.Email, ":", "") + " (" + w.Slug + ")"
}

var (
	errAccessCodeRequired = sekisho.Invalid("access_code", "access_code_required", "Enter the one-time access code your admin gave you.")
	errInvalidAccessCode  = sekisho.Invalid("access_code", "invalid_access_code", "The access code is incorrect.")
	errAccessCodeExpired  = &sekisho.Error{Kind: sekisho.KindConflict, Code: "access_code_expired", Field: "access_code",
		Message: "The access code has expired. Ask an admin of your workspace to reset your MFA again; the new reset gives a new code."}
)

// hashAccessCode returns the hash under which a new access code is stored:
// argon2id with a salt of its own, like a password, because 40 bits under
// a fast hash would fall to anyone holding a copy of the database.
func (s *Service) hashAccessCode(ctx context.Context, code string) (string, error) {
	norm, _ := secret.NormalizeAccessCode(code)
	return s.hasher.Hash(ctx, norm)
}

// pendingAccessCode returns the access code an admin reset left the user
// and nobody has used yet, expired or not; nil when there is none.
func pendingAccessCode(tx *store.Tx, userID string) (*store.Token, error) {
	t, err := tx.UnusedToken(userID, store.PurposeAccessCode)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return t, err
}

// accessCodeExpiry is when an access code stops being accepted; its row
// outlives it (store.DeleteExpired keeps access codes).
func accessCodeExpiry(t *store.Token) time.Time {
	return time.UnixMilli(t.ExpiresAt).UTC()
}

// accessCodeCheck enforces the access code an admin reset left, if any: the
// user must show it before enrolling a new factor, so that someone who only
// knows the password cannot enroll their own phone after a reset. An
// expired code keeps enrollment locked (its expiry must not open what it
// guards) until an admin resets again, which replaces it. The code is used
// up when the new factor is confirmed (confirmPending).
//
// Like a password, a code is checked in three steps, so that argon2id never
// runs inside a transaction: beginAccessCode counts the attempt against a
// throttle of its own and commits the count; verify hashes; settle, in the
// transaction that enrolls, makes sure the code checked is still the one
// pending.
type accessCodeCheck struct {
	userID  string
	code    string       // normalized; "" when no code is pending
	pending *store.Token // nil: no code is pending, enrollment is free
}

func accessCodeKey(userID string) string { return "access:" + userID }

// beginAccessCode reads the code pending for userID and counts the
// attempt. A wrong-looking code is refused here, counted all the same.
func beginAccessCode(tx *store.Tx, now time.Time, userID, code string) (*accessCodeCheck, error) {
	c := &accessCodeCheck{userID: userID}
	pending, err := pendingAccessCode(tx, userID)
	if err != nil || pending == nil {
		return c, err
	}
	if !now.Before(accessCodeExpiry(pending)) {
		return nil, errAccessCodeExpired
	}
	if code == "" {
		return nil, errAccessCodeRequired
	}
	wait, _, err := tx.ThrottleAttempt(accessCodeKey(userID), now, mfaRule)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, commitThen(sekisho.Throttled(wait))
	}
	norm, ok := secret.NormalizeAccessCode(code)
	if !ok {
		return nil, commitThen(errInvalidAccessCode)
	}
	c.code, c.pending = norm, pending
	return c, nil
}

// verify hashes the code against the pending one; errInvalidAccessCode
// when it is wrong (the attempt is counted already).
func (c *accessCodeCheck) verify(ctx context.Context, s *Service) error {
	if c.pending == nil {
		return nil
	}
	var ok bool
	if strings.HasPrefix(c.pending.Hash, "$") {
		var err error
		if ok, _, err = s.hasher.Verify(ctx, c.pending.Hash, c.code); err != nil && !errors.Is(err, secret.ErrMalformedHash) {
			return err
		}
	} else {
		// A code issued before access codes were hashed with argon2id
		// (sekisho before December 2026): a hex SHA-256, with at most 24
		// hours left to live.
		ok = subtle.ConstantTimeCompare([]byte(secret.HashToken(c.code)), []byte(c.pending.Hash)) == 1
	}
	if !ok {
		return errInvalidAccessCode
	}
	return nil
}

// settle runs in the transaction that enrolls, after verify: an admin reset
// in between replaces or removes the code, and only the code checked may
// let the enrollment through.
func (c *accessCodeCheck) settle(tx *store.Tx, now time.Time) error {
	pending, err := pendingAccessCode(tx, c.userID)
	switch {
	case err != nil:
		return err
	case pending == nil:
		return nil // no code pending now: enrollment is free
	case c.pending == nil:
		return errAccessCodeRequired
	case pending.Hash != c.pending.Hash:
		return errInvalidAccessCode // a newer reset replaced the code shown
	case !now.Before(accessCodeExpiry(pending)):
		return errAccessCodeExpired
	}
	return tx.ThrottleReset(accessCodeKey(c.userID))
}

// StartTOTP begins adding an authenticator app from account settings. It
// needs a recent authentication; the factor counts once ConfirmTOTP sees a
// code from it.
func (s *Service) StartTOTP(ctx context.Context, a sekisho.Actor, name, accessCode string) (*TOTPEnrollment, error) {
	name, err := checkAuthenticatorName(name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return nil, err
	}
	var check *accessCodeCheck
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		var err error
		check, err = beginAccessCode(tx, now, a.UserID, accessCode)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := check.verify(ctx, s); err != nil {
		return nil, err
	}
	var e *TOTPEnrollment
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		// Locked like ResetMFA, so that no pending authenticator is made
		// around a reset without seeing its access code (confirmPending).
		w, err := tx.LockWorkspace(a.WorkspaceID)
		if err != nil {
			return err
		}
		u, err := tx.User(a.WorkspaceID, a.UserID)
		if err != nil {
			return err
		}
		if err := check.settle(tx, now); err != nil {
			return err
		}
		e, err = s.newPendingTOTP(tx, now, w, u, name)
		return err
	})
	return e, err
}

// ConfirmTOTP confirms a pending authenticator with a code from it. The
// first factor also issues recovery codes (returned once). The user has
// just proven both factors, so the session moves to aal2 — under a new
// token, as at sign-in, so that nobody who knew the old one rides along —
// and every other session of theirs is signed out.
func (s *Service) ConfirmTOTP(ctx context.Context, a sekisho.Actor, id, code string) (*SignInResult, error) {
	now := s.now()
	var check *pendingCheck
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		var err error
		check, err = s.beginPendingCheck(tx, now, a, a.WorkspaceID, a.UserID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := check.verify(ctx, s, now, code); err != nil {
		return nil, err
	}
	var res *SignInResult
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		if !check.ok {
			return check.fail(tx, s, now, a, c)
		}
		if err := s.confirmPending(tx, c, now, a, check); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(a.UserID, ""); err != nil {
			return err
		}
		token, sess, err := s.createSession(tx, now, a, check.user, sekisho.AAL2)
		if err != nil {
			return err
		}
		res = &SignInResult{State: sekisho.StepSignedIn, SessionToken: token, ExpiresAt: sess.ExpiresAt, RecoveryCodes: check.codes}
		return nil
	})
	return res, err
}

// pendingCheck confirms a pending authenticator, split like factorCheck.
type pendingCheck struct {
	user  *sekisho.User
	ws    *sekisho.Workspace
	auth  *store.Authenticator
	first bool // the user has no factor yet: recovery codes come with it

	ok     bool
	step   int64
	codes  []string // recovery codes to issue, shown once
	salt   string
	hashes []string
}

func (s *Service) beginPendingCheck(tx *store.Tx, now time.Time, a sekisho.Actor, workspaceID, userID, authID string) (*pendingCheck, error) {
	u, err := tx.User(workspaceID, userID)
	if err != nil {
		return nil, err
	}
	w, err := tx.Workspace(workspaceID)
	if err != nil {
		return nil, err
	}
	au, err := tx.Authenticator(userID, authID)
	if err != nil {
		return nil, notFound(err, sekisho.ErrNotFound)
	}
	if au.Confirmed() {
		return nil, sekisho.Errorf(sekisho.KindConflict, "already_confirmed", "This authenticator is confirmed already.")
	}
	if au.ExpiresAt <= now.UnixMilli() {
		return nil, sekisho.Errorf(sekisho.KindConflict, "enrollment_expired", "This setup has expired. Start again.")
	}
	wait, _, err := tx.ThrottleAttempt("mfa:"+userID, now, mfaRule)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, factorThrottled(tx, now, a, workspaceID, userID, "mfa.enroll_verify", "totp", sekisho.Throttled(wait))
	}
	return &pendingCheck{user: u, ws: w, auth: au, first: !u.HasMFA}, nil
}

func (c *pendingCheck) verify(ctx context.Context, s *Service, now time.Time, code string) error {
	seed, err := s.openSeed(c.user, c.auth)
	if err != nil {
		// Sealed moments ago by this service: a seed that does not open
		// (an instance whose key ring lacks the new key) is never the
		// user's wrong code.
		return s.uncounted(ctx, c.user.ID, fmt.Errorf("TOTP secret of pending authenticator %s: %w", c.auth.ID, err))
	}
	c.step, c.ok = totp.Verify(seed, code, now, 0)
	if !c.ok || !c.first {
		return nil
	}
	c.codes = secret.NewRecoveryCodes()
	c.salt = s.hasher.NewRecoverySalt()
	for _, rc := range c.codes {
		norm, _ := secret.NormalizeRecoveryCode(rc)
		h, err := s.hasher.HashRecoveryCode(ctx, c.salt, norm)
		if err != nil {
			return err
		}
		c.hashes = append(c.hashes, h)
	}
	return nil
}

func (c *pendingCheck) fail(tx *store.Tx, s *Service, now time.Time, a sekisho.Actor, ch *change) error {
	if err := s.factorFailed(tx, now, a, c.ws, c.user, ch, "mfa.enroll_verify", "totp"); err != nil {
		return err
	}
	return commitThen(sekisho.ErrInvalidCode)
}

// confirmPending makes the checked authenticator a factor of its user. A
// pending access code was checked when the authenticator was made
// (StartTOTP, SignInEnroll; a reset deletes any made before it), so the
// confirmation only uses the code up.
func (s *Service) confirmPending(tx *store.Tx, ch *change, now time.Time, a sekisho.Actor, c *pendingCheck) error {
	if err := tx.DeleteTokens(c.user.ID, store.PurposeAccessCode); err != nil {
		return err
	}
	ok, err := tx.ConfirmAuthenticator(c.user.ID, c.auth.ID, c.step, now.UnixMilli())
	if err != nil {
		return err
	}
	if !ok {
		return sekisho.Errorf(sekisho.KindConflict, "already_confirmed", "This authenticator is confirmed already.")
	}
	if err := tx.ThrottleReset("mfa:" + c.user.ID); err != nil {
		return err
	}
	// Read the user again: a parallel confirmation may have made this one
	// not the first, and then the codes it prepared are not issued.
	u, err := tx.User(c.user.WorkspaceID, c.user.ID)
	if err != nil {
		return err
	}
	if u.HasMFA {
		c.codes = nil
	} else if c.codes != nil {
		if err := tx.ReplaceRecoveryCodes(u.ID, c.salt, c.hashes, now.UnixMilli()); err != nil {
			return err
		}
	}
	u.HasMFA, u.MFAResetAt, u.UpdatedAt = true, time.Time{}, now
	if err := tx.UpdateUser(u); err != nil {
		return err
	}
	ch.notify(s.message(u, msgMFAEnrolled, map[string]any{"Name": c.auth.Name}))
	return audit(tx, now, a, u.WorkspaceID, "mfa.enrolled", sekisho.ResultSuccess, u.ID,
		map[string]string{"authenticator_id": c.auth.ID, "kind": string(c.auth.Kind), "name": c.auth.Name})
}

// SignInEnroll starts (or restarts) the forced enrollment of a sign-in
// whose workspace requires MFA. After an admin reset in a workspace that
// hands out access codes, the code must come with it.
func (s *Service) SignInEnroll(ctx context.Context, flowToken, name, accessCode string) (*TOTPEnrollment, error) {
	name, err := checkAuthenticatorName(name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var check *accessCodeCheck
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		fs, err := loadFlow(tx, flowToken, flowEnroll, now)
		if err != nil {
			return err
		}
		check, err = beginAccessCode(tx, now, fs.user.ID, accessCode)
		if sekisho.CodeOf(err) == errInvalidAccessCode.Code {
			return wrongAccessCodeInFlow(tx, fs.hash)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := check.verify(ctx, s); err != nil {
		if sekisho.CodeOf(err) != errInvalidAccessCode.Code {
			return nil, err
		}
		return nil, s.update(ctx, func(tx *store.Tx, _ *change) error {
			return wrongAccessCodeInFlow(tx, secret.HashToken(flowToken))
		})
	}
	var e *TOTPEnrollment
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		fs, err := loadFlow(tx, flowToken, flowEnroll, now)
		if err != nil {
			return err
		}
		if _, err := tx.LockWorkspace(fs.user.WorkspaceID); err != nil { // as in StartTOTP
			return err
		}
		if err := check.settle(tx, now); err != nil {
			return err
		}
		if fs.flow.AuthenticatorID != "" {
			if _, err := tx.DeleteAuthenticator(fs.user.ID, fs.flow.AuthenticatorID); err != nil {
				return err
			}
		}
		if e, err = s.newPendingTOTP(tx, now, fs.ws, fs.user, name); err != nil {
			return err
		}
		return tx.SetFlowAuthenticator(fs.hash, e.ID)
	})
	return e, err
}

// wrongAccessCodeInFlow answers a wrong access code in a sign-in flow: it
// also counts against the flow's five tries, and the flow's end, when this
// was the fifth, is the answer that matters.
func wrongAccessCodeInFlow(tx *store.Tx, flowHash string) error {
	ferr := flowFailure(tx, flowHash)
	if sekisho.CodeOf(ferr) == errFlowEnded.Code || sekisho.KindOf(ferr) == sekisho.KindInternal {
		return ferr
	}
	return commitThen(errInvalidAccessCode)
}

// SignInEnrollConfirm confirms the forced enrollment with a code and signs
// the user in at aal2, returning their new recovery codes.
func (s *Service) SignInEnrollConfirm(ctx context.Context, a sekisho.Actor, flowToken, code string) (*SignInResult, error) {
	now := s.now()
	var fs *flowState
	var check *pendingCheck
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		var err error
		if fs, err = loadFlow(tx, flowToken, flowEnroll, now); err != nil {
			return err
		}
		if fs.flow.AuthenticatorID == "" {
			return sekisho.Errorf(sekisho.KindConflict, "enrollment_not_started", "Start the setup of an authenticator app first.")
		}
		check, err = s.beginPendingCheck(tx, now, a, fs.user.WorkspaceID, fs.user.ID, fs.flow.AuthenticatorID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := check.verify(ctx, s, now, code); err != nil {
		return nil, err
	}
	var res *SignInResult
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		if !check.ok {
			if err := s.factorFailed(tx, now, a, fs.ws, fs.user, c, "mfa.enroll_verify", "totp"); err != nil {
				return err
			}
			return flowFailure(tx, fs.hash)
		}
		if done, err := tx.DeleteFlow(fs.hash); err != nil {
			return err
		} else if !done {
			return sekisho.ErrInvalidFlow
		}
		if err := s.confirmPending(tx, c, now, a, check); err != nil {
			return err
		}
		token, sess, err := s.createSession(tx, now, a, fs.user, sekisho.AAL2)
		if err != nil {
			return err
		}
		res = &SignInResult{State: sekisho.StepSignedIn, SessionToken: token, ExpiresAt: sess.ExpiresAt, RecoveryCodes: check.codes}
		return audit(tx, now, a, fs.ws.ID, "user.sign_in", sekisho.ResultSuccess, fs.user.ID,
			map[string]string{"aal": string(sekisho.AAL2), "method": "enrollment"})
	})
	return res, err
}

// RenameAuthenticator renames one of the actor's authenticators.
func (s *Service) RenameAuthenticator(ctx context.Context, a sekisho.Actor, id, name string) error {
	name, err := checkAuthenticatorName(name)
	if err != nil {
		return err
	}
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, _ *change) error {
		ok, err := tx.RenameAuthenticator(a.UserID, id, name)
		if err != nil {
			return err
		}
		if !ok {
			return sekisho.ErrNotFound
		}
		return audit(tx, now, a, a.WorkspaceID, "mfa.renamed", sekisho.ResultSuccess, a.UserID, map[string]string{"authenticator_id": id, "name": name})
	})
}

var errMFARequired = sekisho.Errorf(sekisho.KindConflict, "mfa_required_by_workspace",
	"Your workspace requires multi-factor authentication: add another authenticator before removing this one.")

// RemoveAuthenticator removes one of the actor's authenticators. It needs a
// recent authentication, and refuses to remove the last factor while the
// workspace requires MFA; removing the last factor also deletes the
// recovery codes. The user's other sessions are signed out.
func (s *Service) RemoveAuthenticator(ctx context.Context, a sekisho.Actor, id string) error {
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, c *change) error {
		w, err := tx.LockWorkspace(a.WorkspaceID)
		if err != nil {
			return err
		}
		u, err := tx.User(a.WorkspaceID, a.UserID)
		if err != nil {
			return err
		}
		au, err := tx.Authenticator(u.ID, id)
		if err != nil {
			return notFound(err, sekisho.ErrNotFound)
		}
		if !au.Confirmed() {
			_, err := tx.DeleteAuthenticator(u.ID, id)
			return err
		}
		n, err := tx.CountConfirmedAuthenticators(u.ID)
		if err != nil {
			return err
		}
		if n == 1 && w.RequireMFA {
			return errMFARequired
		}
		if _, err := tx.DeleteAuthenticator(u.ID, id); err != nil {
			return err
		}
		if n == 1 {
			if err := s.clearMFA(tx, u, now); err != nil {
				return err
			}
		}
		if _, err := tx.DeleteUserSessions(u.ID, a.SessionID); err != nil {
			return err
		}
		c.notify(s.message(u, msgMFARemoved, map[string]any{"What": whatRemoved(u, au.Name)}))
		return audit(tx, now, a, u.WorkspaceID, "mfa.removed", sekisho.ResultSuccess, u.ID,
			map[string]string{"authenticator_id": id, "name": au.Name, "last": boolString(n == 1)})
	})
}

var errMFANotEnabled = sekisho.Errorf(sekisho.KindConflict, "mfa_not_enabled", "You have no authenticator to remove.")

// RemoveAllMFA removes all the actor's factors and recovery codes. It needs
// a recent authentication and is refused while the workspace requires MFA,
// and when there is nothing to remove (mfa_not_enabled): a removal that
// removed nothing must not email "removed" nor enter the audit log as one.
func (s *Service) RemoveAllMFA(ctx context.Context, a sekisho.Actor) error {
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, c *change) error {
		w, err := tx.LockWorkspace(a.WorkspaceID)
		if err != nil {
			return err
		}
		u, err := tx.User(a.WorkspaceID, a.UserID)
		if err != nil {
			return err
		}
		if !u.HasMFA {
			return errMFANotEnabled
		}
		if w.RequireMFA {
			return sekisho.Errorf(sekisho.KindConflict, "mfa_required_by_workspace", "Your workspace requires multi-factor authentication, so it can't be removed.")
		}
		if _, err := tx.DeleteAuthenticators(u.ID); err != nil {
			return err
		}
		if err := s.clearMFA(tx, u, now); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(u.ID, a.SessionID); err != nil {
			return err
		}
		c.notify(s.message(u, msgMFARemoved, map[string]any{"What": whatRemoved(u, "")}))
		return audit(tx, now, a, u.WorkspaceID, "mfa.removed_all", sekisho.ResultSuccess, u.ID, nil)
	})
}

// clearMFA records that u has no factor left.
func (s *Service) clearMFA(tx *store.Tx, u *sekisho.User, now time.Time) error {
	if err := tx.DeleteRecoveryCodes(u.ID); err != nil {
		return err
	}
	u.HasMFA, u.UpdatedAt = false, now
	return tx.UpdateUser(u)
}

func whatRemoved(u *sekisho.User, name string) string {
	switch {
	case u.Locale == "ja" && name == "":
		return "すべての認証アプリとリカバリーコード"
	case u.Locale == "ja":
		return "認証アプリ「" + name + "」"
	case name == "":
		return "Every authenticator and the recovery codes"
	default:
		return "The authenticator \"" + name + "\""
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// RegenerateRecoveryCodes replaces the actor's recovery codes with a new
// set, returned once. It needs a recent authentication and MFA.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a sekisho.Actor) ([]string, error) {
	now := s.now()
	if err := sekisho.RequireRecentAuth(a, now); err != nil {
		return nil, err
	}
	codes := secret.NewRecoveryCodes()
	salt := s.hasher.NewRecoverySalt()
	hashes := make([]string, len(codes))
	for i, rc := range codes {
		norm, _ := secret.NormalizeRecoveryCode(rc)
		h, err := s.hasher.HashRecoveryCode(ctx, salt, norm)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return codes, s.update(ctx, func(tx *store.Tx, c *change) error {
		u, err := tx.User(a.WorkspaceID, a.UserID)
		if err != nil {
			return err
		}
		if !u.HasMFA {
			return sekisho.Errorf(sekisho.KindConflict, "mfa_not_enabled", "Set up an authenticator app first; recovery codes come with it.")
		}
		if err := tx.ReplaceRecoveryCodes(u.ID, salt, hashes, now.UnixMilli()); err != nil {
			return err
		}
		// A user renews their codes when they fear someone saw the old ones;
		// whoever did may already be signed in with one.
		if _, err := tx.DeleteUserSessions(u.ID, a.SessionID); err != nil {
			return err
		}
		c.notify(s.message(u, msgRecoveryCodesRenewed, nil))
		return audit(tx, now, a, u.WorkspaceID, "mfa.recovery_codes_regenerated", sekisho.ResultSuccess, u.ID, nil)
	})
}

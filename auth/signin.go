package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// SignInResult is the answer to each sign-in step: State says which of
// the fields are set.
type SignInResult struct {
	State sekisho.SignInStep

	// signed_in
	SessionToken       string
	ExpiresAt          time.Time
	MFAEnrollmentDueAt time.Time // within a grace period: when MFA becomes mandatory
	RecoveryCodes      []string  // after forced enrollment, shown once
	RemainingRecovery  int       // after signing in with a recovery code
	UsedRecoveryCode   bool

	// mfa_required and mfa_enrollment_required
	FlowToken          string
	Methods            []string // "totp", "recovery_code"
	AccessCodeRequired bool     // enrollment needs the code the admin handed out
	AccessCodeExpired  bool     // ... which has expired: only a new admin reset helps
}

// Credentials is the first step of a sign-in.
type Credentials struct {
	Workspace string // slug
	Email     string
	Password  string
}

// Limits on input sizes, so nothing oversized reaches a hash or a query.
const (
	maxEmailLen    = 254
	maxNameLen     = 100
	maxPasswordLen = 4 * secret.MaxPasswordLen // bytes: 128 code points of up to 4 bytes
)

// NormalizeEmail trims and lower-cases an email and checks that it is one
// plain address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", sekisho.Invalid("email", "email_required", "Enter an email address.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > maxEmailLen || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", sekisho.Invalid("email", "invalid_email", "Enter a valid email address, like name@example.com.")
	}
	return s, nil
}

// SignIn checks a password and says what comes next: a session, a second
// factor, or enrollment. Unknown workspaces, unknown emails and wrong
// passwords give the same error after the same work, and every attempt
// counts against the account and the client's IP before it is checked.
func (s *Service) SignIn(ctx context.Context, a sekisho.Actor, c Credentials) (*SignInResult, error) {
	slug := strings.ToLower(strings.TrimSpace(c.Workspace))
	email := strings.ToLower(strings.TrimSpace(c.Email))
	switch {
	case slug == "":
		return nil, sekisho.Invalid("workspace", "workspace_required", "Enter your workspace.")
	case email == "":
		return nil, sekisho.Invalid("email", "email_required", "Enter your email address.")
	case c.Password == "":
		return nil, sekisho.Invalid("password", "password_required", "Enter your password.")
	case len(slug) > 64 || len(email) > maxEmailLen || len(c.Password) > maxPasswordLen:
		return nil, sekisho.ErrInvalidCredentials
	}
	now := s.now()
	accountKey := passwordThrottleKey(slug, email)
	var (
		ws   *sekisho.Workspace
		user *sekisho.User
		hash string
	)
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		ws, user, hash = nil, nil, ""
		var err error
		ws, err = tx.WorkspaceBySlug(slug)
		if errors.Is(err, store.ErrNotFound) {
			ws = nil
		} else if err != nil {
			return err
		} else if user, hash, err = tx.UserByEmail(ws.ID, email); errors.Is(err, store.ErrNotFound) {
			user = nil
		} else if err != nil {
			return err
		}
		for _, t := range []struct {
			key  string
			rule store.ThrottleRule
		}{{"ip:" + a.IP, ipRule}, {accountKey, passwordRule}} {
			if t.key == "ip:" {
				continue // no address (the CLI): nothing to count
			}
			wait, _, err := tx.ThrottleAttempt(t.key, now, t.rule)
			if err != nil {
				return err
			}
			if wait > 0 {
				if ws != nil {
					err := audit(tx, now, a, ws.ID, "user.sign_in", sekisho.ResultDenied, userID(user), map[string]string{"email": email, "reason": "throttled"})
					if err != nil {
						return err
					}
				}
				return commitThen(sekisho.Throttled(wait))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	ok, rehash := false, false
	if user != nil && hash != "" {
		ok, rehash, err = s.hasher.Verify(ctx, hash, c.Password)
		if err != nil && !errors.Is(err, secret.ErrMalformedHash) {
			return nil, err
		}
	} else {
		s.hasher.VerifyDummy(ctx, c.Password)
	}
	if !ok {
		return nil, s.update(ctx, func(tx *store.Tx, _ *change) error {
			if ws != nil { // else there is no workspace to keep the event in
				err := audit(tx, now, a, ws.ID, "user.sign_in", sekisho.ResultFailure, userID(user), map[string]string{"email": email, "reason": "invalid_credentials"})
				if err != nil {
					return err
				}
			}
			return commitThen(sekisho.ErrInvalidCredentials)
		})
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, c.Password); err != nil {
			return nil, err
		}
	}

	var res *SignInResult
	err = s.update(ctx, func(tx *store.Tx, _ *change) error {
		// The same order as the attempt took the rows (IP, then account):
		// the opposite order deadlocks parallel sign-ins on PostgreSQL.
		if a.IP != "" {
			if err := tx.ThrottleRelease("ip:" + a.IP); err != nil {
				return err
			}
		}
		if err := tx.ThrottleReset(accountKey); err != nil {
			return err
		}
		// Read again inside this transaction: an admin may have disabled the
		// user or reset their MFA while the hash ran.
		u, err := tx.User(ws.ID, user.ID)
		if err != nil {
			return notFound(err, sekisho.ErrInvalidCredentials)
		}
		w, err := tx.Workspace(ws.ID)
		if err != nil {
			return err
		}
		if u.Status != sekisho.StatusActive {
			if err := audit(tx, now, a, w.ID, "user.sign_in", sekisho.ResultDenied, u.ID, map[string]string{"reason": "user_" + string(u.Status)}); err != nil {
				return err
			}
			return commitThen(errAccountDisabled)
		}
		if newHash != "" {
			if err := tx.SetPasswordHash(u.ID, newHash); err != nil {
				return err
			}
		}
		res, err = s.afterPassword(tx, now, a, w, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// errAccountDisabled is told only to someone who knows the password.
var errAccountDisabled = sekisho.Errorf(sekisho.KindForbidden, "account_disabled", "This account is disabled. Ask an admin of your workspace.")

func userID(u *sekisho.User) string {
	if u == nil {
		return ""
	}
	return u.ID
}

// afterPassword runs the state machine of PRODUCT.md flow 3 once the
// password is proven.
func (s *Service) afterPassword(tx *store.Tx, now time.Time, a sekisho.Actor, w *sekisho.Workspace, u *sekisho.User) (*SignInResult, error) {
	step := sekisho.NextSignInStep(w, u, now)
	res := &SignInResult{State: step}
	switch step {
	case sekisho.StepSignedIn:
		token, sess, err := s.createSession(tx, now, a, u, sekisho.AAL1)
		if err != nil {
			return nil, err
		}
		res.SessionToken, res.ExpiresAt = token, sess.ExpiresAt
		if due, ok := sekisho.MFAEnrollmentDue(w, u); ok {
			res.MFAEnrollmentDueAt = due
		}
		return res, audit(tx, now, a, w.ID, "user.sign_in", sekisho.ResultSuccess, u.ID, map[string]string{"aal": string(sekisho.AAL1)})
	case sekisho.StepMFARequired:
		methods, err := mfaMethods(tx, u.ID)
		if err != nil {
			return nil, err
		}
		res.Methods = methods
		res.FlowToken, err = s.createFlow(tx, now, a, u.ID, flowMFA)
		if err != nil {
			return nil, err
		}
		return res, audit(tx, now, a, w.ID, "user.sign_in.password", sekisho.ResultSuccess, u.ID, map[string]string{"next": string(step)})
	default:
		code, err := pendingAccessCode(tx, u.ID)
		if err != nil {
			return nil, err
		}
		if code != nil {
			res.AccessCodeRequired, res.AccessCodeExpired = true, !now.Before(accessCodeExpiry(code))
		}
		res.FlowToken, err = s.createFlow(tx, now, a, u.ID, flowEnroll)
		if err != nil {
			return nil, err
		}
		return res, audit(tx, now, a, w.ID, "user.sign_in.password", sekisho.ResultSuccess, u.ID, map[string]string{"next": string(step)})
	}
}

func mfaMethods(tx *store.Tx, userID string) ([]string, error) {
	var methods []string
	auths, err := tx.Authenticators(userID)
	if err != nil {
		return nil, err
	}
	for _, au := range auths {
		if au.Confirmed() && au.Kind == sekisho.KindTOTP {
			methods = append(methods, "totp")
			break
		}
	}
	if _, n, err := tx.RecoveryCodeSalt(userID); err != nil {
		return nil, err
	} else if n > 0 {
		methods = append(methods, "recovery_code")
	}
	return methods, nil
}

const (
	flowMFA    = "mfa"
	flowEnroll = "enroll"
)

func (s *Service) createFlow(tx *store.Tx, now time.Time, a sekisho.Actor, userID, kind string) (string, error) {
	token := secret.NewToken()
	return token, tx.CreateFlow(secret.HashToken(token), &store.Flow{
		UserID: userID, Kind: kind, IP: a.IP, UserAgent: truncate(a.UserAgent, 256),
		CreatedAt: now.UnixMilli(), ExpiresAt: now.Add(flowTTL).UnixMilli(),
	})
}

// createSession issues a new session token; a new token at every step is
// what keeps a session id from being fixed by an attacker.
func (s *Service) createSession(tx *store.Tx, now time.Time, a sekisho.Actor, u *sekisho.User, aal sekisho.AAL) (string, *sekisho.Session, error) {
	token := secret.NewToken()
	sess := &sekisho.Session{
		ID: store.NewID(), UserID: u.ID, WorkspaceID: u.WorkspaceID, AAL: aal,
		AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		IP: a.IP, UserAgent: truncate(a.UserAgent, 256),
	}
	return token, sess, tx.CreateSession(sess, secret.HashToken(token))
}

// flowState is what a second-step request learns about its flow.
type flowState struct {
	hash string
	flow *store.Flow
	user *sekisho.User
	ws   *sekisho.Workspace
}

// loadFlow finds a live flow of kind for token, or ErrInvalidFlow.
func loadFlow(tx *store.Tx, token, kind string, now time.Time) (*flowState, error) {
	if !secret.WellFormedToken(token) {
		return nil, sekisho.ErrInvalidFlow
	}
	h := secret.HashToken(token)
	f, err := tx.Flow(h)
	if err != nil {
		return nil, notFound(err, sekisho.ErrInvalidFlow)
	}
	if f.Kind != kind || f.ExpiresAt <= now.UnixMilli() {
		return nil, sekisho.ErrInvalidFlow
	}
	u, err := tx.UserByID(f.UserID)
	if err != nil {
		return nil, notFound(err, sekisho.ErrInvalidFlow)
	}
	if u.Status != sekisho.StatusActive {
		return nil, sekisho.ErrInvalidFlow
	}
	w, err := tx.Workspace(u.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return &flowState{hash: h, flow: f, user: u, ws: w}, nil
}

// SecondFactor is the second step of a sign-in: one of Code (TOTP) and
// RecoveryCode.
type SecondFactor struct {
	FlowToken    string
	Code         string
	RecoveryCode string
}

// SignInMFA completes a sign-in with a TOTP or recovery code and returns an
// aal2 session. Wrong codes count against the flow (it dies after five)
// and against the user across flows and instances.
func (s *Service) SignInMFA(ctx context.Context, a sekisho.Actor, f SecondFactor) (*SignInResult, error) {
	if (f.Code == "") == (f.RecoveryCode == "") {
		return nil, sekisho.Invalid("code", "code_required", "Enter the code from your authenticator app, or a recovery code.")
	}
	now := s.now()
	var fs *flowState
	var check *factorCheck
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		var err error
		if fs, err = loadFlow(tx, f.FlowToken, flowMFA, now); err != nil {
			return err
		}
		check, err = s.beginFactorCheck(tx, now, fs.user, f.Code, f.RecoveryCode)
		if sekisho.KindOf(err) == sekisho.KindThrottled {
			method := "totp"
			if f.RecoveryCode != "" {
				method = "recovery_code"
			}
			return factorThrottled(tx, now, a, fs.ws.ID, fs.user.ID, "mfa.verify", method, err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := check.verify(ctx, s, now); err != nil {
		return nil, err
	}
	var res *SignInResult
	err = s.update(ctx, func(tx *store.Tx, c *change) error {
		ok, err := check.commit(tx, s, now, a, fs.ws, c)
		if err != nil {
			return err
		}
		if !ok {
			return flowFailure(tx, fs.hash)
		}
		if done, err := tx.DeleteFlow(fs.hash); err != nil {
			return err
		} else if !done {
			return commitThen(sekisho.ErrInvalidFlow) // a parallel request finished this flow
		}
		token, sess, err := s.createSession(tx, now, a, fs.user, sekisho.AAL2)
		if err != nil {
			return err
		}
		res = &SignInResult{State: sekisho.StepSignedIn, SessionToken: token, ExpiresAt: sess.ExpiresAt,
			UsedRecoveryCode: check.recovery, RemainingRecovery: check.remaining}
		return audit(tx, now, a, fs.ws.ID, "user.sign_in", sekisho.ResultSuccess, fs.user.ID,
			map[string]string{"aal": string(sekisho.AAL2), "method": check.method()})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

var errFlowEnded = sekisho.Errorf(sekisho.KindUnauthorized, "flow_ended", "Too many wrong codes. Sign in again.")

// flowFailure counts a wrong code against a flow and ends the flow at the
// limit; the transaction commits and answers with the returned error.
func flowFailure(tx *store.Tx, flowHash string) error {
	n, err := tx.CountFlowFailure(flowHash)
	if errors.Is(err, store.ErrNotFound) {
		return commitThen(sekisho.ErrInvalidFlow)
	} else if err != nil {
		return err
	}
	if n >= flowMaxFailures {
		if _, err := tx.DeleteFlow(flowHash); err != nil {
			return err
		}
		return commitThen(errFlowEnded)
	}
	return commitThen(sekisho.ErrInvalidCode)
}

// factorCheck is one second-factor attempt, split in three so that the slow
// part (a hash) runs outside any transaction: begin reserves the attempt
// against the throttle, verify computes, commit spends the code atomically.
type factorCheck struct {
	user     *sekisho.User
	recovery bool
	code     string

	// TOTP
	auths []*store.Authenticator
	match *store.Authenticator
	step  int64

	// recovery code
	salt, hash string
	remaining  int

	malformed bool
}

func (c *factorCheck) method() string {
	if c.recovery {
		return "recovery_code"
	}
	return "totp"
}

// beginFactorCheck reserves an attempt for user and loads what verify needs.
func (s *Service) beginFactorCheck(tx *store.Tx, now time.Time, u *sekisho.User, code, recoveryCode string) (*factorCheck, error) {
	c := &factorCheck{user: u, recovery: recoveryCode != ""}
	if !c.recovery {
		// Blocked TOTP is refused before an attempt is reserved, so that
		// the refusal changes no counter and its audit event can commit
		// without backing off the recovery codes that remain the way out.
		failures, err := tx.ThrottleFailures("mfa:" + u.ID)
		if err != nil {
			return nil, err
		}
		if failures >= mfaHardLimit {
			return nil, sekisho.Throttled(time.Hour)
		}
	}
	wait, failures, err := tx.ThrottleAttempt("mfa:"+u.ID, now, mfaRule)
	if err != nil {
		return nil, err
	}
	if wait > 0 || (!c.recovery && failures >= mfaHardLimit) {
		if wait == 0 {
			wait = time.Hour // blocked until a recovery code or an admin reset
		}
		return nil, sekisho.Throttled(wait)
	}
	if c.recovery {
		norm, ok := secret.NormalizeRecoveryCode(recoveryCode)
		c.code, c.malformed = norm, !ok
		if c.salt, c.remaining, err = tx.RecoveryCodeSalt(u.ID); err != nil {
			return nil, err
		}
		return c, nil
	}
	c.code = code
	auths, err := tx.Authenticators(u.ID)
	if err != nil {
		return nil, err
	}
	for _, au := range auths {
		if au.Confirmed() && au.Kind == sekisho.KindTOTP {
			c.auths = append(c.auths, au)
		}
	}
	return c, nil
}

// verify checks the code outside any transaction.
func (c *factorCheck) verify(ctx context.Context, s *Service, now time.Time) error {
	if c.malformed {
		return nil
	}
	if c.recovery {
		if c.salt == "" {
			return nil
		}
		h, err := s.hasher.HashRecoveryCode(ctx, c.salt, c.code)
		if err != nil {
			return err
		}
		c.hash = h
		return nil
	}
	var unopened error
	for _, au := range c.auths {
		seed, err := s.openSeed(c.user, au)
		if errors.Is(err, secret.ErrUnknownKey) {
			// Sealed under a key this instance's ring lacks (a rotation it
			// has not seen yet, a key removed too early): the server's
			// fault, not the user's. Another factor may still match;
			// else the attempt fails as internal, not as a wrong code.
			unopened = fmt.Errorf("TOTP secret of authenticator %s: %w", au.ID, err)
			continue
		}
		if err != nil {
			// A seed that does not open under its own row's ids was copied
			// from another row or tampered with: it is no factor, which
			// is a wrong code for the user (not a 500), and their other
			// factors still count.
			s.log.ErrorContext(ctx, "authenticator secret does not open", "authenticator_id", au.ID, "err", err)
			continue
		}
		if step, ok := totp.Verify(seed, c.code, now, au.LastUsedStep); ok {
			c.match, c.step = au, step
			return nil
		}
	}
	if unopened != nil {
		return s.uncounted(ctx, c.user.ID, unopened)
	}
	return nil
}

// uncounted answers a second-factor check the server could not make (err:
// a secret that does not open) as an internal error, logged, and takes
// back the attempt begin reserved: it is not the user's failure, so it
// neither counts toward their throttle nor ends their sign-in.
func (s *Service) uncounted(ctx context.Context, userID string, err error) error {
	rerr := s.update(ctx, func(tx *store.Tx, _ *change) error { return tx.ThrottleRelease("mfa:" + userID) })
	if rerr != nil {
		s.log.ErrorContext(ctx, "release a second-factor attempt", "user_id", userID, "err", rerr)
	}
	return s.internal(ctx, err)
}

// commit spends the verified code and clears the throttle, or records the
// failure. ok is false for a wrong, replayed or already spent code.
func (c *factorCheck) commit(tx *store.Tx, s *Service, now time.Time, a sekisho.Actor, w *sekisho.Workspace, ch *change) (ok bool, err error) {
	switch {
	case c.recovery && c.hash != "":
		ok, err = tx.UseRecoveryCode(c.user.ID, c.hash, now.UnixMilli())
	case !c.recovery && c.match != nil:
		ok, err = tx.UseTOTPStep(c.match.ID, c.step, now.UnixMilli())
	}
	if err != nil {
		return false, err
	}
	if !ok {
		return false, s.factorFailed(tx, now, a, w, c.user, ch, "mfa.verify", c.method())
	}
	if err := tx.ThrottleReset("mfa:" + c.user.ID); err != nil {
		return false, err
	}
	if c.recovery {
		c.remaining--
		ch.notify(s.message(c.user, msgRecoveryCodeUsed, map[string]any{"Remaining": c.remaining}))
		if err := audit(tx, now, a, w.ID, "mfa.recovery_code_used", sekisho.ResultSuccess, c.user.ID, map[string]string{"remaining": itoa(c.remaining)}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// factorThrottled records a second-factor attempt of user userID that the
// throttle refused (err) as a denial, typ being the event a wrong code
// would write, and answers with err. The transaction commits: the
// throttle's refusal changed no counter, and the event stays.
func factorThrottled(tx *store.Tx, now time.Time, a sekisho.Actor, workspaceID, userID, typ, method string, err error) error {
	if aerr := audit(tx, now, a, workspaceID, typ, sekisho.ResultDenied, userID, map[string]string{"reason": "throttled", "method": method}); aerr != nil {
		return aerr
	}
	return commitThen(err)
}

// factorFailed records a wrong second-factor code of u (typ is the audit
// event); the failure that reaches the hard limit blocks TOTP, which the
// user hears of once, by email.
func (s *Service) factorFailed(tx *store.Tx, now time.Time, a sekisho.Actor, w *sekisho.Workspace, u *sekisho.User, ch *change, typ, method string) error {
	failures, err := tx.ThrottleFailures("mfa:" + u.ID)
	if err != nil {
		return err
	}
	if err := audit(tx, now, a, w.ID, typ, sekisho.ResultFailure, u.ID, map[string]string{"method": method}); err != nil {
		return err
	}
	if failures == mfaHardLimit {
		ch.notify(s.message(u, msgMFALocked, nil))
		return audit(tx, now, sekisho.Actor{Kind: sekisho.ActorSystem}, w.ID, "mfa.locked", sekisho.ResultDenied, u.ID, nil)
	}
	return nil
}

// openSeed decrypts an authenticator's TOTP seed, bound to its owner.
func (s *Service) openSeed(u *sekisho.User, au *store.Authenticator) ([]byte, error) {
	return s.keys.Open(au.Secret, secret.AD(u.WorkspaceID, u.ID, au.ID))
}

func (s *Service) sealSeed(u *sekisho.User, authID string, seed []byte) (string, error) {
	return s.keys.Seal(seed, secret.AD(u.WorkspaceID, u.ID, authID))
}

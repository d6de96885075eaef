package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// Principal is who a session token stands for.
type Principal struct {
	Session   *sekisho.Session
	User      *sekisho.User
	Workspace *sekisho.Workspace
	// MFAEnrollmentDueAt is set while a required policy's grace period runs
	// for a user without MFA.
	MFAEnrollmentDueAt time.Time
	IdleExpiresAt      time.Time
}

// Actor returns the actor for requests made with this session.
func (p *Principal) Actor(ip, userAgent string) sekisho.Actor {
	return sekisho.Actor{
		Kind: sekisho.ActorUser, UserID: p.User.ID, WorkspaceID: p.User.WorkspaceID, Role: p.User.Role,
		HasMFA: p.User.HasMFA, SessionID: p.Session.ID, AAL: p.Session.AAL, AuthTime: p.Session.AuthTime,
		IP: ip, UserAgent: userAgent,
	}
}

var (
	errSessionExpired = sekisho.Errorf(sekisho.KindUnauthorized, "session_expired", "Your session has ended. Sign in again.")
	errPolicySession  = sekisho.Errorf(sekisho.KindUnauthorized, "mfa_enrollment_required", "Your workspace requires multi-factor authentication. Sign in again to set it up.")
)

// Authenticate returns the principal of a session token: the check apps
// behind sekisho make on every request. It refuses tokens it never issued,
// expired and idle sessions, users no longer active, and sessions that no
// longer meet the workspace's MFA policy.
//
// A check that succeeded is remembered (see sessionCache) until the
// session is due to be touched again, so most checks make no query. The
// returned principal may be shared: callers must not modify it.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !secret.WellFormedToken(token) {
		return nil, sekisho.ErrUnauthenticated
	}
	key := secret.TokenDigest(token)
	now := s.now()
	cached := s.sessions != nil && s.db.Invalidations().Sync(ctx)
	var epoch uint64
	if cached {
		// A remembered session is as current as the database, except for
		// last_seen_at, which other instances may have moved on: past
		// touchEvery it is read again rather than idled out.
		if p := s.sessions.get(key); p != nil && now.Sub(p.Session.LastSeenAt) < touchEvery {
			if err := s.admit(p, now); err != nil {
				return nil, err
			}
			return p, nil
		}
		epoch = s.sessions.currentEpoch()
	}
	sess, u, w, err := s.db.SessionByToken(ctx, hex.EncodeToString(key[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, sekisho.ErrUnauthenticated
	} else if err != nil {
		return nil, s.internal(ctx, err)
	}
	p := &Principal{Session: sess, User: u, Workspace: w}
	if due, ok := sekisho.MFAEnrollmentDue(w, u); ok {
		p.MFAEnrollmentDueAt = due
	}
	if err := s.admit(p, now); err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.TouchSession(sess.ID, now.UnixMilli()) })
		if err != nil {
			return nil, s.internal(ctx, err)
		}
		sess.LastSeenAt = now
	}
	p.IdleExpiresAt = sess.IdleExpiresAt(s.cfg.SessionIdle)
	if sess.ExpiresAt.Before(p.IdleExpiresAt) {
		p.IdleExpiresAt = sess.ExpiresAt
	}
	if cached {
		s.sessions.put(key, p, epoch)
	}
	return p, nil
}

// admit applies the rules a session must meet at now.
func (s *Service) admit(p *Principal, now time.Time) error {
	if !now.Before(p.Session.ExpiresAt) || !now.Before(p.Session.IdleExpiresAt(s.cfg.SessionIdle)) {
		return errSessionExpired
	}
	if p.User.Status != sekisho.StatusActive {
		return sekisho.ErrUnauthenticated
	}
	if !sekisho.SessionMeetsPolicy(p.Workspace, p.User, p.Session.AAL, now) {
		return errPolicySession
	}
	return nil
}

// SignOut ends the actor's session.
func (s *Service) SignOut(ctx context.Context, a sekisho.Actor) error {
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, _ *change) error {
		if _, err := tx.DeleteSession(a.UserID, a.SessionID); err != nil {
			return err
		}
		return audit(tx, now, a, a.WorkspaceID, "session.sign_out", sekisho.ResultSuccess, a.UserID, nil)
	})
}

// Sessions returns the actor's own sessions, newest first.
func (s *Service) Sessions(ctx context.Context, a sekisho.Actor) ([]*sekisho.Session, error) {
	now := s.now()
	var out []*sekisho.Session
	err := s.view(ctx, func(tx *store.Tx) error {
		all, err := tx.UserSessions(a.UserID)
		// Expired sessions stay in the table until the periodic cleanup;
		// the user must see only the ones that still work.
		for _, x := range all {
			if now.Before(x.ExpiresAt) && now.Before(x.IdleExpiresAt(s.cfg.SessionIdle)) {
				out = append(out, x)
			}
		}
		return err
	})
	return out, err
}

// RevokeSession ends one of the actor's own sessions.
func (s *Service) RevokeSession(ctx context.Context, a sekisho.Actor, id string) error {
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, _ *change) error {
		ok, err := tx.DeleteSession(a.UserID, id)
		if err != nil {
			return err
		}
		if !ok {
			return sekisho.ErrNotFound
		}
		return audit(tx, now, a, a.WorkspaceID, "session.revoked", sekisho.ResultSuccess, a.UserID, map[string]string{"session_id": id})
	})
}

// Proof is an optional credential sent along with a sensitive request, so
// that it can re-authenticate in the same call.
type Proof struct {
	Password string
	Code     string
}

// Reauthenticate checks the actor's password or a current TOTP code and,
// on success, records a fresh authentication time in their session. It
// returns the updated actor. Attempts count against the same throttles as
// sign-in.
func (s *Service) Reauthenticate(ctx context.Context, a sekisho.Actor, p Proof) (sekisho.Actor, error) {
	if a.Kind != sekisho.ActorUser {
		return a, sekisho.ErrUnauthenticated
	}
	if p.Password == "" && p.Code == "" {
		return a, sekisho.Invalid("password", "password_required", "Enter your password or a code from your authenticator app.")
	}
	now := s.now()
	// The assurance level stays: raising a session in place would let
	// whoever knew its token ride along (a new token marks each step up).
	aal := a.AAL
	if p.Code != "" {
		if err := s.checkOwnCode(ctx, a, p.Code); err != nil {
			return a, err
		}
	} else if err := s.checkOwnPassword(ctx, a, p.Password); err != nil {
		return a, err
	}
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		if err := tx.SetSessionAuth(a.SessionID, aal, now.UnixMilli()); err != nil {
			return err
		}
		return audit(tx, now, a, a.WorkspaceID, "session.reauthenticated", sekisho.ResultSuccess, a.UserID, nil)
	})
	if err != nil {
		return a, err
	}
	a.AuthTime, a.AAL = now, aal
	return a, nil
}

// checkOwnPassword verifies the actor's password, throttled like sign-in.
func (s *Service) checkOwnPassword(ctx context.Context, a sekisho.Actor, password string) error {
	if len(password) > maxPasswordLen {
		return errWrongPassword
	}
	now := s.now()
	key := "reauth:" + a.UserID
	var hash string
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		wait, _, err := tx.ThrottleAttempt(key, now, passwordRule)
		if err != nil {
			return err
		}
		if wait > 0 {
			return factorThrottled(tx, now, a, a.WorkspaceID, a.UserID, "session.reauthenticated", "password", sekisho.Throttled(wait))
		}
		_, hash, err = tx.UserWithPassword(a.WorkspaceID, a.UserID)
		return err
	})
	if err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, hash, password)
	if err != nil && !errors.Is(err, secret.ErrMalformedHash) {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, _ *change) error {
		if !ok {
			if err := audit(tx, now, a, a.WorkspaceID, "session.reauthenticated", sekisho.ResultFailure, a.UserID, nil); err != nil {
				return err
			}
			return commitThen(errWrongPassword)
		}
		return tx.ThrottleReset(key)
	})
}

var errWrongPassword = sekisho.Errorf(sekisho.KindUnauthorized, "invalid_password", "The password is incorrect.")

// checkOwnCode verifies and spends a TOTP code of the actor.
func (s *Service) checkOwnCode(ctx context.Context, a sekisho.Actor, code string) error {
	now := s.now()
	var check *factorCheck
	var ws *sekisho.Workspace
	err := s.update(ctx, func(tx *store.Tx, _ *change) error {
		u, err := tx.User(a.WorkspaceID, a.UserID)
		if err != nil {
			return err
		}
		if ws, err = tx.Workspace(a.WorkspaceID); err != nil {
			return err
		}
		check, err = s.beginFactorCheck(tx, now, u, code, "")
		if sekisho.KindOf(err) == sekisho.KindThrottled {
			return factorThrottled(tx, now, a, ws.ID, u.ID, "session.reauthenticated", "totp", err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := check.verify(ctx, s, now); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, c *change) error {
		ok, err := check.commit(tx, s, now, a, ws, c)
		if err == nil && !ok {
			return commitThen(sekisho.ErrInvalidCode)
		}
		return err
	})
}

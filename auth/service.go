// Package auth is sekisho's application: sign-in and its second step,
// sessions, account settings, MFA, admin actions and the operator's
// break-glass commands. Each method applies the rules of the root package
// inside one database transaction, writes the audit event of what it did in
// that same transaction, and sends its notification emails after commit.
// The web package and the CLI are thin faces over it.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// Config holds the service's tunables; zero fields take the defaults of
// SECURITY.md.
type Config struct {
	BaseURL string // where the web pages are served, for links in emails

	SessionIdle     time.Duration // default 1 hour
	SessionAbsolute time.Duration // default 24 hours

	// SessionCacheSize is how many session checks are kept in memory
	// (0: DefaultSessionCacheSize; negative: none, every check queries).
	SessionCacheSize int

	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Fixed lifetimes of single-use things.
const (
	flowTTL          = 10 * time.Minute
	invitationTTL    = 7 * 24 * time.Hour
	passwordResetTTL = time.Hour
	setupTTL         = 24 * time.Hour
	accessCodeTTL    = 24 * time.Hour
	pendingTOTPTTL   = 15 * time.Minute
	// touchEvery bounds how often a session check writes last_seen_at: the
	// idle timeout needs minutes, not milliseconds, of precision.
	touchEvery = time.Minute
)

// Throttle rules (SECURITY.md, "Throttling").
var (
	passwordRule = store.ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute, PerHour: 100}
	ipRule       = store.ThrottleRule{Free: 50, Base: time.Second, Max: 5 * time.Minute, PerHour: 2000, ForgetAfter: time.Hour}
	mfaRule      = store.ThrottleRule{Free: 10, Base: time.Second, Max: 15 * time.Minute}
	resetRule    = store.ThrottleRule{Free: 3, Base: time.Minute, Max: time.Hour, ForgetAfter: time.Hour}
	// mfaHardLimit consecutive wrong codes block TOTP until a recovery code
	// or an admin reset succeeds.
	mfaHardLimit = 100
	// flowMaxFailures wrong codes end one pending sign-in.
	flowMaxFailures = 5
)

// Service is sekisho's application. Create it with New.
type Service struct {
	db     *store.DB
	hasher *secret.Hasher
	keys   *secret.Keyring
	mailer mail.Mailer
	log    *slog.Logger
	cfg    Config
	bg     sync.WaitGroup // background notifications
	// stop ends background work early (Stop): batches leave the rest of
	// their mail to a later sweep.
	stopCtx context.Context
	stop    context.CancelFunc
	// inflight holds the ids of the outbox messages handed to the mailer
	// and not yet done with (outbox.go).
	inflight sync.Map

	sessions *sessionCache // nil when disabled
}

// New returns a Service over its dependencies.
func New(db *store.DB, hasher *secret.Hasher, keys *secret.Keyring, mailer mail.Mailer, log *slog.Logger, cfg Config) *Service {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = time.Hour
	}
	if cfg.SessionAbsolute <= 0 {
		cfg.SessionAbsolute = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionCacheSize == 0 {
		cfg.SessionCacheSize = DefaultSessionCacheSize
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Service{db: db, hasher: hasher, keys: keys, mailer: mailer, log: log, cfg: cfg}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	if cfg.SessionCacheSize > 0 {
		s.sessions = newSessionCache(cfg.SessionCacheSize)
		db.Invalidations().Subscribe(s.sessions.invalidate, s.sessions.reset)
	}
	return s
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Now is the service's clock, which every expiry it hands out counts from.
func (s *Service) Now() time.Time { return s.now() }

// change is what a method's transaction leaves for after its commit.
type change struct {
	mail []mail.Message
}

func (c *change) notify(m mail.Message) { c.mail = append(c.mail, m) }

// update runs fn in one write transaction and, once it has committed, sends
// the mail fn queued. A notification is never sent for a change that did
// not happen, nor lost for one that did: it is written to the outbox in
// the same transaction (outbox.go).
//
// fn may return commitThen(err): the transaction still commits (it
// recorded a failure, such as a wrong code) and update then returns err.
func (s *Service) update(ctx context.Context, fn func(tx *store.Tx, c *change) error) error {
	var msgs []outboxMail
	var after error
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var c change
		msgs, after = nil, nil
		err := fn(tx, &c)
		var ct *committedError
		if errors.As(err, &ct) {
			after, err = ct.err, nil
		}
		if err != nil || len(c.mail) == 0 {
			return err
		}
		msgs, err = s.addOutbox(tx, s.now(), c.mail)
		return err
	})
	if err != nil {
		return s.internal(ctx, err)
	}
	for _, m := range msgs {
		s.send(ctx, m, false)
	}
	return after
}

// committedError carries an error out of a transaction that must commit.
type committedError struct{ err error }

func (e *committedError) Error() string { return e.err.Error() }

// Unwrap lets code inside the transaction see which error will follow
// (SignInEnroll tells a flow that ended from one more wrong code).
func (e *committedError) Unwrap() error { return e.err }

// commitThen makes update commit and then return err.
func commitThen(err error) error { return &committedError{err} }

// Wait blocks until background work (notifications of a policy change) is
// done: tests wait on it, and serve before it closes the mail queue.
func (s *Service) Wait() { s.bg.Wait() }

// Stop has background work end soon: a batch of mail stops after the page
// in hand, and the outbox sweeps of any instance resume it once its lease
// runs out. Serve calls it when shutting down, so that telling a large
// workspace of a policy change never holds the shutdown up.
func (s *Service) Stop() { s.stop() }

// view runs fn in a read-only transaction.
func (s *Service) view(ctx context.Context, fn func(tx *store.Tx) error) error {
	return s.internal(ctx, s.db.View(ctx, fn))
}

// internal passes domain errors through and turns everything else, which
// callers must not see, into one opaque error logged here.
func (s *Service) internal(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *sekisho.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, store.ErrUnavailable) {
		s.log.WarnContext(ctx, "database unavailable", "err", err)
		return sekisho.ErrUnavailable
	}
	s.log.ErrorContext(ctx, "internal error", "err", err)
	return fmt.Errorf("auth: %w", err)
}

// audit appends an event for actor's action on target in workspaceID.
func audit(tx *store.Tx, now time.Time, a sekisho.Actor, workspaceID, typ, result, targetID string, details map[string]string) error {
	e := &sekisho.AuditEvent{
		Time: now, WorkspaceID: workspaceID, Type: typ, Result: result,
		ActorKind: a.Kind, TargetID: targetID, IP: a.IP, UserAgent: truncate(a.UserAgent, 256),
		Reason: a.Reason, Details: details,
	}
	switch a.Kind {
	case sekisho.ActorUser:
		e.ActorID = a.UserID
	case sekisho.ActorOperator:
		e.ActorID = a.Operator
	}
	return tx.AddAuditEvent(e)
}

// refusal reports whether err is a denial worth an audit event: a
// signed-in user asking for what their role or session may not do
// (forbidden), or for an admin or policy change the state refuses
// (conflict: the last workspace admin, Require MFA without MFA of one's
// own, disabling oneself). SECURITY.md asks for every denial. A stale
// re-authentication is routine and not recorded. Callers pass only the
// errors of an authorization or admin rule, never bad input.
func refusal(a sekisho.Actor, err error) bool {
	switch sekisho.KindOf(err) {
	case sekisho.KindForbidden:
		return a.Kind == sekisho.ActorUser && sekisho.CodeOf(err) != sekisho.ErrReauthRequired.Code
	case sekisho.KindConflict:
		return a.Kind == sekisho.ActorUser
	}
	return false
}

// deny records a refused action (typ) inside the transaction that refused
// it and answers with err; the transaction commits so that the record
// stays.
func deny(tx *store.Tx, now time.Time, a sekisho.Actor, typ, targetID string, err error) error {
	if !refusal(a, err) {
		return err
	}
	if aerr := audit(tx, now, a, a.WorkspaceID, typ, sekisho.ResultDenied, targetID, map[string]string{"reason": sekisho.CodeOf(err)}); aerr != nil {
		return aerr
	}
	return commitThen(err)
}

// refuse records a refusal decided before any transaction, and answers
// with err.
func (s *Service) refuse(ctx context.Context, a sekisho.Actor, typ, targetID string, err error) error {
	if !refusal(a, err) {
		return err
	}
	now := s.now()
	return s.update(ctx, func(tx *store.Tx, _ *change) error { return deny(tx, now, a, typ, targetID, err) })
}

// checkOperator refuses operator actions without a reason: the support
// team's every action must say why in the audit log.
func checkOperator(a sekisho.Actor) error {
	if a.Kind == sekisho.ActorOperator && strings.TrimSpace(a.Reason) == "" {
		return sekisho.Invalid("reason", "reason_required", "Operator actions need --reason, which is recorded in the audit log.")
	}
	return nil
}

// truncate shortens a client-supplied header (the user agent) to at most n
// bytes of valid UTF-8: HTTP allows any byte above 0x7f there, and
// PostgreSQL refuses to store invalid UTF-8, which would fail the write
// (and with it the audit event of a failed sign-in).
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// notFound maps store.ErrNotFound to err and passes other errors through.
func notFound(err, notFoundErr error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundErr
	}
	return err
}

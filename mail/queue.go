package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"regexp"
	"sync"
	"time"
)

// Errors returned by [Queue.Send].
var (
	// ErrQueueFull means the message was dropped because the mail server
	// has fallen too far behind; waiting for room would slow the request.
	ErrQueueFull = errors.New("mail: queue full; message dropped")
	// ErrQueueClosed means the queue is shutting down.
	ErrQueueClosed = errors.New("mail: queue closed")
)

const (
	queueSize = 1000
	// attemptTimeout bounds one delivery attempt, whatever the Mailer does
	// with its own timeouts.
	attemptTimeout = 2 * time.Minute
)

// defaultBackoff is the wait before each retry: a restarting mail server
// is usually back within seconds, and longer waits would hold up the
// messages queued behind (there is one worker, so order is kept).
var defaultBackoff = []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second}

// Queue delivers messages in the background, so that a slow or unreachable
// mail server never slows down the request that asked for a notification.
//
// One worker delivers messages in the order they were queued, retrying each a
// few times with growing waits. A message that still fails, or that the
// server refuses permanently (a 5xx reply, an invalid message), is dropped and
// logged with the recipient's domain only: logs never carry the body, which
// holds sign-in links, nor the full address.
type Queue struct {
	mailer         Mailer
	log            *slog.Logger
	backoff        []time.Duration
	attemptTimeout time.Duration

	mu     sync.Mutex // orders Send against Close, so nothing is sent on a closed channel
	closed bool
	ch     chan queued

	ctx    context.Context // cancelled when Close stops waiting; aborts delivery
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker has returned
}

// NewQueue starts a queue that delivers through m and logs failures to
// logger (discarded when nil). Call Close to stop it.
func NewQueue(m Mailer, logger *slog.Logger) *Queue {
	return newQueue(m, logger, queueSize, defaultBackoff, attemptTimeout)
}

func newQueue(m Mailer, logger *slog.Logger, size int, backoff []time.Duration, timeout time.Duration) *Queue {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		mailer:         m,
		log:            logger,
		backoff:        backoff,
		attemptTimeout: timeout,
		ch:             make(chan queued, size),
		ctx:            ctx,
		cancel:         cancel,
		done:           make(chan struct{}),
	}
	go q.run()
	return q
}

// queued is a message in the queue and whom to tell how it ended.
type queued struct {
	m    Message
	done func(error)
}

// Send queues m and returns without waiting for delivery. It checks m at
// once, so an invalid message is reported to the caller (wrapping
// [ErrInvalidMessage]) rather than only logged. It never blocks: when the
// queue is full it returns [ErrQueueFull], after Close [ErrQueueClosed].
//
// ctx is only checked, never passed on: delivery outlives the request.
func (q *Queue) Send(ctx context.Context, m Message) error {
	return q.SendTracked(ctx, m, nil)
}

// SendTracked is Send, and once the queue is done with m it calls done with
// nil when m was delivered, or the error that ended the tries: one that
// [Permanent] reports, the last transient one, or [ErrQueueClosed] when
// the queue closed first. done is not called when SendTracked returns an
// error. It runs on the queue's worker: the messages behind wait for it.
func (q *Queue) SendTracked(ctx context.Context, m Message, done func(error)) error {
	if _, err := validate(m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.ch <- queued{m, done}:
		return nil
	default:
		// Not logged here: the caller decides whether a full queue is a
		// lost notification (and logs it) or a reason to wait and retry.
		return ErrQueueFull
	}
}

// Close stops accepting messages and delivers those already queued, waiting
// until they are done or ctx ends. When ctx ends first, delivery is abandoned,
// what was left is logged as not delivered, and Close returns ctx's error.
// Close may be called more than once.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()

	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		// Let the attempt in hand end and every SendTracked caller hear how
		// its message ended, before the caller closes what they need (the
		// database): a mailer honours its context within moments.
		select {
		case <-q.done:
		case <-time.After(abandonWait):
		}
		return fmt.Errorf("mail: queue closed before all mail was delivered: %w", ctx.Err())
	}
}

// abandonWait bounds how long Close waits, once it has given up on
// delivery, for the worker to notice.
const abandonWait = 2 * time.Second

// Busy reports whether the queue is more than half full. Senders of bulk
// mail wait while it is, so that mail a person is waiting for (a reset
// link) still finds room.
func (q *Queue) Busy() bool { return len(q.ch) > cap(q.ch)/2 }

func (q *Queue) run() {
	defer close(q.done)
	defer q.cancel()
	abandoned, kept := 0, 0
	for it := range q.ch {
		err := ErrQueueClosed
		switch {
		case q.ctx.Err() == nil:
			err = q.deliver(it.m, it.done != nil)
		case it.done != nil:
			kept++
		default:
			abandoned++
		}
		if it.done != nil {
			it.done(err)
		}
	}
	if abandoned > 0 {
		q.log.Error("mail: queue closed; messages not delivered", "count", abandoned)
	}
	if kept > 0 {
		q.log.Warn("mail: queue closed; messages left to their senders", "count", kept)
	}
}

// deliver tries m until it is sent or the tries end, and returns nil or
// the error that ended them. A tracked message that fails but not for good
// is its sender's to try again (SendTracked), so that is a warning, not
// the error of a lost message.
func (q *Queue) deliver(m Message, tracked bool) error {
	domain := recipientDomain(m.To)
	failed := func(msg string, err error, args ...any) error {
		if tracked && !Permanent(err) {
			q.log.Warn(msg+"; left to its sender", args...)
		} else {
			q.log.Error(msg, args...)
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(q.ctx, q.attemptTimeout)
		err := q.mailer.Send(ctx, m)
		cancel()
		if err == nil {
			q.log.Debug("mail: sent", "domain", domain, "attempts", attempt)
			return nil
		}
		reason := redactRecipient(err.Error(), m.To)
		if q.ctx.Err() != nil {
			return failed("mail: queue closed; message not delivered", ErrQueueClosed, "domain", domain, "attempts", attempt, "err", reason)
		}
		if Permanent(err) || attempt > len(q.backoff) {
			return failed("mail: message not delivered", err, "domain", domain, "attempts", attempt, "err", reason)
		}
		wait := q.backoff[attempt-1]
		q.log.Warn("mail: delivery failed; will retry", "domain", domain, "attempt", attempt, "retry_in", wait, "err", reason)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			return failed("mail: queue closed; message not delivered", ErrQueueClosed, "domain", domain, "attempts", attempt)
		}
	}
}

// Permanent reports whether retrying this message cannot help: it is bad
// itself, or the server refused it (see [Refused]) with a 5xx reply, which
// RFC 5321 defines as permanent. A 5xx to the connection or the sender — a
// wrong password (535), a relay that refuses our address — is not: it
// refuses every message until someone fixes the configuration, and the
// messages should wait for that, not be dropped.
func Permanent(err error) bool {
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var r *refusal
	var te *textproto.Error
	return errors.As(err, &r) && errors.As(r.err, &te) && te.Code >= 500 && te.Code < 600
}

// Refused marks err as the server's answer to this message (its recipient
// or its content), as opposed to the connection or the sender.
func Refused(err error) error { return &refusal{err} }

type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// redactRecipient removes the recipient's address from an error text, which
// may quote the server's reply ("550 <alice@example.com>: unknown user").
func redactRecipient(s, to string) string {
	addrs := []string{to}
	if a, err := validate(Message{To: to}); err == nil {
		addrs = append(addrs, a.Address)
	}
	for _, a := range addrs {
		if a == "" {
			continue
		}
		s = regexp.MustCompile("(?i)"+regexp.QuoteMeta(a)).ReplaceAllLiteralString(s, "[recipient]")
	}
	return s
}

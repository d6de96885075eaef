package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

// brokenMailer fails every message with its error, counting the tries.
type brokenMailer struct {
	mu    sync.Mutex
	err   error
	tries int
	ids   []string // the messages' ids, in order
}

func (b *brokenMailer) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tries++
	b.ids = append(b.ids, m.ID)
	return b.err
}

func (b *brokenMailer) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

func (b *brokenMailer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries
}

func (b *brokenMailer) firstID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ids[0]
}

// TestOutbox: a notification whose delivery fails — as when the process
// dies before it, or the mail server is down through every retry — is not
// lost. It waits in the outbox, sealed (its link carries a token), and the
// next sweep after its lease sends it, from any instance; the link in it
// works. A message the mail server refuses for good is not kept, and one
// that keeps failing is dropped, logged, after its last attempt.
func TestOutbox(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			e.workspace("acme")
			broken := &brokenMailer{err: errors.New("dial tcp 127.0.0.1:25: connection refused")}
			logs := &lockedWriter{w: &strings.Builder{}}
			down, viaDown := e.withMailer(broken, slog.New(slog.NewTextHandler(logs, nil)))
			outboxLen := func() int {
				t.Helper()
				var n int
				if err := e.db.View(context.Background(), func(tx *store.Tx) (err error) { n, err = tx.OutboxLen(); return err }); err != nil {
					t.Fatal(err)
				}
				return n
			}
			sweep := func(svc *auth.Service, want int) {
				t.Helper()
				if n, err := svc.SendOutbox(context.Background()); err != nil || n != want {
					t.Fatalf("SendOutbox = %d, %v; want %d", n, err, want)
				}
			}

			viaDown.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "admin@acme.test"}).must(t, 202)
			if broken.count() != 1 || len(e.mail.Messages()) != 1 { // the invitation only
				t.Fatalf("%d tries, %d messages recorded", broken.count(), len(e.mail.Messages()))
			}
			if n := outboxLen(); n != 1 {
				t.Fatalf("%d messages in the outbox, want 1", n)
			}
			var sealed string
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				// Look at the row as a sweep would, leaving its lease as it was.
				now := e.clock.Now()
				rows, err := tx.TakeOutboxMail(now.Add(time.Hour).UnixMilli(), now.Add(10*time.Minute).UnixMilli(), 10)
				if len(rows) == 1 {
					sealed = rows[0].Sealed
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if sealed == "" || strings.Contains(sealed, "admin@acme.test") || strings.Contains(sealed, "password-reset") {
				t.Fatalf("outbox row not sealed: %q", sealed)
			}

			// Within its lease the message is left to its sender; after it,
			// any instance sends it.
			sweep(e.svc, 0)
			e.clock.Add(10*time.Minute + time.Second)
			sweep(e.svc, 1)
			token := acctMailToken(t, e.mail, "admin@acme.test", "Reset your sekisho password", "password-reset")
			// Sent twice, it would be one message to the mail systems.
			if m, _ := e.mail.Last("admin@acme.test"); m.ID == "" || m.ID != broken.firstID() {
				t.Fatalf("the message's id went from %q to %q between its tries", broken.firstID(), m.ID)
			}
			e.call("POST", "/api/v1/password-reset/confirm", "", map[string]string{"token": token, "password": "a fresh passphrase 7"}).must(t, 200)
			if n := outboxLen(); n != 0 {
				t.Fatalf("%d messages in the outbox after delivery, want 0", n)
			}
			sweep(e.svc, 0)

			// A message the server refuses for good is not kept.
			broken.fail(fmt.Errorf("RCPT TO: %w", mail.Refused(&textproto.Error{Code: 550, Msg: "no such user"})))
			viaDown.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "admin@acme.test"}).must(t, 202)
			if n := outboxLen(); n != 0 {
				t.Fatalf("%d messages in the outbox after a permanent refusal, want 0", n)
			}

			// One that fails every time gets its attempts, then is dropped.
			broken.fail(errors.New("connection refused"))
			e.clock.Add(time.Hour) // past the reset throttle
			viaDown.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "admin@acme.test"}).must(t, 202)
			for range 12 {
				e.clock.Add(10*time.Minute + time.Second)
				sweep(down, 1)
			}
			e.clock.Add(10*time.Minute + time.Second)
			sweep(down, 0)
			if n := outboxLen(); n != 0 {
				t.Fatalf("%d messages in the outbox after the last attempt, want 0", n)
			}
			if !strings.Contains(logs.w.(*strings.Builder).String(), "notification dropped from the outbox") {
				t.Fatalf("the dropped notification was not logged:\n%s", logs.w.(*strings.Builder))
			}
		})
	}
}

// toldMFARequired counts, by recipient, the notices that workspace acme
// now requires MFA.
func toldMFARequired(rec *mail.Recorder) map[string]int {
	n := map[string]int{}
	for _, m := range rec.Messages() {
		if m.Subject == "ACME now requires multi-factor authentication" {
			n[m.To]++
		}
	}
	return n
}

// TestMailBatchResumes: the notices of a Require MFA switch go out a page
// at a time, each page's messages written to the outbox with the batch's
// position, so a batch whose process died resumes after the last user
// done — the next sweep tells exactly the users left, once — and a batch
// whose policy was switched off meanwhile tells nobody.
func TestMailBatchResumes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			wsID, adminTok := e.workspace("acme")
			var ids []string
			for i := range 5 {
				ids = append(ids, e.invite(adminTok, fmt.Sprintf("u%d@acme.test", i), "member", adminPassword))
			}
			policy := func(on bool) {
				t.Helper()
				if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
					w, err := tx.Workspace(wsID)
					if err != nil {
						return err
					}
					w.RequireMFA, w.MFAEnforcedSince = on, e.clock.Now()
					return tx.UpdateWorkspacePolicy(w)
				}); err != nil {
					t.Fatal(err)
				}
			}
			// The state a process leaves when it dies after the page that
			// ended with u1 (pages are larger; the position is what counts).
			policy(true)
			now := e.clock.Now()
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				if err := tx.AddMailBatch("b1", wsID, "mfa_required", now.UnixMilli(), now.Add(10*time.Minute).UnixMilli()); err != nil {
					return err
				}
				return tx.AdvanceMailBatch("b1", ids[1], now.Add(10*time.Minute).UnixMilli())
			}); err != nil {
				t.Fatal(err)
			}
			told := func() map[string]int { return toldMFARequired(e.mail) }
			if _, err := e.svc.SendOutbox(context.Background()); err != nil || len(told()) != 0 {
				t.Fatalf("a batch within its lease was resumed: %v %v", told(), err)
			}
			e.clock.Add(10*time.Minute + time.Second)
			for range 2 {
				if _, err := e.svc.SendOutbox(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]int{"u2@acme.test": 1, "u3@acme.test": 1, "u4@acme.test": 1}
			if got := told(); !maps.Equal(got, want) {
				t.Fatalf("told after the resumed batch: %v, want %v", got, want)
			}
			var left int
			if err := e.db.View(context.Background(), func(tx *store.Tx) (err error) { left, err = tx.OutboxLen(); return err }); err != nil || left != 0 {
				t.Fatalf("%d messages left in the outbox after the batch was sent (%v)", left, err)
			}

			// Switched off before its batch resumed: nobody is told.
			e.mail.Reset()
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				return tx.AddMailBatch("b2", wsID, "mfa_required", now.UnixMilli(), now.UnixMilli())
			}); err != nil {
				t.Fatal(err)
			}
			policy(false)
			if _, err := e.svc.SendOutbox(context.Background()); err != nil || len(told()) != 0 {
				t.Fatalf("told after the policy was switched off: %v %v", told(), err)
			}
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				_, err := tx.LockMailBatch("b2")
				return err
			}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the batch of a policy switched off is still there: %v", err)
			}
		})
	}
}

// withMailer starts another sekisho on e's database, keys and clock that
// sends its mail through m and logs to log (nil: nowhere), and returns its
// service and a client of its API.
func (e *env) withMailer(m mail.Mailer, log *slog.Logger) (*auth.Service, *env) {
	e.t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	svc := auth.New(e.db, secret.NewHasher(testParams, 2), e.keys, m, log, auth.Config{BaseURL: "http://sekisho.test", Now: e.clock.Now})
	srv := httptest.NewServer(web.NewServer(svc, e.db, slog.New(slog.DiscardHandler), web.Options{BaseURL: "http://localhost"}))
	e.t.Cleanup(srv.Close)
	return svc, &env{t: e.t, srv: srv}
}

func newGatedMailer(rec *mail.Recorder) gatedMailer {
	return gatedMailer{gate: make(chan struct{}), arrived: make(chan struct{}), once: &sync.Once{}, rec: rec}
}

// gatedMailer holds every message until its gate opens, then records it;
// arrived closes when the first one is held.
type gatedMailer struct {
	gate    chan struct{}
	arrived chan struct{}
	once    *sync.Once
	rec     *mail.Recorder
}

func (g gatedMailer) Send(ctx context.Context, m mail.Message) error {
	g.once.Do(func() { close(g.arrived) })
	<-g.gate
	return g.rec.Send(ctx, m)
}

// TestBatchStopsAtShutdown: a server shutting down stops the batch of a
// Require MFA switch after the page in hand instead of holding the
// shutdown up, and nothing is lost or doubled: the page's messages the
// closing queue did not deliver wait in the outbox, the batch waits at the
// page after, and the next sweep tells everyone left, once.
func TestBatchStopsAtShutdown(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			wsID, adminTok := e.workspace("acme")
			e.enroll(&adminTok, "phone")
			const users = 501 // two pages
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				now := e.clock.Now()
				for i := range users {
					u := &sekisho.User{ID: store.NewID(), WorkspaceID: wsID, Email: fmt.Sprintf("u%03d@acme.test", i), Locale: "en",
						Role: sekisho.RoleMember, Status: sekisho.StatusActive, JoinedAt: now, CreatedAt: now, UpdatedAt: now}
					if err := tx.CreateUser(u, ""); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}

			gate := newGatedMailer(e.mail)
			queue := mail.NewQueue(gate, nil)
			stopping, viaStopping := e.withMailer(queue, nil)
			viaStopping.call("PATCH", "/api/v1/admin/workspace", adminTok, map[string]any{"require_mfa": true, "mfa_grace_days": 7}).must(t, 200)

			// Shut down as serve does while the first page is under way, its
			// first message held at the mail server: Stop, wait for the
			// background work, close the queue. Nothing waits for the mail
			// server, and the second page is left.
			select {
			case <-gate.arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("no notice reached the mail server within 10 s of the switch")
			}
			stopping.Stop()
			waited := make(chan struct{})
			go func() { stopping.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				t.Fatal("the stopped service's batch still waits for the mail server after 10 s")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			closed := make(chan error, 1)
			go func() { closed <- queue.Close(ctx) }()
			<-ctx.Done()
			close(gate.gate)
			<-closed
			var pending error
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				rows, err := tx.TakeMailBatches(e.clock.Now().Add(time.Hour).UnixMilli(), e.clock.Now().Add(10*time.Minute).UnixMilli(), 10)
				if err == nil && len(rows) != 1 {
					pending = fmt.Errorf("%d batches pending after the stop, want 1 (its second page)", len(rows))
				}
				return err
			}); err != nil || pending != nil {
				t.Fatal(err, pending)
			}

			// The next sweep, past the leases, tells everyone left.
			e.clock.Add(10*time.Minute + time.Second)
			if _, err := e.svc.SendOutbox(context.Background()); err != nil {
				t.Fatal(err)
			}
			told := toldMFARequired(e.mail)
			if len(told) != users {
				t.Fatalf("%d of %d users told", len(told), users)
			}
			for to, n := range told {
				if n != 1 {
					t.Fatalf("%s told %d times", to, n)
				}
			}
		})
	}
}

// TestOutboxInFlightNotSentTwice: a message waiting in the queue longer
// than its lease — a slow mail server ahead of it — is not sent a second
// time by the same instance's sweep.
func TestOutboxInFlightNotSentTwice(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			e.workspace("acme")
			gate := newGatedMailer(e.mail)
			queue := mail.NewQueue(gate, nil)
			slow, viaSlow := e.withMailer(queue, nil)
			before := len(e.mail.Messages())
			viaSlow.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "admin@acme.test"}).must(t, 202)
			<-gate.arrived
			e.clock.Add(time.Hour)
			if n, err := slow.SendOutbox(context.Background()); err != nil || n != 0 {
				t.Fatalf("SendOutbox with the message in flight = %d, %v; want 0", n, err)
			}
			close(gate.gate)
			if err := queue.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.mail.Messages()) - before; n != 1 {
				t.Fatalf("%d copies delivered, want 1", n)
			}
		})
	}
}

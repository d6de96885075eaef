package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedBuffer collects log output written from the queue's worker.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger() (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type mailerFunc func(ctx context.Context, m Message) error

func (f mailerFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

var fastBackoff = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}

func newTestQueue(m Mailer, logger *slog.Logger, size int) *Queue {
	return newQueue(m, logger, size, fastBackoff, 5*time.Second)
}

func msgTo(i int) Message {
	return Message{To: fmt.Sprintf("user%d@example.jp", i), Subject: "件名", Text: fmt.Sprintf("body %d", i)}
}

func TestQueueDeliversInOrder(t *testing.T) {
	var rec Recorder
	logger, _ := testLogger()
	q := NewQueue(&rec, logger)
	var want []Message
	for i := range 3 {
		want = append(want, msgTo(i))
		if err := q.Send(t.Context(), msgTo(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.Messages(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

func TestQueueSendDoesNotWaitForDelivery(t *testing.T) {
	release := make(chan struct{})
	var rec Recorder
	q := NewQueue(mailerFunc(func(ctx context.Context, m Message) error {
		<-release
		return rec.Send(ctx, m)
	}), nil)
	done := make(chan error)
	go func() { done <- q.Send(t.Context(), msgTo(1)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send waited for the mail server")
	}
	close(release)
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if len(rec.Messages()) != 1 {
		t.Error("message not delivered")
	}
}

func TestQueueRetriesTransientFailures(t *testing.T) {
	var rec Recorder
	var attempts atomic.Int32
	flaky := mailerFunc(func(ctx context.Context, m Message) error {
		if attempts.Add(1) <= 2 {
			return errors.New("connection refused")
		}
		return rec.Send(ctx, m)
	})
	logger, logs := testLogger()
	q := newTestQueue(flaky, logger, 10)
	msg := Message{To: "yamada@example.jp", Subject: "s", Text: "t"}
	if err := q.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if got := rec.Messages(); len(got) != 1 || got[0] != msg {
		t.Errorf("delivered %v, want the message once", got)
	}
	out := logs.String()
	if n := strings.Count(out, "will retry"); n != 2 {
		t.Errorf("%d retry lines, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "domain=example.jp") || strings.Contains(out, "yamada") {
		t.Errorf("log should name the domain only:\n%s", out)
	}
}

func TestQueueGivesUpAfterRetries(t *testing.T) {
	var attempts atomic.Int32
	down := mailerFunc(func(context.Context, Message) error {
		attempts.Add(1)
		return errors.New("connection refused")
	})
	logger, logs := testLogger()
	q := newTestQueue(down, logger, 10)
	if err := q.Send(t.Context(), msgTo(1)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != int32(len(fastBackoff)+1) {
		t.Errorf("%d attempts, want %d", n, len(fastBackoff)+1)
	}
	if out := logs.String(); !strings.Contains(out, `level=ERROR msg="mail: message not delivered" domain=example.jp attempts=4`) {
		t.Errorf("no final failure line:\n%s", out)
	}
}

func TestQueueDoesNotRetryPermanentFailures(t *testing.T) {
	var attempts atomic.Int32
	refuse := mailerFunc(func(context.Context, Message) error {
		attempts.Add(1)
		return fmt.Errorf("mail: sending via x: RCPT TO: %w", Refused(&textproto.Error{Code: 550, Msg: "5.1.1 <Yamada@Example.jp>: no such user"}))
	})
	logger, logs := testLogger()
	q := newTestQueue(refuse, logger, 10)
	if err := q.Send(t.Context(), Message{To: "山田 <yamada@example.jp>", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts for a 550, want 1", n)
	}
	out := logs.String()
	if !strings.Contains(out, "<[recipient]>: no such user") || strings.Contains(strings.ToLower(out), "yamada") {
		t.Errorf("the recipient's address was not removed from the logged reply:\n%s", out)
	}
}

func TestQueueCloseDrains(t *testing.T) {
	var rec Recorder
	slow := mailerFunc(func(ctx context.Context, m Message) error {
		time.Sleep(time.Millisecond)
		return rec.Send(ctx, m)
	})
	q := newTestQueue(slow, nil, 1000)
	for i := range 100 {
		if err := q.Send(t.Context(), msgTo(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Messages()); n != 100 {
		t.Errorf("Close returned after %d of 100 deliveries", n)
	}
}

func TestQueueCloseStopsWhenContextEnds(t *testing.T) {
	started := make(chan struct{}, 1)
	hang := mailerFunc(func(ctx context.Context, m Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // a server that never answers
		return ctx.Err()
	})
	logger, logs := testLogger()
	q := newTestQueue(hang, logger, 10)
	for i := range 5 {
		if err := q.Send(t.Context(), msgTo(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v after its context ended", d)
	}
	select {
	case <-q.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker kept running after Close gave up")
	}
	out := logs.String()
	if !strings.Contains(out, "message not delivered") || !strings.Contains(out, "messages not delivered\" count=4") {
		t.Errorf("abandoned messages were not logged:\n%s", out)
	}
}

func TestQueueFull(t *testing.T) {
	var rec Recorder
	started := make(chan struct{}, 1)
	gate := make(chan struct{})
	blocked := mailerFunc(func(ctx context.Context, m Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-gate
		return rec.Send(ctx, m)
	})
	logger, _ := testLogger()
	q := newTestQueue(blocked, logger, 2)
	if err := q.Send(t.Context(), msgTo(0)); err != nil {
		t.Fatal(err)
	}
	<-started // the worker holds message 0; the buffer is empty
	for i := 1; i <= 2; i++ {
		if err := q.Send(t.Context(), msgTo(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	done := make(chan error)
	go func() { done <- q.Send(t.Context(), msgTo(3)) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrQueueFull) {
			t.Errorf("Send to a full queue = %v, want ErrQueueFull", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a full queue")
	}
	close(gate)
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.Messages(); fmt.Sprint(got) != fmt.Sprint([]Message{msgTo(0), msgTo(1), msgTo(2)}) {
		t.Errorf("delivered %v, want messages 0-2", got)
	}
}

func TestQueueSendAfterClose(t *testing.T) {
	var rec Recorder
	q := NewQueue(&rec, nil)
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := q.Send(t.Context(), msgTo(1)); !errors.Is(err, ErrQueueClosed) {
		t.Errorf("Send after Close = %v, want ErrQueueClosed", err)
	}
}

func TestQueueSendHonoursContext(t *testing.T) {
	var rec Recorder
	q := NewQueue(&rec, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := q.Send(ctx, msgTo(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v", err)
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func TestQueueConcurrentSendAndClose(t *testing.T) {
	var rec Recorder
	q := NewQueue(&rec, nil)
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 50 {
				err := q.Send(t.Context(), msgTo(g*100+i))
				switch {
				case err == nil:
					accepted.Add(1)
				case !errors.Is(err, ErrQueueClosed):
					t.Error(err)
				}
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got, want := len(rec.Messages()), int(accepted.Load()); got != want {
		t.Errorf("delivered %d, but Send accepted %d", got, want)
	}
}

// TestQueueLogsNoSecrets plants a password, a reset token and the recipient's
// address, fails delivery through a real SMTP conversation, and checks that
// none of them reaches the log (SECURITY.md, "Audit and notifications").
func TestQueueLogsNoSecrets(t *testing.T) {
	const (
		password = "smtp-Pa55-planted"
		token    = "RESET-TOKEN-planted-7f3a"
	)
	for _, reply := range []string{
		"550 5.1.1 <yamada.taro@example.jp>: Recipient address rejected",
		"451 4.7.1 <YAMADA.TARO@EXAMPLE.JP>: greylisted, try again",
	} {
		srv := newTestServer(t, func(s *testServer) {
			s.user, s.pass = "sekisho", password
			s.rcptReply = reply
		})
		m := newSMTP(t, smtpURL("smtp", srv.addr, "sekisho", password, "noreply@example.com"))
		logger, logs := testLogger()
		q := newTestQueue(m, logger, 10)
		err := q.Send(t.Context(), Message{
			To:      "山田 太郎 <yamada.taro@example.jp>",
			Subject: "パスワード再設定",
			Text:    "https://sekisho.example/reset?token=" + token,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Close(testContext(t)); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if !strings.Contains(out, "not delivered") || !strings.Contains(out, "domain=example.jp") {
			t.Errorf("%s: failure not logged with the domain:\n%s", reply[:3], out)
		}
		for _, secret := range []string{password, token, "yamada", "YAMADA", "山田", "パスワード"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s: log contains %q:\n%s", reply[:3], secret, out)
			}
		}
	}
}

// SendTracked tells how each message ended: delivered, refused for good,
// given up on after the retries, or abandoned when Close stopped waiting.
func TestQueueSendTracked(t *testing.T) {
	release := make(chan struct{})
	m := mailerFunc(func(ctx context.Context, m Message) error {
		switch m.Subject {
		case "ok":
			return nil
		case "refused":
			return Refused(&textproto.Error{Code: 550, Msg: "no such user"})
		case "down":
			return errors.New("connection refused")
		}
		select { // "hang": until Close gives up
		case <-release:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	logger, logs := testLogger()
	q := newTestQueue(m, logger, 10)
	var mu sync.Mutex
	got := map[string]error{}
	for _, subj := range []string{"ok", "refused", "down", "hang", "queued behind"} {
		err := q.SendTracked(t.Context(), Message{To: "a@example.jp", Subject: subj, Text: "t"}, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			got[subj] = err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); err == nil {
		t.Fatal("Close returned nil with a delivery hanging")
	}
	close(release)
	<-q.done
	mu.Lock()
	defer mu.Unlock()
	if err, ok := got["ok"]; !ok || err != nil {
		t.Errorf("delivered: done(%v), called %v; want nil", err, ok)
	}
	if err := got["refused"]; !Permanent(err) {
		t.Errorf("refused: done(%v), want a permanent error", err)
	}
	if err := got["down"]; err == nil || Permanent(err) {
		t.Errorf("down through every retry: done(%v), want the transient error", err)
	}
	for _, subj := range []string{"hang", "queued behind"} {
		if err := got[subj]; !errors.Is(err, ErrQueueClosed) {
			t.Errorf("%s: done(%v), want ErrQueueClosed", subj, err)
		}
	}
	// Only the refused message is lost, and logged as an error; the others
	// are their sender's to try again.
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 || !strings.Contains(out, `level=ERROR msg="mail: message not delivered"`) {
		t.Errorf("%d error lines, want the refused message's only:\n%s", n, out)
	}
	for _, want := range []string{
		`level=WARN msg="mail: message not delivered; left to its sender"`,
		`level=WARN msg="mail: queue closed; message not delivered; left to its sender"`,
		`level=WARN msg="mail: queue closed; messages left to their senders" count=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
}

// Busy says when more than half of the queue waits, so that bulk mail
// leaves room for the mail a person waits for.
func TestQueueBusy(t *testing.T) {
	release := make(chan struct{})
	hold := mailerFunc(func(context.Context, Message) error { <-release; return nil })
	q := newTestQueue(hold, nil, 4)
	defer func() { close(release); q.Close(testContext(t)) }()
	for i := range 4 { // the worker holds the first; three wait
		if q.Busy() {
			t.Fatalf("busy with %d sent", i)
		}
		if err := q.Send(t.Context(), msgTo(i)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for deadline := time.Now().Add(5 * time.Second); len(q.ch) > 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond) // until the worker has taken it
			}
		}
	}
	if !q.Busy() {
		t.Fatal("not busy with three of four places taken")
	}
}

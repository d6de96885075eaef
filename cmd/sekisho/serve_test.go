package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServe runs `sekisho serve` until the returned stop is called, which
// returns run's error; it waits for /healthz to answer 200 first.
func startServe(t *testing.T, c *testCLI, addr string, flags ...string) (stderr *lockedBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = new(lockedBuffer)
	done := make(chan error, 1)
	args := append([]string{"sekisho", "serve", "--addr", addr, "--data-dir", c.dataDir}, c.extra...)
	args = append(args, flags...)
	go func() {
		done <- run(ctx, args, func(k string) string { return c.env[k] }, strings.NewReader(""), new(lockedBuffer), stderr)
	}()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30 s of its context ending")
			return nil
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\nstderr:\n%s", err, stderr)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stderr, stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("/healthz did not answer 200 within 10 s (last: %v)\nstderr:\n%s", err, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	c := newTestCLI(t)
	addr := freeAddr(t)
	stderr, stop := startServe(t, c, addr)

	// The setup link is logged once the server listens, as a JSON record
	// like every other line.
	setup := regexp.MustCompile(`^http://` + regexp.QuoteMeta(addr) + `/setup/[A-Za-z0-9_-]{43}$`)
	if url := setupLink(t, stderr.String()); !setup.MatchString(url) {
		t.Fatalf("setup link %q on stderr:\n%s", url, stderr)
	}
	if !strings.Contains(stderr.String(), `"msg":"listening"`) || !strings.Contains(stderr.String(), `"addr":"`+addr+`"`) {
		t.Errorf("no JSON \"listening\" log line with the address:\n%s", stderr)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %s", resp.Status)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve after cancel: %v, want nil\nstderr:\n%s", err, stderr)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still answers after stopping")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no \"stopped\" log line:\n%s", stderr)
	}

	// The link is logged even when info records are not.
	stderr, stop = startServe(t, c, addr, "--log-level", "error")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if url := setupLink(t, stderr.String()); !setup.MatchString(url) {
		t.Fatalf("setup link %q with --log-level error:\n%s", url, stderr)
	}

	// Once a workspace exists, no setup link is printed.
	c.ok("workspaces", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example", "--reason", "test")
	stderr, stop = startServe(t, c, addr)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "/setup/") {
		t.Errorf("setup link printed although a workspace exists:\n%s", stderr)
	}
}

// A request being handled when the shutdown begins still gets its answer.
func TestServeShutdownIsGraceful(t *testing.T) {
	c := newTestCLI(t)
	addr := freeAddr(t)
	_, stop := startServe(t, c, addr)

	// The handler is in flight while it waits for the request body, which
	// is sent only after the shutdown has begun.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"workspace":"acme","email":"a@acme.example"}`
	fmt.Fprintf(conn, "POST /api/v1/password-reset HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	time.Sleep(100 * time.Millisecond) // let the handler start reading
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("serve stopped (%v) while a request was in flight", err)
	default:
	}
	fmt.Fprint(conn, body)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request in flight during shutdown: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("request in flight during shutdown: %s", resp.Status)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := newTestCLI(t)
	err = c.fail("serve", "--addr", ln.Addr().String())
	if !strings.Contains(err.Error(), "listen") {
		t.Errorf("serve on a busy port: %v", err)
	}
}

// setupLink returns the url of the setup link's log record in stderr, and
// fails the test when a line of stderr is not one JSON record.
func setupLink(t *testing.T, stderr string) string {
	t.Helper()
	url := ""
	for line := range strings.Lines(stderr) {
		var r struct{ Msg, URL string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("a line of stderr is not a JSON record: %q", line)
		}
		if strings.HasPrefix(r.Msg, "setup link") {
			url = r.URL
		}
	}
	return url
}

// Without --smtp-url, mail is one JSON record of the same log, with the
// links it holds as a field of their own.
func TestMailIsLoggedAsJSON(t *testing.T) {
	c := newTestCLI(t)
	out, stderr, err := c.run("workspaces", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example", "--reason", "test")
	if err != nil {
		t.Fatal(err)
	}
	base, token := link(t, out)
	found := false
	for line := range strings.Lines(stderr) {
		var r struct {
			Msg, To, Subject, Body string
			Links                  []string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("a line of stderr is not a JSON record: %q", line)
		}
		if r.Msg == "mail not sent (no --smtp-url)" && r.To == "a@acme.example" && r.Subject != "" &&
			slices.Contains(r.Links, base+"/invitations/"+token) && strings.Contains(r.Body, token) {
			found = true
		}
	}
	if !found {
		t.Errorf("no invitation mail record on stderr:\n%s", stderr)
	}
}

// downMailer is a mail server that never answers.
type downMailer struct{}

func (downMailer) Send(context.Context, mail.Message) error { return errors.New("connection refused") }

// Mail that a process left in the outbox — it died, or its mail server was
// down — goes out from the next serve once the row's lease has run out.
func TestServeSendsTheOutbox(t *testing.T) {
	c := newTestCLI(t)
	a := c.app()
	svc := auth.New(a.db, secret.NewHasher(secret.DefaultParams, 1), a.keys, downMailer{}, slog.New(slog.DiscardHandler), auth.Config{BaseURL: "http://localhost"})
	op := sekisho.Actor{Kind: sekisho.ActorOperator, Operator: "test", Reason: "test"}
	if _, _, _, err := svc.CreateWorkspace(context.Background(), op, "acme", "Acme", "left@acme.example"); err != nil {
		t.Fatal(err)
	}
	// Run the lease out, as ten minutes would.
	err := a.db.Update(context.Background(), func(tx *store.Tx) error {
		now := time.Now()
		rows, err := tx.TakeOutboxMail(now.Add(time.Hour).UnixMilli(), now.Add(-time.Second).UnixMilli(), 10)
		if err == nil && len(rows) != 1 {
			err = fmt.Errorf("%d rows in the outbox, want the invitation", len(rows))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a.close()

	stderr, stop := startServe(t, c, freeAddr(t))
	sent := false
	for deadline := time.Now().Add(10 * time.Second); !sent && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sent = strings.Contains(stderr.String(), `"to":"left@acme.example"`)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !sent {
		t.Fatalf("the invitation left in the outbox was not sent:\n%s", stderr)
	}
	a = c.app()
	if err := a.db.View(context.Background(), func(tx *store.Tx) error {
		n, err := tx.OutboxLen()
		if err == nil && n != 0 {
			err = fmt.Errorf("%d rows in the outbox after serve sent them, want 0", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

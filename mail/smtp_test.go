package mail

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	jaSubject = "【sekisho】パスワード再設定のご案内：多要素認証はリセットされません（このメールに心当たりがない場合は管理者へ）"
	jaText    = "山田 太郎 様\n\n" +
		"パスワードを再設定するには、1時間以内に次のリンクを開いてください。\n" +
		"https://sekisho.example/reset?token=Zm9vYmFy=&workspace=acme&lang=ja#section-with-a-very-long-fragment-to-wrap\n" +
		".\n" +
		"..二つの点で始まる行\n" +
		"行末の空白 \t\n" +
		"From the team\n" +
		"お心当たりがない場合は、このメールを破棄してください。"
)

// smtpURL builds an SMTP URL for the test server, encoding the parts the way
// an operator would have to.
func smtpURL(scheme, hostport, user, pass, from string) string {
	u := &url.URL{Scheme: scheme, Host: hostport, RawQuery: url.Values{"from": {from}}.Encode()}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

func newSMTP(t *testing.T, rawURL string) *smtpMailer {
	t.Helper()
	m, err := New(rawURL, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sm, ok := m.(*smtpMailer)
	if !ok {
		t.Fatalf("New returned %T, want *smtpMailer", m)
	}
	return sm
}

// dialTo makes the mailer connect to addr whatever host its URL names, so
// that a non-loopback host name can be tested without leaving loopback.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSMTPSendsWellFormedJapaneseMessage(t *testing.T) {
	srv := newTestServer(t, nil)
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "関所 <noreply@example.com>"))
	when := time.Date(2026, 4, 1, 9, 30, 0, 0, time.FixedZone("JST", 9*60*60))
	m.now = func() time.Time { return when }

	msg := Message{To: "山田 太郎 <yamada@example.jp>", Subject: jaSubject, Text: jaText}
	if err := m.Send(testContext(t), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.from != "noreply@example.com" || r.rcpt != "yamada@example.jp" {
		t.Errorf("envelope = %q -> %q, want noreply@example.com -> yamada@example.jp", r.from, r.rcpt)
	}
	if r.bareLF {
		t.Error("a line of the message ended in a bare LF; SMTP needs CRLF")
	}
	header, body, ok := strings.Cut(r.data, "\r\n\r\n")
	if !ok {
		t.Fatalf("no blank line between header and body:\n%s", r.data)
	}
	for _, line := range strings.Split(r.data, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
		for _, b := range []byte(line) {
			if b >= 0x80 {
				t.Fatalf("line is not 7-bit: %q", line)
			}
		}
	}

	parsed, err := netmail.ReadMessage(strings.NewReader(r.data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	h := parsed.Header
	for name, want := range map[string]string{
		"Date":                      "Wed, 01 Apr 2026 09:30:00 +0900",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=UTF-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(when) {
		t.Errorf("Date parses as %v, %v; want %v", d, err, when)
	}
	if id := h.Get("Message-Id"); !regexp.MustCompile(`^<[A-Z2-7]{26}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q, want <random@example.com>", id)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "関所" || from[0].Address != "noreply@example.com" {
		t.Errorf("From = %q (%v, %v)", h.Get("From"), from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "山田 太郎" || to[0].Address != "yamada@example.jp" {
		t.Errorf("To = %q (%v, %v)", h.Get("To"), to, err)
	}

	rawSubject := h.Get("Subject")
	if !strings.HasPrefix(rawSubject, "=?UTF-8?q?") {
		t.Errorf("Subject is not RFC 2047 Q-encoded: %q", rawSubject)
	}
	if !strings.Contains(header, "?=\r\n =?") {
		t.Errorf("long Subject was not folded between encoded words:\n%s", header)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(rawSubject)
	if err != nil || subject != jaSubject {
		t.Errorf("Subject decodes to %q, %v; want %q", subject, err, jaSubject)
	}

	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatalf("quoted-printable body: %v", err)
	}
	// The body's last line ends in the CRLF that precedes SMTP's final ".".
	if got := strings.TrimSuffix(strings.ReplaceAll(string(decoded), "\r\n", "\n"), "\n"); got != jaText {
		t.Errorf("body round trip:\n got %q\nwant %q", got, jaText)
	}
}

func TestSMTPASCIISubjectIsNotEncoded(t *testing.T) {
	srv := newTestServer(t, nil)
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "Your invitation to Acme", Text: "Hello"}); err != nil {
		t.Fatal(err)
	}
	parsed, err := netmail.ReadMessage(strings.NewReader(srv.messages()[0].data))
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Header.Get("Subject"); got != "Your invitation to Acme" {
		t.Errorf("Subject = %q", got)
	}
	if got := parsed.Header.Get("From"); got != "<noreply@example.com>" {
		t.Errorf("From = %q", got)
	}
}

func TestSMTPMessageIDsDiffer(t *testing.T) {
	srv := newTestServer(t, nil)
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	for range 2 {
		if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, r := range srv.messages() {
		p, err := netmail.ReadMessage(strings.NewReader(r.data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Header.Get("Message-Id"))
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("Message-IDs = %q, want two different ones", ids)
	}
}

// A message with an id keeps its Message-ID however often it is sent; an
// id that could break out of the header is refused.
func TestSMTPMessageIDFromID(t *testing.T) {
	srv := newTestServer(t, nil)
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	msg := Message{To: "bob@example.com", Subject: "s", Text: "t", ID: "019ae1c2-7d3f-7b4e-9c1a-2f6d8e0b5a43"}
	for range 2 {
		if err := m.Send(testContext(t), msg); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range srv.messages() {
		p, err := netmail.ReadMessage(strings.NewReader(r.data))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.Header.Get("Message-Id"), "<"+msg.ID+"@example.com>"; got != want {
			t.Errorf("Message-ID = %q, want %q", got, want)
		}
	}
	for _, id := range []string{"a>\r\nBcc: eve@example.com", "a b", "a@b", "<a>", strings.Repeat("a", 65)} {
		bad := msg
		bad.ID = id
		if err := m.Send(testContext(t), bad); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("id %q: %v, want ErrInvalidMessage", id, err)
		}
	}
}

func TestSMTPAuthPlainOnLoopback(t *testing.T) {
	const pass = "p@ss:w/rd?#%"
	srv := newTestServer(t, func(s *testServer) { s.user, s.pass = "sekisho", pass })
	m := newSMTP(t, smtpURL("smtp", srv.addr, "sekisho", pass, "noreply@example.com"))
	if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.messages()
	if len(got) != 1 || got[0].authUser != "sekisho" || got[0].authPass != pass {
		t.Fatalf("received %+v, want one message after AUTH as sekisho", got)
	}
}

func TestSMTPWrongPasswordIsReportedWithoutIt(t *testing.T) {
	const wrong = "wr0ng-s3cret-pw"
	srv := newTestServer(t, func(s *testServer) { s.user, s.pass = "sekisho", "right" })
	m := newSMTP(t, smtpURL("smtp", srv.addr, "sekisho", wrong, "noreply@example.com"))
	err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	if !strings.Contains(err.Error(), "535") || strings.Contains(err.Error(), wrong) {
		t.Errorf("error = %q, want the 535 reply and not the password", err)
	}
	if Permanent(err) {
		t.Errorf("a 535 reply refuses every message until the password is fixed, so it must not count as permanent: %v", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSMTPCredentialsNeedAUTH(t *testing.T) {
	srv := newTestServer(t, nil)
	m := newSMTP(t, smtpURL("smtp", srv.addr, "sekisho", "pw", "noreply@example.com"))
	err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "does not offer AUTH") {
		t.Fatalf("Send = %v, want an error about AUTH", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server received %d messages without the configured authentication", n)
	}
}

func TestSMTPRequiresSTARTTLSOffLoopback(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.offerAuth = true })
	m := newSMTP(t, smtpURL("smtp", "mail.example.test:587", "sekisho", "pw", "noreply@example.com"))
	m.dial = dialTo(srv.addr)
	err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send = %v, want a refusal to send without STARTTLS", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server received %d messages in clear", n)
	}
}

func TestSMTPSTARTTLSOffLoopback(t *testing.T) {
	cfg, pool := testCert(t, "mail.example.test")
	srv := newTestServer(t, func(s *testServer) {
		s.tlsConfig = cfg
		s.user, s.pass = "sekisho", "pw"
	})
	m := newSMTP(t, smtpURL("smtp", "mail.example.test:587", "sekisho", "pw", "noreply@example.com"))
	m.dial = dialTo(srv.addr)
	m.tlsConfig.RootCAs = pool
	if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.messages()
	if len(got) != 1 || !got[0].tls || got[0].authUser != "sekisho" {
		t.Fatalf("received %+v, want one message over TLS after AUTH", got)
	}
}

func TestSMTPSTARTTLSVerifiesCertificate(t *testing.T) {
	cfg, _ := testCert(t, "mail.example.test")
	srv := newTestServer(t, func(s *testServer) { s.tlsConfig = cfg })
	m := newSMTP(t, smtpURL("smtp", "mail.example.test:587", "", "", "noreply@example.com"))
	m.dial = dialTo(srv.addr) // the system roots do not trust the test certificate
	err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a certificate error", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSMTPUsesSTARTTLSOnLoopbackWhenOffered(t *testing.T) {
	cfg, pool := testCert(t, "127.0.0.1")
	srv := newTestServer(t, func(s *testServer) { s.tlsConfig = cfg })
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	m.tlsConfig.RootCAs = pool
	if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.messages(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", got)
	}
}

func TestSMTPSImplicitTLS(t *testing.T) {
	cfg, pool := testCert(t, "127.0.0.1")
	srv := newTestServer(t, func(s *testServer) {
		s.tlsConfig, s.implicitTLS = cfg, true
		s.user, s.pass = "sekisho", "pw"
	})
	m := newSMTP(t, smtpURL("smtps", srv.addr, "sekisho", "pw", "noreply@example.com"))
	m.tlsConfig.RootCAs = pool
	if err := m.Send(testContext(t), Message{To: "bob@example.com", Subject: "件名", Text: "本文"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.messages(); len(got) != 1 || !got[0].tls || got[0].authUser != "sekisho" {
		t.Fatalf("received %+v, want one message over TLS after AUTH", got)
	}
}

func TestSMTPHonoursContext(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.silent = true })
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	msg := Message{To: "bob@example.com", Subject: "s", Text: "t"}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := m.Send(ctx, msg)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send after cancel = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = m.Send(ctx, msg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send past deadline = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v to notice its context", d)
	}
}

func TestSMTPRecipientRefused(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.rcptReply = "550 5.1.1 <nobody@example.com>: no such user" })
	m := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	err := m.Send(testContext(t), Message{To: "nobody@example.com", Subject: "s", Text: "t"})
	if err == nil || !Permanent(err) {
		t.Fatalf("Send = %v, want a permanent error", err)
	}
}

// injections are messages that must never reach a mail server.
var injections = []struct {
	name string
	msg  Message
}{
	{"CRLF in To", Message{To: "victim@example.com\r\nBcc: attacker@example.net", Subject: "s", Text: "t"}},
	{"LF in To", Message{To: "victim@example.com\nBcc: attacker@example.net", Subject: "s", Text: "t"}},
	{"CR in To", Message{To: "victim@example.com\rBcc: attacker@example.net", Subject: "s", Text: "t"}},
	{"CRLF in Subject", Message{To: "victim@example.com", Subject: "hello\r\nBcc: attacker@example.net", Text: "t"}},
	{"LF in Subject", Message{To: "victim@example.com", Subject: "hello\nBcc: attacker@example.net", Text: "t"}},
	{"CRLF CRLF in Subject", Message{To: "victim@example.com", Subject: "hello\r\n\r\nBcc: fake body", Text: "t"}},
	{"NUL in Subject", Message{To: "victim@example.com", Subject: "hello\x00", Text: "t"}},
	{"two recipients", Message{To: "victim@example.com, attacker@example.net", Subject: "s", Text: "t"}},
	{"not an address", Message{To: "victim", Subject: "s", Text: "t"}},
	{"empty To", Message{To: "", Subject: "s", Text: "t"}},
	{"invalid UTF-8 body", Message{To: "victim@example.com", Subject: "s", Text: "\xff\xfe"}},
}

func TestHeaderInjectionRefused(t *testing.T) {
	srv := newTestServer(t, nil)
	sm := newSMTP(t, smtpURL("smtp", srv.addr, "", "", "noreply@example.com"))
	var logged strings.Builder
	rec := &Recorder{}
	q := NewQueue(rec, nil)
	mailers := map[string]Mailer{"smtp": sm, "log": NewLogMailer(&logged), "recorder": rec, "queue": q}

	for _, tc := range injections {
		for name, m := range mailers {
			err := m.Send(testContext(t), tc.msg)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%s: %s.Send = %v, want ErrInvalidMessage", tc.name, name, err)
				continue
			}
			if strings.Contains(err.Error(), "attacker") || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("%s: error echoes the injected value: %q", tc.name, err)
			}
		}
	}
	if err := q.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if n := srv.connections(); n != 0 {
		t.Errorf("the SMTP mailer connected %d times for invalid messages", n)
	}
	if logged.Len() != 0 {
		t.Errorf("the log mailer wrote %q", logged.String())
	}
	if n := len(rec.Messages()); n != 0 {
		t.Errorf("the recorder and queue kept %d invalid messages", n)
	}
}

func TestPlainAuthNeedsTLSOffLoopback(t *testing.T) {
	a := plainAuth{user: "u", pass: "p"}
	if _, resp, err := a.Start(&smtp.ServerInfo{Name: "mail.example.test", Auth: []string{"PLAIN"}}); err == nil {
		t.Fatalf("Start without TLS off loopback = %q, want an error", resp)
	}
	mech, resp, err := a.Start(&smtp.ServerInfo{Name: "mail.example.test", TLS: true, Auth: []string{"LOGIN", "PLAIN"}})
	if err != nil || mech != "PLAIN" || string(resp) != "\x00u\x00p" {
		t.Fatalf("Start over TLS = %q, %q, %v", mech, resp, err)
	}
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example.test", TLS: true, Auth: []string{"LOGIN"}}); err == nil {
		t.Fatal("Start succeeded although the server does not offer PLAIN")
	}
	a.loopback = true
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "127.0.0.1", Auth: []string{"PLAIN"}}); err != nil {
		t.Fatalf("Start without TLS on loopback: %v", err)
	}
}

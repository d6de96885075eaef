package mail

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLogMailerWritesReadableBlock(t *testing.T) {
	var buf bytes.Buffer
	m := NewLogMailer(&buf)
	err := m.Send(context.Background(), Message{
		To:      "山田 太郎 <yamada@example.jp>",
		Subject: "sekisho への招待",
		Text:    "次のリンクから参加してください:\r\nhttps://sekisho.example/invite?token=abc\r\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "----- mail (not sent: no SMTP server configured) -----\n" +
		"To: 山田 太郎 <yamada@example.jp>\n" +
		"Subject: sekisho への招待\n" +
		"\n" +
		"次のリンクから参加してください:\n" +
		"https://sekisho.example/invite?token=abc\n" +
		"----- end of mail -----\n"
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestLogMailerEscapesTerminalControls(t *testing.T) {
	var buf bytes.Buffer
	m := NewLogMailer(&buf)
	if err := m.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "Acme\x1b[2J\x1b]0;pwned\x07\ttab"}); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("control characters reached the log: %q", got)
	}
	if !strings.Contains(got, `Acme\u001b[2J\u001b]0;pwned\u0007`+"\ttab\n") {
		t.Errorf("escaped body not found in %q", got)
	}
}

func TestLogMailerDoesNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	m := NewLogMailer(&buf)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			body := strings.Repeat(fmt.Sprintf("line %d\n", i), 20)
			if err := m.Send(context.Background(), Message{To: fmt.Sprintf("u%d@example.com", i), Subject: "s", Text: body}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	blocks := strings.Split(strings.TrimSuffix(buf.String(), "----- end of mail -----\n"), "----- end of mail -----\n")
	if len(blocks) != 50 {
		t.Fatalf("got %d blocks, want 50", len(blocks))
	}
	for _, b := range blocks {
		var i int
		if _, err := fmt.Sscanf(b, "----- mail (not sent: no SMTP server configured) -----\nTo: u%d@example.com", &i); err != nil {
			t.Fatalf("block does not start with its header: %q", b)
		}
		if n := strings.Count(b, fmt.Sprintf("line %d\n", i)); n != 20 || strings.Count(b, "line ") != 20 {
			t.Errorf("block for u%d has lines of other messages: %q", i, b)
		}
	}
}

func TestLogMailerHonoursContext(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewLogMailer(&buf).Send(ctx, Message{To: "a@example.com", Subject: "s", Text: "t"}); err == nil {
		t.Fatal("Send with a cancelled context succeeded")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

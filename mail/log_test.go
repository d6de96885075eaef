package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

type loggedMail struct {
	Level   string
	Msg     string
	To      string
	Subject string
	Links   []string
	Body    string
}

// lines decodes every line of buf as one JSON record.
func lines(t *testing.T, buf string) []loggedMail {
	t.Helper()
	var out []loggedMail
	for line := range strings.Lines(buf) {
		var m loggedMail
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not one JSON record per line: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogMailerWritesOneRecord(t *testing.T) {
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
	got := lines(t, buf.String())
	want := loggedMail{Level: "INFO", Msg: "mail not sent (no --smtp-url)", To: "山田 太郎 <yamada@example.jp>", Subject: "sekisho への招待",
		Links: []string{"https://sekisho.example/invite?token=abc"}, Body: "次のリンクから参加してください:\nhttps://sekisho.example/invite?token=abc\n"}
	if len(got) != 1 || got[0].Msg != want.Msg || got[0].Level != want.Level || got[0].To != want.To ||
		got[0].Subject != want.Subject || !slices.Equal(got[0].Links, want.Links) || got[0].Body != want.Body {
		t.Errorf("logged %+v\nwant %+v", got, want)
	}
}

// The mail goes through the program's handler, even one whose level would
// drop an info record: the log is the mail's only delivery.
func TestLogMailerUsesTheGivenHandler(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})
	if err := NewLogMailerTo(h).Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "see http://x.test/y"}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `msg="mail not sent (no --smtp-url)" to=a@example.com subject=s links=[http://x.test/y]`) {
		t.Errorf("text output: %q", got)
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
	if l := lines(t, got); len(l) != 1 || l[0].Body != "Acme\x1b[2J\x1b]0;pwned\x07\ttab" {
		t.Errorf("body does not decode to the original: %q", got)
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
	got := lines(t, buf.String())
	if len(got) != 50 {
		t.Fatalf("got %d records, want 50", len(got))
	}
	for _, r := range got {
		var i int
		if _, err := fmt.Sscanf(r.To, "u%d@example.com", &i); err != nil {
			t.Fatalf("record to %q", r.To)
		}
		if r.Body != strings.Repeat(fmt.Sprintf("line %d\n", i), 20) {
			t.Errorf("record for u%d has another body: %q", i, r.Body)
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

package mail

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode"
)

// LogMailer is the development mail sink: instead of sending a message it
// writes it to a writer as a readable block (recipient, subject, body), so
// sekisho runs without a mail server and a developer can follow the links.
//
// It prints whole message bodies, and those carry invitation and
// password-reset links that let whoever holds them set a password. Its output
// is therefore as sensitive as every user's mailbox: use it only where the
// people who read that output may read everyone's mail, and configure SMTP
// anywhere else.
//
// The zero value writes to standard error.
type LogMailer struct {
	mu sync.Mutex // one block per Write, so concurrent messages do not interleave
	w  io.Writer
}

// NewLogMailer returns a LogMailer writing to w.
func NewLogMailer(w io.Writer) *LogMailer {
	return &LogMailer{w: w}
}

// Send writes m to the log writer. It refuses the same messages as the SMTP
// mailer, so header-injection bugs show up in development too.
func (l *LogMailer) Send(ctx context.Context, m Message) error {
	if _, err := validate(m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	body := printable(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\r", "\n"))
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	block := fmt.Sprintf("----- mail (not sent: no SMTP server configured) -----\nTo: %s\nSubject: %s\n\n%s----- end of mail -----\n",
		m.To, m.Subject, body)

	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w
	if w == nil {
		w = os.Stderr
	}
	if _, err := io.WriteString(w, block); err != nil {
		return fmt.Errorf("mail: writing to the mail log: %w", err)
	}
	return nil
}

// printable shows control characters other than newline and tab as escapes:
// bodies include names that users chose, and a terminal must not interpret
// escape sequences hidden in them.
func printable(s string) string {
	if !strings.ContainsFunc(s, isUnsafeControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isUnsafeControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isUnsafeControl(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\t'
}

package mail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"
)

// LogMailer is the development mail sink: instead of sending a message it
// logs it as one structured record (recipient, subject, the links it holds,
// body), so sekisho runs without a mail server, a developer can follow the
// links, and a log collector reading JSON lines still reads every line.
//
// It logs whole message bodies, and those carry invitation and
// password-reset links that let whoever holds them set a password. Its output
// is therefore as sensitive as every user's mailbox: use it only where the
// people who read that output may read everyone's mail, and configure SMTP
// anywhere else.
//
// The zero value logs JSON lines to standard error.
type LogMailer struct {
	h slog.Handler
}

// logMailMsg is the message of every record a LogMailer writes.
const logMailMsg = "mail not sent (no --smtp-url)"

// NewLogMailer returns a LogMailer writing JSON lines to w.
func NewLogMailer(w io.Writer) *LogMailer {
	return &LogMailer{h: slog.NewJSONHandler(w, nil)}
}

// NewLogMailerTo returns a LogMailer logging through h, the handler the
// rest of the program logs with, so that mail lines look like every other.
func NewLogMailerTo(h slog.Handler) *LogMailer {
	return &LogMailer{h: h}
}

// linkPattern finds the links of a body, logged apart so that a person
// reading the log finds the one to open without reading the whole body.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Send logs m. It refuses the same messages as the SMTP mailer, so
// header-injection bugs show up in development too. The record goes to the
// handler whatever its level: the log is this mail's only delivery.
func (l *LogMailer) Send(ctx context.Context, m Message) error {
	if _, err := validate(m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	body := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\r", "\n")
	r := slog.NewRecord(time.Now(), slog.LevelInfo, logMailMsg, 0)
	r.AddAttrs(slog.String("to", m.To), slog.String("subject", m.Subject))
	if links := linkPattern.FindAllString(body, -1); len(links) > 0 {
		r.AddAttrs(slog.Any("links", links))
	}
	r.AddAttrs(slog.String("body", body))
	h := l.h
	if h == nil {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	// slog's handlers write each record with one Write under a lock, and
	// escape control characters, so concurrent mails never interleave and
	// escape sequences in user-chosen names never reach a terminal.
	if err := h.Handle(ctx, r); err != nil {
		return fmt.Errorf("mail: writing to the log: %w", err)
	}
	return nil
}

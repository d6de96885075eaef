// Package mail sends sekisho's notification emails: through SMTP when
// configured, otherwise to a log writer so the embedded mode needs no mail
// server.
//
// Callers build a [Message] and hand it to a [Mailer]. In a server, wrap the
// mailer from [New] in a [Queue] so that a slow or unreachable mail server
// never holds up a request. Tests use a [Recorder].
package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Message is one notification email. The body is plain text so that every
// mail client shows the same thing and no HTML template can smuggle markup
// from user-supplied names into it.
type Message struct {
	To      string // one address, e.g. "alice@example.com" or "Alice <alice@example.com>"
	Subject string // one line; may be Japanese
	Text    string // plain-text body, UTF-8; may be Japanese

	// ID, when set, makes the Message-ID: a message sent twice (the
	// outbox delivers at least once) then carries the same one, by which
	// mail systems drop the second. Letters, digits, '-' and '.' only.
	ID string `json:",omitempty"`
}

// Mailer sends one message. Implementations refuse a message that fails the
// same checks as the SMTP mailer (see [ErrInvalidMessage]), so a bad address
// is caught in development and tests, not first in production.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Tracker is a Mailer that delivers in the background, such as [Queue],
// and tells how each delivery ended, so that the sender can keep a message
// until it is delivered.
type Tracker interface {
	Mailer
	SendTracked(ctx context.Context, m Message, done func(error)) error
	// Busy reports that bulk mail should wait before queueing more.
	Busy() bool
}

// ErrInvalidMessage is wrapped by every error about a message that could never
// be sent as it is (a bad recipient, a line break in a header, invalid UTF-8).
// Retrying such a message is pointless, so [Queue] does not.
var ErrInvalidMessage = errors.New("mail: invalid message")

// validate applies the rules every Mailer shares and returns the parsed
// recipient. Header values are refused rather than cleaned: a line break in a
// recipient or subject is a bug or an attack, and silently rewriting it would
// hide both. The offending value is never echoed, so an injection attempt
// cannot write into the log through the error.
func validate(m Message) (*netmail.Address, error) {
	if hasControl(m.To) {
		return nil, fmt.Errorf("%w: recipient contains a line break or control character", ErrInvalidMessage)
	}
	if hasControl(m.Subject) {
		return nil, fmt.Errorf("%w: subject contains a line break or control character", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.To) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) {
		// The message is declared charset=UTF-8; anything else would be garbled.
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidMessage)
	}
	if strings.TrimLeft(m.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.") != "" || len(m.ID) > 64 {
		return nil, fmt.Errorf("%w: id holds characters a Message-ID can't", ErrInvalidMessage)
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient is not a single valid address", ErrInvalidMessage)
	}
	return to, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// recipientDomain is what logs may say about a recipient: enough to spot a
// broken provider, not enough to identify a person.
func recipientDomain(to string) string {
	addr, err := netmail.ParseAddress(to)
	if err != nil {
		return "(invalid)"
	}
	at := strings.LastIndexByte(addr.Address, '@')
	return strings.ToLower(addr.Address[at+1:])
}

// New returns an SMTP mailer for smtpURL, or a [LogMailer] writing to w
// (standard error when w is nil) when smtpURL is empty, so that running
// sekisho needs no mail server until one is configured.
//
// The accepted forms are
//
//	smtp://user:pass@host:587?from=noreply%40example.com   STARTTLS, required unless host is a loopback address
//	smtps://user:pass@host:465?from=noreply%40example.com  implicit TLS
//
// The user and password are optional; when given, they are sent with AUTH
// PLAIN, and only over TLS or to a loopback address. from may carry a display
// name ("Sekisho <noreply@example.com>", percent-encoded). The port defaults to
// 587 for smtp and 465 for smtps.
//
// Errors say what is wrong with the URL but never contain the password.
func New(smtpURL string, w io.Writer) (Mailer, error) {
	if smtpURL == "" {
		if w == nil {
			w = os.Stderr
		}
		return NewLogMailer(w), nil
	}
	cfg, err := parseURL(smtpURL)
	if err != nil {
		return nil, err
	}
	return newSMTPMailer(cfg), nil
}

// smtpConfig is a parsed SMTP URL.
type smtpConfig struct {
	implicitTLS bool // smtps
	host        string
	port        string
	user        string
	pass        string
	hasAuth     bool
	from        *netmail.Address
}

func (c smtpConfig) addr() string { return net.JoinHostPort(c.host, c.port) }

// loopback reports whether traffic to the host never leaves this machine, the
// one case where a conversation in clear reveals nothing.
func (c smtpConfig) loopback() bool {
	if strings.EqualFold(c.host, "localhost") {
		return true
	}
	ip := net.ParseIP(c.host)
	return ip != nil && ip.IsLoopback()
}

func parseURL(raw string) (smtpConfig, error) {
	var cfg smtpConfig
	u, err := url.Parse(raw)
	if err != nil {
		return cfg, parseError(raw)
	}
	switch u.Scheme {
	case "smtp":
		cfg.port = "587"
	case "smtps":
		cfg.implicitTLS = true
		cfg.port = "465"
	case "":
		return cfg, errors.New(`mail: SMTP URL has no scheme; want "smtp://" (STARTTLS) or "smtps://" (implicit TLS)`)
	default:
		return cfg, fmt.Errorf(`mail: SMTP URL has scheme %q; want "smtp" (STARTTLS) or "smtps" (implicit TLS)`, u.Scheme)
	}
	if u.Opaque != "" {
		return cfg, fmt.Errorf(`mail: SMTP URL must start with "%s://"`, u.Scheme)
	}
	cfg.host = u.Hostname()
	if cfg.host == "" {
		return cfg, errors.New("mail: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return cfg, fmt.Errorf("mail: SMTP URL has invalid port %q", p)
		}
		cfg.port = p
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, errors.New("mail: SMTP URL must not have a path; put the sender in ?from=")
	}
	if u.Fragment != "" {
		return cfg, errors.New("mail: SMTP URL must not have a fragment")
	}
	if u.User != nil {
		cfg.hasAuth = true
		cfg.user = u.User.Username()
		cfg.pass, _ = u.User.Password()
		if cfg.user == "" {
			return cfg, errors.New("mail: SMTP URL has an \"@\" but no user name before it")
		}
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cfg, fmt.Errorf("mail: SMTP URL has a malformed query: %w", err)
	}
	for k, v := range q {
		if k != "from" {
			return cfg, fmt.Errorf("mail: SMTP URL has unknown parameter %q; the only one is \"from\"", k)
		}
		if len(v) != 1 {
			return cfg, errors.New(`mail: SMTP URL must have exactly one "from" parameter`)
		}
	}
	from := q.Get("from")
	if from == "" {
		return cfg, errors.New(`mail: SMTP URL has no sender; add ?from=noreply%40example.com (the "@" percent-encoded)`)
	}
	if hasControl(from) {
		return cfg, errors.New(`mail: SMTP URL "from" contains a line break or control character`)
	}
	cfg.from, err = netmail.ParseAddress(from)
	if err != nil {
		return cfg, fmt.Errorf(`mail: SMTP URL "from" is not a valid address: %w`, err)
	}
	return cfg, nil
}

// parseError explains why url.Parse refused raw without repeating
// url.Parse's own error, which quotes the whole URL and so the password. It
// parses again with the user information replaced: if that succeeds, the
// fault was in the user name or password; otherwise its error is safe to show.
func parseError(raw string) error {
	redacted, hadUser := redactUserinfo(raw)
	if _, err := url.Parse(redacted); err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("mail: SMTP URL is malformed: %w", err)
	}
	if hadUser {
		return errors.New("mail: SMTP URL has a malformed user name or password; percent-encode characters such as @ : / ? # % in them")
	}
	return errors.New("mail: SMTP URL is malformed")
}

// redactUserinfo replaces the user information of raw, found the way
// net/url finds it (before the last "@" of the authority), with "redacted".
func redactUserinfo(raw string) (string, bool) {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, false
	}
	start := len(raw) - len(rest)
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw, false
	}
	return raw[:start] + "redacted" + rest[at:], true
}

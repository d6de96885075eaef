package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// dialTimeout bounds the TCP connect so that a dead or filtered mail
	// host fails in seconds rather than after the kernel's minutes.
	dialTimeout = 10 * time.Second
	// sendTimeout bounds one whole SMTP conversation when ctx allows longer:
	// net/smtp has no contexts of its own, and a server that accepts and then
	// stops answering must not hold a delivery forever.
	sendTimeout = time.Minute
)

// smtpMailer hands each message to one SMTP submission server, opening a
// connection per message: notifications are rare, and a fresh connection has
// no state to go stale between them.
type smtpMailer struct {
	cfg       smtpConfig
	tlsConfig *tls.Config // cloned for each connection
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	now       func() time.Time
}

func newSMTPMailer(cfg smtpConfig) *smtpMailer {
	d := &net.Dialer{Timeout: dialTimeout}
	return &smtpMailer{
		cfg:       cfg,
		tlsConfig: &tls.Config{ServerName: cfg.host, MinVersion: tls.VersionTLS12},
		dial:      d.DialContext,
		now:       time.Now,
	}
}

// Send delivers m, returning once the server has accepted it. A failure after
// the server accepted the data (say, a lost QUIT) is not reported, because
// retrying it would deliver the message twice.
func (s *smtpMailer) Send(ctx context.Context, m Message) error {
	to, err := validate(m)
	if err != nil {
		return err
	}
	msg := s.compose(to, m)
	if err := s.deliver(ctx, to.Address, msg); err != nil {
		if ctx.Err() != nil {
			// The connection was cut because of ctx; its I/O error would
			// only hide that.
			err = ctx.Err()
		}
		return fmt.Errorf("mail: sending via %s: %w", s.cfg.addr(), err)
	}
	return nil
}

func (s *smtpMailer) deliver(ctx context.Context, rcpt string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()

	conn, err := s.dial(ctx, "tcp", s.cfg.addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	// When ctx ends, a past deadline unblocks whatever read or write is
	// waiting. (A deadline equal to ctx's could fire a moment before ctx
	// reports its error, and the caller would see an I/O timeout instead.)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if s.cfg.implicitTLS {
		tc := tls.Client(conn, s.tlsConfig.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}

	c, err := smtp.NewClient(conn, s.cfg.host)
	if err != nil {
		return err
	}
	defer c.Close()
	// Say EHLO now so that its failure is reported as such, not as a missing
	// extension below (Extension hides the error).
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}

	if !s.cfg.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig.Clone()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if !s.cfg.loopback() {
			// Invitation and reset links would cross the network in clear.
			return errors.New("server does not offer STARTTLS; refusing to send in clear to a host that is not loopback")
		}
	}
	if s.cfg.hasAuth {
		// Without this check, credentials configured for a reason would be
		// silently skipped and the server would be asked to relay anyway.
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server does not offer AUTH, but the SMTP URL has credentials")
		}
		if err := c.Auth(plainAuth{user: s.cfg.user, pass: s.cfg.pass, loopback: s.cfg.loopback()}); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(s.cfg.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	// From here on a 5xx answers this message, not the connection: its
	// recipient or its content (Permanent).
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("RCPT TO: %w", Refused(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", Refused(err))
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", Refused(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", Refused(err))
	}
	_ = c.Quit() // the server has taken the message; see Send
	return nil
}

// compose renders m as an RFC 5322 message with CRLF line endings. The body
// is quoted-printable, so the message is 7-bit clean and passes relays that
// do not speak 8BITMIME, and no body line can exceed SMTP's line limit.
func (s *smtpMailer) compose(to *netmail.Address, m Message) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", s.now().Format(time.RFC1123Z))
	id := m.ID
	if id == "" {
		id = rand.Text()
	}
	header("Message-ID", "<"+id+"@"+domainOf(s.cfg.from.Address)+">")
	header("From", s.cfg.from.String())
	header("To", to.String())
	header("Subject", encodeSubject(m.Subject))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells vacation responders not to answer a robot.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Text)) // a bytes.Buffer never fails
	_ = qp.Close()
	return b.Bytes()
}

// encodeSubject returns the Subject header value. A subject that is not
// plain short ASCII becomes RFC 2047 Q-encoded words, each holding whole
// characters and folded onto its own line, so a long Japanese subject stays
// within the 78 characters per line that RFC 5322 recommends (mime's encoder
// cannot size its words for that). A subject containing "=?" is encoded too,
// so a name a user chose cannot pose as an encoded word.
func encodeSubject(subject string) string {
	const (
		prefix, suffix = "=?UTF-8?q?", "?="
		lineMax        = 78
	)
	room := lineMax - len("Subject: ")
	if !needsEncoding(subject) && len(subject) <= room {
		return subject
	}
	var words []string
	var cur strings.Builder
	for _, r := range subject {
		e := qEncodeRune(r)
		if cur.Len() > 0 && len(prefix)+cur.Len()+len(e)+len(suffix) > room {
			words = append(words, prefix+cur.String()+suffix)
			cur.Reset()
			room = lineMax - len(" ") // continuation lines start with a space
		}
		cur.WriteString(e)
	}
	words = append(words, prefix+cur.String()+suffix)
	return strings.Join(words, "\r\n ")
}

func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return true
		}
	}
	return strings.Contains(s, "=?")
}

// qEncodeRune encodes one character for the "Q" encoding of RFC 2047,
// keeping literal only what section 5 (3) allows in a Subject.
func qEncodeRune(r rune) string {
	switch {
	case r == ' ':
		return "_"
	case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!*+-/", r)):
		return string(r)
	}
	var b strings.Builder
	for _, c := range []byte(string(r)) {
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// plainAuth is AUTH PLAIN that sends the password only over TLS or to a
// loopback address. net/smtp's PlainAuth has the same rule but its own idea of
// loopback (three spellings); this one follows smtpConfig.loopback, so the
// decision to talk in clear is made in one place.
type plainAuth struct {
	user, pass string
	loopback   bool
}

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.loopback {
		return "", nil, errors.New("refusing to send the password over a connection without TLS")
	}
	if !slices.ContainsFunc(server.Auth, func(m string) bool { return strings.EqualFold(m, "PLAIN") }) {
		return "", nil, fmt.Errorf("server does not offer AUTH PLAIN (it offers %s)", strings.Join(server.Auth, " "))
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge during AUTH PLAIN")
	}
	return nil, nil
}

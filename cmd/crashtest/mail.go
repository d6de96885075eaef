package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/secret"
)

// Notification emails. A change that notifies a user writes the message,
// sealed, to the outbox in its own transaction, and the row is deleted
// once the mailer has the message (auth/outbox.go). Without --smtp-url the
// mailer is one JSON line in serve.log. So after any kill, for every user
// and kind of notice, the mail lines in serve.log and the rows waiting in
// the outbox together must be at least the committed audit events that
// come with that notice. More is fine: delivery is at least once, and a
// kill between the send and the delete leaves a row whose mail went out.

// notice is a kind of notification and the audit events (of result) each
// of which comes with exactly one of it, to the event's target, in the same
// transaction: the notify calls in auth/*.go.
type notice struct {
	subject string // as auth/notify.go words it in English, which users without a locale get
	result  string
	events  []string
}

var notices = []notice{
	{"You are invited to sekisho", "success", []string{"user.invited"}},
	{"Reset your sekisho password", "success", []string{"password.reset_requested"}},
	{"Your sekisho password was changed", "success", []string{"password.reset", "password.changed"}},
	{"An authenticator was added to your account", "success", []string{"mfa.enrolled"}},
	// An unconfirmed authenticator goes without an event and without mail.
	{"An authenticator was removed from your account", "success", []string{"mfa.removed", "mfa.removed_all"}},
	{"Your multi-factor authentication was reset", "success", []string{"mfa.reset"}},
	{"A recovery code was used to sign in", "success", []string{"mfa.recovery_code_used"}},
	{"New recovery codes were created", "success", []string{"mfa.recovery_codes_regenerated"}},
	// The lock-out is recorded as a denial, by the wrong code that reached the limit.
	{"Too many wrong codes: your authenticator is blocked", "denied", []string{"mfa.locked"}},
}

// uncountedSubject is the ending of the one subject sent without an event
// per user: "<workspace> now requires multi-factor authentication", sent
// after a policy change to every user without MFA.
const uncountedSubject = " now requires multi-factor authentication"

// logMailMsg is the message of the log mailer's records (mail/log.go).
const logMailMsg = "mail not sent (no --smtp-url)"

// noticeQuery counts, by target and type, the audit events of the
// workspace that each come with a notice.
func noticeQuery() (string, []any) {
	var cond []string
	var args []any
	for _, n := range notices {
		for _, e := range n.events {
			cond = append(cond, "(type = ? AND result = ?)")
			args = append(args, e, n.result)
		}
	}
	return `SELECT target_id, type, COUNT(*) FROM audit_events WHERE workspace_id = ? AND (` +
		strings.Join(cond, " OR ") + `) GROUP BY target_id, type`, args
}

// outboxRow is a message waiting in the outbox, still sealed.
type outboxRow struct{ id, sealed string }

// mailCheck is what the notification check keeps from one check to the
// next.
type mailCheck struct {
	keys   *secret.Keyring           // of the data folder, loaded at the first check
	offset int64                     // how much of serve.log has been read: whole lines only
	sent   map[string]map[string]int // recipient → subject → mail lines in serve.log
	seen   map[string]bool           // outbox rows an earlier check saw

	// For the report.
	committed, logged, waiting map[string]int // by subject, at the last check
	twice                      int            // sent or waiting beyond the committed, at the last check
	left, leftKills            int            // rows new at a check after a kill, and after how many kills
}

// checkMail requires that no committed notice was lost: for every user of
// the workspace and every kind of notice, the mail lines in serve.log plus
// the outbox rows are at least the events in the database. The snapshot is
// read before serve.log, so that a row deleted before the snapshot has its
// line written before the log is read; and both before the checker's own
// requests, so that the log has no mail of a change newer than the
// snapshot.
func (r *runner) checkMail(cycle int, s *snapshot) error {
	m := &r.mail
	if m.keys == nil {
		// Without --encryption-keys the server keeps its keys in the data
		// folder, on either backend.
		k, err := secret.LoadKeyFile(filepath.Join(r.dir, "keys"))
		if err != nil {
			return fmt.Errorf("the server's key file, to open the outbox: %w", err)
		}
		m.keys, m.sent, m.seen = k, map[string]map[string]int{}, map[string]bool{}
	}
	if err := m.readLog(r.srv.log.Name()); err != nil {
		return fmt.Errorf("read the server's log: %w", err)
	}
	emails := map[string]bool{}
	for _, d := range s.users {
		emails[d.email] = true
	}
	known := func(subject string) bool {
		return slices.ContainsFunc(notices, func(n notice) bool { return n.subject == subject }) ||
			strings.HasSuffix(subject, uncountedSubject)
	}

	waiting := map[string]map[string]int{}
	left := 0
	for _, row := range s.outbox {
		if !m.seen[row.id] {
			m.seen[row.id] = true
			if cycle > 0 {
				left++
			}
		}
		msg, err := auth.OpenOutboxMail(m.keys, row.id, row.sealed)
		if err != nil {
			r.finding(cycle, "outbox row %s does not open with the server's keys, or holds no message: %v", row.id, err)
			continue
		}
		if emails[msg.To] && !known(msg.Subject) {
			r.finding(cycle, "outbox row %s to %s: subject %q, which the crash test does not know (auth/notify.go changed? update notices in mail.go)", row.id, msg.To, msg.Subject)
		}
		count(waiting, msg.To, msg.Subject, 1)
	}
	if left > 0 {
		m.left += left
		m.leftKills++
	}

	for to, bySubject := range m.sent {
		if !emails[to] {
			continue
		}
		for subject := range bySubject {
			if !known(subject) {
				r.finding(cycle, "mail to %s: subject %q, which the crash test does not know (auth/notify.go changed? update notices in mail.go)", to, subject)
			}
		}
	}

	m.committed, m.logged, m.waiting, m.twice = map[string]int{}, map[string]int{}, map[string]int{}, 0
	for _, id := range sortedKeys(s.users) {
		d := s.users[id]
		for _, n := range notices {
			committed := 0
			for _, e := range n.events {
				committed += s.notified[id][e]
			}
			sent, wait := m.sent[d.email][n.subject], waiting[d.email][n.subject]
			m.committed[n.subject] += committed
			m.logged[n.subject] += sent
			m.waiting[n.subject] += wait
			// At least once: a kill between the send and the delete of
			// the row, or a lease run out, counts a message twice.
			m.twice += max(0, sent+wait-committed)
			switch {
			case sent+wait < committed:
				r.finding(cycle, "user %s: mail %q lost: the database has %s, serve.log %d such mails and the outbox %d",
					d.email, n.subject, eventsOf(s.notified[id], n.events), sent, wait)
			case committed == 0 && sent+wait > 0:
				// Any number of copies may go out for a change that
				// committed, but none for one that did not.
				r.finding(cycle, "user %s: mail %q for no change: the database has no %s, serve.log %d such mails and the outbox %d",
					d.email, n.subject, strings.Join(n.events, " or "), sent, wait)
			}
		}
	}
	return nil
}

// eventsOf lists how many of each of events the database has.
func eventsOf(counts map[string]int, events []string) string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%d %s", counts[e], e))
	}
	return strings.Join(out, " and ")
}

func count(m map[string]map[string]int, to, subject string, n int) {
	if m[to] == nil {
		m[to] = map[string]int{}
	}
	m[to][subject] += n
}

// readLog counts the mail lines that serve.log gained since the last read.
// A line not yet ended is left for the next read.
func (m *mailCheck) readLog(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(m.offset, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	for line := range bytes.Lines(b[:end]) {
		if rec, ok := parseMailLine(line); ok {
			count(m.sent, rec.To, rec.Subject, 1)
		}
	}
	m.offset += int64(end)
	return nil
}

type mailRecord struct {
	Msg, To, Subject string
}

// recordStart begins every record of the server's JSON log.
var recordStart = []byte(`{"time":`)

// parseMailLine returns the mail record of a line of serve.log. A record a
// kill cut short runs on into the first record of the next server, so a
// line that does not parse is tried again from each record start in it.
// Lines that are not JSON at all (a Go panic) are skipped.
func parseMailLine(line []byte) (mailRecord, bool) {
	for {
		var rec mailRecord
		if json.Unmarshal(line, &rec) == nil {
			return rec, rec.Msg == logMailMsg
		}
		i := bytes.Index(line[1:], recordStart)
		if i < 0 {
			return mailRecord{}, false
		}
		line = line[i+1:]
	}
}

// report summarizes the notifications at the last check, after kills kills.
func (m *mailCheck) report(kills int) string {
	if m.committed == nil {
		return "notifications: not checked"
	}
	var kinds []string
	var committed, logged, waiting int
	for _, n := range notices {
		c, l, w := m.committed[n.subject], m.logged[n.subject], m.waiting[n.subject]
		committed, logged, waiting = committed+c, logged+l, waiting+w
		if c+l+w > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d/%d/%d", strings.Join(n.events, "+"), c, l, w))
		}
	}
	sort.Strings(kinds)
	return fmt.Sprintf("notifications: %d committed, %d sent, %d waiting in the outbox, %d counted twice; "+
		"mail a kill left in the outbox: %d, after %d of %d kills\n  by event (committed/sent/waiting): %s",
		committed, logged, waiting, m.twice, m.left, m.leftKills, kills, strings.Join(kinds, ", "))
}

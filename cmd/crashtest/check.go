package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/totp"
	_ "modernc.org/sqlite" // "sqlite"
)

// snapshot is the database as the checker reads it in one transaction.
type snapshot struct {
	users  map[string]*dbUser
	events []event // state-changing events of the workspace, oldest first

	notified map[string]map[string]int // user id → event type → events that come with a notice (mail.go)
	outbox   []outboxRow               // every row of mail_outbox; none without that table

	auditCount, auditMax int64 // all events
	auditKept            int64 // events with ids up to the previous check's maximum
	withoutMFA           int   // workspace_counts.users_without_mfa; -1 without that table
}

type event struct {
	typ, target string
	details     map[string]string
}

// openDB opens the database for the checker. SQLite is opened only while
// the server is up and closed before the next kill, so that the server
// alone has the file open when it dies and its restart does the recovery.
func (r *runner) openDB() (*sql.DB, error) {
	if r.backend == "postgres" {
		return r.pg, nil
	}
	path := filepath.Join(r.dir, "sekisho.db")
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
}

// q rewrites ? placeholders for PostgreSQL.
func (r *runner) q(query string) string {
	if r.backend != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// waitQuiet waits until no other PostgreSQL session of the database runs a
// statement or holds a transaction open: those of the killed server end
// when PostgreSQL notices their client is gone.
func (r *runner) waitQuiet(ctx context.Context, db *sql.DB) error {
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&n)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sessions of the killed server still busy after 30s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// integrity runs SQLite's own checks of the file.
func (r *runner) integrity(ctx context.Context, db *sql.DB, cycle int) error {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		lines = append(lines, s)
	}
	rows.Close()
	if len(lines) != 1 || lines[0] != "ok" {
		r.finding(cycle, "PRAGMA integrity_check: %s", strings.Join(lines, "; "))
	}
	rows, err = db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if n > 0 {
		r.finding(cycle, "PRAGMA foreign_key_check: %d rows violate a foreign key", n)
	}
	return rows.Err()
}

// snapshot reads every user of the workspace with their factors, sessions
// and audit events in one read transaction.
func (r *runner) snapshot(ctx context.Context, db *sql.DB) (*snapshot, error) {
	var opts *sql.TxOptions
	if r.backend == "postgres" {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	each := func(query string, scan func(rows *sql.Rows) error, args ...any) error {
		rows, err := tx.QueryContext(ctx, r.q(query), args...)
		if err != nil {
			return fmt.Errorf("%s: %w", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	s := &snapshot{users: map[string]*dbUser{}}
	err = each(`SELECT id, email, role, status, CASE WHEN has_mfa THEN 1 ELSE 0 END, CASE WHEN mfa_reset_at IS NULL THEN 0 ELSE 1 END
		FROM users WHERE workspace_id = ?`, func(rows *sql.Rows) error {
		var id string
		var hasMFA, resetAt int
		d := &dbUser{confirmed: map[string]int64{}, pending: map[string]bool{}, rc: map[string][2]int{}, audit: map[string]int{}}
		if err := rows.Scan(&id, &d.email, &d.role, &d.status, &hasMFA, &resetAt); err != nil {
			return err
		}
		d.hasMFA, d.resetAt = hasMFA == 1, resetAt == 1
		s.users[id] = d
		return nil
	}, r.wsID)
	if err != nil {
		return nil, err
	}
	user := func(id string) *dbUser {
		if d := s.users[id]; d != nil {
			return d
		}
		return &dbUser{confirmed: map[string]int64{}, pending: map[string]bool{}, rc: map[string][2]int{}, audit: map[string]int{}}
	}
	err = each(`SELECT a.user_id, a.id, CASE WHEN a.confirmed_at IS NULL THEN 0 ELSE 1 END, a.last_used_step
		FROM authenticators a JOIN users u ON u.id = a.user_id WHERE u.workspace_id = ?`, func(rows *sql.Rows) error {
		var uid, id string
		var confirmed int
		var step int64
		if err := rows.Scan(&uid, &id, &confirmed, &step); err != nil {
			return err
		}
		if confirmed == 1 {
			user(uid).confirmed[id] = step
		} else {
			user(uid).pending[id] = true
		}
		return nil
	}, r.wsID)
	if err != nil {
		return nil, err
	}
	err = each(`SELECT c.user_id, c.salt, SUM(CASE WHEN c.used_at IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN c.used_at IS NULL THEN 0 ELSE 1 END)
		FROM recovery_codes c JOIN users u ON u.id = c.user_id WHERE u.workspace_id = ? GROUP BY c.user_id, c.salt`, func(rows *sql.Rows) error {
		var uid, salt string
		var unused, used int
		if err := rows.Scan(&uid, &salt, &unused, &used); err != nil {
			return err
		}
		user(uid).rc[salt] = [2]int{unused, used}
		return nil
	}, r.wsID)
	if err != nil {
		return nil, err
	}
	err = each(`SELECT user_id, COUNT(*) FROM sessions WHERE workspace_id = ? GROUP BY user_id`, func(rows *sql.Rows) error {
		var uid string
		var n int
		if err := rows.Scan(&uid, &n); err != nil {
			return err
		}
		user(uid).sessions = n
		return nil
	}, r.wsID)
	if err != nil {
		return nil, err
	}
	err = each(`SELECT target_id, type, COUNT(*) FROM audit_events WHERE workspace_id = ? AND result = 'success' GROUP BY target_id, type`,
		func(rows *sql.Rows) error {
			var target, typ string
			var n int
			if err := rows.Scan(&target, &typ, &n); err != nil {
				return err
			}
			if d := s.users[target]; d != nil {
				d.audit[typ] = n
			}
			return nil
		}, r.wsID)
	if err != nil {
		return nil, err
	}
	err = each(`SELECT type, target_id, details FROM audit_events WHERE workspace_id = ? AND result = 'success'
		AND type IN ('user.role_changed', 'user.disabled', 'user.enabled', 'user.updated', 'mfa.reset', 'mfa.enrolled', 'mfa.removed', 'mfa.removed_all')
		ORDER BY id`, func(rows *sql.Rows) error {
		var e event
		var details string
		if err := rows.Scan(&e.typ, &e.target, &details); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(details), &e.details); err != nil {
			return fmt.Errorf("audit event details %q: %w", details, err)
		}
		s.events = append(s.events, e)
		return nil
	}, r.wsID)
	if err != nil {
		return nil, err
	}
	s.notified = map[string]map[string]int{}
	query, args := noticeQuery()
	err = each(query, func(rows *sql.Rows) error {
		var target, typ string
		var n int
		if err := rows.Scan(&target, &typ, &n); err != nil {
			return err
		}
		if s.notified[target] == nil {
			s.notified[target] = map[string]int{}
		}
		s.notified[target][typ] = n
		return nil
	}, append([]any{r.wsID}, args...)...)
	if err != nil {
		return nil, err
	}
	hasTable := func(name string) (bool, error) {
		catalog := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
		if r.backend == "postgres" {
			catalog = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
		}
		var n int
		err := tx.QueryRowContext(ctx, r.q(catalog), name).Scan(&n)
		return n == 1, err
	}
	// The outbox (migration 0005). A server without it has nothing
	// waiting: every committed notice must then be in serve.log.
	if ok, err := hasTable("mail_outbox"); err != nil {
		return nil, err
	} else if ok {
		err = each(`SELECT id, message FROM mail_outbox`, func(rows *sql.Rows) error {
			var row outboxRow
			if err := rows.Scan(&row.id, &row.sealed); err != nil {
				return err
			}
			s.outbox = append(s.outbox, row)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The count of users without MFA kept by triggers (migration 0003).
	ok, err := hasTable("workspace_counts")
	if err != nil {
		return nil, err
	}
	s.withoutMFA = -1
	if ok {
		if err := tx.QueryRowContext(ctx, r.q(`SELECT users_without_mfa FROM workspace_counts WHERE workspace_id = ?`), r.wsID).Scan(&s.withoutMFA); err != nil {
			return nil, fmt.Errorf("workspace_counts: %w", err)
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit_events`).Scan(&s.auditCount, &s.auditMax); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, r.q(`SELECT COUNT(*) FROM audit_events WHERE id <= ?`), r.auditMax).Scan(&s.auditKept); err != nil {
		return nil, err
	}
	return s, nil
}

// invariants are the rules the database must keep whatever the client
// saw: they hold for every user of the workspace, the admins included.
func (r *runner) invariants(cycle int, s *snapshot) {
	if s.auditKept != r.auditCount || s.auditMax < r.auditMax {
		r.finding(cycle, "audit log: %d events up to id %d, but the previous check saw %d (append-only log lost events)", s.auditKept, r.auditMax, r.auditCount)
	}
	r.auditCount, r.auditMax = s.auditCount, s.auditMax
	withoutMFA := 0
	for _, d := range s.users {
		if !d.hasMFA && d.status != "disabled" {
			withoutMFA++
		}
	}
	if s.withoutMFA >= 0 && s.withoutMFA != withoutMFA {
		r.finding(cycle, "workspace_counts.users_without_mfa is %d, but %d users are without MFA and not disabled", s.withoutMFA, withoutMFA)
	}
	for _, d := range s.users {
		if d.hasMFA != (len(d.confirmed) > 0) {
			r.finding(cycle, "user %s: has_mfa %v with %d confirmed authenticators", d.email, d.hasMFA, len(d.confirmed))
		}
		if len(d.rc) > 1 {
			r.finding(cycle, "user %s: %d sets of recovery codes at once", d.email, len(d.rc))
		}
		for _, n := range d.rc {
			if n[0]+n[1] != 10 {
				r.finding(cycle, "user %s: a set of %d recovery codes, want 10", d.email, n[0]+n[1])
			}
			if !d.hasMFA {
				r.finding(cycle, "user %s: recovery codes without MFA", d.email)
			}
		}
	}
	// Each state change has its event and each event its state: the last
	// event of a kind must describe the state the user is in, and each
	// role or status change must start where the one before ended.
	type last struct{ role, status, mfa string }
	lasts := map[string]*last{}
	for _, e := range s.events {
		d := s.users[e.target]
		if d == nil {
			continue // a deleted user; this test deletes none
		}
		l := lasts[e.target]
		if l == nil {
			l = &last{}
			lasts[e.target] = l
		}
		if from, to, ok := strings.Cut(e.details["role"], "→"); ok {
			if l.role != "" && from != l.role {
				r.finding(cycle, "user %s: role change %s→%s, but the change before ended at %s", d.email, from, to, l.role)
			}
			l.role = to
		}
		if from, to, ok := strings.Cut(e.details["status"], "→"); ok {
			if l.status != "" && from != l.status {
				r.finding(cycle, "user %s: status change %s→%s, but the change before ended at %s", d.email, from, to, l.status)
			}
			l.status = to
		}
		switch {
		case e.typ == "mfa.enrolled":
			l.mfa = "enrolled"
		case e.typ == "mfa.reset":
			l.mfa = "reset"
		case e.typ == "mfa.removed_all", e.typ == "mfa.removed" && e.details["last"] == "true":
			l.mfa = "removed"
		}
	}
	for id, l := range lasts {
		d := s.users[id]
		if l.role != "" && d.role != l.role {
			r.finding(cycle, "user %s: role %s, but the last role change event says %s", d.email, d.role, l.role)
		}
		if l.status != "" && d.status != l.status {
			r.finding(cycle, "user %s: status %s, but the last status change event says %s", d.email, d.status, l.status)
		}
		switch l.mfa {
		case "enrolled":
			if !d.hasMFA {
				r.finding(cycle, "user %s: no MFA, but the last MFA event is an enrollment", d.email)
			}
		case "reset", "removed":
			if d.hasMFA || len(d.confirmed) > 0 || len(d.rc) > 0 {
				r.finding(cycle, "user %s: MFA (%d authenticators, %d sets of codes), but the last MFA event is mfa.%s", d.email, len(d.confirmed), len(d.rc), l.mfa)
			}
			if l.mfa == "reset" && !d.resetAt {
				r.finding(cycle, "user %s: mfa.reset event, but mfa_reset_at is not set", d.email)
			}
		}
	}
}

// compare matches every user of the pool against the model: as it is, or
// with the request in flight at the kill applied.
func (r *runner) compare(cycle int, s *snapshot, inflight map[*user]*inflight) {
	now := time.Now()
	for i, u := range r.users {
		d := s.users[u.id]
		diffA := diff(u, d, now)
		f := inflight[u]
		if f == nil {
			if len(diffA) > 0 {
				r.finding(cycle, "user %s: the database does not show the acknowledged state: %s", u.email, strings.Join(diffA, "; "))
			} else {
				adopt(u, d)
			}
			continue
		}
		r.stats.inflight++
		diffB := diff(f.after, d, now)
		switch {
		case len(diffA) == 0 && len(diffB) == 0:
			r.stats.unseen++
			adopt(u, d)
		case len(diffA) == 0:
			r.stats.undone++
			adopt(u, d)
		case len(diffB) == 0:
			r.stats.done++
			r.users[i] = f.after
			adopt(f.after, d)
		default:
			r.finding(cycle, "user %s: the database shows neither the acknowledged state nor it after the %s in flight at the kill: %s (if it happened: %s)",
				u.email, f.what, strings.Join(diffA, "; "), strings.Join(diffB, "; "))
		}
	}
}

// probe checks through the API what only the API can tell: acknowledged
// sessions still work and revoked ones don't, and codes acknowledged as
// used are refused.
func (r *runner) probe(ctx context.Context, a *agent, cycle int) error {
	for _, u := range r.users {
		for _, s := range u.sessions {
			res, err := a.c.do(ctx, "GET", "/api/v1/session", s.token, nil)
			if err != nil {
				return err
			}
			if res.status != http.StatusOK {
				r.finding(cycle, "user %s: an acknowledged session is refused: %d %s", u.email, res.status, res.raw)
				continue
			}
			got, _ := res.body["user"].(map[string]any)
			if id, _ := got["id"].(string); id != u.id || res.str("role") != u.role {
				r.finding(cycle, "user %s: session says user %s role %s, want %s %s", u.email, id, res.str("role"), u.id, u.role)
			}
		}
		for _, t := range u.revoked {
			res, err := a.c.do(ctx, "GET", "/api/v1/session", t, nil)
			if err != nil {
				return err
			}
			if res.status != http.StatusUnauthorized {
				r.finding(cycle, "user %s: a session whose end was acknowledged answers %d: %s", u.email, res.status, res.raw)
			}
		}
		u.revoked = nil
	}

	// Replays: a few per cycle, since each costs a password hash. The
	// database check (last_used_step, used_at) covers every code.
	t := totp.StepAt(time.Now())
	var steps, codes []func() error
	for _, u := range r.users {
		if u.status != "active" || !u.hasMFA {
			continue
		}
		for _, s := range u.spentSteps {
			if s.step >= t-1 {
				steps = append(steps, func() error {
					return a.replay(ctx, u, "TOTP code of step "+strconv.FormatInt(s.step, 10), "code", totp.Code(s.seed, s.step))
				})
			}
		}
		for _, c := range u.spentCodes {
			codes = append(codes, func() error { return a.replay(ctx, u, "recovery code", "recovery_code", c.code) })
		}
	}
	for _, list := range [][]func() error{steps, codes} {
		a.rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		for _, f := range list[:min(len(list), r.cfg.Replays)] {
			if err := f(); err != nil {
				return err
			}
		}
	}
	for _, u := range r.users {
		u.spentSteps, u.spentCodes = nil, nil
	}
	return nil
}

// replay signs u in with the password and offers a code that was
// acknowledged as used: it must be refused.
func (a *agent) replay(ctx context.Context, u *user, what, field, code string) error {
	_, flow, err := a.passwordStep(ctx, u)
	if err != nil || flow == "" {
		return err
	}
	res, err := a.c.do(ctx, "POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, field: code})
	if err != nil {
		return err
	}
	a.r.stats.replays++
	switch {
	case res.status == http.StatusOK:
		a.r.finding(a.cycle, "user %s: a %s acknowledged as used signed in again", u.email, what)
	case res.status == http.StatusTooManyRequests:
		a.r.stats.replays--
	case res.code() != "invalid_code":
		a.r.finding(a.cycle, "user %s: replayed %s: unexpected answer %d: %s", u.email, what, res.status, res.raw)
	}
	return nil
}

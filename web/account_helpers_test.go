package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/web"
)

// Helpers of the TestAccount… tests (users, passwords, sign-in, sessions).

// acctFrom returns headers that make a request come from ip behind a
// trusted proxy (see acctBehindProxy).
func acctFrom(ip string) http.Header {
	return http.Header{"X-Forwarded-For": {ip}}
}

// acctBehindProxy returns a view of e served by a second HTTP server that
// trusts 127.0.0.1 as its load balancer, so a test can choose each
// request's client IP with X-Forwarded-For. Service, database, clock and
// mailbox stay e's.
func acctBehindProxy(e *env) *env {
	e.t.Helper()
	p := *e
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))
	p.srv = httptest.NewServer(web.NewServer(e.svc, e.db, log, web.Options{
		BaseURL:        "http://localhost",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}))
	e.t.Cleanup(p.srv.Close)
	return &p
}

// acctSecondInstance starts another sekisho on its own connection pool to
// e's database, sharing keys, clock and mailbox: a second server behind the
// load balancer.
func acctSecondInstance(e *env) *env {
	e.t.Helper()
	db, err := store.Open(context.Background(), e.dbURL, e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return newEnvOn(e.t, db, e.dbURL, e)
}

// acctSignIn posts a password sign-in and returns the raw answer.
func acctSignIn(e *env, slug, email, password string) resp {
	e.t.Helper()
	return e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": slug, "email": email, "password": password})
}

// acctAdmin signs the admin of slug in again (after the clock moved past
// their session's idle timeout).
func acctAdmin(e *env, slug string) string {
	e.t.Helper()
	return e.signIn(slug, "admin@"+slug+".test", adminPassword)
}

// acctCreate invites email with role without accepting and returns the
// user's id and invitation token.
func acctCreate(e *env, adminToken, email, name, role string) (id, token string) {
	e.t.Helper()
	r := e.call("POST", "/api/v1/admin/users", adminToken, map[string]string{"email": email, "name": name, "role": role}).must(e.t, 201)
	m := linkToken.FindStringSubmatch(r.str("invitation_url"))
	if m == nil || m[1] != "invitations" {
		e.t.Fatalf("invitation_url %q", r.str("invitation_url"))
	}
	return r.Body["user"].(map[string]any)["id"].(string), m[2]
}

// acctAccept accepts invitation token with password and returns the answer.
func acctAccept(e *env, token, password string) resp {
	e.t.Helper()
	return e.call("POST", "/api/v1/invitations/accept", "", map[string]string{"token": token, "password": password})
}

var acctSetupToken = regexp.MustCompile(`^http://sekisho\.test/setup/([A-Za-z0-9_-]{43})$`)

// acctMailToken returns the token of the link of kind ("invitations" or
// "password-reset") in the newest message to addr with subject.
func acctMailToken(t *testing.T, rec *mail.Recorder, addr, subject, kind string) string {
	t.Helper()
	m, ok := rec.Last(addr)
	if !ok {
		t.Fatalf("no mail to %s", addr)
	}
	if m.Subject != subject {
		t.Fatalf("last mail to %s is %q, want %q", addr, m.Subject, subject)
	}
	found := linkToken.FindStringSubmatch(m.Text)
	if found == nil || found[1] != kind {
		t.Fatalf("no %s link in mail to %s: %q", kind, addr, m.Text)
	}
	return found[2]
}

// acctMails returns the subjects of the messages sent to addr, oldest first.
func acctMails(rec *mail.Recorder, addr string) []string {
	var out []string
	for _, m := range rec.Messages() {
		if strings.EqualFold(m.To, addr) {
			out = append(out, m.Subject)
		}
	}
	return out
}

// Subjects of the English notification emails.
const (
	acctSubjInvitation = "You are invited to sekisho"
	acctSubjReset      = "Reset your sekisho password"
	acctSubjChanged    = "Your sekisho password was changed"
)

// acctEvent is an audit event as the API renders it.
type acctEvent struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	Result    string            `json:"result"`
	ActorKind string            `json:"actor_kind"`
	ActorID   string            `json:"actor_id"`
	TargetID  string            `json:"target_id"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Details   map[string]string `json:"details"`
}

// acctAuditPage reads one page of the audit log with query (already
// URL-encoded, without "?").
func acctAuditPage(e *env, adminToken, query string) (events []acctEvent, next string) {
	e.t.Helper()
	r := e.call("GET", "/api/v1/admin/audit-events?"+query, adminToken, nil).must(e.t, 200)
	var page struct {
		Events     []acctEvent `json:"events"`
		NextCursor string      `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Events, page.NextCursor
}

// acctAudit reads every audit event matching query, following cursors.
func acctAudit(e *env, adminToken, query string) []acctEvent {
	e.t.Helper()
	var all []acctEvent
	cursor := ""
	for range 1000 {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		events, next := acctAuditPage(e, adminToken, q)
		all = append(all, events...)
		if next == "" {
			return all
		}
		cursor = next
	}
	e.t.Fatal("audit cursor never ends")
	return nil
}

// acctFindEvent fails unless the audit log holds an event of typ with
// result, actor and target ("" matches any actor id).
func acctFindEvent(e *env, adminToken, typ, result, actorKind, actorID, targetID string) acctEvent {
	e.t.Helper()
	events := acctAudit(e, adminToken, "type="+url.QueryEscape(typ)+"&target="+url.QueryEscape(targetID))
	for _, ev := range events {
		if ev.Result == result && ev.ActorKind == actorKind && (actorID == "" || ev.ActorID == actorID) {
			if ev.IP != "127.0.0.1" && actorKind != "operator" {
				e.t.Errorf("event %s: ip %q", typ, ev.IP)
			}
			return ev
		}
	}
	e.t.Fatalf("no %s/%s event by %s %s on %s; have %+v", typ, result, actorKind, actorID, targetID, events)
	return acctEvent{}
}

// acctUserID returns the id of the signed-in user of token.
func acctUserID(e *env, token string) string {
	e.t.Helper()
	return e.call("GET", "/api/v1/session", token, nil).must(e.t, 200).Body["user"].(map[string]any)["id"].(string)
}

// acctSessionID returns the session id behind token.
func acctSessionID(e *env, token string) string {
	e.t.Helper()
	return e.call("GET", "/api/v1/session", token, nil).must(e.t, 200).str("session_id")
}

// acctWantError fails unless r is an error answer with status and code.
func acctWantError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.code(), status, code, r.Raw)
	}
}

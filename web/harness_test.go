package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/totp"
	"github.com/sekisho/sekisho/web"
)

// testParams keep argon2id cheap in tests; the real parameters are proven
// in package secret.
var testParams = secret.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one running sekisho over a real database.
type env struct {
	t     *testing.T
	db    *store.DB
	svc   *auth.Service
	srv   *httptest.Server
	mail  *mail.Recorder
	clock *clock
	logs  *bytes.Buffer
	keys  *secret.Keyring
	dbURL string
}

// newEnv starts sekisho on a fresh database of dialect d.
func newEnv(t *testing.T, d store.Dialect) *env {
	t.Helper()
	u := storetest.URL(t, d)
	db, err := store.Open(context.Background(), u, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newEnvOn(t, db, u, nil)
}

// newEnvOn starts another sekisho instance on db (for multi-instance tests
// pass the first instance's keys and clock through share).
func newEnvOn(t *testing.T, db *store.DB, dbURL string, share *env) *env {
	t.Helper()
	e := &env{t: t, db: db, dbURL: dbURL, mail: &mail.Recorder{}, logs: &bytes.Buffer{}}
	if share != nil {
		e.keys, e.clock, e.mail = share.keys, share.clock, share.mail
	} else {
		var err error
		e.keys, err = secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
		if err != nil {
			t.Fatal(err)
		}
		e.clock = &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))
	db.SetLogger(log)
	e.svc = auth.New(db, secret.NewHasher(testParams, 4), e.keys, e.mail, log, auth.Config{BaseURL: "http://sekisho.test", Now: e.clock.Now})
	e.srv = httptest.NewServer(web.NewServer(e.svc, db, log, web.Options{BaseURL: "http://localhost"}))
	t.Cleanup(e.srv.Close)
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// resp is a decoded API response.
type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call sends method path with body (JSON-encoded unless a string) and the
// bearer token, and decodes the answer.
func (e *env) call(method, path, token string, body any) resp {
	e.t.Helper()
	var hdr http.Header
	if token != "" {
		hdr = http.Header{"Authorization": {"Bearer " + token}}
	}
	return e.callWith(method, path, hdr, body)
}

// callWith is call with any request headers: a cookie, a bearer token, an
// X-Forwarded-For.
func (e *env) callWith(method, path string, hdr http.Header, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return r
}

// must checks the status of r.
func (r resp) must(t *testing.T, status int) resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// code returns the error code of an error response.
func (r resp) code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r resp) str(key string) string { s, _ := r.Body[key].(string); return s }

const adminPassword = "correct horse battery staple 1"

// operator is the actor of the CLI in tests.
var operator = sekisho.Operator("tester", "test setup")

// workspace creates a workspace with an active admin and returns the
// workspace id and an aal1 session token of the admin.
func (e *env) workspace(slug string) (wsID, adminToken string) {
	e.t.Helper()
	w, _, link, err := e.svc.CreateWorkspace(context.Background(), operator, slug, strings.ToUpper(slug), "admin@"+slug+".test")
	if err != nil {
		e.t.Fatal(err)
	}
	e.accept(link, adminPassword)
	return w.ID, e.signIn(slug, "admin@"+slug+".test", adminPassword)
}

var linkToken = regexp.MustCompile(`/(invitations|password-reset)/([A-Za-z0-9_-]{43})`)

// accept accepts the invitation behind link with password.
func (e *env) accept(link, password string) {
	e.t.Helper()
	m := linkToken.FindStringSubmatch(link)
	if m == nil {
		e.t.Fatalf("no token in %q", link)
	}
	e.call("POST", "/api/v1/invitations/accept", "", map[string]string{"token": m[2], "password": password}).must(e.t, 200)
}

// signIn signs in with a password and expects a session.
func (e *env) signIn(slug, email, password string) string {
	e.t.Helper()
	r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": slug, "email": email, "password": password}).must(e.t, 200)
	if r.str("state") != "signed_in" {
		e.t.Fatalf("state %q, want signed_in: %s", r.str("state"), r.Raw)
	}
	return r.str("session_token")
}

// invite has the admin behind token invite email with role, accepts the
// invitation, and returns the new user's id.
func (e *env) invite(adminToken, email, role, password string) string {
	e.t.Helper()
	r := e.call("POST", "/api/v1/admin/users", adminToken, map[string]string{"email": email, "role": role}).must(e.t, 201)
	e.accept(r.str("invitation_url"), password)
	return r.Body["user"].(map[string]any)["id"].(string)
}

// enroll adds a TOTP authenticator for the session and returns its seed and
// the recovery codes the first factor brings. Confirming moves the session
// to aal2 under a new token, which replaces *token.
func (e *env) enroll(token *string, name string) (seed []byte, codes []string) {
	e.t.Helper()
	r := e.call("POST", "/api/v1/me/mfa/totp", *token, map[string]string{"name": name}).must(e.t, 201)
	seed = decodeSeed(e.t, r.str("secret"))
	c := e.call("POST", "/api/v1/me/mfa/totp/"+r.str("id")+"/confirm", *token, map[string]string{"code": totp.Code(seed, totp.StepAt(e.clock.Now()))}).must(e.t, 200)
	*token = c.str("session_token")
	if list, ok := c.Body["recovery_codes"].([]any); ok {
		for _, x := range list {
			codes = append(codes, x.(string))
		}
	}
	return seed, codes
}

// code returns the current TOTP code of seed, after moving the clock one
// step on so that it is never a step used before.
func (e *env) code(seed []byte) string {
	e.clock.Add(totp.Period)
	return totp.Code(seed, totp.StepAt(e.clock.Now()))
}

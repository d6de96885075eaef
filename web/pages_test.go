package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/totp"
	"github.com/sekisho/sekisho/web"
)

// The web pages over plain HTTP, as a browser without JavaScript sees
// them: forms, redirects, cookies and headers.

// pgClient is a cookie-keeping client that does not follow redirects.
type pgClient struct {
	t    *testing.T
	base string
	c    *http.Client
	// header is added to every request (e.g. Accept-Language).
	header http.Header
}

func newPgClient(t *testing.T, base string) *pgClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pgClient{t: t, base: base, header: http.Header{}, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// pgResp is a page response.
type pgResp struct {
	Status int
	Header http.Header
	Body   string
	req    string
}

func (c *pgClient) do(method, path string, form url.Values, header http.Header) pgResp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return pgResp{Status: res.StatusCode, Header: res.Header, Body: string(b), req: method + " " + path}
}

func (c *pgClient) get(path string) pgResp { c.t.Helper(); return c.do("GET", path, nil, nil) }
func (c *pgClient) post(path string, form url.Values) pgResp {
	c.t.Helper()
	return c.do("POST", path, form, nil)
}

func (r pgResp) must(t *testing.T, status int) pgResp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", r.req, r.Status, status, pgText(r.Body))
	}
	return r
}

func (r pgResp) redirectsTo(t *testing.T, prefix string) pgResp {
	t.Helper()
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), prefix) {
		t.Fatalf("%s: status %d to %q, want 303 to %s\n%s", r.req, r.Status, r.Header.Get("Location"), prefix, pgText(r.Body))
	}
	return r
}

func (r pgResp) contains(t *testing.T, subs ...string) pgResp {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("%s: page lacks %q\n%s", r.req, s, pgText(r.Body))
		}
	}
	return r
}

func (r pgResp) lacks(t *testing.T, subs ...string) pgResp {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(r.Body, s) {
			t.Fatalf("%s: page contains %q", r.req, s)
		}
	}
	return r
}

var pgTags = regexp.MustCompile(`(?s)<[^>]*>`)
var pgSpace = regexp.MustCompile(`\s+`)

// pgText is a page's visible text, for failure messages.
func pgText(html string) string {
	s := pgSpace.ReplaceAllString(pgTags.ReplaceAllString(html, " "), " ")
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}

const pgCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var (
	pgInlineScript = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`)
	pgStyleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	pgEventAttr    = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
)

// checkPageHeaders checks the security headers every page carries, and
// that its HTML has no inline script or style.
func checkPageHeaders(t *testing.T, r pgResp) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": pgCSP,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", r.req, k, got, v)
		}
	}
	if r.Status == http.StatusSeeOther {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", r.req, ct)
	}
	for _, tag := range pgInlineScript.FindAllString(r.Body, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("%s: inline script %s", r.req, tag)
		}
	}
	if strings.Contains(strings.ToLower(r.Body), "<style") || pgStyleAttr.MatchString(r.Body) {
		t.Errorf("%s: inline style", r.req)
	}
	if m := pgEventAttr.FindString(r.Body); m != "" {
		t.Errorf("%s: inline event handler %q", r.req, m)
	}
}

// pgSignIn signs in through the sign-in form of slug and expects to land
// on account settings.
func pgSignIn(t *testing.T, c *pgClient, slug, email, password string) {
	t.Helper()
	c.get("/w/"+slug+"/sign-in").must(t, 200)
	c.post("/w/"+slug+"/sign-in", url.Values{"email": {email}, "password": {password}}).redirectsTo(t, "/account")
}

var pgUserLink = regexp.MustCompile(`href="/admin/users/([A-Za-z0-9_-]+)"`)

// TestPagesRolesAndHeaders opens every page as each role and signed out,
// on each database: what each may see, the headers of every answer, and no
// inline script or style anywhere.
func TestPagesRolesAndHeaders(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { pagesRolesAndHeaders(t, d) })
	}
}

func pagesRolesAndHeaders(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, adminTok := e.workspace("acme")
	adminID := e.call("GET", "/api/v1/me", adminTok, nil).must(t, 200).str("id")
	uaID := e.invite(adminTok, "ua@acme.test", "user_admin", "velvet lantern canyon 42")
	memberID := e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")

	clients := map[string]*pgClient{}
	for role, cred := range map[string][2]string{
		"workspace_admin": {"admin@acme.test", adminPassword},
		"user_admin":      {"ua@acme.test", "velvet lantern canyon 42"},
		"member":          {"mem@acme.test", "orchid tractor meadow 9"},
	} {
		c := newPgClient(t, e.srv.URL)
		pgSignIn(t, c, "acme", cred[0], cred[1])
		clients[role] = c
	}
	clients["signed_out"] = newPgClient(t, e.srv.URL)

	// want: role → status (0 = redirect to sign in).
	type want map[string]int
	all := want{"workspace_admin": 200, "user_admin": 200, "member": 200, "signed_out": 0}
	admins := want{"workspace_admin": 200, "user_admin": 200, "member": 403, "signed_out": 0}
	pages := []struct {
		path string
		want want
	}{
		{"/account", all},
		{"/admin/users", admins},
		{"/admin/users?mfa=disabled&role=member", admins},
		{"/admin/users/" + memberID, admins},
		{"/admin/users/" + memberID + "/reset-mfa", admins},
		{"/admin/users/" + memberID + "/delete", admins},
		{"/admin/users/" + adminID + "/reset-mfa", want{"workspace_admin": 403, "user_admin": 403, "member": 403, "signed_out": 0}},
		{"/admin/users/" + uaID, admins},
		{"/admin/users/nope", want{"workspace_admin": 404, "user_admin": 404, "member": 403, "signed_out": 0}},
		{"/admin/workspace", admins},
		{"/admin/audit", admins},
		{"/admin/audit?type=user.sign_in", admins},
	}
	for _, p := range pages {
		for role, status := range p.want {
			r := clients[role].get(p.path)
			checkPageHeaders(t, r)
			if status == 0 {
				r.redirectsTo(t, "/")
				continue
			}
			r.must(t, status)
			if status == 403 {
				r.lacks(t, `id="users"`, "reset-consequences", `class="facts"`)
			}
		}
	}

	// Members don't see the console; user admins don't see controls the
	// service would refuse them.
	clients["member"].get("/account").must(t, 200).lacks(t, `href="/admin/users"`)
	clients["user_admin"].get("/account").must(t, 200).contains(t, `href="/admin/users"`)
	clients["user_admin"].get("/admin/workspace").must(t, 200).lacks(t, `name="require_mfa"`)
	clients["workspace_admin"].get("/admin/workspace").must(t, 200).contains(t, `name="require_mfa"`, `href="/admin/users?mfa=disabled"`)
	clients["user_admin"].get("/admin/users/"+adminID).must(t, 200).lacks(t, "/reset-mfa", `name="role"`)
	clients["user_admin"].get("/admin/users/"+memberID).must(t, 200).contains(t, "/reset-mfa", `name="role"`).
		lacks(t, `value="workspace_admin"`)
	clients["workspace_admin"].get("/admin/users/"+memberID).must(t, 200).contains(t, `value="workspace_admin"`)
	// The admin list shows MFA status and links to each user.
	list := clients["workspace_admin"].get("/admin/users").must(t, 200)
	if n := len(pgUserLink.FindAllString(list.Body, -1)); n != 3 {
		t.Fatalf("user list links %d users, want 3", n)
	}
	// The audit log names its actors by email, not by id.
	clients["workspace_admin"].get("/admin/audit").must(t, 200).contains(t, `href="/admin/audit?actor=`+adminID+`">admin@acme.test</a>`)
	// The audit export link reaches the NDJSON API with the cookie.
	exp := clients["workspace_admin"].get("/api/v1/admin/audit-events/export")
	if exp.Status != 200 || !strings.Contains(exp.Header.Get("Content-Type"), "ndjson") || !strings.Contains(exp.Body, `"user.sign_in"`) {
		t.Fatalf("export: %d %s %.200s", exp.Status, exp.Header.Get("Content-Type"), exp.Body)
	}

	// Public pages and errors carry the same headers.
	out := clients["signed_out"]
	for _, p := range []struct {
		path   string
		status int
	}{
		{"/", 200}, {"/w/acme/sign-in", 200}, {"/w/acme/password-reset", 200}, {"/w/acme/password-reset?sent=1", 200},
		{"/setup/" + strings.Repeat("x", 43), 200}, {"/invitations/" + strings.Repeat("x", 43), 404},
		{"/password-reset/nope", 404}, {"/no/such/page", 404}, {"/w/Bad_Slug!/sign-in", 404},
		{"/w/acme/sign-in/code", 303}, {"/w/acme/sign-in/enroll", 303},
	} {
		r := out.get(p.path).must(t, p.status)
		checkPageHeaders(t, r)
	}
	// The root page of a signed-in user goes to their account.
	clients["member"].get("/").redirectsTo(t, "/account")

	out.get("/static/").must(t, 404)
	// Static files exist and are not sniffed.
	for _, f := range []string{"/static/style.css", "/static/app.js", "/static/icon.svg"} {
		r := out.get(f).must(t, 200)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", f)
		}
	}

	// Signing out ends the session and goes back to the workspace's sign-in.
	m := clients["member"]
	m.post("/sign-out", nil).redirectsTo(t, "/w/acme/sign-in")
	m.get("/account").redirectsTo(t, "/w/acme/sign-in")
}

// TestPagesCrossOrigin: a form posted from another site is refused before
// any handler runs, signed in or not.
func TestPagesCrossOrigin(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.workspace("acme")
	c := newPgClient(t, e.srv.URL)
	pgSignIn(t, c, "acme", "admin@acme.test", adminPassword)
	evil := http.Header{"Origin": {"https://evil.test"}}
	for _, p := range []string{"/w/acme/sign-in", "/sign-out", "/account/profile", "/admin/workspace", "/admin/users"} {
		r := c.do("POST", p, url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}, "name": {"Mallory"}}, evil)
		if r.Status != http.StatusForbidden {
			t.Errorf("cross-origin POST %s: %d, want 403", p, r.Status)
		}
	}
	fetch := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	if r := c.do("POST", "/account/profile", url.Values{"name": {"Mallory"}}, fetch); r.Status != http.StatusForbidden {
		t.Errorf("Sec-Fetch-Site cross-site: %d", r.Status)
	}
	// Same-origin still works, and the name was never changed.
	same := http.Header{"Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}
	c.do("POST", "/account/profile", url.Values{"name": {"Ada"}, "locale": {""}}, same).redirectsTo(t, "/account")
	c.get("/account").must(t, 200).contains(t, `value="Ada"`).lacks(t, "Mallory")
}

// TestPagesSessionCookie: the session cookie's attributes, a new token at
// each step, and the __Host- cookie under https.
func TestPagesSessionCookie(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	seed, _ := e.enroll(&adminTok, "phone")

	// Plain-http development: no Secure, no __Host- prefix.
	c := newPgClient(t, e.srv.URL)
	u, _ := url.Parse(e.srv.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sekisho_session", Value: "planted-by-attacker", Path: "/"}})
	r := c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
	flow := pgSetCookie(r, "sekisho_flow")
	if flow == nil || !flow.HttpOnly || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Fatalf("flow cookie: %+v", flow)
	}
	if pgSetCookie(r, "sekisho_session") != nil {
		t.Fatal("a session cookie before the second factor")
	}
	r = c.post("/w/acme/sign-in/code", url.Values{"code": {e.code(seed)}}).redirectsTo(t, "/account")
	sc := pgSetCookie(r, "sekisho_session")
	if sc == nil || !sc.HttpOnly || sc.Secure || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Value == "planted-by-attacker" {
		t.Fatalf("session cookie: %+v", sc)
	}
	// A lifetime, not a date: the server's clock here is days from the
	// browser's, and the session still lasts its 24 hours.
	if sc.MaxAge != 24*3600 || !sc.Expires.IsZero() {
		t.Fatalf("session cookie lifetime: Max-Age %d, Expires %v", sc.MaxAge, sc.Expires)
	}
	if raw := strings.Join(r.Header.Values("Set-Cookie"), "\n"); !strings.Contains(raw, "SameSite=Lax") {
		t.Fatalf("Set-Cookie: %s", raw)
	}
	c.get("/account").must(t, 200)

	// https: the __Host- cookie with Secure.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := httptest.NewServer(web.NewServer(e.svc, e.db, log, web.Options{BaseURL: "https://sekisho.test"}))
	t.Cleanup(hs.Close)
	h := newPgClient(t, hs.URL)
	r = h.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
	if f := pgSetCookie(r, "__Host-sekisho_flow"); f == nil || !f.Secure || f.Path != "/" || f.Domain != "" {
		t.Fatalf("https flow cookie: %+v", f)
	}
	// The jar won't send Secure cookies over http; the flow goes on by hand.
	flowVal := pgSetCookie(r, "__Host-sekisho_flow").Value
	r = h.do("POST", "/w/acme/sign-in/code", url.Values{"code": {e.code(seed)}},
		http.Header{"Cookie": {"__Host-sekisho_flow=" + flowVal}}).redirectsTo(t, "/account")
	sc = pgSetCookie(r, web.SessionCookie)
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
		t.Fatalf("https session cookie: %+v", sc)
	}
	acct := h.do("GET", "/account", nil, http.Header{"Cookie": {web.SessionCookie + "=" + sc.Value}}).must(t, 200)
	checkPageHeaders(t, acct)
	// The dev cookie name means nothing to an https server. (A fresh
	// client: Go's jar, like browsers, treats loopback as secure.)
	newPgClient(t, hs.URL).do("GET", "/account", nil, http.Header{"Cookie": {"sekisho_session=" + sc.Value}}).redirectsTo(t, "/")
}

func pgSetCookie(r pgResp, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestPagesSignInFlows walks the sign-in pages without JavaScript on each
// database: wrong password, second factor (wrong, then right), recovery
// code, and forced enrollment under a required policy.
func TestPagesSignInFlows(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { pagesSignInFlows(t, d) })
	}
}

func pagesSignInFlows(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, adminTok := e.workspace("acme")
	seed, codes := e.enroll(&adminTok, "phone")
	c := newPgClient(t, e.srv.URL)

	// A wrong password: the message in the form, the email kept.
	r := c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {"wrong password here"}}).must(t, 401)
	r.contains(t, "The email or password is not right.", `value="admin@acme.test"`, `role="alert"`)
	checkPageHeaders(t, r)

	// Second factor: a wrong code shows beside the field.
	c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
	page := c.get("/w/acme/sign-in/code").must(t, 200)
	page.contains(t, `autocomplete="one-time-code"`, `inputmode="numeric"`, `href="/w/acme/sign-in/recovery"`)
	checkPageHeaders(t, page)
	bad := c.post("/w/acme/sign-in/code", url.Values{"code": {"000000"}}).must(t, 401)
	bad.contains(t, `id="code-error"`, `aria-describedby="code-error"`, `aria-invalid="true"`, "That code is not right")
	code := e.code(seed)
	c.post("/w/acme/sign-in/code", url.Values{"code": {code[:3] + " " + code[3:]}}).redirectsTo(t, "/account")
	c.get("/account").must(t, 200).contains(t, "admin@acme.test")
	c.post("/sign-out", nil).redirectsTo(t, "/w/acme/sign-in")

	// A recovery code instead, which notes how many are left.
	c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
	c.get("/w/acme/sign-in/recovery").must(t, 200)
	c.post("/w/acme/sign-in/recovery", url.Values{"recovery_code": {strings.ToLower(codes[0])}}).redirectsTo(t, "/account")
	c.get("/account").must(t, 200).contains(t, "You signed in with a recovery code; 9 left", "9 of 10 recovery codes unused")

	// Require MFA with no grace period: a member without MFA is walked
	// through enrollment by the pages and lands signed in.
	e.invite(adminTok, "new@acme.test", "member", "saffron kettle harbor 5")
	admin := pgSignInMFA(e, "acme", "admin@acme.test", adminPassword, seed)
	e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}).must(t, 200)
	m := newPgClient(t, e.srv.URL)
	m.post("/w/acme/sign-in", url.Values{"email": {"new@acme.test"}, "password": {"saffron kettle harbor 5"}}).redirectsTo(t, "/w/acme/sign-in/enroll")
	m.get("/account").redirectsTo(t, "/") // no session yet
	m.get("/w/acme/sign-in/enroll").must(t, 200).contains(t, "Your workspace requires multi-factor authentication")
	qr := m.post("/w/acme/sign-in/enroll", nil).must(t, 200)
	qr.contains(t, `src="data:image/png;base64,`, `autocomplete="one-time-code"`)
	checkPageHeaders(t, qr)
	secret := strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", "")
	uri := pgFind(t, qr.Body, `name="uri" value="([^"]+)"`)
	newSeed := decodeSeed(t, secret)
	wrong := m.post("/w/acme/sign-in/enroll/confirm", url.Values{"code": {"123456"}, "uri": {pgUnescape(uri)}}).must(t, 401)
	wrong.contains(t, `src="data:image/png;base64,`, "That code is not right")
	done := m.post("/w/acme/sign-in/enroll/confirm", url.Values{"code": {totp.Code(newSeed, totp.StepAt(e.clock.Now()))}, "uri": {pgUnescape(uri)}}).must(t, 200)
	done.contains(t, `id="recovery-codes"`, `download="sekisho-recovery-codes.txt"`, `href="data:text/plain;charset=utf-8,`)
	if n := strings.Count(pgFind(t, done.Body, `(?s)<ol class="codes" id="recovery-codes">(.*?)</ol>`), "<li>"); n != 10 {
		t.Fatalf("%d recovery codes shown", n)
	}
	if pgSetCookie(done, "sekisho_session") == nil {
		t.Fatal("no session after enrollment")
	}
	m.get("/account").must(t, 200).contains(t, "new@acme.test", "Authenticator app")
}

// signInMFA signs in with password and TOTP over the API.
func pgSignInMFA(e *env, slug, email, password string, seed []byte) string {
	e.t.Helper()
	r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": slug, "email": email, "password": password}).must(e.t, 200)
	r2 := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(seed)}).must(e.t, 200)
	return r2.str("session_token")
}

func pgFind(t *testing.T, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in page\n%s", pattern, pgText(body))
	}
	return m[1]
}

// pgUnescape undoes html/template's escaping of an attribute value.
func pgUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">")
	return r.Replace(s)
}

// TestPagesAccountAndAdminForms: settings forms post back with errors
// beside their fields and redirect on success; re-authentication is asked
// for once the last proof is old; the policy switch says why it refuses.
func TestPagesAccountAndAdminForms(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	memberID := e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")
	c := newPgClient(t, e.srv.URL)
	pgSignIn(t, c, "acme", "admin@acme.test", adminPassword)

	c.post("/account/profile", url.Values{"name": {"Admin"}, "locale": {""}}).redirectsTo(t, "/account")
	// Password change: wrong current password, then a too-short new one;
	// the rest of the page keeps its values.
	c.post("/account/password", url.Values{"current_password": {"nope nope nope"}, "new_password": {"x"}}).must(t, 400).
		contains(t, `id="current_password-error"`, "The password is not right.")
	c.post("/account/password", url.Values{"current_password": {adminPassword}, "new_password": {"short"}}).must(t, 400).
		contains(t, `id="new_password-error"`, "Use at least 12 characters.", `id="name" name="name" type="text" autocomplete="name" maxlength="100" value="Admin"`)

	// An admin without MFA can't require it, and is told why.
	r := c.post("/admin/workspace", url.Values{"require_mfa": {"on"}, "mfa_grace_days": {"7"}}).must(t, 409)
	r.contains(t, `id="require_mfa-error"`, "Set up multi-factor authentication for your own account before requiring it")
	c.post("/admin/workspace", url.Values{"mfa_grace_days": {"120"}}).must(t, 400).contains(t, `id="mfa_grace_days-error"`)

	// Invitation: the link is shown once.
	inv := c.post("/admin/users", url.Values{"invite_email": {"fresh@acme.test"}, "invite_role": {"member"}}).must(t, 201)
	link := pgFind(t, inv.Body, `id="invitation-link">([^<]+)<`)
	if !strings.Contains(link, "/invitations/") {
		t.Fatalf("invitation link %q", link)
	}
	c.post("/admin/users", url.Values{"invite_email": {"fresh@acme.test"}, "invite_role": {"member"}}).must(t, 409).
		contains(t, `id="invite_email-error"`)
	// The invited user sets a password on the invitation page.
	tok := link[strings.LastIndex(link, "/")+1:]
	n := newPgClient(t, e.srv.URL)
	n.get("/invitations/"+tok).must(t, 200).contains(t, "fresh@acme.test", "ACME")
	n.post("/invitations/"+tok, url.Values{"password": {"acme"}}).must(t, 400).contains(t, `id="password-error"`)
	n.post("/invitations/"+tok, url.Values{"password": {"wombat juniper sextant 3"}}).redirectsTo(t, "/w/acme/sign-in")
	pgSignIn(t, n, "acme", "fresh@acme.test", "wombat juniper sextant 3")

	// Time passes: sensitive forms now ask for the password.
	e.clock.Add(6 * time.Minute)
	c.get("/account").must(t, 200).contains(t, `id="totp_password"`)
	c.post("/account/mfa/totp", url.Values{"totp_name": {"phone"}}).must(t, 403).contains(t, `id="totp_password-error"`)
	c.post("/account/mfa/totp", url.Values{"totp_name": {"phone"}, "password": {"wrong wrong wrong"}}).must(t, 401).
		contains(t, "The password is not right.")
	qr := c.post("/account/mfa/totp", url.Values{"totp_name": {"phone"}, "password": {adminPassword}}).must(t, 200)
	action := pgFind(t, qr.Body, `action="(/account/mfa/totp/[^"]+/confirm)"`)
	seed := decodeSeed(t, strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", ""))
	c.post(action, url.Values{"code": {totp.Code(seed, totp.StepAt(e.clock.Now()))}}).must(t, 200).contains(t, `id="recovery-codes"`)

	// The reset page says what will happen, then the flash says it did.
	e.clock.Add(6 * time.Minute)
	rp := c.get("/admin/users/"+memberID+"/reset-mfa").must(t, 200)
	rp.contains(t, `id="reset-consequences"`, "signed out of every session", "stays as it is", `id="password"`)
	c.post("/admin/users/"+memberID+"/reset-mfa", url.Values{"password": {adminPassword}}).redirectsTo(t, "/admin/users/"+memberID)
	c.get("/admin/users/"+memberID).must(t, 200).contains(t, "Multi-factor authentication was reset")

	// The last workspace admin can't demote themselves.
	adminID := pgFind(t, c.get("/admin/users?role=workspace_admin").Body, `href="/admin/users/([A-Za-z0-9_-]+)"`)
	c.post("/admin/users/"+adminID, url.Values{"action": {"role"}, "role": {"member"}}).must(t, 409).
		contains(t, `id="role-error"`, "at least one active workspace admin")
}

// TestPagesLanguages: Accept-Language, the ?lang switch and its cookie,
// the user's saved language, and Japanese error messages.
func TestPagesLanguages(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.workspace("acme")
	c := newPgClient(t, e.srv.URL)
	c.header.Set("Accept-Language", "fr-CA, ja;q=0.8, en;q=0.5")
	r := c.get("/w/acme/sign-in").must(t, 200)
	r.contains(t, `<html lang="ja">`, "サインイン", "パスワードをお忘れの場合")
	if r.Header.Get("Content-Language") != "ja" {
		t.Errorf("Content-Language %q", r.Header.Get("Content-Language"))
	}
	c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {"wrong password here"}}).must(t, 401).
		contains(t, "メールアドレスまたはパスワードが正しくありません。")

	// The switcher: ?lang=en remembers English over the browser's Japanese.
	c.get("/w/acme/sign-in?lang=en").redirectsTo(t, "/w/acme/sign-in")
	c.get("/w/acme/sign-in").must(t, 200).contains(t, `<html lang="en">`, "Forgot your password?")
	c.get("/w/acme/sign-in?lang=ja").redirectsTo(t, "/w/acme/sign-in")
	c.get("/w/acme/sign-in").must(t, 200).contains(t, `<html lang="ja">`)

	// A saved language wins over the cookie and the browser.
	pgSignIn(t, c, "acme", "admin@acme.test", adminPassword)
	c.post("/account/profile", url.Values{"name": {"Admin"}, "locale": {"en"}}).redirectsTo(t, "/account")
	c.get("/account").must(t, 200).contains(t, `<html lang="en">`, "Account settings", "Profile saved.")
	c.post("/account/profile", url.Values{"name": {"Admin"}, "locale": {"ja"}}).redirectsTo(t, "/account")
	c.header.Set("Accept-Language", "en")
	c.get("/account").must(t, 200).contains(t, `<html lang="ja">`, "アカウント設定", "多要素認証", "認証アプリ")
	c.get("/admin/workspace").must(t, 200).contains(t, "ワークスペース設定", "多要素認証を必須にする", "セキュリティ")
	c.get("/admin/users").must(t, 200).contains(t, "ユーザー管理", "ワークスペース管理者")
}

// TestPagesCatalogs: both catalogs have the same keys, and every key the
// templates and the page code use is in them.
func TestPagesCatalogs(t *testing.T) {
	cats := map[string]map[string]string{}
	for _, lang := range web.Languages {
		b, err := os.ReadFile(filepath.Join("i18n", lang+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s.json: %v", lang, err)
		}
		for k, v := range m {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s.json: %s is empty", lang, k)
			}
		}
		cats[lang] = m
	}
	en := cats["en"]
	for lang, m := range cats {
		for k := range en {
			if _, ok := m[k]; !ok {
				t.Errorf("%s.json lacks %s", lang, k)
			}
		}
		for k := range m {
			if _, ok := en[k]; !ok {
				t.Errorf("%s.json has %s, which en.json lacks", lang, k)
			}
		}
	}

	used := map[string]string{}
	tKey := regexp.MustCompile(`\bt "([^"]+)"`)
	files, _ := filepath.Glob(filepath.Join("templates", "*.html"))
	if len(files) < 10 {
		t.Fatalf("only %d templates found", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range tKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
		// No words in templates outside the catalogs: text between tags is
		// only template actions, punctuation or numbers.
		text := regexp.MustCompile(`\{\{define "width"\}\}\w+\{\{end\}\}`).ReplaceAllString(string(b), "")
		text = regexp.MustCompile(`(?s)\{\{.*?\}\}`).ReplaceAllString(text, "")
		text = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(text, "\n")
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if regexp.MustCompile(`\pL{2,}`).MatchString(line) {
				t.Errorf("%s: literal text %q; use t", f, line)
			}
		}
	}
	// Keys the Go code uses.
	goKey := regexp.MustCompile(`"((?:flash|error_page|codes|error)\.[a-z0-9_.]+)"`)
	gofiles, _ := filepath.Glob("pages*.go")
	for _, f := range gofiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
	}
	// Keys built from values: roles, statuses, audit results and actors.
	for _, k := range []string{"role.workspace_admin", "role.user_admin", "role.member", "status.invited", "status.active",
		"status.disabled", "result.success", "result.failure", "result.denied", "actor.user", "actor.operator",
		"actor.anonymous", "actor.system"} {
		used[k] = "(values)"
	}
	var missing []string
	for k, f := range used {
		if _, ok := en[k]; !ok {
			missing = append(missing, k+" ("+f+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("key not in the catalogs: %s", m)
	}
}

// TestPagesSelfService: the forgotten password, the grace-period banner,
// signing out another session, and removing one's own MFA, on each
// database.
func TestPagesSelfService(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { pagesSelfService(t, d) })
	}
}

func pagesSelfService(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, adminTok := e.workspace("acme")
	e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")

	// Forgot password: the same answer for an unknown email; the link
	// from the email sets a new password.
	c := newPgClient(t, e.srv.URL)
	c.post("/w/acme/password-reset", url.Values{"email": {"nobody@acme.test"}}).redirectsTo(t, "/w/acme/password-reset?sent=1")
	c.post("/w/acme/password-reset", url.Values{"email": {"mem@acme.test"}}).redirectsTo(t, "/w/acme/password-reset?sent=1")
	c.get("/w/acme/password-reset?sent=1").must(t, 200).contains(t, "Check your email.")
	m, ok := e.mail.Last("mem@acme.test")
	if !ok {
		t.Fatal("no reset email")
	}
	tok := linkToken.FindStringSubmatch(m.Text)
	if tok == nil || tok[1] != "password-reset" {
		t.Fatalf("no reset link in %q", m.Text)
	}
	c.get("/password-reset/"+tok[2]).must(t, 200).contains(t, "mem@acme.test")
	c.post("/password-reset/"+tok[2], url.Values{"password": {"short"}}).must(t, 400).contains(t, `id="password-error"`)
	c.post("/password-reset/"+tok[2], url.Values{"password": {"copper meadow lantern 21"}}).redirectsTo(t, "/w/acme/sign-in")
	c.get("/w/acme/sign-in").must(t, 200).contains(t, "Your password was changed.")
	c.get("/password-reset/"+tok[2]).must(t, 404)
	pgSignIn(t, c, "acme", "mem@acme.test", "copper meadow lantern 21")

	// A second browser; the first signs it out from the session list.
	c2 := newPgClient(t, e.srv.URL)
	pgSignIn(t, c2, "acme", "mem@acme.test", "copper meadow lantern 21")
	acct := c.get("/account").must(t, 200)
	revokes := regexp.MustCompile(`action="(/account/sessions/[^"]+/revoke)"`).FindAllStringSubmatch(acct.Body, -1)
	if len(revokes) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(revokes))
	}
	mine := pgFind(t, acct.Body, `(?s)This device.*?action="(/account/sessions/[^"]+/revoke)"`)
	for _, r := range revokes {
		if r[1] != mine {
			c.post(r[1], nil).redirectsTo(t, "/account")
		}
	}
	c2.get("/account").redirectsTo(t, "/w/acme/sign-in")
	c.get("/account").must(t, 200).contains(t, "That session was signed out.")

	// Require MFA with a grace period: the member sees the deadline, and
	// can't remove their only factor once they have one.
	seed, _ := e.enroll(&adminTok, "phone")
	_ = seed
	e.call("PATCH", "/api/v1/admin/workspace", adminTok, map[string]any{"require_mfa": true, "mfa_grace_days": 7}).must(t, 200)
	page := c.get("/account").must(t, 200)
	page.contains(t, `class="banner"`, "Dec 2, 2026 09:00 UTC", `href="/account#mfa"`)
	qr := c.post("/account/mfa/totp", url.Values{"totp_name": {"phone"}}).must(t, 200)
	action := pgFind(t, qr.Body, `action="(/account/mfa/totp/[^"]+/confirm)"`)
	mseed := decodeSeed(t, strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", ""))
	c.post(action, url.Values{"code": {totp.Code(mseed, totp.StepAt(e.clock.Now()))}}).must(t, 200).contains(t, `id="recovery-codes"`)
	c.get("/account").must(t, 200).lacks(t, `class="banner"`, `href="/account/mfa/remove"`)
	c.get("/account/mfa/remove").must(t, 200).contains(t, "requires multi-factor authentication, so it can").lacks(t, `class="btn btn-danger"`)
	c.post("/account/mfa/remove", nil).must(t, 409)
	remove := pgFind(t, c.get("/account").Body, `href="(/account/mfa/totp/[^"]+/remove)"`)
	c.get(remove).must(t, 200).contains(t, "this is your only authenticator app")

	// With the policy off again, the member removes it all.
	e.call("PATCH", "/api/v1/admin/workspace", adminTok, map[string]any{"require_mfa": false}).must(t, 200)
	c.get("/account").must(t, 200).contains(t, `href="/account/mfa/remove"`)
	c.post("/account/mfa/remove", nil).redirectsTo(t, "/account")
	c.get("/account").must(t, 200).contains(t, "Multi-factor authentication was removed.", "No authenticator app yet.")
}

// TestPagesUserAdmin: paging through the user list by cursor, and
// disabling, enabling and deleting a user from the detail page.
func TestPagesUserAdmin(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	var last string
	for i := 0; i < 52; i++ {
		r := e.call("POST", "/api/v1/admin/users", adminTok, map[string]string{"email": "u" + strings.Repeat("0", 2-len(itoa(i))) + itoa(i) + "@acme.test"}).must(t, 201)
		last = r.Body["user"].(map[string]any)["id"].(string)
	}
	c := newPgClient(t, e.srv.URL)
	pgSignIn(t, c, "acme", "admin@acme.test", adminPassword)

	first := c.get("/admin/users?status=invited").must(t, 200)
	next := pgUnescape(pgFind(t, first.Body, `href="(/admin/users\?[^"]*cursor=[^"]+)" rel="next"`))
	if !strings.Contains(next, "status=invited") {
		t.Fatalf("the next page link %q drops the filter", next)
	}
	n1 := len(pgUserLink.FindAllString(first.Body, -1))
	second := c.get(next).must(t, 200).contains(t, `href="/admin/users?status=invited"`)
	n2 := len(pgUserLink.FindAllString(second.Body, -1))
	if n1 != 50 || n2 != 2 || strings.Contains(second.Body, `rel="next"`) {
		t.Fatalf("pages of %d and %d users", n1, n2)
	}
	c.get("/admin/users?cursor=not!a!cursor").must(t, 400).contains(t, "This page link is out of date")

	// Disable, enable and delete an active member.
	id := e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")
	m := newPgClient(t, e.srv.URL)
	pgSignIn(t, m, "acme", "mem@acme.test", "orchid tractor meadow 9")
	c.post("/admin/users/"+id, url.Values{"action": {"disable"}}).redirectsTo(t, "/admin/users/"+id)
	c.get("/admin/users/"+id).must(t, 200).contains(t, "Saved.", `value="enable"`)
	m.get("/account").redirectsTo(t, "/w/acme/sign-in")
	c.post("/admin/users/"+id, url.Values{"action": {"enable"}}).redirectsTo(t, "/admin/users/"+id)
	c.get("/admin/users/"+id+"/delete").must(t, 200).contains(t, "reset their multi-factor authentication instead")
	c.post("/admin/users/"+id+"/delete", nil).redirectsTo(t, "/admin/users")
	c.get("/admin/users").must(t, 200).contains(t, "User deleted.").lacks(t, "mem@acme.test")
	c.get("/admin/users/"+id).must(t, 404)
	// An invited user can't be enabled by an admin; the control isn't shown.
	c.get("/admin/users/"+last).must(t, 200).lacks(t, `value="enable"`, `value="disable"`)
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestPagesSecureCookies: cookies go without Secure only for a plain http
// base URL on this machine; any other http URL keeps them Secure (and
// __Host-), https of course too.
func TestPagesSecureCookies(t *testing.T) {
	e := newEnv(t, store.SQLite)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for base, secure := range map[string]bool{
		"http://localhost:8080":        false,
		"http://LOCALHOST":             false,
		"http://127.0.0.1:8080":        false,
		"http://127.8.9.10":            false,
		"http://[::1]:8080/":           false,
		"http://sekisho.example.com":   true,
		"http://10.0.0.5:8080":         true,
		"http://localhost.example.com": true,
		"http://127.0.0.1.nip.io":      true,
		"https://sekisho.example.com":  true,
		"https://localhost:8443":       true,
		"":                             true,
		"not a url":                    true,
	} {
		srv := httptest.NewServer(web.NewServer(e.svc, e.db, log, web.Options{BaseURL: base}))
		r := newPgClient(t, srv.URL).get("/?lang=ja")
		srv.Close()
		var c *http.Cookie
		for _, name := range []string{"sekisho_lang", "__Host-sekisho_lang"} {
			if c = pgSetCookie(r, name); c != nil {
				break
			}
		}
		if c == nil {
			t.Fatalf("%q: no language cookie: %v", base, r.Header.Values("Set-Cookie"))
		}
		if c.Secure != secure || strings.HasPrefix(c.Name, "__Host-") != secure {
			t.Errorf("base URL %q: cookie %s Secure=%v, want Secure=%v", base, c.Name, c.Secure, secure)
		}
	}
}

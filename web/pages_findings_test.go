package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
	"github.com/sekisho/sekisho/web"
)

// TestPagesWrongCodes: a wrong recovery code gets its own message, not the
// authenticator app's "wait for the next code"; five wrong codes end the
// sign-in and the sign-in page says so, not that it expired.
func TestPagesWrongCodes(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	seed, _ := e.enroll(&adminTok, "phone")
	_ = seed
	for _, lang := range []struct {
		accept, recovery, app, ended, expired string
	}{
		{"en", "That recovery code is not right", "Wait for the next code", "Too many wrong codes. Sign in again.", "has expired"},
		{"ja", "リカバリーコードが正しくないか", "次のコードが表示されてから", "誤ったコードが多すぎます。もう一度サインインしてください。", "有効期限が切れました"},
	} {
		c := newPgClient(t, e.srv.URL)
		c.header.Set("Accept-Language", lang.accept)
		c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
		r := c.post("/w/acme/sign-in/recovery", url.Values{"recovery_code": {"AAAA-BBBB-CCCC-DDDD"}}).must(t, 401)
		r.contains(t, lang.recovery, `id="recovery_code-error"`).lacks(t, lang.app)
		// The field with the error opens focused.
		r.contains(t, `aria-invalid="true" autofocus`)
		for i := 0; i < 3; i++ {
			c.post("/w/acme/sign-in/code", url.Values{"code": {"000000"}}).must(t, 401).contains(t, lang.app)
		}
		c.post("/w/acme/sign-in/code", url.Values{"code": {"000000"}}).redirectsTo(t, "/w/acme/sign-in")
		c.get("/w/acme/sign-in").must(t, 200).contains(t, lang.ended).lacks(t, lang.expired)
		// A sign-in that just ran out still says it expired.
		c.get("/w/acme/sign-in/code").redirectsTo(t, "/w/acme/sign-in")
		c.get("/w/acme/sign-in").must(t, 200).contains(t, lang.expired)
	}
}

// TestPagesDefaultAuthenticatorName: an authenticator added without a
// name, in account settings or when sign-in walks a user through setup,
// is named in the language of the page.
func TestPagesDefaultAuthenticatorName(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")
	e.invite(adminTok, "new@acme.test", "member", "saffron kettle harbor 5")
	auths := regexp.MustCompile(`(?s)<ul class="items" id="authenticators">.*?</ul>`)

	// Account settings, no name given.
	c := newPgClient(t, e.srv.URL)
	c.header.Set("Accept-Language", "ja")
	pgSignIn(t, c, "acme", "mem@acme.test", "orchid tractor meadow 9")
	qr := c.post("/account/mfa/totp", url.Values{"totp_name": {"  "}}).must(t, 200).contains(t, `<p class="eyebrow">認証アプリ</p>`)
	action := pgFind(t, qr.Body, `action="(/account/mfa/totp/[^"]+/confirm)"`)
	mseed := decodeSeed(t, strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", ""))
	c.post(action, url.Values{"code": {totp.Code(mseed, totp.StepAt(e.clock.Now()))}, "name": {"認証アプリ"}}).must(t, 200)
	if list := auths.FindString(c.get("/account").Body); !strings.Contains(list, `<strong class="auth-name">認証アプリ</strong>`) {
		t.Fatalf("authenticators after adding one without a name in Japanese:\n%s", list)
	}

	// Setup at sign-in under a required policy.
	seed, _ := e.enroll(&adminTok, "phone")
	admin := pgSignInMFA(e, "acme", "admin@acme.test", adminPassword, seed)
	e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}).must(t, 200)
	m := newPgClient(t, e.srv.URL)
	m.header.Set("Accept-Language", "ja")
	m.post("/w/acme/sign-in", url.Values{"email": {"new@acme.test"}, "password": {"saffron kettle harbor 5"}}).redirectsTo(t, "/w/acme/sign-in/enroll")
	qr = m.post("/w/acme/sign-in/enroll", nil).must(t, 200)
	nseed := decodeSeed(t, strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", ""))
	uri := pgUnescape(pgFind(t, qr.Body, `name="uri" value="([^"]+)"`))
	m.post("/w/acme/sign-in/enroll/confirm", url.Values{"code": {totp.Code(nseed, totp.StepAt(e.clock.Now()))}, "uri": {uri}}).must(t, 200)
	list := auths.FindString(m.get("/account").Body)
	if !strings.Contains(list, `<strong class="auth-name">認証アプリ</strong>`) || strings.Contains(list, "Authenticator app") {
		t.Fatalf("authenticators after setup at sign-in in Japanese:\n%s", list)
	}
	// Named so when it was made, not renamed afterwards.
	if evs := e.call("GET", "/api/v1/admin/audit-events?type=mfa.renamed", admin, nil).must(t, 200).Body["events"].([]any); len(evs) != 0 {
		t.Fatalf("the new authenticator was renamed after the fact: %v", evs)
	}
}

// auditTypeLiteral finds the event types the service writes: every quoted
// dotted lower-case literal in auth/ (they are all event types there), and
// the Type of an event the operator CLI writes itself (a literal, or a
// constant of its file).
var (
	auditTypeLiteral = regexp.MustCompile(`"([a-z_]+(?:\.[a-z_]+)+)"`)
	auditTypeField   = regexp.MustCompile(`AuditEvent\{[^}]*?Type:\s*(?:"([a-z_]+(?:\.[a-z_]+)+)"|(\w+))`)
	auditTypeConst   = regexp.MustCompile(`(\w+)\s*=\s*"([a-z_]+(?:\.[a-z_]+)+)"`)
	auditDetailMap   = regexp.MustCompile(`(?s)map\[string\]string\{(.*?)\}`)
	auditDetailField = regexp.MustCompile(`(?s)Details:\s*map\[string\]string\{(.*?)\}`)
	auditDetailKey   = regexp.MustCompile(`"([a-z_]+)":`)
	auditDetailIndex = regexp.MustCompile(`details\["([a-z_]+)"\]`)
)

// TestPagesAuditCatalog: every audit event type written anywhere, and
// every detail key the service records, has a label in both catalogs. (In
// auth/ every map[string]string is an event's details.)
func TestPagesAuditCatalog(t *testing.T) {
	types, details := map[string]string{}, map[string]string{}
	scan := func(glob string, typeRe, detailRe *regexp.Regexp) {
		files, _ := filepath.Glob(glob)
		if len(files) == 0 {
			t.Fatalf("no files %s", glob)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			consts := map[string]string{}
			for _, m := range auditTypeConst.FindAllStringSubmatch(string(b), -1) {
				consts[m[1]] = m[2]
			}
			for _, m := range typeRe.FindAllStringSubmatch(string(b), -1) {
				switch {
				case m[1] != "":
					types[m[1]] = f
				case len(m) > 2 && consts[m[2]] != "":
					types[consts[m[2]]] = f
				case len(m) > 2:
					t.Errorf("%s: an audit event of Type %s, which this test can't resolve to a string", f, m[2])
				}
			}
			for _, mm := range detailRe.FindAllStringSubmatch(string(b), -1) {
				for _, m := range auditDetailKey.FindAllStringSubmatch(mm[1], -1) {
					details[m[1]] = f
				}
			}
			for _, m := range auditDetailIndex.FindAllStringSubmatch(string(b), -1) {
				details[m[1]] = f
			}
		}
	}
	scan(filepath.Join("..", "auth", "*.go"), auditTypeLiteral, auditDetailMap)
	scan(filepath.Join("..", "cmd", "sekisho", "*.go"), auditTypeField, auditDetailField)
	for _, must := range []string{"mfa.reset", "user.sign_in", "workspace.policy_changed", "mfa.recovery_code_used"} {
		if _, ok := types[must]; !ok {
			t.Fatalf("the scan of auth/ missed %s: found %v", must, types)
		}
	}
	if len(details) < 10 {
		t.Fatalf("the scan found only detail keys %v", details)
	}
	for _, lang := range web.Languages {
		b, err := os.ReadFile(filepath.Join("i18n", lang+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var cat map[string]string
		if err := json.Unmarshal(b, &cat); err != nil {
			t.Fatal(err)
		}
		var missing []string
		for typ, f := range types {
			if _, ok := cat["audit.type."+typ]; !ok {
				missing = append(missing, "audit.type."+typ+" (written in "+f+")")
			}
		}
		for k, f := range details {
			if _, ok := cat["audit.detail."+k]; !ok {
				missing = append(missing, "audit.detail."+k+" (recorded in "+f+")")
			}
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s.json lacks %s", lang, m)
		}
	}
}

// TestPagesAuditLog: the audit log in Japanese names events, details and
// values in Japanese, keeps the raw type beside for support, filters by a
// list of types, and still filters by actor and target.
func TestPagesAuditLog(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	memberID := e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")
	e.call("DELETE", "/api/v1/admin/users/"+memberID+"/mfa", adminTok, nil)
	c := newPgClient(t, e.srv.URL)
	c.header.Set("Accept-Language", "ja")
	pgSignIn(t, c, "acme", "admin@acme.test", adminPassword)
	adminID := pgFind(t, c.get("/admin/users?role=workspace_admin").Body, `href="/admin/users/([A-Za-z0-9_-]+)"`)

	page := c.get("/admin/audit").must(t, 200)
	checkPageHeaders(t, page)
	page.contains(t,
		"監査ログ", `<select id="type" name="type">`, `<option value="">すべてのイベント</option>`,
		`<option value="mfa.reset">管理者が多要素認証を解除</option>`,
		`<a href="/admin/audit?type=user.invited">ユーザーを招待</a>`, `<code class="event-type">user.invited</code>`,
		`<span class="k">ロール</span> 一般ユーザー`,    // detail role=member
		`<span class="k">認証レベル</span> パスワードのみ`, // aal=aal1
		`<span class="k">メールアドレス</span> mem@acme.test`)
	page.lacks(t, `<span class="k">role</span>`, `<input id="type"`)
	if strings.Contains(page.Body, `>user.sign_in</a>`) {
		t.Fatal("an event type shows raw as the link")
	}

	// The type filter keeps its choice; actor and target links filter.
	f := c.get("/admin/audit?type=user.invited").must(t, 200)
	f.contains(t, `<option value="user.invited" selected>ユーザーを招待</option>`, `<code class="event-type">user.invited</code>`).
		lacks(t, `<code class="event-type">user.sign_in</code>`)
	c.get("/admin/audit?target="+memberID).must(t, 200).contains(t, `<code class="event-type">user.invited</code>`, `<code class="event-type">user.invitation_accepted</code>`).
		lacks(t, `<code class="event-type">workspace.created</code>`)
	c.get("/admin/audit?actor="+adminID).must(t, 200).contains(t, `<code class="event-type">user.invited</code>`).
		lacks(t, `<code class="event-type">user.invitation_accepted</code>`)
	// A type the catalogs don't know still filters, shown as it is.
	c.get("/admin/audit?type=no.such").must(t, 200).contains(t, `<option value="no.such" selected>no.such</option>`, "監査ログ")
}

// TestPagesCrossOriginPage: a cross-origin form post to a page is refused
// with an error page in the visitor's language; the API keeps its JSON.
func TestPagesCrossOriginPage(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.workspace("acme")
	c := newPgClient(t, e.srv.URL)
	evil := http.Header{"Origin": {"https://evil.test"}, "Accept-Language": {"ja"}}
	r := c.do("POST", "/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}}, evil).must(t, 403)
	checkPageHeaders(t, r)
	r.contains(t, `<html lang="ja">`, "ほかのサイトから送信されたため", "エラー 403")
	a := c.do("POST", "/api/v1/sign-in", url.Values{"email": {"admin@acme.test"}}, evil).must(t, 403)
	if !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") || !strings.Contains(a.Body, `"cross_origin_request"`) {
		t.Fatalf("API cross-origin answer: %s %s", a.Header.Get("Content-Type"), a.Body)
	}
}

// TestPagesSmallFixes: the language links keep the query; one user
// without MFA is one user; the note about the last authenticator shows
// only to someone who has one.
func TestPagesSmallFixes(t *testing.T) {
	e := newEnv(t, store.SQLite)
	_, adminTok := e.workspace("acme")
	c := newPgClient(t, e.srv.URL)
	c.get("/w/acme/password-reset?sent=1").must(t, 200).contains(t, `href="?lang=ja&amp;sent=1"`, `href="?lang=en&amp;sent=1"`)
	c.get("/w/acme/password-reset?sent=1&lang=ja").redirectsTo(t, "/w/acme/password-reset?sent=1")
	c.get("/w/acme/sign-in").must(t, 200).contains(t, `href="?lang=ja"`)

	e.invite(adminTok, "mem@acme.test", "member", "orchid tractor meadow 9")
	seed, _ := e.enroll(&adminTok, "phone")
	a := newPgClient(t, e.srv.URL)
	a.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
	a.post("/w/acme/sign-in/code", url.Values{"code": {e.code(seed)}}).redirectsTo(t, "/account")
	a.get("/admin/workspace").must(t, 200).contains(t, "user has not set up multi-factor authentication yet.").lacks(t, "users have not")

	e.call("PATCH", "/api/v1/admin/workspace", adminTok, map[string]any{"require_mfa": true, "mfa_grace_days": 7}).must(t, 200)
	m := newPgClient(t, e.srv.URL)
	pgSignIn(t, m, "acme", "mem@acme.test", "orchid tractor meadow 9")
	m.get("/account").must(t, 200).contains(t, "No authenticator app yet.").lacks(t, "so your last authenticator app can")
	a.get("/account").must(t, 200).contains(t, "so your last authenticator app can")
}

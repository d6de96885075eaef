package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/store"
)

// The web pages in a real headless Chromium (Debian's /usr/bin/chromium),
// clicking and typing as people do. TOTP codes come from Debian's oathtool
// for the secret shown on the page, at the server's injected clock.
//
// Screenshots go to a temporary folder, or to docs/screenshots with
// SEKISHO_UPDATE_SCREENSHOTS=1.

const chromiumPath = "/usr/bin/chromium"

// newChromium starts one headless Chromium for the test and returns its
// context. It fails, never skips, when Chromium or oathtool is missing.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: install the Debian package chromium (apt-get install chromium): %v", chromiumPath, err)
	}
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatalf("the browser tests need oathtool: install the Debian package oathtool (apt-get install oathtool): %v", err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return browser
}

// bTab is one person's browser: its own cookies (a browser context of its
// own) in one tab.
type bTab struct {
	t     *testing.T
	e     *env
	ctx   context.Context
	who   string
	shots string
}

func newTab(t *testing.T, browser context.Context, e *env, who, shots string) *bTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// No scroll bars: they would take width from the page in screenshots.
	hide := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 860), hide); err != nil {
		t.Fatal(err)
	}
	return &bTab{t: t, e: e, ctx: ctx, who: who, shots: shots}
}

// do runs steps with a time limit; on failure it saves a screenshot.
func (b *bTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.failed(what, err)
	}
}

func (b *bTab) failed(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		p := filepath.Join(b.t.TempDir(), "failure.png")
		os.WriteFile(p, png, 0o644)
		b.t.Logf("screenshot of the failure: %s", p)
	}
	b.t.Fatalf("%s: %s: %v\nat %s\n%s", b.who, what, err, loc, text)
}

// open goes to path, as when following a link from an email.
func (b *bTab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.e.srv.URL+path))
}

// submit clicks the element sel (CSS) and waits for the page it leads
// to, which must be page (the body's data-page).
func (b *bTab) submit(sel, page string) {
	b.t.Helper()
	b.follow(chromedp.Click(chromedp.CSS(sel)), sel, page)
}

// submitXPath is submit with an XPath selector.
func (b *bTab) submitXPath(xpath, page string) {
	b.t.Helper()
	b.follow(chromedp.Click(chromedp.Search(xpath)), xpath, page)
}

func (b *bTab) follow(click chromedp.Action[chromedp.Void], what, page string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, click); err != nil {
		b.failed("click "+what, err)
	}
	b.onPage(page)
}

// onPage waits until the browser shows page.
func (b *bTab) onPage(page string) {
	b.t.Helper()
	b.do("wait for page "+page, chromedp.WaitVisible(chromedp.CSS(`body[data-page="`+page+`"]`)))
}

// typeIn types text into the input sel, after clearing it. The text
// arrives as one input, as from a keyboard's text entry or an IME, which
// is much quicker than a key event per character.
func (b *bTab) typeIn(sel, text string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	// Clear it as a person would, whatever is in it (chromedp's Clear
	// misses text that arrived by InsertText).
	if !eval[bool](b, `(function (e) { e.value = ""; return e.value === "" })(document.querySelector(`+jsString(sel)+`))`) {
		b.failed("clear "+sel, errors.New("still has text"))
	}
	b.do("type into "+sel, chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}))
}

func (b *bTab) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// text is the visible text of sel.
func (b *bTab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.failed("read "+sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression that reads the page.
func eval[T any](b *bTab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.failed("evaluate "+expr, err)
	}
	return v
}

// sees checks that the page's text contains each of subs.
func (b *bTab) sees(subs ...string) {
	b.t.Helper()
	body := eval[string](b, "document.body.innerText")
	for _, s := range subs {
		if !strings.Contains(body, s) {
			b.failed("look for text", errors.New("the page does not say "+s))
		}
	}
}

func (b *bTab) has(sel string) bool {
	b.t.Helper()
	return eval[bool](b, `document.querySelector(`+jsString(sel)+`) !== null`)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// shoot saves a full-page screenshot at a phone's width and a desktop's.
func (b *bTab) shoot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"phone", 390, 844}, {"desktop", 1280, 860}} {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		}
		cancel()
		if err != nil {
			b.failed("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("restore the viewport", chromedp.EmulateViewport(1280, 860))
}

// totpCode reads the secret the page shows and asks oathtool for the code
// at the server's clock, one step after the last code used.
func (b *bTab) totpCode() string {
	b.t.Helper()
	secret := strings.ReplaceAll(b.text("#totp-secret"), " ", "")
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) {
		b.t.Fatalf("secret on the page: %q", secret)
	}
	return oathtool(b.t, b.e, secret)
}

func oathtool(t *testing.T, e *env, secret string) string {
	t.Helper()
	e.clock.Add(30 * time.Second)
	now := e.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC")
	out, err := exec.Command("oathtool", "--totp", "-b", secret, "--now", now).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// reauthIfAsked fills the password field of a sensitive form when the page
// asks for it (the last proof is older than a few minutes).
func (b *bTab) reauthIfAsked(sel, password string) {
	b.t.Helper()
	if b.has(sel) {
		b.typeIn(sel, password)
	}
}

func screenshotDir(t *testing.T) string {
	if os.Getenv("SEKISHO_UPDATE_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// bLang is the language a walk runs in: the catalog the pages speak it
// from, for the words the test looks for on each page.
type bLang struct {
	code string
	cat  map[string]string
}

func loadLang(t *testing.T, code string) bLang {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("i18n", code+".json"))
	if err != nil {
		t.Fatal(err)
	}
	l := bLang{code: code}
	if err := json.Unmarshal(b, &l.cat); err != nil {
		t.Fatal(err)
	}
	return l
}

// T is the catalog's text of key with its {name} placeholders filled.
func (l bLang) T(t *testing.T, key string, args ...any) string {
	t.Helper()
	msg, ok := l.cat[key]
	if !ok {
		t.Fatalf("%s.json has no %s", l.code, key)
	}
	for i := 0; i+1 < len(args); i += 2 {
		msg = strings.ReplaceAll(msg, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return msg
}

// seesT checks that the page shows the catalog texts of keys in the walk's
// language.
func (b *bTab) seesT(l bLang, keys ...string) {
	b.t.Helper()
	for _, k := range keys {
		b.sees(l.T(b.t, k))
	}
}

// scripts turns JavaScript on or off in the tab, as a browser set so.
func (b *bTab) scripts(on bool) {
	b.t.Helper()
	b.do("scripts on="+fmt.Sprint(on), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
}

// copyButtonsShown reports whether any copy button on the page takes up
// room: rendered, not merely present.
func (b *bTab) copyButtonsShown() bool {
	b.t.Helper()
	return eval[bool](b, `Array.from(document.querySelectorAll(".js-copy")).some(function (e) {
		return getComputedStyle(e).display !== "none" && e.getBoundingClientRect().width > 0 })`)
}

// walk is one workspace's run through the flows in one language: an admin
// and a member, each in a browser of their own.
type walk struct {
	l             bLang
	slug, name    string
	adminEmail    string
	adminPass     string
	memberEmail   string
	memberPass    string
	phone, phone2 string // names the people give their authenticator apps
	shot          func(b *bTab, name string)
	admin, member *bTab
}

// enrollOwnMFA adds an authenticator app in account settings, the
// admin's first step before requiring MFA.
func (w *walk) enrollOwnMFA(b *bTab) {
	t := b.t
	t.Helper()
	b.seesT(w.l, "account.title", "mfa.disabled", "account.add_hint_first")
	b.typeIn("#totp_name", w.phone)
	b.submit("#add-authenticator", "account_totp")
	if !eval[bool](b, `document.querySelector(".qr img").src.startsWith("data:image/png;base64,")`) {
		t.Fatal("the QR code is not a data: PNG")
	}
	b.seesT(w.l, "qr.manual")
	b.typeIn("#code", b.totpCode())
	b.submit(`.confirm-code button[type="submit"]`, "recovery_codes")
	b.seesT(w.l, "codes.title", "codes.added")
	if n := eval[int](b, `document.querySelectorAll("#recovery-codes li").length`); n != 10 {
		t.Fatalf("%d recovery codes", n)
	}
	// app.js shows the copy button; its text is the catalog's.
	if !b.copyButtonsShown() || b.text(".js-copy") != w.l.T(t, "codes.copy") {
		t.Fatal("the copy button is not shown with JavaScript on")
	}
	if !eval[bool](b, `document.querySelector('a[download="sekisho-recovery-codes.txt"]').href.startsWith("data:text/plain")`) {
		t.Fatal("no .txt download of the recovery codes")
	}
	b.submit("#codes-continue", "account")
	b.sees(w.phone, w.l.T(t, "account.recovery_left", "n", 10))
}

// invite invites email from user management and returns the link.
func (w *walk) invite(b *bTab, email string) string {
	b.t.Helper()
	if !b.has(`body[data-page="admin_users"]`) {
		b.submit(`.topnav a[href="/admin/users"]`, "admin_users")
	}
	b.seesT(w.l, "admin.users.title", "admin.users.invite")
	b.typeIn("#invite_email", email)
	b.submit(`#invite button[type="submit"]`, "admin_invited")
	b.seesT(w.l, "admin.invited.title")
	link := b.text("#invitation-link")
	b.submit(`a.btn-ghost[href="/admin/users"]`, "admin_users")
	return link
}

// requireMFA turns on Require MFA (多要素認証を必須にする) in workspace
// settings → security, with no grace period and access codes after a
// reset.
func (w *walk) requireMFA(b *bTab) {
	t := b.t
	t.Helper()
	b.submit(`.tabs a[href="/admin/workspace"]`, "admin_workspace")
	b.seesT(w.l, "admin.ws.title", "admin.ws.security", "admin.ws.require_mfa", "admin.ws.before_enabling")
	b.click("#require_mfa")
	b.typeIn("#mfa_grace_days", "0")
	b.click("#reset_requires_access_code")
	b.reauthIfAsked("#password", w.adminPass)
	b.submit("#save-policy", "admin_workspace")
	b.seesT(w.l, "flash.policy_saved")
	if !eval[bool](b, `document.querySelector("#require_mfa").checked`) {
		t.Fatal("Require MFA is not on")
	}
}

// acceptInvitation sets the member's password from the invitation link.
func (w *walk) acceptInvitation(b *bTab, link string) {
	b.t.Helper()
	i := strings.Index(link, "/invitations/")
	if i < 0 {
		b.t.Fatalf("no invitation link from the step before: %q", link)
	}
	b.open(link[i:])
	b.onPage("invitation")
	if w.l.code != "en" {
		b.submit(`.lang a[hreflang="`+w.l.code+`"]`, "invitation")
	}
	b.seesT(w.l, "invite.title")
	b.typeIn("#password", w.memberPass)
	b.submit(`button[type="submit"]`, "signin")
	b.seesT(w.l, "flash.invitation_accepted")
}

// signIn fills the sign-in form and expects page next.
func (w *walk) signIn(b *bTab, email, password, next string) {
	b.t.Helper()
	b.typeIn("#email", email)
	b.typeIn("#password", password)
	b.submit(`button[type="submit"]`, next)
}

// enrollAtSignIn is the member walked through setup by sign-in, with
// JavaScript off: every step works without it, and the copy buttons it
// would show stay hidden instead of sitting there doing nothing. It
// returns the recovery codes; shot, if not "", names a screenshot of the
// QR code page.
func (w *walk) enrollAtSignIn(b *bTab, accessCode string, shot string) []string {
	t := b.t
	t.Helper()
	b.seesT(w.l, "enroll.title", "enroll.lead", "enroll.step_install")
	if accessCode != "" {
		b.seesT(w.l, "field.access_code", "enroll.access_code_hint")
		b.typeIn("#access_code", strings.ToLower(accessCode))
	}
	b.scripts(false)
	defer b.scripts(true)
	b.submit(`button[type="submit"]`, "enroll_qr")
	b.seesT(w.l, "enroll.qr_title", "qr.step_scan", "qr.manual")
	if b.copyButtonsShown() {
		t.Fatal("with JavaScript off, the enrollment page shows a copy button that can't work")
	}
	if shot != "" {
		w.shot(b, shot)
	}
	b.typeIn("#code", b.totpCode())
	b.submit(`.confirm-code button[type="submit"]`, "recovery_codes")
	b.seesT(w.l, "codes.title", "codes.enrolled")
	if b.copyButtonsShown() {
		t.Fatal("with JavaScript off, the recovery codes page shows a copy button that can't work")
	}
	codes := strings.Fields(b.text("#recovery-codes"))
	if len(codes) != 10 {
		t.Fatalf("recovery codes %q", codes)
	}
	return codes
}

// lostPhone signs in with a recovery code, adds a new authenticator app
// and removes the lost one, which sign-in named by default.
func (w *walk) lostPhone(b *bTab, code string) {
	t := b.t
	t.Helper()
	b.submit(`.topnav form[action="/sign-out"] button`, "signin")
	b.seesT(w.l, "flash.signed_out")
	w.signIn(b, w.memberEmail, w.memberPass, "signin_code")
	if a := eval[string](b, `document.querySelector("#code").getAttribute("autocomplete") + " " + document.querySelector("#code").getAttribute("inputmode")`); a != "one-time-code numeric" {
		t.Fatalf("code input: %q", a)
	}
	b.seesT(w.l, "code.title", "code.lost_device")
	if w.l.code == "en" {
		w.shot(b, "sign-in-code")
	}
	b.submit("#use-recovery", "signin_recovery")
	b.seesT(w.l, "recovery.title", "recovery.lead")
	b.typeIn("#recovery_code", code)
	b.submit(`button[type="submit"]`, "account")
	b.sees(w.l.T(t, "flash.recovery_code_used", "n", 9))

	b.typeIn("#totp_name", w.phone2)
	b.reauthIfAsked("#totp_password", w.memberPass)
	b.submit("#add-authenticator", "account_totp")
	b.typeIn("#code", b.totpCode())
	b.submit(`.confirm-code button[type="submit"]`, "account")
	b.sees(w.l.T(t, "flash.authenticator_added"), w.phone2)
	old := w.l.T(t, "account.default_auth_name")
	b.submitXPath(`//ul[@id="authenticators"]/li[.//strong[normalize-space()="`+old+`"]]//a[contains(@href, "/remove")]`, "account_remove")
	b.seesT(w.l, "remove.title", "remove.lead")
	b.reauthIfAsked("#password", w.memberPass)
	b.submit(".btn-danger", "account")
	b.seesT(w.l, "flash.authenticator_removed")
	if names := b.text("#authenticators"); !strings.Contains(names, w.phone2) || strings.Contains(names, old) {
		t.Fatalf("authenticators after replacing: %q", names)
	}
}

// resetMFA resets the member's MFA from the user detail page (ユーザー管理
// → ユーザー詳細) and returns the one-time access code.
func (w *walk) resetMFA(b *bTab) string {
	t := b.t
	t.Helper()
	b.submit(`.topnav a[href="/admin/users"]`, "admin_users")
	b.typeIn("#q", w.memberEmail[:strings.Index(w.memberEmail, "@")+1])
	b.submit(`.filters button[type="submit"]`, "admin_users")
	if n := eval[int](b, `document.querySelectorAll("#users tbody tr").length`); n != 1 {
		t.Fatalf("search found %d users", n)
	}
	b.submit("#users a.user-link", "admin_user")
	b.sees(w.memberEmail, w.phone2)
	b.seesT(w.l, "admin.user.reset_hint", "mfa.enabled")
	b.submit("#reset-mfa", "admin_user_reset")
	b.seesT(w.l, "admin.reset.title", "admin.reset.signs_out", "admin.reset.no_policy_change", "admin.reset.access_code")
	if w.l.code == "en" {
		w.shot(b, "user-reset-confirmation")
	}
	b.reauthIfAsked("#password", w.adminPass)
	b.submit("#confirm-reset", "admin_user_reset_done")
	b.seesT(w.l, "admin.reset_done.title", "admin.reset_done.once")
	code := b.text("#access-code")
	if !regexp.MustCompile(`^[0-9A-Z]{4}-[0-9A-Z]{4}$`).MatchString(code) {
		t.Fatalf("access code %q", code)
	}
	b.submit(`a.btn[href^="/admin/users/"]`, "admin_user")
	b.seesT(w.l, "mfa.disabled", "admin.user.access_pending")

	// The audit log names the reset in the page's language, with the
	// type beside it for support, and filters by it.
	b.submit(`.tabs a[href="/admin/audit"]`, "admin_audit")
	b.seesT(w.l, "admin.audit.title", "audit.type.mfa.reset", "audit.type.user.sign_in")
	b.sees("mfa.reset", w.memberEmail)
	b.do("filter by type", chromedp.SetValue(chromedp.CSS("#type"), "mfa.reset"))
	b.submit(`.filters button[type="submit"]`, "admin_audit")
	if n := eval[int](b, `document.querySelectorAll("#audit tbody tr").length`); n != 1 {
		t.Fatalf("%d events of type mfa.reset", n)
	}
	b.seesT(w.l, "audit.detail.authenticators_removed", "audit.detail.access_code")
	b.do("back to every event", chromedp.Navigate(b.e.srv.URL+"/admin/audit"))
	b.onPage("admin_audit")
	w.shot(b, "audit-log")
	return code
}

// TestBrowser walks the flows of PRODUCT.md through the pages, once in
// English and once in Japanese, each in a workspace of its own: the
// admin sets up MFA in account settings and requires MFA for the
// workspace; a member without MFA is walked through enrollment at sign-in
// (with JavaScript off); the member loses their phone, signs in with a
// recovery code and replaces the authenticator; an admin resets the
// member's MFA from the user detail page; the member signs in again with
// the access code and sets up again.
func TestBrowser(t *testing.T) {
	start := time.Now()
	browser := newChromium(t)
	e := newEnv(t, store.SQLite)
	shots := screenshotDir(t)

	walks := []*walk{{
		l: loadLang(t, "en"), slug: "acme", name: "Acme Corporation",
		adminEmail: "aiko@acme.test", adminPass: "maple lantern orbit 17",
		memberEmail: "ben@acme.test", memberPass: "harbor violin quartz 88",
		phone: "Work phone", phone2: "New phone",
	}, {
		l: loadLang(t, "ja"), slug: "kansai", name: "関西商事",
		adminEmail: "kenji@kansai.test", adminPass: "sakura teapot ribbon 29",
		memberEmail: "yui@kansai.test", memberPass: "lotus compass ember 63",
		phone: "仕事用スマートフォン", phone2: "新しいスマートフォン",
	}}
	for _, w := range walks {
		suffix := ""
		if w.l.code != "en" {
			suffix = "-" + w.l.code
		}
		w.shot = func(b *bTab, name string) { b.shoot(name + suffix) }
		w.admin = newTab(t, browser, e, w.slug+" admin", shots)
		w.member = newTab(t, browser, e, w.slug+" member", shots)
	}

	for _, w := range walks {
		t.Run(w.l.code, func(t *testing.T) {
			admin, member := w.admin, w.member
			var memberLink string
			var codes []string

			t.Run("admin requires MFA", func(t *testing.T) {
				admin.t = t
				if w.l.code == "en" {
					// First run: the setup link makes the first workspace.
					link, err := e.svc.SetupLink(context.Background())
					if err != nil || !strings.Contains(link, "/setup/") {
						t.Fatalf("setup link %q: %v", link, err)
					}
					admin.open(link[strings.Index(link, "/setup/"):])
					admin.onPage("setup")
					admin.typeIn("#workspace_name", w.name)
					// The slug's pattern works in the browser (an invalid
					// pattern is ignored, and lets anything through).
					admin.typeIn("#workspace_slug", "Acme Corp")
					if eval[bool](admin, `document.querySelector("#workspace_slug").checkValidity()`) {
						t.Fatal("the slug field accepts capitals and spaces")
					}
					admin.typeIn("#workspace_slug", w.slug)
					if !eval[bool](admin, `document.querySelector("#workspace_slug").checkValidity()`) {
						t.Fatalf("the slug field refuses a valid slug: %q %q", eval[string](admin, `document.querySelector("#workspace_slug").value`), eval[string](admin, `document.querySelector("#workspace_slug").validationMessage`))
					}
					admin.typeIn("#name", "Aiko Tanaka")
					admin.typeIn("#email", w.adminEmail)
					admin.typeIn("#password", w.adminPass)
					admin.submit(`button[type="submit"]`, "account")
					admin.seesT(w.l, "flash.setup_done")
				} else {
					// The operator CLI makes the workspace; its admin
					// accepts the invitation and signs in, in Japanese.
					_, _, link, err := e.svc.CreateWorkspace(context.Background(), operator, w.slug, w.name, w.adminEmail)
					if err != nil {
						t.Fatal(err)
					}
					i := strings.Index(link, "/invitations/")
					admin.open(link[i:])
					admin.onPage("invitation")
					admin.submit(`.lang a[hreflang="`+w.l.code+`"]`, "invitation")
					admin.typeIn("#password", w.adminPass)
					admin.submit(`button[type="submit"]`, "signin")
					admin.seesT(w.l, "flash.invitation_accepted")
					w.signIn(admin, w.adminEmail, w.adminPass, "account")
				}
				w.enrollOwnMFA(admin)
				if w.l.code == "en" {
					w.shot(admin, "account-settings")
				}
				memberLink = w.invite(admin, w.memberEmail)
				if w.l.code == "en" {
					for _, p := range []string{"chika@acme.test", "dan@acme.test"} {
						w.invite(admin, p)
					}
					w.shot(admin, "admin-users")
				}
				w.requireMFA(admin)
				if w.l.code == "en" {
					w.shot(admin, "workspace-security")
				}
			})

			t.Run("member enrolls at sign-in", func(t *testing.T) {
				member.t = t
				w.acceptInvitation(member, memberLink)
				if w.l.code == "en" {
					w.shot(member, "sign-in")
				}
				w.signIn(member, w.memberEmail, w.memberPass, "enroll_start")
				codes = w.enrollAtSignIn(member, "", "")
				if w.l.code == "en" {
					w.shot(member, "recovery-codes")
				}
				member.submit("#codes-continue", "account")
				// Named by default in the page's language.
				member.sees(w.memberEmail, w.l.T(t, "account.default_auth_name"), w.l.T(t, "mfa.enabled"))
				if member.has(`a[href="/admin/users"]`) {
					t.Fatal("a member sees the admin console")
				}
			})

			t.Run("lost phone: recovery code, new authenticator", func(t *testing.T) {
				member.t = t
				w.lostPhone(member, codes[3])
			})

			t.Run("admin resets the member's MFA", func(t *testing.T) {
				admin.t = t
				accessCode := w.resetMFA(admin)

				// The member was signed out at once, and sets up again
				// with the access code.
				member.t = t
				member.open("/account")
				member.onPage("signin")
				member.seesT(w.l, "signin.title")
				w.signIn(member, w.memberEmail, w.memberPass, "enroll_start")
				w.enrollAtSignIn(member, accessCode, map[string]string{"ja": "enroll"}[w.l.code])
				member.submit("#codes-continue", "account")
				member.seesT(w.l, "account.title", "account.mfa", "mfa.enabled", "account.mfa_required")
				if w.l.code != "en" {
					w.shot(member, "account-settings")
				}
			})
		})
	}

	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("the browser tests took %v; keep them near a minute", d)
	}
	t.Logf("browser tests took %v; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}

package web_test

import (
	"context"
	"errors"
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
	b.do("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Clear(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)),
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

// TestBrowser walks the flows of PRODUCT.md through the pages: first-run
// setup; an admin enrolls MFA in account settings and requires MFA for the
// workspace; a member without MFA is walked through enrollment at sign-in;
// the member loses their phone, signs in with a recovery code and replaces
// the authenticator; an admin resets the member's MFA from the user
// detail page; the member signs in again in Japanese with the access code.
func TestBrowser(t *testing.T) {
	start := time.Now()
	browser := newChromium(t)
	e := newEnv(t, store.SQLite)
	shots := screenshotDir(t)

	const (
		adminEmail = "aiko@acme.test"
		adminPass  = "maple lantern orbit 17"
		benEmail   = "ben@acme.test"
		benPass    = "harbor violin quartz 88"
	)

	admin := newTab(t, browser, e, "admin", shots)
	ben := newTab(t, browser, e, "ben", shots)

	var benLink string
	var benCodes []string

	t.Run("setup and require MFA", func(t *testing.T) {
		admin.t = t
		link, err := e.svc.SetupLink(context.Background())
		if err != nil || !strings.Contains(link, "/setup/") {
			t.Fatalf("setup link %q: %v", link, err)
		}
		admin.open(link[strings.Index(link, "/setup/"):])
		admin.onPage("setup")
		admin.typeIn("#workspace_name", "Acme Corporation")
		admin.typeIn("#workspace_slug", "acme")
		admin.typeIn("#name", "Aiko Tanaka")
		admin.typeIn("#email", adminEmail)
		admin.typeIn("#password", adminPass)
		admin.submit(`button[type="submit"]`, "account")
		admin.sees("Your workspace is ready", "Not set up")

		// Her own MFA first: an admin without MFA can't require it.
		admin.typeIn("#totp_name", "Work phone")
		admin.submit("#add-authenticator", "account_totp")
		if !eval[bool](admin, `document.querySelector(".qr img").src.startsWith("data:image/png;base64,")`) {
			t.Fatal("the QR code is not a data: PNG")
		}
		admin.typeIn("#code", admin.totpCode())
		admin.submit(`.confirm-code button[type="submit"]`, "recovery_codes")
		if n := eval[int](admin, `document.querySelectorAll("#recovery-codes li").length`); n != 10 {
			t.Fatalf("%d recovery codes", n)
		}
		if !eval[bool](admin, `!document.querySelector(".js-copy").hidden`) {
			t.Fatal("the copy button stayed hidden: app.js did not run")
		}
		if !eval[bool](admin, `document.querySelector('a[download="sekisho-recovery-codes.txt"]').href.startsWith("data:text/plain")`) {
			t.Fatal("no .txt download of the recovery codes")
		}
		admin.submit("#codes-continue", "account")
		admin.sees("Work phone", "10 of 10 recovery codes unused")
		admin.shoot("account-settings")

		// Invite Ben from user management.
		admin.submit(`.topnav a[href="/admin/users"]`, "admin_users")
		admin.typeIn("#invite_email", benEmail)
		admin.typeIn("#invite_name", "Ben Carter")
		admin.submit(`#invite button[type="submit"]`, "admin_invited")
		benLink = admin.text("#invitation-link")
		for _, p := range []string{"chika@acme.test", "dan@acme.test"} {
			admin.submit(`a.btn-ghost[href="/admin/users"]`, "admin_users")
			admin.typeIn("#invite_email", p)
			admin.submit(`#invite button[type="submit"]`, "admin_invited")
		}
		admin.submit(`a.btn-ghost[href="/admin/users"]`, "admin_users")
		admin.shoot("admin-users")

		// Workspace settings → security: who has no MFA yet, then Require MFA.
		admin.submit(`.tabs a[href="/admin/workspace"]`, "admin_workspace")
		admin.sees("users have not set up multi-factor authentication yet")
		admin.click("#require_mfa")
		admin.typeIn("#mfa_grace_days", "0")
		admin.click("#reset_requires_access_code")
		admin.reauthIfAsked("#password", adminPass)
		admin.submit("#save-policy", "admin_workspace")
		admin.sees("Security settings saved.", "Required since")
		if !eval[bool](admin, `document.querySelector("#require_mfa").checked`) {
			t.Fatal("Require MFA is not on")
		}
		admin.shoot("workspace-security")
	})

	t.Run("member enrolls at sign-in", func(t *testing.T) {
		ben.t = t
		i := strings.Index(benLink, "/invitations/")
		if i < 0 {
			t.Fatalf("no invitation link from the step before: %q", benLink)
		}
		ben.open(benLink[i:])
		ben.onPage("invitation")
		ben.sees(benEmail, "Acme Corporation")
		ben.typeIn("#password", benPass)
		ben.submit(`button[type="submit"]`, "signin")
		ben.sees("Your password is set.")
		ben.shoot("sign-in")
		ben.typeIn("#email", benEmail)
		ben.typeIn("#password", benPass)
		ben.submit(`button[type="submit"]`, "enroll_start")
		ben.sees("Your workspace requires multi-factor authentication")
		ben.submit(`button[type="submit"]`, "enroll_qr")
		ben.typeIn("#code", ben.totpCode())
		ben.submit(`.confirm-code button[type="submit"]`, "recovery_codes")
		ben.sees("Multi-factor authentication is set up and you are signed in.")
		ben.shoot("recovery-codes")
		benCodes = strings.Fields(ben.text("#recovery-codes"))
		if len(benCodes) != 10 {
			t.Fatalf("recovery codes %q", benCodes)
		}
		ben.submit("#codes-continue", "account")
		ben.sees(benEmail, "Authenticator app", "Set up")
		if ben.has(`a[href="/admin/users"]`) {
			t.Fatal("a member sees the admin console")
		}
	})

	t.Run("lost phone: recovery code, new authenticator", func(t *testing.T) {
		ben.t = t
		ben.submit(`.topnav form[action="/sign-out"] button`, "signin")
		ben.sees("You are signed out.")
		ben.typeIn("#email", benEmail)
		ben.typeIn("#password", benPass)
		ben.submit(`button[type="submit"]`, "signin_code")
		if a := eval[string](ben, `document.querySelector("#code").getAttribute("autocomplete") + " " + document.querySelector("#code").getAttribute("inputmode")`); a != "one-time-code numeric" {
			t.Fatalf("code input: %q", a)
		}
		ben.shoot("sign-in-code")
		ben.submit("#use-recovery", "signin_recovery")
		ben.typeIn("#recovery_code", benCodes[3])
		ben.submit(`button[type="submit"]`, "account")
		ben.sees("You signed in with a recovery code; 9 left")

		// Add the new phone, then remove the lost one.
		ben.typeIn("#totp_name", "New phone")
		ben.reauthIfAsked("#totp_password", benPass)
		ben.submit("#add-authenticator", "account_totp")
		ben.typeIn("#code", ben.totpCode())
		ben.submit(`.confirm-code button[type="submit"]`, "account")
		ben.sees("Authenticator app added.", "New phone")
		ben.submitXPath(`//ul[@id="authenticators"]/li[.//strong[normalize-space()="Authenticator app"]]//a[contains(@href, "/remove")]`, "account_remove")
		ben.sees("Remove this authenticator app?", "Authenticator app")
		ben.reauthIfAsked("#password", benPass)
		ben.submit(".btn-danger", "account")
		ben.sees("Authenticator app removed.")
		if names := ben.text("#authenticators"); !strings.Contains(names, "New phone") || strings.Contains(names, "Authenticator app") {
			t.Fatalf("authenticators after replacing: %q", names)
		}
	})

	var accessCode string
	t.Run("admin resets the member's MFA", func(t *testing.T) {
		admin.t = t
		admin.submit(`.tabs a[href="/admin/users"]`, "admin_users")
		admin.typeIn("#q", "ben@")
		admin.submit(`.filters button[type="submit"]`, "admin_users")
		if n := eval[int](admin, `document.querySelectorAll("#users tbody tr").length`); n != 1 {
			t.Fatalf("search found %d users", n)
		}
		admin.submit("#users a.user-link", "admin_user")
		admin.sees(benEmail, "New phone")
		admin.submit("#reset-mfa", "admin_user_reset")
		admin.sees("signed out of every session", "stays as it is", "one-time access code")
		admin.shoot("user-reset-confirmation")
		admin.reauthIfAsked("#password", adminPass)
		admin.submit("#confirm-reset", "admin_user_reset_done")
		accessCode = admin.text("#access-code")
		if !regexp.MustCompile(`^[0-9A-Z]{4}-[0-9A-Z]{4}$`).MatchString(accessCode) {
			t.Fatalf("access code %q", accessCode)
		}
		admin.submit(`a.btn[href^="/admin/users/"]`, "admin_user")
		admin.sees("Not set up", "has not been used yet")
		admin.submit(`.tabs a[href="/admin/audit"]`, "admin_audit")
		admin.sees("mfa.reset", "ben@acme.test")
		admin.shoot("audit-log")

		// Ben was signed out at once.
		ben.t = t
		ben.open("/account")
		ben.onPage("signin")
	})

	t.Run("the same sign-in in Japanese", func(t *testing.T) {
		ben.t = t
		ben.submit(`.lang a[hreflang="ja"]`, "signin")
		ben.sees("サインイン", "パスワードをお忘れの場合")
		ben.typeIn("#email", benEmail)
		ben.typeIn("#password", benPass)
		ben.submit(`button[type="submit"]`, "enroll_start")
		ben.sees("多要素認証を設定", "このワークスペースでは多要素認証が必須です", "アクセスコード", "認証アプリ")
		ben.typeIn("#access_code", strings.ToLower(accessCode))
		ben.submit(`button[type="submit"]`, "enroll_qr")
		ben.sees("QR コードを読み取る", "認証アプリ")
		ben.shoot("enroll-ja")
		ben.typeIn("#code", ben.totpCode())
		ben.submit(`.confirm-code button[type="submit"]`, "recovery_codes")
		ben.sees("リカバリーコードを保管してください", "多要素認証を設定し、サインインしました。")
		ben.submit("#codes-continue", "account")
		ben.sees("アカウント設定", "多要素認証", "設定済み")
		ben.shoot("account-settings-ja")
	})

	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("the browser tests took %v; keep them near a minute", d)
	}
	t.Logf("browser tests took %v; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}

package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/secret"
)

// The web pages: server-rendered html/template over the same auth service
// methods as the JSON API. Forms post back and redirect on success; what
// must be shown once (recovery codes, an invitation link, an access code)
// is rendered in the answer to the POST instead, never put in a URL or a
// cookie. JavaScript only adds a copy button; everything works without it.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageCSP allows nothing but this origin's files and data: images (the QR
// code): no inline script or style anywhere.
const pageCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageRoutes registers the web pages.
func (s *Server) pageRoutes() {
	m := s.mux
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	m.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'")
		// No folder listings; and a name the file system can't hold (say,
		// invalid UTF-8) is not found, where the file server would fail.
		if strings.HasSuffix(r.URL.Path, "/") || !fs.ValidPath(strings.TrimPrefix(r.URL.Path, "/static/")) {
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))

	m.Handle("GET /{$}", s.page(s.rootPage))
	m.Handle("GET /sign-in", s.page(s.findWorkspace))
	m.Handle("GET /setup/{token}", s.page(s.setupPage))
	m.Handle("POST /setup/{token}", s.page(s.setupPost))
	m.Handle("GET /invitations/{token}", s.page(s.invitationPage))
	m.Handle("POST /invitations/{token}", s.page(s.invitationPost))

	m.Handle("GET /w/{slug}/sign-in", s.page(s.signInPage))
	m.Handle("POST /w/{slug}/sign-in", s.page(s.signInPost))
	m.Handle("GET /w/{slug}/sign-in/code", s.page(s.codePage))
	m.Handle("POST /w/{slug}/sign-in/code", s.page(s.codePost))
	m.Handle("GET /w/{slug}/sign-in/recovery", s.page(s.recoveryPage))
	m.Handle("POST /w/{slug}/sign-in/recovery", s.page(s.recoveryPost))
	m.Handle("GET /w/{slug}/sign-in/enroll", s.page(s.enrollPage))
	m.Handle("POST /w/{slug}/sign-in/enroll", s.page(s.enrollStart))
	m.Handle("POST /w/{slug}/sign-in/enroll/confirm", s.page(s.enrollConfirm))
	m.Handle("GET /w/{slug}/password-reset", s.page(s.resetRequestPage))
	m.Handle("POST /w/{slug}/password-reset", s.page(s.resetRequestPost))
	m.Handle("GET /password-reset/{token}", s.page(s.resetConfirmPage))
	m.Handle("POST /password-reset/{token}", s.page(s.resetConfirmPost))

	m.Handle("POST /sign-out", s.signedIn(s.signOutPost))
	m.Handle("GET /account", s.signedIn(s.accountPage))
	m.Handle("POST /account/profile", s.signedIn(s.profilePost))
	m.Handle("POST /account/password", s.signedIn(s.passwordPost))
	m.Handle("POST /account/mfa/totp", s.signedIn(s.totpStart))
	m.Handle("POST /account/mfa/totp/{id}/confirm", s.signedIn(s.totpConfirm))
	m.Handle("POST /account/mfa/totp/{id}/rename", s.signedIn(s.totpRename))
	m.Handle("GET /account/mfa/totp/{id}/remove", s.signedIn(s.totpRemovePage))
	m.Handle("POST /account/mfa/totp/{id}/remove", s.signedIn(s.totpRemovePost))
	m.Handle("GET /account/mfa/remove", s.signedIn(s.mfaRemoveAllPage))
	m.Handle("POST /account/mfa/remove", s.signedIn(s.mfaRemoveAllPost))
	m.Handle("POST /account/recovery-codes", s.signedIn(s.recoveryCodesPost))
	m.Handle("POST /account/sessions/{id}/revoke", s.signedIn(s.revokeSessionPost))

	toUsers := s.page(func(q *pageReq) error { q.redirect("/admin/users"); return nil })
	m.Handle("GET /admin", toUsers)
	m.Handle("GET /admin/{$}", toUsers)
	m.Handle("GET /admin/users", s.signedIn(s.usersPage))
	m.Handle("POST /admin/users", s.signedIn(s.inviteUserPost))
	m.Handle("GET /admin/users/{id}", s.signedIn(s.userPage))
	m.Handle("POST /admin/users/{id}", s.signedIn(s.userPost))
	m.Handle("GET /admin/users/{id}/delete", s.signedIn(s.userDeletePage))
	m.Handle("POST /admin/users/{id}/delete", s.signedIn(s.userDeletePost))
	m.Handle("GET /admin/users/{id}/reset-mfa", s.signedIn(s.resetMFAPage))
	m.Handle("POST /admin/users/{id}/reset-mfa", s.signedIn(s.resetMFAPost))
	m.Handle("GET /admin/workspace", s.signedIn(s.workspacePage))
	m.Handle("POST /admin/workspace", s.signedIn(s.workspacePost))
	m.Handle("GET /admin/audit", s.signedIn(s.auditPage))

	// Everything else is an HTML 404 (the API has its own JSON 404).
	m.Handle("/", s.page(func(q *pageReq) error { return sekisho.ErrNotFound }))
}

// pageReq is one request to a page: what every handler needs.
type pageReq struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	cat *catalog
	// p and a are the signed-in user; p is nil on public pages.
	p *auth.Principal
	a sekisho.Actor
}

func (q *pageReq) ctx() context.Context { return q.r.Context() }

// now is the service's clock, so tests that move it move the pages too.
func (q *pageReq) now() time.Time { return q.s.svc.Config().Now() }

// page wraps a page anyone may open.
func (s *Server) page(fn func(q *pageReq) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders.set(w)
		if s.switchLanguage(w, r) {
			return
		}
		q := &pageReq{s: s, w: w, r: r, a: sekisho.Anonymous(s.clientIP(r), r.UserAgent())}
		q.cat = catalogs[s.pickLanguage(r, "")]
		if err := q.readInput(); err != nil {
			q.fail(err)
			return
		}
		if err := fn(q); err != nil {
			q.fail(err)
		}
	})
}

// signedIn wraps a page that needs a session. Without a valid one the
// visitor goes to sign in.
func (s *Server) signedIn(fn func(q *pageReq) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders.set(w)
		if s.switchLanguage(w, r) {
			return
		}
		q := &pageReq{s: s, w: w, r: r}
		p, err := s.svc.Authenticate(r.Context(), s.sessionCookie(r))
		if err != nil {
			q.cat = catalogs[s.pickLanguage(r, "")]
			if sekisho.KindOf(err) != sekisho.KindUnauthorized {
				q.fail(err)
				return
			}
			q.signInAgain(err)
			return
		}
		q.p, q.a = p, p.Actor(s.clientIP(r), r.UserAgent())
		q.cat = catalogs[s.pickLanguage(r, p.User.Locale)]
		if err := q.readInput(); err != nil {
			q.fail(err)
			return
		}
		if err := fn(q); err != nil {
			q.fail(err)
		}
	})
}

// sessionCookie is the session token of the pages: the cookie only, never
// an Authorization header.
func (s *Server) sessionCookie(r *http.Request) string {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		return c.Value
	}
	return ""
}

// signInAgain clears a session that no longer works and sends the visitor
// to the sign-in page of the workspace they last used, saying why.
func (q *pageReq) signInAgain(err error) {
	if q.s.sessionCookie(q.r) != "" {
		q.clearCookie(q.s.cookieName())
		switch sekisho.CodeOf(err) {
		case "mfa_enrollment_required":
			q.setFlash("error", "flash.sign_in_to_enroll")
		default:
			q.setFlash("error", "flash.signed_out_expired")
		}
	}
	q.redirect(q.signInURL(""))
}

// signInURL is the sign-in page of slug, or of the workspace last signed
// in to, or the page that asks for the workspace.
func (q *pageReq) signInURL(slug string) string {
	if slug == "" {
		if c, err := q.r.Cookie(q.s.cookie("sekisho_workspace")); err == nil && slugLike(c.Value) {
			slug = c.Value
		}
	}
	if slug == "" {
		return "/"
	}
	return "/w/" + url.PathEscape(slug) + "/sign-in"
}

func slugLike(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// switchLanguage handles ?lang=xx on any page: it remembers the choice in
// a cookie and reloads the page without the parameter.
func (s *Server) switchLanguage(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !r.URL.Query().Has("lang") {
		return false
	}
	if l := supported(r.URL.Query().Get("lang")); l != "" {
		http.SetCookie(w, &http.Cookie{Name: s.langCookie(), Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
	v := r.URL.Query()
	v.Del("lang")
	// Only ever a path on this site: never "//host".
	to := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/")
	if len(v) > 0 {
		to += "?" + v.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

// pageHeaders are the security headers of every page, error pages and
// redirects included. Pages are never cached: some show secrets.
var pageHeaders = fixedHeaders(
	"Content-Security-Policy", pageCSP,
	"X-Frame-Options", "DENY",
	"X-Content-Type-Options", "nosniff",
	"Referrer-Policy", "no-referrer", // invitation and reset links carry tokens in the path
	"Cache-Control", "no-store",
	"Cross-Origin-Opener-Policy", "same-origin",
)

// cookie names a cookie of the pages: __Host- prefixed (this host only,
// Secure, Path=/) except in plain-http development.
func (s *Server) cookie(name string) string {
	if s.secure {
		return "__Host-" + name
	}
	return name
}

func (q *pageReq) setCookie(name, value string, maxAge time.Duration) {
	http.SetCookie(q.w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: q.s.secure, SameSite: http.SameSiteLaxMode})
}

func (q *pageReq) clearCookie(name string) {
	http.SetCookie(q.w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: q.s.secure, SameSite: http.SameSiteLaxMode})
}

// startSession hands the browser a new session cookie: at sign-in and again
// after the second factor, each time a new token.
func (q *pageReq) startSession(res *auth.SignInResult, slug string) {
	// Max-Age, not Expires: a lifetime counted by the browser's own clock
	// holds however far that clock is from the server's.
	maxAge := max(res.ExpiresAt.Sub(q.s.svc.Now()), time.Second)
	http.SetCookie(q.w, &http.Cookie{Name: q.s.cookieName(), Value: res.SessionToken, Path: "/",
		MaxAge: int(maxAge / time.Second), HttpOnly: true, Secure: q.s.secure, SameSite: http.SameSiteLaxMode})
	q.clearCookie(q.s.cookie("sekisho_flow"))
	if slugLike(slug) {
		q.setCookie(q.s.cookie("sekisho_workspace"), slug, 365*24*time.Hour)
	}
}

func (q *pageReq) redirect(to string) {
	http.Redirect(q.w, q.r, to, http.StatusSeeOther)
}

// A flash is a one-line message for the next page after a redirect. The
// cookie holds a catalog key (and a number), never text.
type flash struct {
	Kind string // "ok", "info" or "error"
	Text string
}

func (q *pageReq) setFlash(kind, key string, n ...int) {
	v := kind + "|" + key
	if len(n) > 0 {
		v += "|" + strconv.Itoa(n[0])
	}
	q.setCookie(q.s.cookie("sekisho_flash"), v, time.Minute)
}

// takeFlash reads and clears the flash.
func (q *pageReq) takeFlash() *flash {
	c, err := q.r.Cookie(q.s.cookie("sekisho_flash"))
	if err != nil {
		return nil
	}
	q.clearCookie(c.Name)
	parts := strings.Split(c.Value, "|")
	if len(parts) < 2 || !strings.HasPrefix(parts[1], "flash.") || !q.cat.has(parts[1]) {
		return nil
	}
	kind := parts[0]
	if kind != "ok" && kind != "info" && kind != "error" {
		return nil
	}
	n := 0
	if len(parts) > 2 {
		n, _ = strconv.Atoi(parts[2])
	}
	return &flash{Kind: kind, Text: q.cat.T(parts[1], "n", n)}
}

// view is what every template gets; D is the page's own data.
type view struct {
	Page      string
	Lang      string
	Path      string // the current path
	Query     url.Values
	LangLinks bool
	Me        *me
	Flash     *flash
	Errors    map[string]string
	Form      url.Values
	D         any
}

// me is the signed-in user as the layout shows them.
type me struct {
	User      *sekisho.User
	Workspace *sekisho.Workspace
	IsAdmin   bool
	// DueAt is the enrollment deadline while a grace period runs.
	DueAt time.Time
	Nav   string
}

// LangHref is the link that shows this page in lang: the same query with
// lang added (switchLanguage takes it off again).
func (v *view) LangHref(lang string) string {
	q := url.Values{}
	for k, vs := range v.Query {
		if k != "lang" {
			q[k] = vs
		}
	}
	q.Set("lang", lang)
	return "?" + q.Encode()
}

// Err is the message beside input id, if any.
func (v *view) Err(id string) fieldError { return fieldError{ID: id, Msg: v.Errors[id]} }

// Val is the submitted value of a form field, to fill it in again.
func (v *view) Val(name string) string { return v.Form.Get(name) }

// Aria returns the aria attributes of input id: its hint and error ids in
// aria-describedby, and aria-invalid when it has an error. An input with
// an error also gets autofocus, so the page opens on it (pages show one
// error at a time).
func (v *view) Aria(id string, hints ...string) template.HTMLAttr {
	ids := append([]string(nil), hints...)
	invalid := v.Errors[id] != ""
	if invalid {
		ids = append(ids, id+"-error")
	}
	var b strings.Builder
	if len(ids) > 0 {
		b.WriteString(`aria-describedby="` + html.EscapeString(strings.Join(ids, " ")) + `"`)
	}
	if invalid {
		b.WriteString(` aria-invalid="true" autofocus`)
	}
	return template.HTMLAttr(b.String())
}

type fieldError struct{ ID, Msg string }

// render writes page name with status. It renders into a buffer first, so
// a template error never leaves half a page.
func (q *pageReq) render(status int, name string, v *view) error {
	if v == nil {
		v = &view{}
	}
	v.Page, v.Lang, v.Path = name, q.cat.lang, q.r.URL.Path
	if q.r.URL.RawQuery != "" {
		v.Query = q.r.URL.Query()
	}
	if v.Form == nil {
		v.Form = url.Values{}
	}
	if q.p != nil {
		v.Me = &me{User: q.p.User, Workspace: q.p.Workspace, IsAdmin: q.p.User.Role.IsAdmin(), DueAt: q.p.MFAEnrollmentDueAt}
		if strings.HasPrefix(name, "admin") {
			v.Me.Nav = "admin"
		} else {
			v.Me.Nav = "account"
		}
	} else {
		// Not on an answer to a POST: switching would reload the page by
		// GET and lose what it shows once (a secret, recovery codes).
		v.LangLinks = q.r.Method == http.MethodGet
	}
	if v.Flash == nil {
		v.Flash = q.takeFlash()
	}
	t := pageTemplates[q.cat.lang][name]
	if t == nil {
		return errors.New("web: no page template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", q.cat.lang)
	h.Add("Vary", "Accept-Language, Cookie")
	q.w.WriteHeader(status)
	_, err := q.w.Write(buf.Bytes())
	return err
}

// errText is the localized message of e: the catalog's "error.<code>", or
// the service's own message for a code the catalog does not know.
func (q *pageReq) errText(e *sekisho.Error) string {
	key := "error." + e.Code
	if !q.cat.has(key) {
		return e.Message
	}
	minutes := int(math.Ceil(e.RetryAfter.Minutes()))
	if minutes < 1 {
		minutes = 1
	}
	return q.cat.T(key, "min", secret.MinPasswordLen, "max", secret.MaxPasswordLen, "minutes", minutes)
}

// formErrors turns an error the user can fix into a message beside the
// input it is about. fields maps the service's field names to input ids;
// "code:<code>" keys place errors that name no field, and "" is the
// form's general slot. It returns nil for errors that are not about the
// input (not signed in, not allowed, not found, internal), which the
// caller hands to fail.
func (q *pageReq) formErrors(err error, fields map[string]string) map[string]string {
	var e *sekisho.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Kind {
	case sekisho.KindInvalid, sekisho.KindConflict, sekisho.KindThrottled:
	case sekisho.KindUnauthorized:
		switch e.Code {
		case "unauthenticated", "session_expired", "mfa_enrollment_required":
			return nil
		}
	case sekisho.KindForbidden:
		if e.Code != sekisho.ErrReauthRequired.Code && e.Code != "account_disabled" {
			return nil
		}
	default:
		return nil
	}
	setRetryAfter(q.w, e)
	id, ok := "", false
	if e.Field != "" {
		id, ok = fields[e.Field]
	}
	if !ok {
		id, ok = fields["code:"+e.Code]
	}
	if !ok {
		id = fields[""]
	}
	if id == "" {
		id = "form"
	}
	return map[string]string{id: q.errText(e)}
}

// formStatus is the status of a page shown again with errors.
func formStatus(err error) int {
	if k := sekisho.KindOf(err); k != sekisho.KindInternal {
		return statusOf(k)
	}
	return http.StatusBadRequest
}

// errorData is the error page's data.
type errorData struct {
	Status  int
	Title   string
	Message string
	SignIn  bool   // offer to sign in (again)
	Request string // request id of an internal error
}

// fail answers with an error page fitting err.
func (q *pageReq) fail(err error) {
	var e *sekisho.Error
	if !errors.As(err, &e) {
		if q.r.Context().Err() != nil {
			return // the client went away
		}
		id := requestID(q.ctx())
		q.s.log.ErrorContext(q.ctx(), "page failed", "request_id", id, "err", err)
		q.showError(http.StatusInternalServerError, &errorData{Title: q.cat.T("error_page.internal_title"),
			Message: q.cat.T("error_page.internal"), Request: id})
		return
	}
	if e.Kind == sekisho.KindUnauthorized && q.p != nil &&
		(e.Code == "unauthenticated" || e.Code == "session_expired" || e.Code == "mfa_enrollment_required") {
		q.signInAgain(e)
		return
	}
	d := &errorData{Message: q.errText(e)}
	status := statusOf(e.Kind)
	setRetryAfter(q.w, e)
	switch e.Kind {
	case sekisho.KindNotFound:
		d.Title = q.cat.T("error_page.not_found_title")
		if e.Code == "not_found" || e.Code == "no_such_endpoint" {
			d.Message = q.cat.T("error_page.not_found")
		}
	case sekisho.KindForbidden:
		d.Title = q.cat.T("error_page.forbidden_title")
		d.SignIn = e.Code == sekisho.ErrAAL2Required.Code
	case sekisho.KindUnauthorized:
		d.Title = q.cat.T("error_page.unauthorized_title")
		d.SignIn = true
	case sekisho.KindThrottled:
		d.Title = q.cat.T("error_page.throttled_title")
	case sekisho.KindUnavailable:
		d.Title = q.cat.T("error_page.internal_title")
	default:
		d.Title = q.cat.T("error_page.invalid_title")
	}
	q.showError(status, d)
}

func (q *pageReq) showError(status int, d *errorData) {
	d.Status = status
	if err := q.render(status, "error", &view{D: d}); err != nil {
		q.s.log.ErrorContext(q.ctx(), "error page failed", "request_id", requestID(q.ctx()), "err", err)
		http.Error(q.w, http.StatusText(status), status)
	}
}

// errUnreadable refuses a page request whose form or query can't be read.
var errUnreadable = sekisho.Errorf(sekisho.KindInvalid, "invalid_request", "The request could not be read. Go back and try again.")

// readInput checks what the pages read from a request before a handler
// runs. Path values and query parameters must be text a database can hold
// (as checkText does for the API): an id that can't exist is not found.
// A POST must carry its form as application/x-www-form-urlencoded, which
// the pages' forms send, or no body at all; at most maxBody bytes, well
// formed, UTF-8 without NUL. Anything else is refused: read as an empty
// form, a truncated, oversized or garbled post would act as if every field
// were blank (a policy with every box unticked, a cleared name).
func (q *pageReq) readInput() error {
	r := q.r
	for _, name := range []string{"id", "token", "slug"} {
		if !isText(r.PathValue(name)) {
			return sekisho.ErrNotFound
		}
	}
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength != 0 {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
				return errUnreadable
			}
		}
		r.Body = http.MaxBytesReader(q.w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return errUnreadable
		}
	}
	values := r.Form
	if values == nil {
		values = r.URL.Query()
	}
	for k, vs := range values {
		if !isText(k) {
			return errUnreadable
		}
		for _, v := range vs {
			if !isText(v) {
				return errUnreadable
			}
		}
	}
	return nil
}

// form is the posted form, which readInput has read and checked.
func (q *pageReq) form() url.Values {
	if q.r.PostForm == nil {
		return url.Values{}
	}
	return q.r.PostForm
}

// reauthPassword re-authenticates the actor with the password posted in
// field, when there is one; the service then sees a fresh proof.
func (q *pageReq) reauthPassword(f url.Values, field string) (sekisho.Actor, error) {
	pw := f.Get(field)
	if pw == "" {
		return q.a, nil
	}
	return q.s.svc.Reauthenticate(q.ctx(), q.a, auth.Proof{Password: pw})
}

// needsReauth tells a page to ask for the password along with a sensitive
// change: the last proof is older than the window, less a minute for
// filling in the form.
func (q *pageReq) needsReauth() bool {
	return q.now().Sub(q.p.Session.AuthTime) > sekisho.ReauthWindow-time.Minute
}

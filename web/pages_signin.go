package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/totp"
)

// The signed-out pages: first-run setup, invitations, sign-in with its
// second step or forced enrollment, and the forgotten password.

// rootPage sends a signed-in visitor to their account and asks anyone else
// for their workspace.
func (s *Server) rootPage(q *pageReq) error {
	if tok := s.sessionCookie(q.r); tok != "" {
		if _, err := s.svc.Authenticate(q.ctx(), tok); err == nil {
			q.redirect("/account")
			return nil
		}
	}
	f := url.Values{}
	if c, err := q.r.Cookie(s.cookie("sekisho_workspace")); err == nil && slugLike(c.Value) {
		f.Set("workspace", c.Value)
	}
	return q.render(http.StatusOK, "root", &view{Form: f})
}

// findWorkspace is the root page's form: it leads to the workspace's
// sign-in page.
func (s *Server) findWorkspace(q *pageReq) error {
	slug := strings.ToLower(strings.TrimSpace(q.r.URL.Query().Get("workspace")))
	if !slugLike(slug) {
		v := &view{Form: q.r.URL.Query(), Errors: map[string]string{"workspace": q.cat.T("error.workspace_required")}}
		return q.render(http.StatusBadRequest, "root", v)
	}
	q.redirect("/w/" + slug + "/sign-in")
	return nil
}

// afterPassword continues a sign-in after the service's answer to a
// password: a session, the second-factor page or enrollment.
func (q *pageReq) afterPassword(res *auth.SignInResult, slug string) {
	switch res.State {
	case sekisho.StepMFARequired:
		flags := ""
		for _, m := range res.Methods {
			switch m {
			case "totp":
				flags += "t"
			case "recovery_code":
				flags += "r"
			}
		}
		q.setFlow(flowState{kind: "m", flags: flags, token: res.FlowToken})
		if strings.Contains(flags, "t") || !strings.Contains(flags, "r") {
			q.redirect("/w/" + slug + "/sign-in/code")
		} else {
			q.redirect("/w/" + slug + "/sign-in/recovery")
		}
	case sekisho.StepEnrollmentRequired:
		flags := ""
		if res.AccessCodeRequired {
			flags = "a"
		}
		if res.AccessCodeExpired {
			flags += "x"
		}
		q.setFlow(flowState{kind: "e", flags: flags, token: res.FlowToken})
		q.redirect("/w/" + slug + "/sign-in/enroll")
	default:
		q.startSession(res, slug)
		q.redirect("/account")
	}
}

// flowState is a sign-in between its steps, kept in a short-lived HttpOnly
// cookie: the kind of step ("m" second factor, "e" enrollment), what the
// page needs to know (flags), and the service's flow token.
type flowState struct {
	kind, flags, token string
}

func (f flowState) has(flag string) bool { return strings.Contains(f.flags, flag) }

// flowTTL matches the service's lifetime of a pending sign-in.
const pageFlowTTL = 10 * time.Minute

func (q *pageReq) setFlow(f flowState) {
	q.setCookie(q.s.cookie("sekisho_flow"), f.kind+":"+f.flags+":"+f.token, pageFlowTTL)
}

// flow returns the pending sign-in of kind, or ok=false after sending the
// visitor back to the first step.
func (q *pageReq) flow(kind string) (f flowState, ok bool) {
	if c, err := q.r.Cookie(q.s.cookie("sekisho_flow")); err == nil {
		parts := strings.SplitN(c.Value, ":", 3)
		if len(parts) == 3 && parts[0] == kind && parts[2] != "" {
			return flowState{kind: parts[0], flags: parts[1], token: parts[2]}, true
		}
	}
	q.restartSignIn(nil)
	return f, false
}

// restartSignIn ends a pending sign-in that the service no longer knows
// (err, when there is one, says why) and says so on the sign-in page.
func (q *pageReq) restartSignIn(err error) {
	q.clearCookie(q.s.cookie("sekisho_flow"))
	if sekisho.CodeOf(err) == errFlowEnded {
		q.setFlash("error", "flash.too_many_codes")
	} else {
		q.setFlash("error", "flash.flow_expired")
	}
	q.redirect(q.signInURL(q.slug()))
}

// digitsOnly drops the spaces people type into a code ("123 456").
func digitsOnly(code string) string {
	return strings.Join(strings.Fields(code), "")
}

// errFlowEnded is the service's code for a sign-in ended by too many
// wrong codes.
const errFlowEnded = "flow_ended"

// flowEnded reports errors after which the sign-in starts again.
func flowEnded(err error) bool {
	c := sekisho.CodeOf(err)
	return c == sekisho.ErrInvalidFlow.Code || c == errFlowEnded
}

// slug is the workspace in the path.
func (q *pageReq) slug() string {
	s := strings.ToLower(q.r.PathValue("slug"))
	if !slugLike(s) {
		return ""
	}
	return s
}

type signInData struct {
	Slug        string
	HasRecovery bool
	HasTOTP     bool
	Sent        bool
}

func (s *Server) signInPage(q *pageReq) error {
	slug := q.slug()
	if slug == "" {
		return sekisho.ErrNotFound
	}
	return q.render(http.StatusOK, "signin", &view{D: signInData{Slug: slug}})
}

func (s *Server) signInPost(q *pageReq) error {
	slug := q.slug()
	if slug == "" {
		return sekisho.ErrNotFound
	}
	f := q.form()
	res, err := s.svc.SignIn(q.ctx(), q.a, auth.Credentials{Workspace: slug, Email: f.Get("email"), Password: f.Get("password")})
	if err != nil {
		errs := q.formErrors(err, map[string]string{"email": "email", "password": "password", "": "form"})
		if errs == nil {
			return err
		}
		f.Del("password")
		return q.render(formStatus(err), "signin", &view{D: signInData{Slug: slug}, Form: f, Errors: errs})
	}
	q.afterPassword(res, slug)
	return nil
}

// codePage is the second step: a code from the authenticator app.
func (s *Server) codePage(q *pageReq) error {
	fl, ok := q.flow("m")
	if !ok {
		return nil
	}
	return q.render(http.StatusOK, "signin_code", &view{D: signInData{Slug: q.slug(), HasRecovery: fl.has("r"), HasTOTP: fl.has("t")}})
}

func (s *Server) codePost(q *pageReq) error {
	return s.secondFactor(q, "signin_code", "code")
}

// recoveryPage is the second step with a recovery code instead.
func (s *Server) recoveryPage(q *pageReq) error {
	fl, ok := q.flow("m")
	if !ok {
		return nil
	}
	return q.render(http.StatusOK, "signin_recovery", &view{D: signInData{Slug: q.slug(), HasRecovery: fl.has("r"), HasTOTP: fl.has("t")}})
}

func (s *Server) recoveryPost(q *pageReq) error {
	return s.secondFactor(q, "signin_recovery", "recovery_code")
}

// secondFactor checks the code posted in field on page.
func (s *Server) secondFactor(q *pageReq, page, field string) error {
	fl, ok := q.flow("m")
	if !ok {
		return nil
	}
	f := q.form()
	sf := auth.SecondFactor{FlowToken: fl.token}
	if field == "code" {
		sf.Code = digitsOnly(f.Get("code"))
	} else {
		sf.RecoveryCode = strings.TrimSpace(f.Get("recovery_code"))
	}
	res, err := s.svc.SignInMFA(q.ctx(), q.a, sf)
	if flowEnded(err) {
		q.restartSignIn(err)
		return nil
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": field})
		if errs == nil {
			return err
		}
		// A wrong recovery code is not a code from the app: waiting for
		// the next one does not help.
		if field == "recovery_code" && sekisho.CodeOf(err) == sekisho.ErrInvalidCode.Code {
			errs[field] = q.cat.T("error.invalid_recovery_code")
		}
		d := signInData{Slug: q.slug(), HasRecovery: fl.has("r"), HasTOTP: fl.has("t")}
		return q.render(formStatus(err), page, &view{D: d, Errors: errs})
	}
	q.startSession(res, q.slug())
	if res.UsedRecoveryCode {
		q.setFlash("info", "flash.recovery_code_used", res.RemainingRecovery)
		q.redirect("/account#mfa")
		return nil
	}
	q.redirect("/account")
	return nil
}

type enrollData struct {
	Slug               string
	AccessCodeRequired bool
	QR                 template.URL
	Secret             string
	URI                string
	Action             string // where the confirmation posts
	Name               string // the authenticator's name (account settings)
	ExpiresAt          time.Time
}

// enrollPage is forced enrollment's first page: why, and the access code
// when an admin reset asks for one.
func (s *Server) enrollPage(q *pageReq) error {
	fl, ok := q.flow("e")
	if !ok {
		return nil
	}
	var errs map[string]string
	if fl.has("x") {
		// Say it before the user hunts for a code that can no longer work.
		errs = map[string]string{"access_code": q.cat.T("error.access_code_expired")}
	}
	return q.render(http.StatusOK, "enroll_start", &view{D: enrollData{Slug: q.slug(), AccessCodeRequired: fl.has("a")}, Errors: errs})
}

// enrollStart creates the authenticator and shows its QR code.
func (s *Server) enrollStart(q *pageReq) error {
	fl, ok := q.flow("e")
	if !ok {
		return nil
	}
	f := q.form()
	access := strings.TrimSpace(f.Get("access_code"))
	e, err := s.svc.SignInEnroll(q.ctx(), fl.token, q.cat.T("account.default_auth_name"), access)
	if flowEnded(err) {
		q.restartSignIn(err)
		return nil
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"access_code": "access_code", "": "form"})
		if errs == nil {
			return err
		}
		if sekisho.CodeOf(err) == "access_code_required" && !fl.has("a") {
			fl.flags += "a"
			q.setFlow(fl)
		}
		return q.render(formStatus(err), "enroll_start", &view{D: enrollData{Slug: q.slug(), AccessCodeRequired: true}, Errors: errs})
	}
	d, err := enrollmentData(e.URI)
	if err != nil {
		return err
	}
	d.Slug, d.ExpiresAt = q.slug(), e.ExpiresAt
	d.Action = "/w/" + q.slug() + "/sign-in/enroll/confirm"
	return q.render(http.StatusOK, "enroll_qr", &view{D: d})
}

// enrollConfirm checks the first code and signs in, showing the recovery
// codes once.
func (s *Server) enrollConfirm(q *pageReq) error {
	fl, ok := q.flow("e")
	if !ok {
		return nil
	}
	f := q.form()
	res, err := s.svc.SignInEnrollConfirm(q.ctx(), q.a, fl.token, digitsOnly(f.Get("code")))
	if flowEnded(err) {
		q.restartSignIn(err)
		return nil
	}
	switch sekisho.CodeOf(err) {
	case "enrollment_expired", "enrollment_not_started", "access_code_required", "invalid_access_code":
		q.setFlash("error", "flash.enrollment_restart")
		q.redirect("/w/" + q.slug() + "/sign-in/enroll")
		return nil
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "code"})
		if errs == nil {
			return err
		}
		d, derr := enrollmentData(f.Get("uri"))
		if derr != nil {
			q.setFlash("error", "flash.enrollment_restart")
			q.redirect("/w/" + q.slug() + "/sign-in/enroll")
			return nil
		}
		d.Slug = q.slug()
		d.Action = "/w/" + q.slug() + "/sign-in/enroll/confirm"
		return q.render(formStatus(err), "enroll_qr", &view{D: d, Errors: errs})
	}
	q.startSession(res, q.slug())
	return q.showRecoveryCodes(res.RecoveryCodes, "enrolled")
}

// enrollmentData is what the QR page shows for an otpauth URI: the QR
// code as a data: URL and the secret for typing. The URI travels in a
// hidden field only so that the page can be shown again after a wrong
// code; the service never reads it back.
func enrollmentData(uri string) (enrollData, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || len(uri) > 1024 {
		return enrollData{}, errors.New("web: not an otpauth URI")
	}
	sec := u.Query().Get("secret")
	if sec == "" {
		return enrollData{}, errors.New("web: otpauth URI without a secret")
	}
	png, err := totp.QRCodePNG(uri, 240)
	if err != nil {
		return enrollData{}, err
	}
	return enrollData{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Secret: sec, URI: uri,
	}, nil
}

type codesData struct {
	Codes    []string
	Context  string // "enrolled", "added" or "regenerated"
	Download template.URL
	Text     string
}

// showRecoveryCodes shows recovery codes, once, in the answer to the POST
// that made them, with a .txt download as a data: link.
func (q *pageReq) showRecoveryCodes(codes []string, context string) error {
	var b strings.Builder
	b.WriteString(q.cat.T("codes.file_header") + "\n")
	if q.p != nil {
		b.WriteString(q.p.User.Email + " (" + q.p.Workspace.Slug + ")\n")
	}
	b.WriteString("\n")
	for _, c := range codes {
		b.WriteString(c + "\n")
	}
	text := b.String()
	d := codesData{Codes: codes, Context: context, Text: strings.Join(codes, "\n"),
		Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))}
	return q.render(http.StatusOK, "recovery_codes", &view{D: d})
}

type tokenPageData struct {
	Workspace *sekisho.Workspace
	User      *sekisho.User
}

// setupPage is the first run: the first workspace and its admin.
func (s *Server) setupPage(q *pageReq) error {
	return q.render(http.StatusOK, "setup", nil)
}

func (s *Server) setupPost(q *pageReq) error {
	f := q.form()
	res, err := s.svc.Setup(q.ctx(), q.a, auth.SetupRequest{
		Token: q.r.PathValue("token"), WorkspaceSlug: f.Get("workspace_slug"), WorkspaceName: f.Get("workspace_name"),
		Email: f.Get("email"), Name: f.Get("name"), Password: f.Get("password"),
	})
	if err != nil {
		errs := q.formErrors(err, map[string]string{"slug": "workspace_slug", "workspace_name": "workspace_name",
			"email": "email", "name": "name", "password": "password", "": "form"})
		if errs == nil {
			return err
		}
		f.Del("password")
		return q.render(formStatus(err), "setup", &view{Form: f, Errors: errs})
	}
	slug := strings.ToLower(strings.TrimSpace(f.Get("workspace_slug")))
	if res.State == sekisho.StepSignedIn {
		q.setFlash("ok", "flash.setup_done")
	}
	q.afterPassword(res, slug)
	return nil
}

// invitationPage lets an invited user choose their password.
func (s *Server) invitationPage(q *pageReq) error {
	inv, err := s.svc.Invitation(q.ctx(), q.r.PathValue("token"))
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "invitation", &view{D: tokenPageData{Workspace: inv.Workspace, User: inv.User}})
}

func (s *Server) invitationPost(q *pageReq) error {
	token := q.r.PathValue("token")
	f := q.form()
	inv, err := s.svc.AcceptInvitation(q.ctx(), q.a, token, f.Get("password"))
	if err != nil {
		errs := q.formErrors(err, map[string]string{"password": "password", "": "password"})
		if errs == nil {
			return err
		}
		again, ierr := s.svc.Invitation(q.ctx(), token)
		if ierr != nil {
			return ierr
		}
		return q.render(formStatus(err), "invitation", &view{D: tokenPageData{Workspace: again.Workspace, User: again.User}, Errors: errs})
	}
	q.setFlash("ok", "flash.invitation_accepted")
	q.redirect("/w/" + inv.Workspace.Slug + "/sign-in")
	return nil
}

// resetRequestPage asks for the email of a forgotten password.
func (s *Server) resetRequestPage(q *pageReq) error {
	slug := q.slug()
	if slug == "" {
		return sekisho.ErrNotFound
	}
	return q.render(http.StatusOK, "reset_request", &view{D: signInData{Slug: slug, Sent: q.r.URL.Query().Get("sent") == "1"}})
}

func (s *Server) resetRequestPost(q *pageReq) error {
	slug := q.slug()
	if slug == "" {
		return sekisho.ErrNotFound
	}
	f := q.form()
	if err := s.svc.RequestPasswordReset(q.ctx(), q.a, slug, f.Get("email")); err != nil {
		errs := q.formErrors(err, map[string]string{"email": "email", "": "email"})
		if errs == nil {
			return err
		}
		return q.render(formStatus(err), "reset_request", &view{D: signInData{Slug: slug}, Form: f, Errors: errs})
	}
	q.redirect("/w/" + slug + "/password-reset?sent=1")
	return nil
}

// resetConfirmPage sets a new password with a reset link.
func (s *Server) resetConfirmPage(q *pageReq) error {
	inv, err := s.svc.PasswordResetUser(q.ctx(), q.r.PathValue("token"))
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "reset_confirm", &view{D: tokenPageData{Workspace: inv.Workspace, User: inv.User}})
}

func (s *Server) resetConfirmPost(q *pageReq) error {
	token := q.r.PathValue("token")
	f := q.form()
	inv, err := s.svc.ConfirmPasswordReset(q.ctx(), q.a, token, f.Get("password"))
	if err != nil {
		errs := q.formErrors(err, map[string]string{"password": "password", "": "password"})
		if errs == nil {
			return err
		}
		again, ierr := s.svc.PasswordResetUser(q.ctx(), token)
		if ierr != nil {
			return ierr
		}
		return q.render(formStatus(err), "reset_confirm", &view{D: tokenPageData{Workspace: again.Workspace, User: again.User}, Errors: errs})
	}
	q.setFlash("ok", "flash.password_reset_done")
	q.redirect("/w/" + inv.Workspace.Slug + "/sign-in")
	return nil
}

// signOutPost ends this session.
func (s *Server) signOutPost(q *pageReq) error {
	if err := s.svc.SignOut(q.ctx(), q.a); err != nil {
		return err
	}
	q.clearCookie(s.cookieName())
	q.setFlash("ok", "flash.signed_out")
	q.redirect(q.signInURL(q.p.Workspace.Slug))
	return nil
}

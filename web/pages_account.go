package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// Account settings (アカウント設定): profile, password, authenticators,
// recovery codes and sessions of the signed-in user.

type accountData struct {
	Confirmed      []sekisho.Authenticator
	Pending        []sekisho.Authenticator
	RecoveryLeft   int
	Required       bool
	CanRemoveAll   bool
	Sessions       []*sekisho.Session
	CurrentSession string
	NeedsReauth    bool
	ShowAccessCode bool
	Now            time.Time
}

func (s *Server) accountPage(q *pageReq) error {
	return s.renderAccount(q, http.StatusOK, nil, nil, false)
}

// renderAccount shows account settings, with errs beside the inputs of
// the form that failed.
func (s *Server) renderAccount(q *pageReq, status int, errs map[string]string, f url.Values, showAccess bool) error {
	st, err := s.svc.MFA(q.ctx(), q.a)
	if err != nil {
		return err
	}
	sessions, err := s.svc.Sessions(q.ctx(), q.a)
	if err != nil {
		return err
	}
	d := accountData{RecoveryLeft: st.RecoveryCodesRemaining, Required: st.Required, Sessions: sessions,
		CurrentSession: q.p.Session.ID, NeedsReauth: q.needsReauth(), ShowAccessCode: showAccess, Now: q.now()}
	for _, a := range st.Authenticators {
		if a.Confirmed() {
			d.Confirmed = append(d.Confirmed, a)
		} else {
			d.Pending = append(d.Pending, a)
		}
	}
	d.CanRemoveAll = len(d.Confirmed) > 0 && !st.Required
	if f == nil {
		f = url.Values{}
		f.Set("name", q.p.User.Name)
		f.Set("locale", q.p.User.Locale)
	}
	return q.render(status, "account", &view{D: d, Form: f, Errors: errs})
}

func (s *Server) profilePost(q *pageReq) error {
	f := q.form()
	name, locale := f.Get("name"), f.Get("locale")
	_, err := s.svc.UpdateProfile(q.ctx(), q.a, auth.ProfileUpdate{Name: &name, Locale: &locale})
	if err != nil {
		errs := q.formErrors(err, map[string]string{"name": "name", "locale": "locale", "": "name"})
		if errs == nil {
			return err
		}
		return s.renderAccount(q, formStatus(err), errs, f, false)
	}
	q.setFlash("ok", "flash.profile_saved")
	q.redirect("/account")
	return nil
}

func (s *Server) passwordPost(q *pageReq) error {
	f := q.form()
	err := s.svc.ChangePassword(q.ctx(), q.a, f.Get("current_password"), f.Get("new_password"))
	if err != nil {
		errs := q.formErrors(err, map[string]string{"current_password": "current_password", "password": "new_password", "new_password": "new_password",
			"code:invalid_password": "current_password", "": "current_password"})
		if errs == nil {
			return err
		}
		return s.renderAccount(q, formStatus(err), errs, q.profileForm(), false)
	}
	q.setFlash("ok", "flash.password_changed")
	q.redirect("/account#password")
	return nil
}

// profileForm is the profile as the account page fills it in.
func (q *pageReq) profileForm() url.Values {
	f := url.Values{}
	f.Set("name", q.p.User.Name)
	f.Set("locale", q.p.User.Locale)
	return f
}

// totpStart begins adding an authenticator app and shows its QR code.
func (s *Server) totpStart(q *pageReq) error {
	f := q.form()
	reauthFields := map[string]string{"password": "totp_password", "": "totp_password"}
	a, err := q.reauthPassword(f, "password")
	if err != nil {
		errs := q.formErrors(err, reauthFields)
		if errs == nil {
			return err
		}
		return s.renderAccount(q, formStatus(err), errs, q.withProfile(f), f.Get("access_code") != "")
	}
	// No name given: the default name in the page's language, not the
	// service's English one.
	name := strings.TrimSpace(f.Get("totp_name"))
	if name == "" {
		name = q.cat.T("account.default_auth_name")
	}
	e, err := s.svc.StartTOTP(q.ctx(), a, name, strings.TrimSpace(f.Get("access_code")))
	if err != nil {
		errs := q.formErrors(err, map[string]string{"name": "totp_name", "access_code": "totp_access_code",
			"code:reauthentication_required": "totp_password", "": "totp_name"})
		if errs == nil {
			return err
		}
		code := sekisho.CodeOf(err)
		showAccess := f.Get("access_code") != "" || code == "access_code_required" || code == "invalid_access_code"
		return s.renderAccount(q, formStatus(err), errs, q.withProfile(f), showAccess)
	}
	d, err := enrollmentData(e.URI)
	if err != nil {
		return err
	}
	d.Name, d.ExpiresAt = name, e.ExpiresAt
	d.Action = "/account/mfa/totp/" + url.PathEscape(e.ID) + "/confirm"
	return q.render(http.StatusOK, "account_totp", &view{D: d})
}

// withProfile adds the saved profile to a posted form for showing the
// account page again.
func (q *pageReq) withProfile(f url.Values) url.Values {
	out := q.profileForm()
	for k, v := range f {
		if k != "password" && k != "name" && k != "locale" {
			out[k] = v
		}
	}
	return out
}

// totpConfirm confirms the new authenticator with a code from it.
func (s *Server) totpConfirm(q *pageReq) error {
	f := q.form()
	res, err := s.svc.ConfirmTOTP(q.ctx(), q.a, q.r.PathValue("id"), digitsOnly(f.Get("code")))
	switch sekisho.CodeOf(err) {
	case "enrollment_expired", "already_confirmed":
		q.setFlash("error", "flash.totp_restart")
		q.redirect("/account#mfa")
		return nil
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "code"})
		if errs == nil {
			return err
		}
		d, derr := enrollmentData(f.Get("uri"))
		if derr != nil {
			q.setFlash("error", "flash.totp_restart")
			q.redirect("/account#mfa")
			return nil
		}
		d.Name = f.Get("name")
		d.Action = q.r.URL.Path
		return q.render(formStatus(err), "account_totp", &view{D: d, Errors: errs})
	}
	q.startSession(res, q.p.Workspace.Slug) // aal2, under a new token
	if len(res.RecoveryCodes) > 0 {
		return q.showRecoveryCodes(res.RecoveryCodes, "added")
	}
	q.setFlash("ok", "flash.authenticator_added")
	q.redirect("/account#mfa")
	return nil
}

func (s *Server) totpRename(q *pageReq) error {
	f := q.form()
	id := q.r.PathValue("id")
	if err := s.svc.RenameAuthenticator(q.ctx(), q.a, id, f.Get("name")); err != nil {
		errs := q.formErrors(err, map[string]string{"": "rename-" + id})
		if errs == nil {
			return err
		}
		return s.renderAccount(q, formStatus(err), errs, q.profileForm(), false)
	}
	q.setFlash("ok", "flash.authenticator_renamed")
	q.redirect("/account#mfa")
	return nil
}

type removeData struct {
	Auth        *sekisho.Authenticator
	All         bool
	Blocked     bool // the workspace requires MFA and this is the last factor
	NeedsReauth bool
}

// removeTarget finds the actor's authenticator id and whether removing it
// is the one the workspace's policy forbids.
func (s *Server) removeTarget(q *pageReq, id string) (*removeData, error) {
	st, err := s.svc.MFA(q.ctx(), q.a)
	if err != nil {
		return nil, err
	}
	confirmed := 0
	var found *sekisho.Authenticator
	for i, a := range st.Authenticators {
		if a.Confirmed() {
			confirmed++
		}
		if a.ID == id {
			found = &st.Authenticators[i]
		}
	}
	if found == nil {
		return nil, sekisho.ErrNotFound
	}
	return &removeData{Auth: found, Blocked: st.Required && found.Confirmed() && confirmed == 1, NeedsReauth: q.needsReauth()}, nil
}

// totpRemovePage asks to confirm removing an authenticator.
func (s *Server) totpRemovePage(q *pageReq) error {
	d, err := s.removeTarget(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "account_remove", &view{D: d})
}

func (s *Server) totpRemovePost(q *pageReq) error {
	id := q.r.PathValue("id")
	f := q.form()
	a, err := q.reauthPassword(f, "password")
	if err == nil {
		err = s.svc.RemoveAuthenticator(q.ctx(), a, id)
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "password", "code:mfa_required_by_workspace": "form"})
		if errs == nil {
			return err
		}
		d, derr := s.removeTarget(q, id)
		if derr != nil {
			return derr
		}
		d.NeedsReauth = d.NeedsReauth || sekisho.CodeOf(err) == sekisho.ErrReauthRequired.Code
		return q.render(formStatus(err), "account_remove", &view{D: d, Errors: errs})
	}
	q.setFlash("ok", "flash.authenticator_removed")
	q.redirect("/account#mfa")
	return nil
}

// mfaRemoveAllPage asks to confirm removing every factor (only while the
// workspace does not require MFA).
func (s *Server) mfaRemoveAllPage(q *pageReq) error {
	st, err := s.svc.MFA(q.ctx(), q.a)
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "account_remove", &view{D: &removeData{All: true, Blocked: st.Required, NeedsReauth: q.needsReauth()}})
}

func (s *Server) mfaRemoveAllPost(q *pageReq) error {
	f := q.form()
	a, err := q.reauthPassword(f, "password")
	if err == nil {
		err = s.svc.RemoveAllMFA(q.ctx(), a)
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "password", "code:mfa_required_by_workspace": "form"})
		if errs == nil {
			return err
		}
		d := &removeData{All: true, NeedsReauth: q.needsReauth() || sekisho.CodeOf(err) == sekisho.ErrReauthRequired.Code}
		return q.render(formStatus(err), "account_remove", &view{D: d, Errors: errs})
	}
	q.setFlash("ok", "flash.mfa_removed_all")
	q.redirect("/account#mfa")
	return nil
}

// recoveryCodesPost replaces the recovery codes and shows the new ones.
func (s *Server) recoveryCodesPost(q *pageReq) error {
	f := q.form()
	a, err := q.reauthPassword(f, "password")
	var codes []string
	if err == nil {
		codes, err = s.svc.RegenerateRecoveryCodes(q.ctx(), a)
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "codes_password"})
		if errs == nil {
			return err
		}
		return s.renderAccount(q, formStatus(err), errs, q.profileForm(), false)
	}
	return q.showRecoveryCodes(codes, "regenerated")
}

func (s *Server) revokeSessionPost(q *pageReq) error {
	id := q.r.PathValue("id")
	if err := s.svc.RevokeSession(q.ctx(), q.a, id); err != nil {
		return err
	}
	if id == q.p.Session.ID {
		q.clearCookie(s.cookieName())
		q.setFlash("ok", "flash.signed_out")
		q.redirect(q.signInURL(q.p.Workspace.Slug))
		return nil
	}
	q.setFlash("ok", "flash.session_revoked")
	q.redirect("/account#sessions")
	return nil
}

package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// The admin console: user management (ユーザー管理) with MFA status, the
// user detail page with the MFA reset (多要素認証を解除), workspace
// settings → security (ワークスペース設定) and the audit log. Every page
// asks the service, which applies the permission table; the pages only
// hide what the same policy functions say the service would refuse.

var allRoles = []sekisho.Role{sekisho.RoleMember, sekisho.RoleUserAdmin, sekisho.RoleWorkspaceAdmin}

// assignable are the roles the actor may give.
func assignable(a sekisho.Actor) []sekisho.Role {
	var out []sekisho.Role
	for _, r := range allRoles {
		if sekisho.CanAssignRole(a, r) == nil {
			out = append(out, r)
		}
	}
	return out
}

type usersData struct {
	Users    []*sekisho.User
	Roles    []sekisho.Role // for the filter
	Assign   []sekisho.Role // for the invitation form
	Filter   url.Values
	Filtered bool
	NextURL  string
	FirstURL string
}

func (s *Server) usersPage(q *pageReq) error {
	return s.renderUsers(q, http.StatusOK, nil, nil)
}

func (s *Server) renderUsers(q *pageReq, status int, errs map[string]string, f url.Values) error {
	qv := q.r.URL.Query()
	filter := url.Values{}
	for _, k := range []string{"q", "role", "status", "mfa"} {
		if v := strings.TrimSpace(qv.Get(k)); v != "" {
			filter.Set(k, v)
		}
	}
	page, err := s.svc.ListUsers(q.ctx(), q.a, q.p.Workspace.ID, auth.UserQuery{
		Q: filter.Get("q"), Role: filter.Get("role"), Status: filter.Get("status"), MFA: filter.Get("mfa"), Cursor: qv.Get("cursor")})
	if err != nil {
		return err
	}
	d := usersData{Users: page.Users, Roles: allRoles, Assign: assignable(q.a), Filter: filter, Filtered: len(filter) > 0}
	if page.NextCursor != "" {
		next := cloneValues(filter)
		next.Set("cursor", page.NextCursor)
		d.NextURL = "/admin/users?" + next.Encode()
	}
	if qv.Get("cursor") != "" {
		d.FirstURL = "/admin/users"
		if len(filter) > 0 {
			d.FirstURL += "?" + filter.Encode()
		}
	}
	if f == nil {
		f = url.Values{}
		f.Set("invite_role", string(sekisho.RoleMember))
	}
	return q.render(status, "admin_users", &view{D: d, Form: f, Errors: errs})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

type invitedData struct {
	User *sekisho.User
	Link string
}

// inviteUserPost invites a user and shows the invitation link once.
func (s *Server) inviteUserPost(q *pageReq) error {
	f := q.form()
	u, link, err := s.svc.CreateUser(q.ctx(), q.a, q.p.Workspace.ID, auth.NewUser{
		Email: f.Get("invite_email"), Name: f.Get("invite_name"), Role: f.Get("invite_role")})
	if err != nil {
		errs := q.formErrors(err, map[string]string{"email": "invite_email", "name": "invite_name", "role": "invite_role",
			"code:email_taken": "invite_email", "code:forbidden": "invite_role", "": "invite_email"})
		if errs == nil {
			return err
		}
		return s.renderUsers(q, formStatus(err), errs, f)
	}
	return q.render(http.StatusCreated, "admin_invited", &view{D: invitedData{User: u, Link: link}})
}

type userData struct {
	*auth.UserDetail
	Self      bool
	CanManage bool
	Assign    []sekisho.Role
	CanEnable bool
	CanDisabl bool
	CanDelete bool
	CanReset  bool
}

// userDetail loads user id and what the actor may do to them, by the
// same policy functions the service applies.
func (s *Server) userDetail(q *pageReq, id string) (*userData, error) {
	d, err := s.svc.GetUser(q.ctx(), q.a, q.p.Workspace.ID, id)
	if err != nil {
		return nil, err
	}
	u := d.User
	out := &userData{UserDetail: d, Self: u.ID == q.p.User.ID}
	out.CanManage = sekisho.CanManageUser(q.a, u) == nil
	if out.CanManage {
		out.Assign = assignable(q.a)
		out.CanDisabl = u.Status == sekisho.StatusActive && sekisho.CanChangeStatus(q.a, u, sekisho.StatusDisabled) == nil
		out.CanEnable = u.Status == sekisho.StatusDisabled && sekisho.CanChangeStatus(q.a, u, sekisho.StatusActive) == nil
	}
	out.CanDelete = sekisho.CanDeleteUser(q.a, u) == nil
	out.CanReset = sekisho.CanResetMFA(q.a, u) == nil
	return out, nil
}

func (s *Server) userPage(q *pageReq) error {
	d, err := s.userDetail(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	f := url.Values{}
	f.Set("role", string(d.User.Role))
	return q.render(http.StatusOK, "admin_user", &view{D: d, Form: f})
}

// userPost changes a user's role or status.
func (s *Server) userPost(q *pageReq) error {
	id := q.r.PathValue("id")
	f := q.form()
	var up auth.UserUpdate
	field := "form"
	switch f.Get("action") {
	case "role":
		r := f.Get("role")
		up.Role, field = &r, "role"
	case "disable", "enable":
		st := string(sekisho.StatusDisabled)
		if f.Get("action") == "enable" {
			st = string(sekisho.StatusActive)
		}
		up.Status, field = &st, "status"
	default:
		return sekisho.Invalid("action", "invalid_action", "Choose a change to make.")
	}
	if _, err := s.svc.UpdateUser(q.ctx(), q.a, q.p.Workspace.ID, id, up); err != nil {
		errs := q.formErrors(err, map[string]string{"": field, "role": "role", "status": "status"})
		if errs == nil {
			return err
		}
		d, derr := s.userDetail(q, id)
		if derr != nil {
			return derr
		}
		return q.render(formStatus(err), "admin_user", &view{D: d, Form: f, Errors: errs})
	}
	q.setFlash("ok", "flash.user_updated")
	q.redirect("/admin/users/" + url.PathEscape(id))
	return nil
}

func (s *Server) userDeletePage(q *pageReq) error {
	d, err := s.userDetail(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := sekisho.CanDeleteUser(q.a, d.User); err != nil {
		return err
	}
	return q.render(http.StatusOK, "admin_user_delete", &view{D: d})
}

func (s *Server) userDeletePost(q *pageReq) error {
	id := q.r.PathValue("id")
	if err := s.svc.DeleteUser(q.ctx(), q.a, q.p.Workspace.ID, id); err != nil {
		errs := q.formErrors(err, map[string]string{"": "form"})
		if errs == nil {
			return err
		}
		d, derr := s.userDetail(q, id)
		if derr != nil {
			return derr
		}
		return q.render(formStatus(err), "admin_user_delete", &view{D: d, Errors: errs})
	}
	q.setFlash("ok", "flash.user_deleted")
	q.redirect("/admin/users")
	return nil
}

type resetData struct {
	*userData
	Workspace   *sekisho.Workspace
	NeedsReauth bool
	AccessCode  string
}

// resetMFAPage says exactly what resetting the user's MFA does, and asks
// to confirm.
func (s *Server) resetMFAPage(q *pageReq) error {
	d, err := s.resetDetail(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "admin_user_reset", &view{D: d})
}

func (s *Server) resetDetail(q *pageReq, id string) (*resetData, error) {
	u, err := s.userDetail(q, id)
	if err != nil {
		return nil, err
	}
	if err := sekisho.CanResetMFA(q.a, u.User); err != nil {
		return nil, err
	}
	wp, err := s.svc.GetWorkspace(q.ctx(), q.a, q.p.Workspace.ID)
	if err != nil {
		return nil, err
	}
	return &resetData{userData: u, Workspace: wp.Workspace, NeedsReauth: q.needsReauth()}, nil
}

// resetMFAPost resets the user's MFA and shows the access code once, when
// the workspace hands them out.
func (s *Server) resetMFAPost(q *pageReq) error {
	id := q.r.PathValue("id")
	f := q.form()
	a, err := q.reauthPassword(f, "password")
	var code string
	if err == nil {
		code, err = s.svc.ResetMFA(q.ctx(), a, q.p.Workspace.ID, id)
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"": "password"})
		if errs == nil {
			return err
		}
		d, derr := s.resetDetail(q, id)
		if derr != nil {
			return derr
		}
		d.NeedsReauth = true
		return q.render(formStatus(err), "admin_user_reset", &view{D: d, Errors: errs})
	}
	if code == "" {
		q.setFlash("ok", "flash.mfa_reset")
		q.redirect("/admin/users/" + url.PathEscape(id))
		return nil
	}
	d, err := s.userDetail(q, id)
	if err != nil {
		return err
	}
	return q.render(http.StatusOK, "admin_user_reset_done", &view{D: &resetData{userData: d, AccessCode: code}})
}

type workspaceData struct {
	*auth.WorkspacePolicy
	CanChange   bool
	AdminHasMFA bool
	NeedsReauth bool
	DueAt       time.Time // when the grace period of current members ends
}

func (s *Server) workspacePage(q *pageReq) error {
	return s.renderWorkspace(q, http.StatusOK, nil, nil)
}

func (s *Server) renderWorkspace(q *pageReq, status int, errs map[string]string, f url.Values) error {
	wp, err := s.svc.GetWorkspace(q.ctx(), q.a, q.p.Workspace.ID)
	if err != nil {
		return err
	}
	w := wp.Workspace
	d := workspaceData{WorkspacePolicy: wp, CanChange: sekisho.CanChangePolicy(q.a, w.ID) == nil,
		AdminHasMFA: q.p.User.HasMFA, NeedsReauth: q.needsReauth()}
	if w.RequireMFA {
		d.DueAt = w.MFAEnforcedSince.AddDate(0, 0, w.MFAGraceDays)
	}
	if f == nil {
		f = url.Values{}
		if w.RequireMFA {
			f.Set("require_mfa", "on")
		}
		if w.ResetRequiresAccessCode {
			f.Set("reset_requires_access_code", "on")
		}
		f.Set("mfa_grace_days", strconv.Itoa(w.MFAGraceDays))
	}
	return q.render(status, "admin_workspace", &view{D: d, Form: f, Errors: errs})
}

// workspacePost changes the security policy. Checkboxes are absent when
// off, so the form always sends the whole policy.
func (s *Server) workspacePost(q *pageReq) error {
	f := q.form()
	require := f.Get("require_mfa") == "on"
	access := f.Get("reset_requires_access_code") == "on"
	up := auth.PolicyUpdate{RequireMFA: &require, ResetRequiresAccessCode: &access}
	var err error
	if v := strings.TrimSpace(f.Get("mfa_grace_days")); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			err = sekisho.Invalid("mfa_grace_days", "invalid_grace_days", "Grace days must be between 0 and 90.")
		}
		up.MFAGraceDays = &n
	}
	a := q.a
	if err == nil {
		a, err = q.reauthPassword(f, "password")
	}
	if err == nil {
		_, err = s.svc.UpdateWorkspace(q.ctx(), a, q.p.Workspace.ID, up)
	}
	if err != nil {
		errs := q.formErrors(err, map[string]string{"mfa_grace_days": "mfa_grace_days",
			"code:admin_mfa_required": "require_mfa", "": "password"})
		if errs == nil {
			return err
		}
		f.Del("password")
		return s.renderWorkspace(q, formStatus(err), errs, f)
	}
	q.setFlash("ok", "flash.policy_saved")
	q.redirect("/admin/workspace")
	return nil
}

type auditData struct {
	Events    []*sekisho.AuditEvent
	Types     []string // for the type filter
	Names     map[string]string
	Filter    url.Values
	Filtered  bool
	NextURL   string
	FirstURL  string
	ExportURL string
}

// auditPage is the audit log, newest first, with filters and paging, and
// a link to the NDJSON export of the API (which accepts the cookie).
func (s *Server) auditPage(q *pageReq) error {
	qv := q.r.URL.Query()
	filter := url.Values{}
	for _, k := range []string{"actor", "target", "type"} {
		if v := strings.TrimSpace(qv.Get(k)); v != "" {
			filter.Set(k, v)
		}
	}
	page, err := s.svc.AuditEvents(q.ctx(), q.a, q.p.Workspace.ID, auth.AuditQuery{
		Actor: filter.Get("actor"), Target: filter.Get("target"), Type: filter.Get("type"), Cursor: qv.Get("cursor")})
	if err != nil {
		return err
	}
	types := auditTypes
	if t := filter.Get("type"); t != "" && !slices.Contains(types, t) {
		types = append(slices.Clip(types), t) // a link to a type the catalogs don't name
	}
	d := auditData{Events: page.Events, Types: types, Filter: filter, Filtered: len(filter) > 0, Names: s.userNames(q, page.Events),
		ExportURL: "/api/v1/admin/audit-events/export"}
	if len(filter) > 0 {
		d.ExportURL += "?" + filter.Encode()
	}
	if page.NextCursor != "" {
		next := cloneValues(filter)
		next.Set("cursor", page.NextCursor)
		d.NextURL = "/admin/audit?" + next.Encode()
	}
	if qv.Get("cursor") != "" {
		d.FirstURL = "/admin/audit"
		if len(filter) > 0 {
			d.FirstURL += "?" + filter.Encode()
		}
	}
	return q.render(http.StatusOK, "admin_audit", &view{D: d, Form: filter})
}

// userNames maps the user ids in events to emails, for reading; a user
// deleted since shows as their id.
func (s *Server) userNames(q *pageReq, events []*sekisho.AuditEvent) map[string]string {
	names := map[string]string{}
	var ids []string
	add := func(id string) {
		if _, ok := names[id]; id != "" && !ok {
			names[id] = id
			ids = append(ids, id)
		}
	}
	for _, e := range events {
		if e.ActorKind == sekisho.ActorUser {
			add(e.ActorID)
		}
		add(e.TargetID)
	}
	emails, err := s.svc.UserEmails(q.ctx(), q.a, q.p.Workspace.ID, ids)
	if err != nil {
		return names // the page still shows the events, by id
	}
	for id, email := range emails {
		names[id] = email
	}
	return names
}

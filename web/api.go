package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// SessionCookie carries the session of the web pages. The __Host- prefix
// pins it to this host and path / with Secure: no subdomain can read or set
// it. Plain-http development drops the prefix with Secure.
const (
	SessionCookie    = "__Host-sekisho_session"
	devSessionCookie = "sekisho_session"
)

func (s *Server) cookieName() string {
	if s.secure {
		return SessionCookie
	}
	return devSessionCookie
}

// sessionToken is the caller's token: the Authorization header for API
// clients, the cookie for the web pages.
func (s *Server) sessionToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if c, err := r.Cookie(s.cookieName()); err == nil {
		return c.Value
	}
	return ""
}

// public wraps a handler that needs no session.
func (s *Server) public(fn func(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiHeaders.set(w)
		if err := fn(w, r, sekisho.Anonymous(s.clientIP(r), r.UserAgent())); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// user wraps a handler that needs a valid session.
func (s *Server) user(fn func(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiHeaders.set(w)
		p, err := s.svc.Authenticate(r.Context(), s.sessionToken(r))
		if err == nil {
			err = checkText(r)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := fn(w, r, p, p.Actor(s.clientIP(r), r.UserAgent())); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// checkText refuses path and query values that no database stores as text
// (PostgreSQL rejects NUL and invalid UTF-8) before they reach a query: an
// id that can't exist is not found, a filter that can't match is bad input.
func checkText(r *http.Request) error {
	if !isText(r.PathValue("id")) {
		return sekisho.ErrNotFound
	}
	if r.URL.RawQuery == "" {
		return nil // the session check: no query to parse
	}
	// r.URL.Query() drops the pairs it can't decode, so a cursor or a
	// filter with a bad escape would silently vanish and the answer
	// describe another request.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_query", "The query string is not well-formed: escape %% as %%25.")
	}
	for k, vs := range q {
		ok := isText(k)
		for _, v := range vs {
			ok = ok && isText(v)
		}
		if !ok {
			return sekisho.Errorf(sekisho.KindInvalid, "invalid_query", "Query parameters must be UTF-8 text.")
		}
	}
	return nil
}

func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// apiHeaders are the security headers of every API answer.
var apiHeaders = fixedHeaders(
	"X-Content-Type-Options", "nosniff",
	"Referrer-Policy", "no-referrer",
	"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'",
	"Cache-Control", "no-store",
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.db.Ping(r.Context()); err != nil {
		if r.Context().Err() != nil {
			return // the client went away: that says nothing about the database
		}
		s.log.WarnContext(r.Context(), "database not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody("database_unavailable", "The database does not answer."))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// notFound answers API paths no route takes: 405 with Allow when the path
// exists for other methods, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, _ sekisho.Actor) error {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", "This endpoint does not take "+r.Method+"."))
		return nil
	}
	return sekisho.Errorf(sekisho.KindNotFound, "no_such_endpoint", "There is no such endpoint.")
}

// ts renders a time for JSON; the zero time is left out.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type userJSON struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Locale     string    `json:"locale"`
	Role       string    `json:"role"`
	Status     string    `json:"status"`
	MFAEnabled bool      `json:"mfa_enabled"`
	MFAResetAt time.Time `json:"mfa_reset_at,omitzero"`
	JoinedAt   time.Time `json:"joined_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (u userJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, u.ID)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, u.Email)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `,"locale":`...)
	b = appendJSONString(b, u.Locale)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, u.Role)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, u.Status)
	b = append(b, `,"mfa_enabled":`...)
	b = strconv.AppendBool(b, u.MFAEnabled)
	if !u.MFAResetAt.IsZero() {
		b = append(b, `,"mfa_reset_at":`...)
		b = appendJSONTime(b, u.MFAResetAt)
	}
	if !u.JoinedAt.IsZero() {
		b = append(b, `,"joined_at":`...)
		b = appendJSONTime(b, u.JoinedAt)
	}
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, u.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, u.UpdatedAt)
	return append(b, '}')
}

func toUser(u *sekisho.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Locale: u.Locale, Role: string(u.Role), Status: string(u.Status),
		MFAEnabled: u.HasMFA, MFAResetAt: u.MFAResetAt.UTC(), JoinedAt: u.JoinedAt.UTC(), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

type workspaceJSON struct {
	ID                      string     `json:"id"`
	Slug                    string     `json:"slug"`
	Name                    string     `json:"name"`
	RequireMFA              bool       `json:"require_mfa"`
	MFAGraceDays            int        `json:"mfa_grace_days"`
	MFAEnforcedSince        *time.Time `json:"mfa_enforced_since"`
	ResetRequiresAccessCode bool       `json:"reset_requires_access_code"`
	UsersWithoutMFA         *int       `json:"users_without_mfa,omitempty"`
	UsersWithoutMFAList     []userRef  `json:"users_without_mfa_list,omitzero"`
}

// userRef names a user in a list that is about something else.
type userRef struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status"`
}

func toWorkspace(w *sekisho.Workspace) workspaceJSON {
	return workspaceJSON{ID: w.ID, Slug: w.Slug, Name: w.Name, RequireMFA: w.RequireMFA, MFAGraceDays: w.MFAGraceDays,
		MFAEnforcedSince: ts(w.MFAEnforcedSince), ResetRequiresAccessCode: w.ResetRequiresAccessCode}
}

type signInJSON struct {
	State              string     `json:"state"`
	SessionToken       string     `json:"session_token,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	MFAEnrollmentDueAt *time.Time `json:"mfa_enrollment_due_at,omitempty"`
	RecoveryCodes      []string   `json:"recovery_codes,omitempty"`
	RecoveryCodesLeft  *int       `json:"recovery_codes_remaining,omitempty"`
	FlowToken          string     `json:"flow_token,omitempty"`
	Methods            []string   `json:"methods,omitempty"`
	AccessCodeRequired bool       `json:"access_code_required,omitempty"`
	AccessCodeExpired  bool       `json:"access_code_expired,omitempty"`
}

func toSignIn(res *auth.SignInResult) signInJSON {
	out := signInJSON{State: string(res.State), SessionToken: res.SessionToken, ExpiresAt: ts(res.ExpiresAt),
		MFAEnrollmentDueAt: ts(res.MFAEnrollmentDueAt), RecoveryCodes: res.RecoveryCodes, FlowToken: res.FlowToken,
		Methods: res.Methods, AccessCodeRequired: res.AccessCodeRequired, AccessCodeExpired: res.AccessCodeExpired}
	if res.UsedRecoveryCode {
		n := res.RemainingRecovery
		out.RecoveryCodesLeft = &n
	}
	return out
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		Token         string `json:"token"`
		WorkspaceSlug string `json:"workspace_slug"`
		WorkspaceName string `json:"workspace_name"`
		Email         string `json:"email"`
		Name          string `json:"name"`
		Password      string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.svc.Setup(r.Context(), a, auth.SetupRequest(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSignIn(res))
	return nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		Workspace string `json:"workspace"`
		Email     string `json:"email"`
		Password  string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.svc.SignIn(r.Context(), a, auth.Credentials(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSignIn(res))
	return nil
}

func (s *Server) signInMFA(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		FlowToken    string `json:"flow_token"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	noteRecoveryCode(w, in.RecoveryCode != "")
	res, err := s.svc.SignInMFA(r.Context(), a, auth.SecondFactor(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSignIn(res))
	return nil
}

type enrollmentJSON struct {
	ID         string    `json:"id,omitempty"`
	Secret     string    `json:"secret"`
	OTPAuthURI string    `json:"otpauth_uri"`
	QRCode     string    `json:"qr_code"` // data: URL of a PNG
	ExpiresAt  time.Time `json:"expires_at"`
}

func toEnrollment(e *auth.TOTPEnrollment) (enrollmentJSON, error) {
	png, err := e.QRCodePNG(256)
	if err != nil {
		return enrollmentJSON{}, err
	}
	return enrollmentJSON{ID: e.ID, Secret: e.Secret, OTPAuthURI: e.URI, ExpiresAt: e.ExpiresAt.UTC(),
		QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}, nil
}

func (s *Server) signInEnroll(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		FlowToken  string `json:"flow_token"`
		Name       string `json:"name"`
		AccessCode string `json:"access_code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.SignInEnroll(r.Context(), in.FlowToken, in.Name, in.AccessCode)
	if err != nil {
		return err
	}
	out, err := toEnrollment(e)
	if err != nil {
		return err
	}
	out.ID = ""
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) signInEnrollConfirm(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		FlowToken string `json:"flow_token"`
		Code      string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.svc.SignInEnrollConfirm(r.Context(), a, in.FlowToken, in.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSignIn(res))
	return nil
}

func invitationJSON(inv *auth.Invitation) any {
	return map[string]any{"workspace": inv.Workspace.Slug, "email": inv.User.Email, "user": toUser(inv.User)}
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	inv, err := s.svc.AcceptInvitation(r.Context(), a, in.Token, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invitationJSON(inv))
	return nil
}

func (s *Server) passwordReset(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		Workspace string `json:"workspace"`
		Email     string `json:"email"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.RequestPasswordReset(r.Context(), a, in.Workspace, in.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "If the account exists, we sent a link to reset its password."})
	return nil
}

func (s *Server) passwordResetConfirm(w http.ResponseWriter, r *http.Request, a sekisho.Actor) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	inv, err := s.svc.ConfirmPasswordReset(r.Context(), a, in.Token, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invitationJSON(inv))
	return nil
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	if err := s.svc.SignOut(r.Context(), a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionJSON is the answer to the session check, a struct rather than a
// map: apps make this call on every request they serve.
type sessionJSON struct {
	SessionID          string     `json:"session_id"`
	User               userJSON   `json:"user"`
	Workspace          sessionWS  `json:"workspace"`
	Role               string     `json:"role"`
	AAL                string     `json:"aal"`
	AuthenticatedAt    time.Time  `json:"authenticated_at"`
	ExpiresAt          time.Time  `json:"expires_at"`
	IdleExpiresAt      time.Time  `json:"idle_expires_at"`
	MFAEnrollmentDueAt *time.Time `json:"mfa_enrollment_due_at"`
}

type sessionWS struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (s sessionJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"session_id":`...)
	b = appendJSONString(b, s.SessionID)
	b = append(b, `,"user":`...)
	b = s.User.appendJSON(b)
	b = append(b, `,"workspace":{"id":`...)
	b = appendJSONString(b, s.Workspace.ID)
	b = append(b, `,"slug":`...)
	b = appendJSONString(b, s.Workspace.Slug)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, s.Workspace.Name)
	b = append(b, `},"role":`...)
	b = appendJSONString(b, s.Role)
	b = append(b, `,"aal":`...)
	b = appendJSONString(b, s.AAL)
	b = append(b, `,"authenticated_at":`...)
	b = appendJSONTime(b, s.AuthenticatedAt)
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, s.ExpiresAt)
	b = append(b, `,"idle_expires_at":`...)
	b = appendJSONTime(b, s.IdleExpiresAt)
	b = append(b, `,"mfa_enrollment_due_at":`...)
	if s.MFAEnrollmentDueAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *s.MFAEnrollmentDueAt)
	}
	return append(b, '}')
}

func (s *Server) session(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	writeJSON(w, http.StatusOK, sessionJSON{
		SessionID:          p.Session.ID,
		User:               toUser(p.User),
		Workspace:          sessionWS{ID: p.Workspace.ID, Slug: p.Workspace.Slug, Name: p.Workspace.Name},
		Role:               string(p.User.Role),
		AAL:                string(p.Session.AAL),
		AuthenticatedAt:    p.Session.AuthTime.UTC(),
		ExpiresAt:          p.Session.ExpiresAt.UTC(),
		IdleExpiresAt:      p.IdleExpiresAt.UTC(),
		MFAEnrollmentDueAt: ts(p.MFAEnrollmentDueAt),
	})
	return nil
}

// proof is the optional re-authentication any sensitive request may carry.
type proof struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

// reauth re-authenticates the actor when the request carries a proof.
func (s *Server) reauth(r *http.Request, a sekisho.Actor, p proof) (sekisho.Actor, error) {
	if p.Password == "" && p.Code == "" {
		return a, nil
	}
	return s.svc.Reauthenticate(r.Context(), a, auth.Proof(p))
}

func (s *Server) reauthenticate(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in proof
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.svc.Reauthenticate(r.Context(), a, auth.Proof(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"aal": a.AAL, "authenticated_at": a.AuthTime})
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	writeJSON(w, http.StatusOK, toUser(p.User))
	return nil
}

func (s *Server) updateMe(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Name   *string `json:"name"`
		Locale *string `json:"locale"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.svc.UpdateProfile(r.Context(), a, auth.ProfileUpdate(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUser(u))
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.ChangePassword(r.Context(), a, in.CurrentPassword, in.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) mySessions(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	list, err := s.svc.Sessions(r.Context(), a)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, map[string]any{"id": x.ID, "aal": x.AAL, "created_at": x.CreatedAt, "last_seen_at": x.LastSeenAt,
			"expires_at": x.ExpiresAt, "ip": x.IP, "user_agent": x.UserAgent, "current": x.ID == p.Session.ID})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	if err := s.svc.RevokeSession(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func authenticatorJSON(x sekisho.Authenticator) map[string]any {
	return map[string]any{"id": x.ID, "kind": x.Kind, "name": x.Name, "confirmed": x.Confirmed(),
		"created_at": x.CreatedAt, "confirmed_at": ts(x.ConfirmedAt), "last_used_at": ts(x.LastUsedAt)}
}

func (s *Server) myMFA(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	st, err := s.svc.MFA(r.Context(), a)
	if err != nil {
		return err
	}
	auths := make([]map[string]any, 0, len(st.Authenticators))
	for _, x := range st.Authenticators {
		auths = append(auths, authenticatorJSON(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled": p.User.HasMFA, "required": st.Required,
		"authenticators": auths, "recovery_codes_remaining": st.RecoveryCodesRemaining})
	return nil
}

func (s *Server) startTOTP(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Name       string `json:"name"`
		AccessCode string `json:"access_code"`
		proof
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in.proof)
	if err != nil {
		return err
	}
	e, err := s.svc.StartTOTP(r.Context(), a, in.Name, in.AccessCode)
	if err != nil {
		return err
	}
	out, err := toEnrollment(e)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.svc.ConfirmTOTP(r.Context(), a, r.PathValue("id"), in.Code)
	if err != nil {
		return err
	}
	// The session moved to aal2 under a new token; the old one is gone.
	writeJSON(w, http.StatusOK, map[string]any{"confirmed": true, "recovery_codes": res.RecoveryCodes,
		"session_token": res.SessionToken, "expires_at": res.ExpiresAt.UTC()})
	return nil
}

func (s *Server) renameTOTP(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.RenameAuthenticator(r.Context(), a, r.PathValue("id"), in.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) removeTOTP(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in proof
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in)
	if err != nil {
		return err
	}
	if err := s.svc.RemoveAuthenticator(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) removeAllMFA(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in proof
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in)
	if err != nil {
		return err
	}
	if err := s.svc.RemoveAllMFA(r.Context(), a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in proof
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in)
	if err != nil {
		return err
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

// queryInt parses an optional whole-number query parameter.
func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, sekisho.Invalid(name, "invalid_"+name, "%s must be a whole number.", name)
	}
	return n, nil
}

// queryTime parses an optional RFC 3339 time query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, sekisho.Invalid(name, "invalid_"+name, "%s must be a time like 2026-01-02T15:04:05Z.", name)
	}
	return t, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := s.svc.ListUsers(r.Context(), a, p.Workspace.ID, auth.UserQuery{
		Role: q.Get("role"), Status: q.Get("status"), MFA: q.Get("mfa"), Q: q.Get("q"), Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	users := make([]userJSON, 0, len(page.Users))
	for _, u := range page.Users {
		users = append(users, toUser(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "next_cursor": page.NextCursor})
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, link, err := s.svc.CreateUser(r.Context(), a, p.Workspace.ID, auth.NewUser(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": toUser(u), "invitation_url": link})
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	d, err := s.svc.GetUser(r.Context(), a, p.Workspace.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	auths := make([]map[string]any, 0, len(d.Authenticators))
	for _, x := range d.Authenticators {
		auths = append(auths, authenticatorJSON(x))
	}
	out := map[string]any{"user": toUser(d.User), "authenticators": auths,
		"recovery_codes_remaining": d.RecoveryCodesRemaining, "access_code_pending": d.AccessCodePending}
	if d.AccessCodePending {
		out["access_code_expired"] = d.AccessCodeExpired
		out["access_code_expires_at"] = d.AccessCodeExpiresAt.UTC()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		Name   *string `json:"name"`
		Role   *string `json:"role"`
		Status *string `json:"status"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.svc.UpdateUser(r.Context(), a, p.Workspace.ID, r.PathValue("id"), auth.UserUpdate(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUser(u))
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	if err := s.svc.DeleteUser(r.Context(), a, p.Workspace.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) resetMFA(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in proof
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in)
	if err != nil {
		return err
	}
	code, err := s.svc.ResetMFA(r.Context(), a, p.Workspace.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := map[string]any{"reset": true}
	if code != "" {
		out["access_code"] = code
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func toPolicy(wp *auth.WorkspacePolicy) workspaceJSON {
	out := toWorkspace(wp.Workspace)
	out.UsersWithoutMFA = &wp.UsersWithoutMFA
	out.UsersWithoutMFAList = make([]userRef, 0, len(wp.WithoutMFA))
	for _, u := range wp.WithoutMFA {
		out.UsersWithoutMFAList = append(out.UsersWithoutMFAList, userRef{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Status: string(u.Status)})
	}
	return out
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	wp, err := s.svc.GetWorkspace(r.Context(), a, p.Workspace.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicy(wp))
	return nil
}

func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	var in struct {
		RequireMFA              *bool `json:"require_mfa"`
		MFAGraceDays            *int  `json:"mfa_grace_days"`
		ResetRequiresAccessCode *bool `json:"reset_requires_access_code"`
		proof
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.reauth(r, a, in.proof)
	if err != nil {
		return err
	}
	wp, err := s.svc.UpdateWorkspace(r.Context(), a, p.Workspace.ID, auth.PolicyUpdate{
		RequireMFA: in.RequireMFA, MFAGraceDays: in.MFAGraceDays, ResetRequiresAccessCode: in.ResetRequiresAccessCode})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicy(wp))
	return nil
}

func auditQuery(r *http.Request) (auth.AuditQuery, error) {
	q := r.URL.Query()
	aq := auth.AuditQuery{Actor: q.Get("actor"), Target: q.Get("target"), Type: q.Get("type"), Cursor: q.Get("cursor")}
	var err error
	if aq.Limit, err = queryInt(r, "limit"); err != nil {
		return aq, err
	}
	if aq.Since, err = queryTime(r, "since"); err != nil {
		return aq, err
	}
	aq.Until, err = queryTime(r, "until")
	return aq, err
}

type auditJSON struct {
	ID          int64             `json:"id"`
	Time        time.Time         `json:"time"`
	WorkspaceID string            `json:"workspace_id"`
	Type        string            `json:"type"`
	Result      string            `json:"result"`
	ActorKind   string            `json:"actor_kind"`
	ActorID     string            `json:"actor_id,omitempty"`
	TargetID    string            `json:"target_id,omitempty"`
	IP          string            `json:"ip,omitempty"`
	UserAgent   string            `json:"user_agent,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
}

// ToAuditJSON renders an audit event as the API and the NDJSON export do.
func ToAuditJSON(e *sekisho.AuditEvent) any {
	return auditJSON{ID: e.ID, Time: e.Time.UTC(), WorkspaceID: e.WorkspaceID, Type: e.Type, Result: e.Result, ActorKind: string(e.ActorKind), ActorID: e.ActorID,
		TargetID: e.TargetID, IP: e.IP, UserAgent: e.UserAgent, Reason: e.Reason, Details: e.Details}
}

func (s *Server) auditEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	aq, err := auditQuery(r)
	if err != nil {
		return err
	}
	page, err := s.svc.AuditEvents(r.Context(), a, p.Workspace.ID, aq)
	if err != nil {
		return err
	}
	events := make([]any, 0, len(page.Events))
	for _, e := range page.Events {
		events = append(events, ToAuditJSON(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "next_cursor": page.NextCursor})
	return nil
}

// exportAuditEvents streams the whole filtered audit log as NDJSON, newest
// first, page by page.
func (s *Server) exportAuditEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal, a sekisho.Actor) error {
	aq, err := auditQuery(r)
	if err != nil {
		return err
	}
	aq.Limit = 200
	enc := json.NewEncoder(w)
	started := false
	for {
		page, err := s.svc.AuditEvents(r.Context(), a, p.Workspace.ID, aq)
		if err != nil {
			if started {
				s.log.ErrorContext(r.Context(), "audit export cut short", "request_id", requestID(r.Context()), "err", err)
				return nil
			}
			return err
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Content-Disposition", `attachment; filename="audit-events.ndjson"`)
			started = true
		}
		for _, e := range page.Events {
			if err := enc.Encode(ToAuditJSON(e)); err != nil {
				return nil // the client went away
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		aq.Cursor = page.NextCursor
	}
}

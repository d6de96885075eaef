package web

import "net/http"

// route is one entry of the HTTP surface.
type route struct {
	method, path string
	handler      http.Handler
}

// apiRoutes lists sekisho's whole JSON API. The OpenAPI document
// (openapi.yaml) must describe exactly these; a test keeps them in step.
func (s *Server) apiRoutes() []route {
	return []route{
		{"GET", "/api/v1/openapi.yaml", s.public(s.openAPI)},

		// First run.
		{"POST", "/api/v1/setup", s.public(s.setup)},

		// Sign-in and its steps.
		{"POST", "/api/v1/sign-in", s.public(s.signIn)},
		{"POST", "/api/v1/sign-in/mfa", s.public(s.signInMFA)},
		{"POST", "/api/v1/sign-in/enroll", s.public(s.signInEnroll)},
		{"POST", "/api/v1/sign-in/enroll/confirm", s.public(s.signInEnrollConfirm)},
		{"POST", "/api/v1/invitations/accept", s.public(s.acceptInvitation)},
		{"POST", "/api/v1/password-reset", s.public(s.passwordReset)},
		{"POST", "/api/v1/password-reset/confirm", s.public(s.passwordResetConfirm)},

		// The signed-in user.
		{"POST", "/api/v1/sign-out", s.user(s.signOut)},
		{"GET", "/api/v1/session", s.user(s.session)},
		{"POST", "/api/v1/session/reauthenticate", s.user(s.reauthenticate)},
		{"GET", "/api/v1/me", s.user(s.me)},
		{"PATCH", "/api/v1/me", s.user(s.updateMe)},
		{"PUT", "/api/v1/me/password", s.user(s.changePassword)},
		{"GET", "/api/v1/me/sessions", s.user(s.mySessions)},
		{"DELETE", "/api/v1/me/sessions/{id}", s.user(s.revokeSession)},
		{"GET", "/api/v1/me/mfa", s.user(s.myMFA)},
		{"POST", "/api/v1/me/mfa/totp", s.user(s.startTOTP)},
		{"POST", "/api/v1/me/mfa/totp/{id}/confirm", s.user(s.confirmTOTP)},
		{"PATCH", "/api/v1/me/mfa/totp/{id}", s.user(s.renameTOTP)},
		{"DELETE", "/api/v1/me/mfa/totp/{id}", s.user(s.removeTOTP)},
		{"DELETE", "/api/v1/me/mfa", s.user(s.removeAllMFA)},
		{"POST", "/api/v1/me/mfa/recovery-codes", s.user(s.regenerateRecoveryCodes)},

		// The admin console's API. Every handler passes the caller's own
		// workspace to the service, which applies the permission table.
		{"GET", "/api/v1/admin/users", s.user(s.listUsers)},
		{"POST", "/api/v1/admin/users", s.user(s.createUser)},
		{"GET", "/api/v1/admin/users/{id}", s.user(s.getUser)},
		{"PATCH", "/api/v1/admin/users/{id}", s.user(s.updateUser)},
		{"DELETE", "/api/v1/admin/users/{id}", s.user(s.deleteUser)},
		{"DELETE", "/api/v1/admin/users/{id}/mfa", s.user(s.resetMFA)},
		{"GET", "/api/v1/admin/workspace", s.user(s.getWorkspace)},
		{"PATCH", "/api/v1/admin/workspace", s.user(s.updateWorkspace)},
		{"GET", "/api/v1/admin/audit-events", s.user(s.auditEvents)},
		{"GET", "/api/v1/admin/audit-events/export", s.user(s.exportAuditEvents)},
	}
}

// routes registers everything the server answers.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	for _, r := range s.apiRoutes() {
		s.mux.Handle(r.method+" "+r.path, r.handler)
	}
	// Anything else under the API is a JSON 404, not an HTML page.
	s.mux.Handle("/api/", s.public(s.notFound))
	s.pageRoutes()
}

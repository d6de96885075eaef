package web

// routes lists sekisho's whole HTTP surface.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)

	// First run.
	m.Handle("POST /api/v1/setup", s.public(s.setup))

	// Sign-in and its steps.
	m.Handle("POST /api/v1/sign-in", s.public(s.signIn))
	m.Handle("POST /api/v1/sign-in/mfa", s.public(s.signInMFA))
	m.Handle("POST /api/v1/sign-in/enroll", s.public(s.signInEnroll))
	m.Handle("POST /api/v1/sign-in/enroll/confirm", s.public(s.signInEnrollConfirm))
	m.Handle("POST /api/v1/invitations/accept", s.public(s.acceptInvitation))
	m.Handle("POST /api/v1/password-reset", s.public(s.passwordReset))
	m.Handle("POST /api/v1/password-reset/confirm", s.public(s.passwordResetConfirm))

	// The signed-in user.
	m.Handle("POST /api/v1/sign-out", s.user(s.signOut))
	m.Handle("GET /api/v1/session", s.user(s.session))
	m.Handle("POST /api/v1/session/reauthenticate", s.user(s.reauthenticate))
	m.Handle("GET /api/v1/me", s.user(s.me))
	m.Handle("PATCH /api/v1/me", s.user(s.updateMe))
	m.Handle("PUT /api/v1/me/password", s.user(s.changePassword))
	m.Handle("GET /api/v1/me/sessions", s.user(s.mySessions))
	m.Handle("DELETE /api/v1/me/sessions/{id}", s.user(s.revokeSession))
	m.Handle("GET /api/v1/me/mfa", s.user(s.myMFA))
	m.Handle("POST /api/v1/me/mfa/totp", s.user(s.startTOTP))
	m.Handle("POST /api/v1/me/mfa/totp/{id}/confirm", s.user(s.confirmTOTP))
	m.Handle("PATCH /api/v1/me/mfa/totp/{id}", s.user(s.renameTOTP))
	m.Handle("DELETE /api/v1/me/mfa/totp/{id}", s.user(s.removeTOTP))
	m.Handle("DELETE /api/v1/me/mfa", s.user(s.removeAllMFA))
	m.Handle("POST /api/v1/me/mfa/recovery-codes", s.user(s.regenerateRecoveryCodes))

	// The admin console's API. Every handler passes the caller's own
	// workspace to the service, which applies the permission table.
	m.Handle("GET /api/v1/admin/users", s.user(s.listUsers))
	m.Handle("POST /api/v1/admin/users", s.user(s.createUser))
	m.Handle("GET /api/v1/admin/users/{id}", s.user(s.getUser))
	m.Handle("PATCH /api/v1/admin/users/{id}", s.user(s.updateUser))
	m.Handle("DELETE /api/v1/admin/users/{id}", s.user(s.deleteUser))
	m.Handle("DELETE /api/v1/admin/users/{id}/mfa", s.user(s.resetMFA))
	m.Handle("GET /api/v1/admin/workspace", s.user(s.getWorkspace))
	m.Handle("PATCH /api/v1/admin/workspace", s.user(s.updateWorkspace))
	m.Handle("GET /api/v1/admin/audit-events", s.user(s.auditEvents))
	m.Handle("GET /api/v1/admin/audit-events/export", s.user(s.exportAuditEvents))

	// Anything else under the API is a JSON 404, not an HTML page.
	m.Handle("/api/", s.public(s.notFound))
}

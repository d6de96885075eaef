package store

import "github.com/sekisho/sekisho"

// UsersWithoutMFA returns the first limit users of the workspace whom
// Require MFA affects: active or invited, without a second factor — the
// users CountUsersWithoutMFA counts — in the admin list's order (by id).
//
// The index on (workspace_id, has_mfa, id) yields them in order, so the
// query reads limit rows plus the disabled users without MFA that come
// before them, whatever the size of the workspace.
func (tx *Tx) UsersWithoutMFA(workspaceID string, limit int) ([]*sekisho.User, error) {
	return tx.users(`SELECT `+userColumns+` FROM users WHERE workspace_id = ? AND has_mfa = ? AND status <> ? ORDER BY id LIMIT ?`,
		workspaceID, false, sekisho.StatusDisabled, limit)
}

package store

import (
	"database/sql"
	"database/sql/driver"
	"strings"

	"github.com/sekisho/sekisho"
	"modernc.org/sqlite"
)

// SQLite's LOWER folds ASCII letters only, so a search for "Émile" found
// nothing there while PostgreSQL found it; the user search folds the name
// with Go's strings.ToLower, as it folds the query.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("sekisho_lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		}
		return args[0], nil
	})
}

const userColumns = `id, workspace_id, email, name, locale, role, status, has_mfa, mfa_reset_at, joined_at, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (*sekisho.User, error) {
	var u sekisho.User
	var reset, joined sql.NullInt64
	var created, updated int64
	dest := append([]any{&u.ID, &u.WorkspaceID, &u.Email, &u.Name, &u.Locale, &u.Role, &u.Status, &u.HasMFA, &reset, &joined, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, mapErr(err)
	}
	u.MFAResetAt = fromNullMS(reset)
	u.JoinedAt = fromNullMS(joined)
	u.CreatedAt = fromMS(created)
	u.UpdatedAt = fromMS(updated)
	return &u, nil
}

// CreateUser inserts u with an optional password hash ("" while invited);
// ErrDuplicate when the email is taken in the workspace.
func (tx *Tx) CreateUser(u *sekisho.User, passwordHash string) error {
	_, err := tx.exec(`INSERT INTO users (`+userColumns+`, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.WorkspaceID, u.Email, u.Name, u.Locale, u.Role, u.Status, u.HasMFA, nullMS(u.MFAResetAt), nullMS(u.JoinedAt),
		ms(u.CreatedAt), ms(u.UpdatedAt), sql.NullString{String: passwordHash, Valid: passwordHash != ""})
	return mapErr(err)
}

// User returns the user with id in workspaceID. Scoping every lookup by
// workspace makes another workspace's user simply not found.
func (tx *Tx) User(workspaceID, id string) (*sekisho.User, error) {
	return scanUser(tx.queryRow(`SELECT `+userColumns+` FROM users WHERE workspace_id = ? AND id = ?`, workspaceID, id))
}

// UserByEmail returns the user with email in workspaceID, with their
// password hash ("" while invited).
func (tx *Tx) UserByEmail(workspaceID, email string) (*sekisho.User, string, error) {
	var hash sql.NullString
	u, err := scanUser(tx.queryRow(`SELECT `+userColumns+`, password_hash FROM users WHERE workspace_id = ? AND email = ?`, workspaceID, email), &hash)
	return u, hash.String, err
}

// UserWithPassword returns the user with id and their password hash.
func (tx *Tx) UserWithPassword(workspaceID, id string) (*sekisho.User, string, error) {
	var hash sql.NullString
	u, err := scanUser(tx.queryRow(`SELECT `+userColumns+`, password_hash FROM users WHERE workspace_id = ? AND id = ?`, workspaceID, id), &hash)
	return u, hash.String, err
}

// UpdateUser stores u's profile, role, status and MFA fields.
func (tx *Tx) UpdateUser(u *sekisho.User) error {
	_, err := tx.exec(`UPDATE users SET email = ?, name = ?, locale = ?, role = ?, status = ?, has_mfa = ?, mfa_reset_at = ?, joined_at = ?, updated_at = ?
		WHERE workspace_id = ? AND id = ?`,
		u.Email, u.Name, u.Locale, u.Role, u.Status, u.HasMFA, nullMS(u.MFAResetAt), nullMS(u.JoinedAt), ms(u.UpdatedAt), u.WorkspaceID, u.ID)
	return mapErr(err)
}

// SetPasswordHash stores a new password hash for the user.
func (tx *Tx) SetPasswordHash(userID, hash string) error {
	_, err := tx.exec(`UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	return err
}

// DeleteUser deletes the user and, by cascade, their sessions, flows,
// authenticators, recovery codes and tokens. Audit events stay.
func (tx *Tx) DeleteUser(workspaceID, id string) error {
	_, err := tx.exec(`DELETE FROM users WHERE workspace_id = ? AND id = ?`, workspaceID, id)
	return err
}

// CountAdmins returns how many workspace admins of workspaceID have one of
// statuses. Call it after LockWorkspace.
func (tx *Tx) CountAdmins(workspaceID string, statuses ...sekisho.Status) (int, error) {
	args := []any{workspaceID, sekisho.RoleWorkspaceAdmin}
	marks := make([]string, len(statuses))
	for i, s := range statuses {
		marks[i] = "?"
		args = append(args, s)
	}
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM users WHERE workspace_id = ? AND role = ? AND status IN (`+strings.Join(marks, ", ")+`)`, args...).Scan(&n)
	return n, err
}

// UserFilter selects users of one workspace for the admin list.
type UserFilter struct {
	WorkspaceID string
	Role        sekisho.Role   // "" for any
	Status      sekisho.Status // "" for any
	MFA         *bool          // nil for any
	Query       string         // substring of email or name, case-insensitive
	After       string         // keyset cursor: the last id of the previous page
	Limit       int
}

// Users returns one page of users matching f, ordered by id (creation).
func (tx *Tx) Users(f UserFilter) ([]*sekisho.User, error) {
	var where []string
	args := []any{f.WorkspaceID}
	where = append(where, "workspace_id = ?")
	if f.Role != "" {
		where, args = append(where, "role = ?"), append(args, f.Role)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.MFA != nil {
		where, args = append(where, "has_mfa = ?"), append(args, *f.MFA)
	}
	if f.Query != "" {
		pattern := "%" + escapeLike(strings.ToLower(f.Query)) + "%"
		lower := "LOWER"
		if tx.db.dialect == SQLite {
			lower = "sekisho_lower"
		}
		where, args = append(where, `(email LIKE ? ESCAPE '\' OR `+lower+`(name) LIKE ? ESCAPE '\')`), append(args, pattern, pattern)
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	args = append(args, f.Limit)
	return tx.users(`SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
}

// users runs a query of userColumns and scans every row.
func (tx *Tx) users(query string, args ...any) ([]*sekisho.User, error) {
	rows, err := tx.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []*sekisho.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

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

// CountUsersWithoutMFA returns how many active or invited users of the
// workspace have no second factor: whom Require MFA affects. Triggers keep
// the count (migration 0003), so reading it costs one row.
func (tx *Tx) CountUsersWithoutMFA(workspaceID string) (int, error) {
	var n int
	err := tx.queryRow(`SELECT users_without_mfa FROM workspace_counts WHERE workspace_id = ?`, workspaceID).Scan(&n)
	return n, mapErr(err)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserByID returns the user with id, whatever their workspace: for records
// that already name the user (sessions, sign-in flows), never for input.
func (tx *Tx) UserByID(id string) (*sekisho.User, error) {
	return scanUser(tx.queryRow(`SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// UserEmails returns the emails of those of ids that are users of
// workspaceID, by id, in one query.
func (tx *Tx) UserEmails(workspaceID string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{workspaceID}
	marks := make([]string, len(ids))
	for i, id := range ids {
		marks[i] = "?"
		args = append(args, id)
	}
	rows, err := tx.query(`SELECT id, email FROM users WHERE workspace_id = ? AND id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, email string
		if err := rows.Scan(&id, &email); err != nil {
			return nil, err
		}
		out[id] = email
	}
	return out, rows.Err()
}

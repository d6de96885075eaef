package store

import (
	"database/sql"
	"database/sql/driver"
	"strings"
	"unicode/utf8"

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
	q := strings.ToLower(f.Query)
	// A search goes through the trigram indexes of migration 0004. On
	// PostgreSQL they serve the LIKE itself, but only in a plan made for
	// the pattern at hand: the generic plan that a prepared statement
	// turns to after five runs knows no pattern, so it walks the
	// workspace in id order, reading every row when few match.
	//
	// SQLite needs the trigram table named, and a plan that starts from it
	// (the + before a column keeps SQLite from starting from that column's
	// index). It is worth it when the table matches few users; when it
	// matches many, the walk in id order finds a page of them sooner.
	// The LIKE stays the exact filter on either path.
	byTrigrams, phrase := false, ""
	if q != "" {
		phrase = ftsPhrase(q)
		switch {
		case tx.db.dialect == Postgres:
			if _, err := tx.exec(`SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
				return nil, err
			}
		case usesTrigrams(q):
			var n int
			if err := tx.queryRow(`SELECT COUNT(*) FROM (SELECT 1 FROM users_search WHERE users_search MATCH ? LIMIT ?)`,
				phrase, fewTrigramMatches).Scan(&n); err != nil {
				return nil, err
			}
			byTrigrams = n < fewTrigramMatches
		}
	}
	col := func(c string) string {
		if byTrigrams {
			return "+" + c
		}
		return c
	}
	where := []string{col("workspace_id") + " = ?"}
	args := []any{f.WorkspaceID}
	if f.Role != "" {
		where, args = append(where, "role = ?"), append(args, f.Role)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.MFA != nil {
		where, args = append(where, "has_mfa = ?"), append(args, *f.MFA)
	}
	if q != "" {
		pattern := "%" + escapeLike(q) + "%"
		lower := "LOWER"
		if tx.db.dialect == SQLite {
			lower = "sekisho_lower"
		}
		where, args = append(where, `(email LIKE ? ESCAPE '\' OR `+lower+`(name) LIKE ? ESCAPE '\')`), append(args, pattern, pattern)
	}
	if byTrigrams {
		// The table holds the lowered email and name, so its phrase match
		// finds every user the LIKE finds.
		where, args = append(where, `rowid IN (SELECT rowid FROM users_search WHERE users_search MATCH ?)`), append(args, phrase)
	}
	if f.After != "" {
		where, args = append(where, col("id")+" > ?"), append(args, f.After)
	}
	args = append(args, f.Limit)
	return tx.users(`SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
}

// fewTrigramMatches is how many users (of every workspace) SQLite's
// trigram table may match for a search to start from them: reading 2,000
// users by rowid and sorting them takes about 6 ms; when the table
// matches more, the walk in id order meets a page of matches within a few
// thousand rows of a workspace of 100,000, unless they gather elsewhere.
const fewTrigramMatches = 2000

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

// usesTrigrams reports whether the lowered query q can be looked up in the
// trigram table: it must have a trigram, so three characters at least,
// and no NUL, which FTS5 would take for the end of the query.
func usesTrigrams(q string) bool {
	return utf8.RuneCountInString(q) >= 3 && !strings.ContainsRune(q, 0)
}

// ftsPhrase quotes q as an FTS5 phrase: every character of it literal, a
// double quote doubled. With the trigram tokenizer a phrase matches the
// texts that contain it.
func ftsPhrase(q string) string {
	return `"` + strings.ReplaceAll(q, `"`, `""`) + `"`
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

package store

import (
	"context"
	"database/sql"

	"github.com/sekisho/sekisho"
)

const sessionColumns = `s.id, s.user_id, s.workspace_id, s.aal, s.auth_time, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent`

func sessionDest(s *sekisho.Session, t *[4]int64) []any {
	return []any{&s.ID, &s.UserID, &s.WorkspaceID, &s.AAL, &t[0], &t[1], &t[2], &t[3], &s.IP, &s.UserAgent}
}

func fillSessionTimes(s *sekisho.Session, t *[4]int64) {
	s.AuthTime, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(t[0]), fromMS(t[1]), fromMS(t[2]), fromMS(t[3])
}

// CreateSession stores s under the hash of its token.
func (tx *Tx) CreateSession(s *sekisho.Session, tokenHash string) error {
	_, err := tx.exec(`INSERT INTO sessions (id, token_hash, user_id, workspace_id, aal, auth_time, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, tokenHash, s.UserID, s.WorkspaceID, s.AAL, ms(s.AuthTime), ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt), s.IP, s.UserAgent)
	return mapErr(err)
}

const sessionByTokenSQL = `SELECT ` + sessionColumns + `,
	u.id, u.workspace_id, u.email, u.name, u.locale, u.role, u.status, u.has_mfa, u.mfa_reset_at, u.joined_at, u.created_at, u.updated_at,
	w.id, w.slug, w.name, w.require_mfa, w.mfa_grace_days, w.mfa_enforced_since, w.reset_requires_access_code, w.created_at
	FROM sessions s JOIN users u ON u.id = s.user_id JOIN workspaces w ON w.id = u.workspace_id
	WHERE s.token_hash = ?`

// SessionByToken returns the session stored under tokenHash together with
// its user and workspace, in one query on the read pool: the session check
// that apps make on every request.
func (db *DB) SessionByToken(ctx context.Context, tokenHash string) (*sekisho.Session, *sekisho.User, *sekisho.Workspace, error) {
	var s sekisho.Session
	var st [4]int64
	var u sekisho.User
	var reset, joined, enforced sql.NullInt64
	var ucreated, uupdated, wcreated int64
	var w sekisho.Workspace
	dest := append(sessionDest(&s, &st),
		&u.ID, &u.WorkspaceID, &u.Email, &u.Name, &u.Locale, &u.Role, &u.Status, &u.HasMFA, &reset, &joined, &ucreated, &uupdated,
		&w.ID, &w.Slug, &w.Name, &w.RequireMFA, &w.MFAGraceDays, &enforced, &w.ResetRequiresAccessCode, &wcreated)
	var row *sql.Row
	if st, err := db.prepared(ctx, sessionByTokenSQL); err != nil {
		return nil, nil, nil, err
	} else if st != nil {
		row = st.QueryRowContext(ctx, tokenHash)
	} else {
		row = db.read.QueryRowContext(ctx, db.q(sessionByTokenSQL), tokenHash)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, nil, nil, failed(ctx, mapErr(err))
	}
	fillSessionTimes(&s, &st)
	u.MFAResetAt, u.JoinedAt, u.CreatedAt, u.UpdatedAt = fromNullMS(reset), fromNullMS(joined), fromMS(ucreated), fromMS(uupdated)
	w.MFAEnforcedSince, w.CreatedAt = fromNullMS(enforced), fromMS(wcreated)
	return &s, &u, &w, nil
}

// TouchSession records use of a session. Only a write every so often is
// needed for the idle timeout, so the caller skips it when the stored time
// is recent; the condition keeps two instances from moving it backwards.
func (tx *Tx) TouchSession(id string, seen int64) error {
	_, err := tx.exec(`UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, seen, id, seen)
	return err
}

// SetSessionAuth records a fresh credential check in the session, and its
// assurance level.
func (tx *Tx) SetSessionAuth(id string, aal sekisho.AAL, authTime int64) error {
	_, err := tx.exec(`UPDATE sessions SET aal = ?, auth_time = ? WHERE id = ?`, aal, authTime, id)
	return err
}

// SessionExists reports whether the user's session id still exists.
func (tx *Tx) SessionExists(userID, id string) (bool, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM sessions WHERE user_id = ? AND id = ?`, userID, id).Scan(&n)
	return n > 0, err
}

// UserSessions returns the user's sessions, newest first.
func (tx *Tx) UserSessions(userID string) ([]*sekisho.Session, error) {
	rows, err := tx.query(`SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = ? ORDER BY s.created_at DESC, s.id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sekisho.Session
	for rows.Next() {
		var s sekisho.Session
		var st [4]int64
		if err := rows.Scan(sessionDest(&s, &st)...); err != nil {
			return nil, err
		}
		fillSessionTimes(&s, &st)
		out = append(out, &s)
	}
	return out, rows.Err()
}

// DeleteSession deletes the user's session id; false if there was none.
func (tx *Tx) DeleteSession(userID, id string) (bool, error) {
	return tx.execOne(`DELETE FROM sessions WHERE user_id = ? AND id = ?`, userID, id)
}

// DeleteUserSessions deletes every session of the user except keepID ("" to
// keep none) and returns how many went.
func (tx *Tx) DeleteUserSessions(userID, keepID string) (int64, error) {
	res, err := tx.exec(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keepID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// DeleteExpired removes sessions, sign-in flows and tokens that have
// expired before now, pending authenticators never confirmed, and
// invalidations every instance has long read.
func (tx *Tx) DeleteExpired(now int64, idleBefore int64) error {
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`, []any{now, idleBefore}},
		{`DELETE FROM signin_flows WHERE expires_at < ?`, []any{now}},
		// An unused MFA access code locks enrollment even once expired:
		// its row stays until a new reset replaces it or enrollment
		// spends it (auth deletes it then).
		{`DELETE FROM tokens WHERE expires_at < ? AND purpose <> ?`, []any{now, PurposeAccessCode}},
		{`DELETE FROM authenticators WHERE confirmed_at IS NULL AND expires_at < ?`, []any{now}},
		{`DELETE FROM session_invalidations WHERE created_at < ?`, []any{now - invalidationRetention.Milliseconds()}},
	} {
		if _, err := tx.exec(q.sql, q.args...); err != nil {
			return err
		}
	}
	return nil
}

// Flow is a sign-in between the password and the second factor, or a
// forced enrollment.
type Flow struct {
	UserID          string
	Kind            string // "mfa" or "enroll"
	AuthenticatorID string // the pending authenticator of an enroll flow
	Failures        int
	IP, UserAgent   string
	CreatedAt       int64
	ExpiresAt       int64
}

// CreateFlow stores a flow under the hash of its token.
func (tx *Tx) CreateFlow(tokenHash string, f *Flow) error {
	_, err := tx.exec(`INSERT INTO signin_flows (token_hash, user_id, kind, authenticator_id, failures, ip, user_agent, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tokenHash, f.UserID, f.Kind, sql.NullString{String: f.AuthenticatorID, Valid: f.AuthenticatorID != ""}, f.Failures, f.IP, f.UserAgent, f.CreatedAt, f.ExpiresAt)
	return mapErr(err)
}

// Flow returns the flow stored under tokenHash.
func (tx *Tx) Flow(tokenHash string) (*Flow, error) {
	var f Flow
	var auth sql.NullString
	err := tx.queryRow(`SELECT user_id, kind, authenticator_id, failures, ip, user_agent, created_at, expires_at FROM signin_flows WHERE token_hash = ?`, tokenHash).
		Scan(&f.UserID, &f.Kind, &auth, &f.Failures, &f.IP, &f.UserAgent, &f.CreatedAt, &f.ExpiresAt)
	if err != nil {
		return nil, mapErr(err)
	}
	f.AuthenticatorID = auth.String
	return &f, nil
}

// SetFlowAuthenticator binds a pending authenticator to an enroll flow.
func (tx *Tx) SetFlowAuthenticator(tokenHash, authenticatorID string) error {
	_, err := tx.exec(`UPDATE signin_flows SET authenticator_id = ? WHERE token_hash = ?`, authenticatorID, tokenHash)
	return err
}

// CountFlowFailure adds one failure to the flow and returns the new count;
// the increment is one statement, so parallel wrong codes are all counted.
func (tx *Tx) CountFlowFailure(tokenHash string) (int, error) {
	var n int
	err := tx.queryRow(`UPDATE signin_flows SET failures = failures + 1 WHERE token_hash = ? RETURNING failures`, tokenHash).Scan(&n)
	return n, mapErr(err)
}

// DeleteFlow ends a flow; false if it had already ended, so that of two
// parallel successes only one proceeds.
func (tx *Tx) DeleteFlow(tokenHash string) (bool, error) {
	return tx.execOne(`DELETE FROM signin_flows WHERE token_hash = ?`, tokenHash)
}

// DeleteUserFlows ends every pending sign-in of the user: a password change
// or an MFA reset must not leave a half-done sign-in usable.
func (tx *Tx) DeleteUserFlows(userID string) error {
	_, err := tx.exec(`DELETE FROM signin_flows WHERE user_id = ?`, userID)
	return err
}

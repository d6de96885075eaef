package store

import "database/sql"

// Token purposes.
const (
	PurposeInvitation    = "invitation"
	PurposePasswordReset = "password_reset"
	PurposeSetup         = "setup"
	PurposeAccessCode    = "mfa_access_code"
)

// CreateToken stores a single-use token's hash. userID is "" for the
// first-run setup token.
func (tx *Tx) CreateToken(tokenHash, purpose, userID string, created, expires int64) error {
	_, err := tx.exec(`INSERT INTO tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, purpose, sql.NullString{String: userID, Valid: userID != ""}, created, expires)
	return mapErr(err)
}

// UseToken spends an unexpired, unused token of purpose and returns its
// user id; ErrNotFound when there is no such token. One conditional update,
// so a link clicked twice at once works once.
func (tx *Tx) UseToken(tokenHash, purpose string, now int64) (string, error) {
	var userID sql.NullString
	err := tx.queryRow(`UPDATE tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
		RETURNING user_id`, now, tokenHash, purpose, now).Scan(&userID)
	return userID.String, mapErr(err)
}

// TokenUser returns the user id of an unexpired, unused token without
// spending it (to show the page a link opens).
func (tx *Tx) TokenUser(tokenHash, purpose string, now int64) (string, error) {
	var userID sql.NullString
	err := tx.queryRow(`SELECT user_id FROM tokens WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
		tokenHash, purpose, now).Scan(&userID)
	return userID.String, mapErr(err)
}

// Token is a stored single-use token, known by its hash.
type Token struct {
	Hash      string
	CreatedAt int64
	ExpiresAt int64
}

// UnusedToken returns the user's newest unused token of purpose, expired
// or not; ErrNotFound when they hold none.
func (tx *Tx) UnusedToken(userID, purpose string) (*Token, error) {
	var t Token
	err := tx.queryRow(`SELECT token_hash, created_at, expires_at FROM tokens WHERE user_id = ? AND purpose = ? AND used_at IS NULL
		ORDER BY created_at DESC, token_hash LIMIT 1`, userID, purpose).Scan(&t.Hash, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return nil, mapErr(err)
	}
	return &t, nil
}

// DeleteTokens deletes the user's tokens of purpose, so that a new link
// replaces the old ones.
func (tx *Tx) DeleteTokens(userID, purpose string) error {
	_, err := tx.exec(`DELETE FROM tokens WHERE user_id = ? AND purpose = ?`, userID, purpose)
	return err
}

// DeleteSetupTokens deletes every first-run setup token.
func (tx *Tx) DeleteSetupTokens() error {
	_, err := tx.exec(`DELETE FROM tokens WHERE purpose = ?`, PurposeSetup)
	return err
}

package store

import (
	"database/sql"

	"github.com/sekisho/sekisho"
)

// Authenticator is a stored second factor with its sealed secret.
type Authenticator struct {
	sekisho.Authenticator
	Secret       string // sealed by the key ring
	LastUsedStep int64
	ExpiresAt    int64 // pending ones only
}

const authenticatorColumns = `id, user_id, kind, name, secret, last_used_step, confirmed_at, last_used_at, created_at, expires_at`

func scanAuthenticator(row interface{ Scan(...any) error }) (*Authenticator, error) {
	var a Authenticator
	var confirmed, used, expires sql.NullInt64
	var created int64
	if err := row.Scan(&a.ID, &a.UserID, &a.Kind, &a.Name, &a.Secret, &a.LastUsedStep, &confirmed, &used, &created, &expires); err != nil {
		return nil, mapErr(err)
	}
	a.ConfirmedAt, a.LastUsedAt, a.CreatedAt, a.ExpiresAt = fromNullMS(confirmed), fromNullMS(used), fromMS(created), expires.Int64
	return &a, nil
}

// CreateAuthenticator inserts a (pending unless ConfirmedAt is set).
func (tx *Tx) CreateAuthenticator(a *Authenticator) error {
	_, err := tx.exec(`INSERT INTO authenticators (`+authenticatorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.UserID, a.Kind, a.Name, a.Secret, a.LastUsedStep, nullMS(a.ConfirmedAt), nullMS(a.LastUsedAt), ms(a.CreatedAt),
		sql.NullInt64{Int64: a.ExpiresAt, Valid: a.ExpiresAt != 0})
	return mapErr(err)
}

// Authenticator returns the user's authenticator id.
func (tx *Tx) Authenticator(userID, id string) (*Authenticator, error) {
	return scanAuthenticator(tx.queryRow(`SELECT `+authenticatorColumns+` FROM authenticators WHERE user_id = ? AND id = ?`, userID, id))
}

// Authenticators returns the user's authenticators, oldest first.
func (tx *Tx) Authenticators(userID string) ([]*Authenticator, error) {
	rows, err := tx.query(`SELECT `+authenticatorColumns+` FROM authenticators WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Authenticator
	for rows.Next() {
		a, err := scanAuthenticator(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ConfirmAuthenticator marks a pending authenticator confirmed, recording
// the step of the confirming code as used so that code cannot sign in.
// False if it was not pending any more.
func (tx *Tx) ConfirmAuthenticator(userID, id string, step, now int64) (bool, error) {
	return tx.execOne(`UPDATE authenticators SET confirmed_at = ?, last_used_step = ?, expires_at = NULL
		WHERE user_id = ? AND id = ? AND confirmed_at IS NULL`, now, step, userID, id)
}

// UseTOTPStep records that a code for step was accepted, if and only if no
// code for that or a later step was accepted before. This single
// conditional update is the replay protection: of any number of parallel
// requests with one code, on any number of instances, one wins.
func (tx *Tx) UseTOTPStep(id string, step, now int64) (bool, error) {
	return tx.execOne(`UPDATE authenticators SET last_used_step = ?, last_used_at = ?
		WHERE id = ? AND confirmed_at IS NOT NULL AND last_used_step < ?`, step, now, id, step)
}

// RenameAuthenticator renames the user's authenticator.
func (tx *Tx) RenameAuthenticator(userID, id, name string) (bool, error) {
	return tx.execOne(`UPDATE authenticators SET name = ? WHERE user_id = ? AND id = ?`, name, userID, id)
}

// SetAuthenticatorSecret replaces the sealed secret (key rotation).
func (tx *Tx) SetAuthenticatorSecret(id, sealed string) error {
	_, err := tx.exec(`UPDATE authenticators SET secret = ? WHERE id = ?`, sealed, id)
	return err
}

// CountAuthenticators returns how many authenticators, pending or
// confirmed, the database holds: each one's secret is sealed under a key.
func (tx *Tx) CountAuthenticators() (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM authenticators`).Scan(&n)
	return n, err
}

// AllAuthenticatorSecrets returns id, workspace id, user id and sealed
// secret of every authenticator, for key rotation.
func (tx *Tx) AllAuthenticatorSecrets() ([][4]string, error) {
	rows, err := tx.query(`SELECT a.id, u.workspace_id, a.user_id, a.secret FROM authenticators a JOIN users u ON u.id = a.user_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][4]string
	for rows.Next() {
		var r [4]string
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteAuthenticator deletes the user's authenticator; false if none.
func (tx *Tx) DeleteAuthenticator(userID, id string) (bool, error) {
	return tx.execOne(`DELETE FROM authenticators WHERE user_id = ? AND id = ?`, userID, id)
}

// DeleteAuthenticators deletes all the user's authenticators.
func (tx *Tx) DeleteAuthenticators(userID string) (int64, error) {
	res, err := tx.exec(`DELETE FROM authenticators WHERE user_id = ?`, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CountConfirmedAuthenticators returns how many second factors the user has.
func (tx *Tx) CountConfirmedAuthenticators(userID string) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM authenticators WHERE user_id = ? AND confirmed_at IS NOT NULL`, userID).Scan(&n)
	return n, err
}

// ReplaceRecoveryCodes replaces the user's recovery codes with hashes, all
// made with salt.
func (tx *Tx) ReplaceRecoveryCodes(userID, salt string, hashes []string, now int64) error {
	if err := tx.DeleteRecoveryCodes(userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.exec(`INSERT INTO recovery_codes (id, user_id, salt, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			NewID(), userID, salt, h, now); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRecoveryCodes deletes all the user's recovery codes.
func (tx *Tx) DeleteRecoveryCodes(userID string) error {
	_, err := tx.exec(`DELETE FROM recovery_codes WHERE user_id = ?`, userID)
	return err
}

// RecoveryCodeSalt returns the salt of the user's current set, and how many
// unused codes remain ("" and 0 when the user has none).
func (tx *Tx) RecoveryCodeSalt(userID string) (salt string, remaining int, err error) {
	err = tx.queryRow(`SELECT COALESCE(MAX(salt), ''), COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&salt, &remaining)
	return salt, remaining, err
}

// UseRecoveryCode spends the user's unused code with hash; false if there
// is none. One statement: a code spent by two parallel requests is spent
// once.
func (tx *Tx) UseRecoveryCode(userID, hash string, now int64) (bool, error) {
	return tx.execOne(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`, now, userID, hash)
}

package secret

import (
	"context"
	"crypto/rand"
	"strings"
)

// Recovery codes are hashed with argon2id like passwords, but all codes of
// one set share one salt: then checking an attempt costs one hash, and the
// database finds the matching code by the hash itself in one conditional
// update that also spends it. Each set has its own random salt, so equal
// codes of two users never hash alike.

// NewRecoverySalt returns a fresh salt for a set of recovery codes, encoded
// with the hasher's parameters as the first part of a PHC string.
func (h *Hasher) NewRecoverySalt() string {
	salt := make([]byte, h.params.SaltLen)
	rand.Read(salt)
	full := encodePHC(h.params, salt, nil)
	return strings.TrimSuffix(full, "$")
}

// HashRecoveryCode returns the hash of a normalized recovery code under a
// salt from NewRecoverySalt, for storing or for looking the code up.
func (h *Hasher) HashRecoveryCode(ctx context.Context, salt, code string) (string, error) {
	// Parse the salt as a PHC string with a placeholder key, so that it gets
	// the same bounds checks as a stored password hash.
	p, s, _, err := parsePHC(salt + "$" + phcBase64.EncodeToString(make([]byte, h.params.KeyLen)))
	if err != nil {
		return "", err
	}
	key, err := h.derive(ctx, code, s, p)
	if err != nil {
		return "", err
	}
	return phcBase64.EncodeToString(key), nil
}

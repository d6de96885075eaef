package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// tokenBytes is 256 bits: beyond guessing, so a token needs no throttle of
// its own and its hash no salt.
const tokenBytes = 32

// TokenLen is the length of every token NewToken returns.
const TokenLen = 43 // base64 of 32 bytes, unpadded

// NewToken returns a new random token for a session, sign-in flow,
// invitation or password reset: 32 bytes from crypto/rand as unpadded
// base64url, safe in cookies and URLs without escaping.
func NewToken() string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails: it crashes the program rather than return weak bytes
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the hex SHA-256 of token. The database stores only this,
// so a leaked database or backup yields no usable session or link.
func HashToken(token string) string {
	sum := TokenDigest(token)
	return hex.EncodeToString(sum[:])
}

// TokenDigest is the digest HashToken encodes, as a value: a map key that
// costs no allocation, for the in-memory session cache.
func TokenDigest(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// WellFormedToken reports whether s could be a token NewToken made, so that
// garbage from a cookie or URL is refused before any database lookup (and
// never reaches a log line or an index scan as anything but "invalid").
func WellFormedToken(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	// Strict decoding also refuses a last character with stray low bits,
	// which NewToken never produces.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == tokenBytes
}

// accessCodeBytes is 40 bits: enough for a code that is single use, short
// lived and behind the second-factor throttle, and still short enough for an
// admin to read out over the phone.
const accessCodeBytes = 5

// NewAccessCode returns a one-time code that an admin hands to a user after
// resetting their second factor, so that only that user can enroll again.
// It is 8 characters of Crockford base32 shown as "XXXX-XXXX": no I, L, O or
// U, nothing to mishear or mistype.
func NewAccessCode() string {
	b := make([]byte, accessCodeBytes)
	rand.Read(b)
	return groupBy4(crockford.EncodeToString(b))
}

// NormalizeAccessCode turns what a user typed into the displayed form
// "XXXX-XXXX", tolerant of case, spaces, dashes and the Crockford aliases
// (I and L read as 1, O as 0). The result is the same form NewAccessCode
// returns, so hashing either the issued code or the normalized input gives
// the same hash. ok is false if input cannot be an access code.
func NormalizeAccessCode(input string) (string, bool) {
	s, ok := normalizeCrockford(input, accessCodeBytes*8/5)
	if !ok {
		return "", false
	}
	return groupBy4(s), true
}

package secret

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"unicode"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryCodeBytes is 80 bits, encoded as exactly 16 base32 characters.
// Each code is stored with the password hasher and shares the second-factor
// throttle, so 80 bits put guessing far out of reach.
const recoveryCodeBytes = 10

// RecoveryCodeLen is the length of a normalized recovery code.
const RecoveryCodeLen = recoveryCodeBytes * 8 / 5

// crockfordAlphabet is Douglas Crockford's base32: digits and upper-case
// letters without I, L, O and U, chosen for codes people read and type.
const crockfordAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var crockford = base32.NewEncoding(crockfordAlphabet).WithPadding(base32.NoPadding)

// NewRecoveryCodes returns a new set of RecoveryCodeCount distinct recovery
// codes in their displayed form, "XXXX-XXXX-XXXX-XXXX". They are shown once;
// what is stored is the hash of each code's NormalizeRecoveryCode form.
func NewRecoveryCodes() []string {
	codes := make([]string, 0, RecoveryCodeCount)
	seen := make(map[string]bool, RecoveryCodeCount)
	for len(codes) < RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		rand.Read(b)
		code := crockford.EncodeToString(b)
		// A repeat is all but impossible at 80 bits, but a set with one
		// would silently hold fewer usable codes than the user was told.
		if seen[code] {
			continue
		}
		seen[code] = true
		codes = append(codes, groupBy4(code))
	}
	return codes
}

// NormalizeRecoveryCode turns what a user typed into the canonical form of a
// recovery code: 16 upper-case Crockford base32 characters, no separators.
// People copy codes from paper, password managers and PDFs, so it ignores
// case, spaces and dashes (including typographic dashes and full-width forms
// from a Japanese input method) and reads I and L as 1 and O as 0. ok is
// false if input cannot be a recovery code, and the result is then "".
func NormalizeRecoveryCode(input string) (string, bool) {
	return normalizeCrockford(input, RecoveryCodeLen)
}

// normalizeCrockford returns the n significant characters of input in
// canonical Crockford form, or ok=false.
func normalizeCrockford(input string, n int) (string, bool) {
	var b strings.Builder
	b.Grow(n)
	for _, r := range input {
		// Full-width ASCII (U+FF01..U+FF5E) is what an IME in full-width
		// mode types for letters, digits and '-'.
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || isDashLike(r) {
			continue
		}
		c, ok := crockfordCanonical(r)
		if !ok || b.Len() == n {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != n {
		return "", false
	}
	return b.String(), true
}

// isDashLike reports the characters people type or paste for a dash that
// Unicode does not class as dashes: the minus sign, and the prolonged sound
// mark that a Japanese input method gives for the '-' key.
func isDashLike(r rune) bool {
	return r == '\u2212' || r == '\u30FC' || r == '\uFF70'
}

// crockfordCanonical maps one typed character to its alphabet character.
func crockfordCanonical(r rune) (byte, bool) {
	if r >= 'a' && r <= 'z' {
		r -= 'a' - 'A'
	}
	switch r {
	case 'I', 'L':
		return '1', true
	case 'O':
		return '0', true
	}
	if r < 0x80 && strings.IndexByte(crockfordAlphabet, byte(r)) >= 0 {
		return byte(r), true
	}
	return 0, false
}

// groupBy4 inserts a dash every four characters, the displayed form of
// codes: groups of four are easy to read aloud and compare by eye.
func groupBy4(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

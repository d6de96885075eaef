package secret

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
)

// Password lengths, in Unicode code points so that a password in any script
// gets the same allowance. Length is what makes a password hard to guess; the
// upper bound only keeps input sane, and is far above any memorable password.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// minPersonalLen skips personal strings so short ("al", "io") that refusing
// every password containing them would refuse good passwords by accident.
const minPersonalLen = 4

// CheckPassword returns nil or a *sekisho.Error (KindInvalid, Field
// "password") saying why the password is refused.
//
// It follows NIST SP 800-63B: a length range, any printable character
// including spaces, no composition rules, and a refusal of passwords that
// attackers try first: common ones, and ones containing the user's own data.
// personal are strings the password must not contain (case-insensitively):
// the user's email, the local part of the email, the workspace name and slug.
// Strings shorter than 4 characters are ignored, and for an email the local
// part is checked too, so a caller that forgets to pass it is still covered.
func CheckPassword(password string, personal ...string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen {
		return sekisho.Invalid("password", "password_too_short",
			"Use at least %d characters.", MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return sekisho.Invalid("password", "password_too_long",
			"Use at most %d characters.", MaxPasswordLen)
	}
	if !printable(password) {
		return sekisho.Invalid("password", "password_not_printable",
			"Use only visible characters and spaces: remove control characters and other invisible characters.")
	}
	lower := strings.ToLower(password)
	for _, s := range personal {
		if containsPersonal(lower, s) {
			return sekisho.Invalid("password", "password_personal",
				"Do not use your email address or the workspace name in your password. Choose a different password.")
		}
	}
	if isCommonPassword(password) {
		return sekisho.Invalid("password", "password_common",
			"This password is too common and easy to guess. Choose a different one, for example a few unrelated words.")
	}
	return nil
}

// printable reports whether s is valid UTF-8 without characters that cannot
// be seen: controls (NUL, tab, newline), line and paragraph separators,
// noncharacters, and format characters (zero-width space, soft hyphen, bidi
// overrides). Such characters are invisible in a password field, so a user
// could not retype them, and they make passwords that look identical differ.
//
// It refuses these rather than allowing only known printable characters
// because Go's Unicode tables lag behind keyboards: an emoji newer than them
// is unassigned to Go, yet visible to the user, and must be accepted.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Cc, unicode.Zl, unicode.Zp):
			return false
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe: // noncharacters
			return false
		case unicode.Is(unicode.Cf, r) && !inEmojiOrWord(r):
			return false
		}
	}
	return true
}

// inEmojiOrWord reports whether r is one of the invisible format characters
// that are part of visible text: the zero-width joiner builds emoji sequences
// (👨‍👩‍👧), the zero-width non-joiner is needed to spell words in Persian and
// Indic scripts, and tag characters build subdivision flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
func inEmojiOrWord(r rune) bool {
	return r == '\u200c' || r == '\u200d' || (r >= 0xe0020 && r <= 0xe007f)
}

// containsPersonal reports whether lower (an already lower-cased password)
// contains s or, when s is an email, its local part.
func containsPersonal(lower, s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	candidates := []string{s}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		candidates = append(candidates, s[:at])
	}
	for _, c := range candidates {
		if utf8.RuneCountInString(c) >= minPersonalLen && strings.Contains(lower, c) {
			return true
		}
	}
	return false
}

// commonPasswordsFile lists known common passwords of at least MinPasswordLen
// code points, lower-cased, one per line, sorted bytewise. Where it comes from
// and how to regenerate it: COMMON_PASSWORDS.md.
//
//go:embed common_passwords.txt
var commonPasswordsFile string

// commonPasswords splits the list once, on first use, so that processes that
// never check a password (migrations, admin commands) do not pay for it. The
// entries share the embedded file's memory; only the slice headers are new.
var commonPasswords = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonPasswordsFile, "\n"), "\n")
})

// isCommonPassword reports whether password, compared case-insensitively and
// as a whole, is on the common-password list. Only passwords long enough to
// pass CheckPassword's length rule are on the list.
func isCommonPassword(password string) bool {
	_, found := slices.BinarySearch(commonPasswords(), strings.ToLower(password))
	return found
}

package secret

import (
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
)

func TestCheckPassword(t *testing.T) {
	personal := []string{"Alice.Smith@Example.com", "alice.smith", "Acme Widgets", "acme-widgets"}
	for _, tc := range []struct {
		name, password string
		personal       []string
		code           string // "" for accepted
	}{
		{"12 ASCII", "kettle-orbit", nil, ""},
		{"11 ASCII", "kettle-orbi", nil, "password_too_short"},
		{"empty", "", nil, "password_too_short"},
		// Length counts code points, not bytes: 11 two-byte letters are
		// 22 bytes and still too short; 12 four-byte emoji are enough.
		{"11 code points", strings.Repeat("é", 11), nil, "password_too_short"},
		{"12 code points", strings.Repeat("é", 12), nil, ""},
		{"12 emoji", strings.Repeat("🦊", 12), nil, ""},
		{"128", strings.Repeat("ab", 64), nil, ""},
		{"129", strings.Repeat("ab", 64) + "c", nil, "password_too_long"},
		{"128 multibyte", strings.Repeat("日本", 64), nil, ""},
		{"129 multibyte", strings.Repeat("日本", 64) + "語", nil, "password_too_long"},

		{"spaces", "  purple  otter  ", nil, ""},
		{"passphrase", "correct horse battery staple", nil, ""},
		{"ideographic space", "しろい\u3000ねこと\u3000くろいいぬ", nil, ""},
		{"no-break space", "purple\u00a0otter\u00a0tea", nil, ""},
		{"punctuation and symbols", `"!#$%&'()*+,-./:;<=>?@[\]^_{|}~€`, nil, ""},
		{"emoji ZWJ sequence", "family 👨\u200d👩\u200d👧 picnic", nil, ""},
		{"Persian ZWNJ", "می\u200cخواهم رفتن به خانه", nil, ""},
		{"NUL", "purple otter\x00tea", nil, "password_not_printable"},
		{"tab", "purple\totter tea", nil, "password_not_printable"},
		{"newline", "purple otter tea\n", nil, "password_not_printable"},
		{"DEL", "purple otter tea\x7f", nil, "password_not_printable"},
		{"C1 control", "purple otter tea\u0085", nil, "password_not_printable"},
		{"zero-width space", "purple\u200botter tea", nil, "password_not_printable"},
		{"bidi override", "purple otter \u202etea", nil, "password_not_printable"},
		{"line separator", "purple otter\u2028tea", nil, "password_not_printable"},
		{"soft hyphen", "purple otter tea\u00ad", nil, "password_not_printable"},
		{"byte order mark", "\ufeffpurple otter tea", nil, "password_not_printable"},
		{"noncharacter", "purple otter tea\uffff", nil, "password_not_printable"},
		{"noncharacter in plane 1", "purple otter tea\U0001fffe", nil, "password_not_printable"},
		{"Arabic noncharacter", "purple otter tea\ufdd0", nil, "password_not_printable"},
		// Apple's logo (Option-Shift-K on a Mac keyboard) is private use.
		{"private use", "purple otter tea \uf8ff", nil, ""},
		{"subdivision flag", "go team 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f!", nil, ""},
		// Unassigned in Go's Unicode tables, like an emoji newer than them.
		{"unassigned code point", "purple otter tea \U00050000", nil, ""},
		{"invalid UTF-8", "purple otter tea\xff", nil, "password_not_printable"},

		{"common", "passwordpassword", nil, "password_common"},
		{"common, other case", "PassWordPassWord", nil, "password_common"},
		{"common keyboard walk", "1qaz2wsx3edc", nil, "password_common"},
		{"common, first entry", "!2h7=aol64#exq0q", nil, "password_common"},
		{"common, last entry", "~will5melvin", nil, "password_common"},
		// The whole password is matched, not a part of it.
		{"common entry inside", "my passwordpassword!", nil, ""},

		{"email", "Alice.Smith@Example.com", personal, "password_personal"},
		{"local part inside", "xx ALICE.SMITH 2024 yy", personal, "password_personal"},
		{"workspace name", "we love acme widgets", personal, "password_personal"},
		{"workspace slug", "ACME-WIDGETS-rocks!", personal, "password_personal"},
		{"local part derived from email", "alice.smith rules!", []string{"alice.smith@example.com"}, "password_personal"},
		{"personal with spaces around", "hello acme widgets", []string{"  Acme Widgets  "}, "password_personal"},
		{"4-character workspace", "acme is where i work", []string{"Acme"}, "password_personal"},
		{"3-character workspace ignored", "abc is where i work", []string{"abc", "", "  "}, ""},
		{"3-character local part ignored", "bob the builder!", []string{"bob@example.com"}, ""},
		{"personal but unrelated", "purple otter tea", personal, ""},
	} {
		err := CheckPassword(tc.password, tc.personal...)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: CheckPassword(%q) = %v, want nil", tc.name, tc.password, err)
			}
			continue
		}
		var e *sekisho.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: CheckPassword(%q) = %v, want *sekisho.Error %s", tc.name, tc.password, err, tc.code)
			continue
		}
		if e.Code != tc.code || e.Kind != sekisho.KindInvalid || e.Field != "password" {
			t.Errorf("%s: CheckPassword(%q) = {Kind %v, Code %q, Field %q}, want {KindInvalid, %q, \"password\"}",
				tc.name, tc.password, e.Kind, e.Code, e.Field, tc.code)
		}
		if !strings.HasSuffix(e.Message, ".") || len(e.Message) < 20 {
			t.Errorf("%s: message %q is not a sentence telling the user what to do", tc.name, e.Message)
		}
	}
}

func TestCheckPasswordMessages(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                  "Use at least 12 characters.",
		strings.Repeat("x", 129): "Use at most 128 characters.",
	} {
		var e *sekisho.Error
		if err := CheckPassword(pw); !errors.As(err, &e) || e.Message != want {
			t.Errorf("CheckPassword(%.20q) = %v, want message %q", pw, e, want)
		}
	}
}

func TestCheckPasswordRandomPasses(t *testing.T) {
	for range 20 {
		pw := rand.Text() // 26 base32 characters, 130 bits
		if err := CheckPassword(pw, "alice@example.com", "alice", "Acme Widgets", "acme"); err != nil {
			t.Errorf("CheckPassword(random %q) = %v, want nil", pw, err)
		}
	}
}

// TestCommonPasswordsFile guards the embedded list against a bad
// regeneration: binary search needs it sorted and lower-cased, and entries
// shorter than MinPasswordLen would only waste space.
func TestCommonPasswordsFile(t *testing.T) {
	list := commonPasswords()
	// COMMON_PASSWORDS.md gives this count; a changed list must be deliberate.
	if len(list) != 43940 {
		t.Errorf("common-password list has %d entries, want 43940", len(list))
	}
	if !slices.IsSorted(list) {
		t.Error("common-password list is not sorted bytewise")
	}
	for i, s := range list {
		if i > 0 && list[i-1] == s {
			t.Errorf("duplicate entry %q", s)
		}
		if n := utf8.RuneCountInString(s); n < MinPasswordLen || n > MaxPasswordLen {
			t.Errorf("entry %q has %d code points, want %d to %d", s, n, MinPasswordLen, MaxPasswordLen)
		}
		if s != strings.ToLower(s) || strings.TrimSpace(s) != s || !printable(s) {
			t.Errorf("entry %q is not lower-case printable text without surrounding space", s)
		}
	}
	for _, pw := range []string{"123qweasdzxc", "qwertyuiopasdfghjkl", "administrator", "iloveyouforever", "QWERTY123456"} {
		if !isCommonPassword(pw) {
			t.Errorf("isCommonPassword(%q) = false, want true", pw)
		}
	}
	for _, pw := range []string{"", "qwertyuiopasdfghjk", "administrator1234", "administrator ", "correct horse battery staple"} {
		if isCommonPassword(pw) {
			t.Errorf("isCommonPassword(%q) = true, want false", pw)
		}
	}
}

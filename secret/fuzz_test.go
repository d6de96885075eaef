package secret_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/secret"
)

// FuzzNormalizeAccessCode checks that whatever a user types either is
// refused, or becomes the displayed form XXXX-XXXX of Crockford base32, a
// fixed point that the same code typed in lower case, without the dash or
// with spaces, also reaches.
func FuzzNormalizeAccessCode(f *testing.F) {
	for _, seed := range []string{
		"ABCD-EFGH", "abcdefgh", " abcd  efgh ", "iLoO-1100", "ＡＢＣＤ－ＥＦＧＨ", "abcd–efgh",
		"", "----", "ABCD-EFGU", "ABCD_EFGH", "ABCD-EFGHABCD-EFGH", "\xff\xfe", "ABCD\x00EFGH",
	} {
		f.Add(seed)
	}
	f.Add(secret.NewAccessCode())
	f.Fuzz(func(t *testing.T, input string) {
		got, ok := secret.NormalizeAccessCode(input)
		if !ok {
			if got != "" {
				t.Errorf("refused %q but returned %q", input, got)
			}
			return
		}
		if !accessCodeFormat.MatchString(got) {
			t.Fatalf("NormalizeAccessCode(%q) = %q, not XXXX-XXXX of Crockford base32", input, got)
		}
		for _, typed := range []string{got, strings.ToLower(got), strings.ReplaceAll(got, "-", ""), strings.ReplaceAll(got, "-", " ")} {
			if again, ok := secret.NormalizeAccessCode(typed); !ok || again != got {
				t.Errorf("%q (from %q) typed as %q normalizes to %q, %v", got, input, typed, again, ok)
			}
		}
		// An access code is never taken for a recovery code, nor the
		// other way round: they are told apart by length.
		if _, ok := secret.NormalizeRecoveryCode(input); ok {
			t.Errorf("%q is both an access code and a recovery code", input)
		}
	})
}

// FuzzWellFormedToken checks that WellFormedToken accepts exactly the
// strings NewToken can make: 43 characters of unpadded base64url that
// decode to 32 bytes and encode back to the same string.
func FuzzWellFormedToken(f *testing.F) {
	tok := secret.NewToken()
	for _, seed := range []string{
		tok, "", tok[:42], tok + "A", tok + "=", tok[:42] + "+", "=" + tok[1:], tok[:41] + "é",
		strings.Repeat("A", 43), strings.Repeat("A", 42) + "B", strings.Repeat("_", 42) + "w", strings.Repeat("A", 64),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		canonical := err == nil && len(b) == 32 && base64.RawURLEncoding.EncodeToString(b) == s
		if got := secret.WellFormedToken(s); got != canonical {
			t.Errorf("WellFormedToken(%q) = %v, want %v", s, got, canonical)
		}
	})
}

package secret_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/secret"
)

func TestNewToken(t *testing.T) {
	if secret.TokenLen != 43 {
		t.Errorf("TokenLen = %d, want 43", secret.TokenLen)
	}
	seen := make(map[string]bool)
	for range 1000 {
		tok := secret.NewToken()
		if len(tok) != 43 {
			t.Fatalf("NewToken = %q, %d characters, want 43", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("NewToken = %q: not 32 bytes of unpadded base64url (%v)", tok, err)
		}
		if !secret.WellFormedToken(tok) {
			t.Fatalf("WellFormedToken(%q) = false for a token NewToken made", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	// FIPS 180-2 test vector: SHA-256("abc").
	if got, want := secret.HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashToken(abc) = %s, want %s", got, want)
	}
	tok := secret.NewToken()
	h := secret.HashToken(tok)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Errorf("HashToken = %q, want 64 lower-case hex digits", h)
	}
	if h != secret.HashToken(tok) {
		t.Error("HashToken is not deterministic")
	}
	if h == secret.HashToken(secret.NewToken()) || strings.Contains(h, tok) {
		t.Error("HashToken does not depend on the token alone")
	}
}

func TestWellFormedTokenRefuses(t *testing.T) {
	tok := secret.NewToken()
	for _, s := range []string{
		"",
		tok[:42],
		tok + "A",
		tok + "=",
		tok[:42] + "+",
		tok[:42] + "/",
		"+" + tok[1:],
		"=" + tok[1:],
		" " + tok[1:],
		tok[:20] + "." + tok[21:],
		tok[:41] + "é",
		// 43 characters of the alphabet, but the last one carries bits
		// past the 256th, so NewToken cannot have made it.
		strings.Repeat("A", 42) + "B",
		strings.Repeat("A", 42) + "_",
		strings.Repeat("A", 20) + "\n" + strings.Repeat("A", 22),
		strings.Repeat("A", 64),
	} {
		if secret.WellFormedToken(s) {
			t.Errorf("WellFormedToken(%q) = true", s)
		}
	}
	for _, s := range []string{strings.Repeat("A", 43), strings.Repeat("_", 42) + "w", strings.Repeat("-", 42) + "0"} {
		if !secret.WellFormedToken(s) {
			t.Errorf("WellFormedToken(%q) = false", s)
		}
	}
}

var accessCodeFormat = regexp.MustCompile(`^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}$`)

func TestNewAccessCode(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		code := secret.NewAccessCode()
		if !accessCodeFormat.MatchString(code) {
			t.Fatalf("NewAccessCode = %q, want XXXX-XXXX of Crockford base32", code)
		}
		// 40 bits: a repeat in 1,000 codes has odds near 1 in 2 million.
		if seen[code] {
			t.Fatalf("NewAccessCode repeated %q", code)
		}
		seen[code] = true
		if got, ok := secret.NormalizeAccessCode(code); !ok || got != code {
			t.Fatalf("NormalizeAccessCode(%q) = %q, %v; want it unchanged", code, got, ok)
		}
		if got, ok := secret.NormalizeAccessCode(strings.ToLower(strings.ReplaceAll(code, "-", " "))); !ok || got != code {
			t.Fatalf("NormalizeAccessCode(lower case, space) = %q, %v; want %q", got, ok, code)
		}
	}
}

func TestNormalizeAccessCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ABCD-EFGH", "ABCD-EFGH"},
		{"abcdefgh", "ABCD-EFGH"},
		{" abcd  efgh ", "ABCD-EFGH"},
		{"a-b-c-d-e-f-g-h", "ABCD-EFGH"},
		{"iLoO-1100", "1100-1100"},
		{"0123-4567", "0123-4567"},
		{"ＡＢＣＤ－ＥＦＧＨ", "ABCD-EFGH"},
		{"abcd–efgh", "ABCD-EFGH"},
	} {
		got, ok := secret.NormalizeAccessCode(tc.in)
		if !ok || got != tc.want {
			t.Errorf("NormalizeAccessCode(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{"", "----", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFGU", "ABCD_EFGH", "ABCD.EFGH", "ABCD-EFG*", "ABCD-EFGHABCD-EFGH"} {
		if got, ok := secret.NormalizeAccessCode(in); ok || got != "" {
			t.Errorf("NormalizeAccessCode(%q) = %q, %v; want refused", in, got, ok)
		}
	}
}

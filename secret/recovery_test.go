package secret_test

import (
	"encoding/base32"
	"regexp"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/secret"
)

const crockfordAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var (
	recoveryDisplayed = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)
	recoveryCanonical = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{16}$`)
	crockford         = base32.NewEncoding(crockfordAlphabet).WithPadding(base32.NoPadding)
)

func TestNewRecoveryCodes(t *testing.T) {
	codes := secret.NewRecoveryCodes()
	if len(codes) != 10 || secret.RecoveryCodeCount != 10 {
		t.Fatalf("NewRecoveryCodes gave %d codes, want 10", len(codes))
	}
	seen := make(map[string]bool)
	for _, code := range codes {
		if !recoveryDisplayed.MatchString(code) {
			t.Errorf("code %q is not XXXX-XXXX-XXXX-XXXX of Crockford base32", code)
		}
		canonical, ok := secret.NormalizeRecoveryCode(code)
		if !ok || canonical != strings.ReplaceAll(code, "-", "") || len(canonical) != secret.RecoveryCodeLen {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", code, canonical, ok)
		}
		// 16 characters of 5 bits decode to exactly 10 bytes: 80 bits.
		raw, err := crockford.DecodeString(canonical)
		if err != nil || len(raw) != 10 {
			t.Errorf("code %q decodes to %d bytes (%v), want 10", code, len(raw), err)
		}
		if seen[canonical] {
			t.Errorf("code %q appears twice in one set", code)
		}
		seen[canonical] = true
	}
	other := secret.NewRecoveryCodes()
	for _, code := range other {
		if seen[strings.ReplaceAll(code, "-", "")] {
			t.Errorf("code %q appears in two sets", code)
		}
	}
}

// TestRecoveryCodesUseWholeAlphabet catches a generator that draws from a
// smaller set (hex digits, say) or fixes some positions: it would still pass
// the format checks with far fewer than 80 bits.
func TestRecoveryCodesUseWholeAlphabet(t *testing.T) {
	var seen [16]map[byte]bool
	for i := range seen {
		seen[i] = make(map[byte]bool)
	}
	// 1,000 codes: a symbol missing from a position by chance has odds of
	// (31/32)^1000, about 1e-14.
	for range 100 {
		for _, code := range secret.NewRecoveryCodes() {
			canonical := strings.ReplaceAll(code, "-", "")
			for i := range len(canonical) {
				seen[i][canonical[i]] = true
			}
		}
	}
	for i, s := range seen {
		if len(s) != 32 {
			t.Errorf("position %d saw %d distinct symbols, want 32", i, len(s))
		}
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS"},
		{"ABCDEFGHJKMNPQRS", "ABCDEFGHJKMNPQRS"},
		{"abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS"},
		{"abcd efgh-ijkm-nopq", "ABCDEFGH1JKMN0PQ"},
		{"  abcd efgh ijkm nopq\n", "ABCDEFGH1JKMN0PQ"},
		{"AbCd-EfGh-IjKm-NoPq", "ABCDEFGH1JKMN0PQ"},
		{"a-b-c-d-e-f-g-h-i-j-k-m-n-o-p-q", "ABCDEFGH1JKMN0PQ"},
		{"--abcd--efgh--ijkm--nopq--", "ABCDEFGH1JKMN0PQ"},
		{"iIlL-oO01-2345-6789", "1111000123456789"},
		{"vwxy-z012-3456-789t", "VWXYZ0123456789T"},
		{"abcd\tefgh\r\nijkm nopq", "ABCDEFGH1JKMN0PQ"},
		{"abcd–efgh—ijkm−nopq", "ABCDEFGH1JKMN0PQ"},           // en dash, em dash, minus sign
		{"ＡＢＣＤ－ＥＦＧＨ－ＩＪＫＭ－ＮＯＰＱ", "ABCDEFGH1JKMN0PQ"},           // full width
		{"abcdーefgh\u3000ijkm\u00a0nopq", "ABCDEFGH1JKMN0PQ"}, // Japanese IME dash, ideographic and no-break space
	} {
		got, ok := secret.NormalizeRecoveryCode(tc.in)
		if !ok || got != tc.want {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestNormalizeRecoveryCodeRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"    ",
		"----------------",
		"ABCD-EFGH-JKMN-PQR",       // 15
		"ABCD-EFGH-JKMN-PQRST",     // 17
		"ABCDEFGHJKMNPQRSABCDEFGH", // 24
		"ABCD-EFGH-JKMN-PQRU",      // U is not in the alphabet
		"abcd-efgh-jkmn-pqru",
		"ABCD-EFGH-JKMN-PQR*", // a Crockford check symbol, which we do not use
		"ABCD_EFGH_JKMN_PQRS",
		"ABCD.EFGH.JKMN.PQRS",
		"ABCD-EFGH-JKMN-PQR\x00",
		"ABCD-EFGH-JKMN-PQRÉ",
		"ABCD-EFGH-JKMN-PQRあ",
		"ABCD-EFGH-JKMN-PQR\xff",
		"ABCD-EFGH-JKMN-PQR" + "\u0130", // dotted capital I
		"123456",                        // a TOTP code
		"ABCD-EFGH",                     // an access code
	} {
		if got, ok := secret.NormalizeRecoveryCode(in); ok || got != "" {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want refused", in, got, ok)
		}
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, seed := range []string{
		"ABCD-EFGH-JKMN-PQRS",
		"abcd efgh-ijkm-nopq",
		"ＡＢＣＤ－ＥＦＧＨ－ＩＪＫＭ－ＮＯＰＱ",
		"ABCD-EFGH-JKMN-PQRU",
		"ABCD-EFGH-JKMN-PQR",
		"",
		"\xff\xfe",
	} {
		f.Add(seed)
	}
	f.Add(secret.NewRecoveryCodes()[0])
	f.Fuzz(func(t *testing.T, input string) {
		got, ok := secret.NormalizeRecoveryCode(input)
		if !ok {
			if got != "" {
				t.Errorf("refused %q but returned %q", input, got)
			}
			return
		}
		if !recoveryCanonical.MatchString(got) {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, not 16 characters of the alphabet", input, got)
		}
		again, ok := secret.NormalizeRecoveryCode(got)
		if !ok || again != got {
			t.Errorf("not idempotent: %q → %q → %q, %v", input, got, again, ok)
		}
		grouped := got[:4] + "-" + got[4:8] + "-" + got[8:12] + "-" + got[12:]
		if again, ok := secret.NormalizeRecoveryCode(strings.ToLower(grouped)); !ok || again != got {
			t.Errorf("displayed form of %q normalizes to %q, %v", got, again, ok)
		}
	})
}

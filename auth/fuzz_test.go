package auth_test

import (
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// FuzzNormalizeEmail checks what every stored and looked-up address goes
// through: the result is trimmed, lower case, at most 254 bytes, a fixed
// point, and the same for any spelling that differs only in case or
// surrounding space; anything else is refused as the client's mistake.
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"admin@acme.test",
		"  Admin@Acme.Test \n",
		"ÅSA@EXAMPLE.COM",
		"İ@example.com",
		"a@b",
		"@example.com",
		"a@@example.com",
		`"a b"@example.com`,
		"Name <a@example.com>",
		"a@example.com, b@example.com",
		"=?utf-8?q?a?=@example.com",
		"a@[127.0.0.1]",
		"a\x00@example.com",
		"\xff@example.com",
		strings.Repeat("a", 250) + "@example.com",
		"",
		" ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := auth.NormalizeEmail(in)
		if err != nil {
			if got != "" {
				t.Errorf("NormalizeEmail(%q) = %q with error %v", in, got, err)
			}
			if k := sekisho.KindOf(err); k != sekisho.KindInvalid {
				t.Errorf("NormalizeEmail(%q): %v of kind %v, want KindInvalid", in, err, k)
			}
			return
		}
		if got != strings.ToLower(got) {
			t.Errorf("NormalizeEmail(%q) = %q, not lower case", in, got)
		}
		if got != strings.TrimSpace(got) || got == "" {
			t.Errorf("NormalizeEmail(%q) = %q, not trimmed", in, got)
		}
		if len(got) > 254 || !strings.Contains(got, "@") {
			t.Errorf("NormalizeEmail(%q) = %q: too long, or no @", in, got)
		}
		if again, err := auth.NormalizeEmail(got); err != nil || again != got {
			t.Errorf("not idempotent: %q → %q → %q, %v", in, got, again, err)
		}
		variants := []string{" " + in + "\t"}
		// Upper case, except where lower-casing it back gives another
		// string (ß, ſ and the like): strings.EqualFold won't do here.
		up := strings.ToUpper(in)
		if lowUp, lowIn := strings.ToLower(up), strings.ToLower(in); lowUp == lowIn {
			variants = append(variants, up)
		}
		for _, variant := range variants {
			if v, err := auth.NormalizeEmail(variant); err == nil && v != got {
				t.Errorf("%q gives %q but %q gives %q", in, got, variant, v)
			}
		}
	})
}

package totp

import (
	"bytes"
	"encoding/base32"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pquerna/otp"
)

// FuzzURI checks that the otpauth URI of any account name and issuer reads
// back, through pquerna/otp's parser, as the same issuer, account and
// secret. totp has no parser of its own (it only writes URIs; apps read
// them), so an independent one stands in. The issuer has no colon (URI's
// documented precondition), and both are UTF-8 as a name from the database.
func FuzzURI(f *testing.F) {
	for _, c := range [][2]string{
		{"sekisho", "acme: alice@acme.test"},
		{"sekisho", "alice+tag@acme.test"},
		{"Sekisho Dev & Co = 1?#/%", "ÿ 太郎/x?y#z&w=v+u%"},
		{"sekisho", ""},
		{"s", "a:b:c"},
		{"%41", "%2B %20"},
	} {
		f.Add(c[0], c[1], []byte("12345678901234567890"))
	}
	f.Fuzz(func(t *testing.T, issuer, account string, secret []byte) {
		if issuer == "" || strings.Contains(issuer, ":") || !utf8.ValidString(issuer) || !utf8.ValidString(account) || len(secret) == 0 {
			return
		}
		uri := URI(issuer, account, secret)
		if strings.ContainsAny(uri, " +") || strings.Count(uri, ":") != 2 {
			t.Fatalf("URI has an unescaped space, + or colon: %s", uri)
		}
		key, err := otp.NewKeyFromURL(uri)
		if err != nil {
			t.Fatalf("NewKeyFromURL(%s): %v", uri, err)
		}
		if key.Issuer() != issuer || key.AccountName() != account {
			t.Errorf("issuer %q, account %q; want %q, %q (%s)", key.Issuer(), key.AccountName(), issuer, account, uri)
		}
		got, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("secret %q decodes to %x, %v; want %x", key.Secret(), got, err, secret)
		}
		if key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("parameters %d %d %v in %s", key.Period(), key.Digits(), key.Algorithm(), uri)
		}
	})
}

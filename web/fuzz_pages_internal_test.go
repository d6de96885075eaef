package web

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/totp"
)

// FuzzPageParsers checks what the pages parse out of a request besides the
// form, each on its own input: the otpauth URI that the enrollment pages
// post back in a hidden field (enrollmentData, which renders it as a QR
// code), the Accept-Language header, X-Forwarded-For behind a trusted
// proxy, and the flash and language cookies. None panics; the URI is
// shown only when it is an otpauth://totp URI of at most 1024 bytes with a
// secret; the language is always one the pages speak; the client address
// is always an address; a flash is only ever a catalog message.
func FuzzPageParsers(f *testing.F) {
	uri := totp.URI("sekisho", "acme: alice@acme.test", []byte("12345678901234567890"))
	for _, seed := range [][4]string{
		{uri, "ja,en;q=0.8", "203.0.113.7", "sekisho_flash=ok|flash.signed_out"},
		{"otpauth://totp/x?secret=", "*;q=2", "1.2.3.4, , zz", "sekisho_flash=error|flash.nope|9"},
		{"otpauth://hotp/x?secret=AAAA", "ja;q=NaN, en;q=-1", strings.Repeat("10.0.0.1,", 50), "sekisho_flash=|||"},
		{"http://totp/?secret=AAAA", "\xff\xfe", "[::1]:80", "sekisho_lang=ja; sekisho_flash=info|flash.recovery_code_used|99999999999999999999"},
		{"otpauth://totp/%ff?secret=%00", "ja-JP;q=1e400", "::ffff:10.0.0.9, 2001:db8::1", "sekisho_flash=ok|flash." + strings.Repeat("x", 500)},
		{uri + "&" + strings.Repeat("a", 1024), "", "", ";;;"},
		{"otpauth://totp/" + strings.Repeat("%E9%96%A2", 100) + "?secret=" + strings.Repeat("A", 300), "JA", "0.0.0.0", "sekisho_lang=\xff"},
		{"%zz", "en-US;q=0.9;q=0.1;x=y", "10.0.0.2, 10.0.0.3", "=x; a=\"b"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	s := &Server{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	f.Fuzz(func(t *testing.T, uri, acceptLang, xff, cookie string) {
		if d, err := enrollmentData(uri); err == nil {
			u, perr := url.Parse(uri)
			if perr != nil || u.Scheme != "otpauth" || u.Host != "totp" || len(uri) > 1024 || u.Query().Get("secret") == "" {
				t.Fatalf("enrollmentData took %q", uri)
			}
			if d.Secret != u.Query().Get("secret") || d.URI != uri || !strings.HasPrefix(string(d.QR), "data:image/png;base64,") {
				t.Fatalf("enrollmentData(%q) = %+v", uri, d)
			}
		}

		if l := acceptLanguage(acceptLang); !slices.Contains(Languages, l) {
			t.Fatalf("acceptLanguage(%q) = %q", acceptLang, l)
		}

		r := httptest.NewRequest("GET", "/account", nil)
		r.RemoteAddr = "10.0.0.1:4000"
		r.Header["X-Forwarded-For"] = []string{xff}
		r.Header["Accept-Language"] = []string{acceptLang}
		r.Header["Cookie"] = []string{cookie}
		ip := s.clientIP(r)
		a, err := netip.ParseAddr(ip)
		if err != nil {
			t.Fatalf("clientIP with X-Forwarded-For %q = %q, not an address", xff, ip)
		}
		if s.trusted(a) && ip != "10.0.0.1" {
			t.Fatalf("clientIP with X-Forwarded-For %q = %q, a trusted proxy's address", xff, ip)
		}
		if l := s.pickLanguage(r, ""); !slices.Contains(Languages, l) {
			t.Fatalf("pickLanguage(%q, %q) = %q", cookie, acceptLang, l)
		}
		q := &pageReq{s: s, w: httptest.NewRecorder(), r: r, cat: catalogs["en"]}
		if fl := q.takeFlash(); fl != nil {
			if fl.Kind != "ok" && fl.Kind != "info" && fl.Kind != "error" || fl.Text == "" || strings.Contains(fl.Text, "flash.") {
				t.Fatalf("flash from cookies %q: %+v", cookie, fl)
			}
		}
		_ = q.signInURL("")
	})
}

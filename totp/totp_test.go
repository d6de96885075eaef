package totp

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"image"
	"image/png"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
)

// The seeds of RFC 6238 Appendix B: the ASCII digits "1234567890" repeated
// to the output size of each hash.
var (
	seedSHA1   = []byte("12345678901234567890")
	seedSHA256 = []byte("12345678901234567890123456789012")
	seedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

var rfc6238Vectors = []struct {
	unix                  int64
	sha1, sha256, sha512  string
	sha1SixDigitsViaCode  string
	wantStepFromAppendixB int64
}{
	{59, "94287082", "46119246", "90693936", "287082", 0x1},
	{1111111109, "07081804", "68084774", "25091201", "081804", 0x23523EC},
	{1111111111, "14050471", "67062674", "99943326", "050471", 0x23523ED},
	{1234567890, "89005924", "91819424", "93441116", "005924", 0x273EF07},
	{2000000000, "69279037", "90698825", "38618901", "279037", 0x3F940AA},
	{20000000000, "65353130", "77737706", "47863826", "353130", 0x27BC86AA},
}

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfc6238Vectors {
		at := time.Unix(v.unix, 0)
		step := StepAt(at)
		if step != v.wantStepFromAppendixB {
			t.Errorf("StepAt(%d) = %#x, want %#x", v.unix, step, v.wantStepFromAppendixB)
		}
		for _, c := range []struct {
			name string
			seed []byte
			alg  otp.Algorithm
			want string
		}{
			{"SHA1", seedSHA1, otp.AlgorithmSHA1, v.sha1},
			{"SHA256", seedSHA256, otp.AlgorithmSHA256, v.sha256},
			{"SHA512", seedSHA512, otp.AlgorithmSHA512, v.sha512},
		} {
			if got := generate(c.seed, uint64(step), otp.DigitsEight, c.alg); got != c.want {
				t.Errorf("%s at %d: got %s, want %s", c.name, v.unix, got, c.want)
			}
		}
		if got := Code(seedSHA1, step); got != v.sha1SixDigitsViaCode {
			t.Errorf("Code at %d: got %s, want %s", v.unix, got, v.sha1SixDigitsViaCode)
		}
		if got, ok := Verify(seedSHA1, v.sha1SixDigitsViaCode, at, -1); !ok || got != step {
			t.Errorf("Verify(%s) at %d = %d, %v; want %d, true", v.sha1SixDigitsViaCode, v.unix, got, ok, step)
		}
	}
}

func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := Code(seedSHA1, int64(counter)); got != w {
			t.Errorf("HOTP counter %d: got %s, want %s", counter, got, w)
		}
	}
}

func TestStepAt(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(29, 999999999), 0},
		{time.Unix(30, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-30, 0), -1},
		{time.Unix(-31, 0), -2},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1767225600 / 30},
		// A time zone changes nothing: the step counts UTC seconds.
		{time.Date(2026, 1, 1, 9, 0, 0, 0, time.FixedZone("JST", 9*3600)), 1767225600 / 30},
	} {
		if got := StepAt(c.at); got != c.want {
			t.Errorf("StepAt(%v) = %d, want %d", c.at, got, c.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if len(a) != SecretSize || len(b) != SecretSize {
		t.Fatalf("lengths %d, %d; want %d", len(a), len(b), SecretSize)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
	if bytes.Equal(a, make([]byte, SecretSize)) {
		t.Fatal("secret is all zero")
	}
}

func TestEncodeSecret(t *testing.T) {
	if got, want := EncodeSecret(seedSHA1), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; got != want {
		t.Errorf("EncodeSecret(RFC seed) = %s, want %s", got, want)
	}
	// 10 bytes need padding in standard base32; users must never see it.
	if got, want := EncodeSecret([]byte("1234567890")[:9]), "GEZDGNBVGY3TQOI"; got != want {
		t.Errorf("EncodeSecret(9 bytes) = %s, want %s", got, want)
	}
	enc := EncodeSecret(NewSecret())
	if len(enc) != 32 || strings.ToUpper(enc) != enc || strings.Contains(enc, "=") {
		t.Errorf("EncodeSecret(new secret) = %q, want 32 upper-case characters without padding", enc)
	}
}

// verifyNow is a time in the middle of a step, so that tests of the window
// do not depend on rounding at a step's edge.
var verifyNow = time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)

func TestVerifyWindow(t *testing.T) {
	secret := seedSHA1
	now := StepAt(verifyNow)
	codes := map[int64]string{}
	for off := int64(-2); off <= 2; off++ {
		codes[off] = Code(secret, now+off)
	}
	// The test is only meaningful if the refused codes differ from the
	// accepted ones; with this fixed seed and time they do.
	for _, far := range []int64{-2, 2} {
		for near := int64(-1); near <= 1; near++ {
			if codes[far] == codes[near] {
				t.Fatalf("test setup: code at T%+d equals code at T%+d", far, near)
			}
		}
	}
	for off := int64(-2); off <= 2; off++ {
		step, ok := Verify(secret, codes[off], verifyNow, -1)
		wantOK := off >= -1 && off <= 1 // SECURITY.md: one step either way, not Skew's value
		if ok != wantOK {
			t.Errorf("code of T%+d: ok = %v, want %v", off, ok, wantOK)
		}
		if ok && step != now+off {
			t.Errorf("code of T%+d: step = %d, want %d", off, step, now+off)
		}
	}

	// At the first and last instant of a step the window moves with it.
	start := time.Unix(now*30, 0)
	end := time.Unix(now*30+29, 999999999)
	for _, at := range []time.Time{start, end} {
		if _, ok := Verify(secret, codes[-1], at, -1); !ok {
			t.Errorf("code of T-1 refused at %v", at)
		}
		if _, ok := Verify(secret, codes[1], at, -1); !ok {
			t.Errorf("code of T+1 refused at %v", at)
		}
	}
	if _, ok := Verify(secret, codes[-1], start.Add(60*time.Second), -1); ok {
		t.Error("code of T-1 accepted two steps later")
	}
}

func TestVerifyReplay(t *testing.T) {
	secret := NewSecret()
	now := StepAt(verifyNow)
	code := Code(secret, now)

	step, ok := Verify(secret, code, verifyNow, -1)
	if !ok || step != now {
		t.Fatalf("first use: %d, %v; want %d, true", step, ok, now)
	}
	if _, ok := Verify(secret, code, verifyNow, step); ok {
		t.Error("the same code was accepted twice")
	}
	// Still refused a step later, while it is T−1 and inside the window.
	if _, ok := Verify(secret, code, verifyNow.Add(Period), step); ok {
		t.Error("the same code was accepted again one step later")
	}
	// An earlier code is refused once a later one was accepted.
	if _, ok := Verify(secret, Code(secret, now-1), verifyNow, step); ok {
		t.Error("code of T-1 accepted after T")
	}
	// The next step's code still works.
	if got, ok := Verify(secret, Code(secret, now+1), verifyNow, step); !ok || got != now+1 {
		t.Errorf("code of T+1 after T: %d, %v; want %d, true", got, ok, now+1)
	}
	// A lastStep beyond the window refuses everything in it.
	for off := int64(-1); off <= 1; off++ {
		if _, ok := Verify(secret, Code(secret, now+off), verifyNow, now+1); ok {
			t.Errorf("code of T%+d accepted with lastStep T+1", off)
		}
	}
	// 0 works as "none" too: step 0 ended in 1970.
	if _, ok := Verify(secret, code, verifyNow, 0); !ok {
		t.Error("lastStep 0 refused a current code")
	}
}

func TestVerifyMalformed(t *testing.T) {
	secret := NewSecret()
	good := Code(secret, StepAt(verifyNow))
	for _, code := range []string{
		"",
		"12345",
		"1234567",
		"12a456",
		"１２３４５６", // full-width digits, which unicode.IsDigit accepts
		"١٢٣٤٥٦", // Arabic-Indic digits
		"+12345",
		"-12345",
		"12345\x00",
		"123456\n",
		"\t123456",
		"12\u00a03456", // no-break space: only ASCII spaces are removed
		"0x1234",
		good + "0",
		good + " " + good,
		"      ",
		strings.Repeat(" ", 100) + good, // longer than maxCodeLen
	} {
		if _, ok := Verify(secret, code, verifyNow, -1); ok {
			t.Errorf("Verify accepted %q", code)
		}
	}
	// A refused format costs nothing: no HMAC means no allocation at all.
	allocs := testing.AllocsPerRun(100, func() {
		Verify(secret, "12a456", verifyNow, -1)
		Verify(secret, "１２３４５６", verifyNow, -1)
	})
	if allocs != 0 {
		t.Errorf("refusing malformed codes allocated %v times; want 0 (no HMAC computed)", allocs)
	}
}

// Spaces are allowed because apps display "123 456" and people copy that.
func TestVerifySpaces(t *testing.T) {
	secret := NewSecret()
	step := StepAt(verifyNow)
	good := Code(secret, step)
	for _, code := range []string{
		good[:3] + " " + good[3:],
		" " + good + " ",
		strings.Join(strings.Split(good, ""), " "),
	} {
		if got, ok := Verify(secret, code, verifyNow, -1); !ok || got != step {
			t.Errorf("Verify(%q) = %d, %v; want %d, true", code, got, ok, step)
		}
	}
}

func TestVerifyShortSecret(t *testing.T) {
	for _, secret := range [][]byte{nil, {}, seedSHA1[:minSecretSize-1]} {
		code := Code(secret, StepAt(verifyNow))
		if _, ok := Verify(secret, code, verifyNow, -1); ok {
			t.Errorf("Verify accepted a %d-byte secret", len(secret))
		}
	}
	if _, ok := Verify(seedSHA1[:minSecretSize], Code(seedSHA1[:minSecretSize], StepAt(verifyNow)), verifyNow, -1); !ok {
		t.Errorf("Verify refused a %d-byte secret", minSecretSize)
	}
}

func TestVerifyNearEpoch(t *testing.T) {
	// At step 0 there is no step −1 to try; the window is just T and T+1.
	at := time.Unix(5, 0)
	if step, ok := Verify(seedSHA1, Code(seedSHA1, 0), at, -1); !ok || step != 0 {
		t.Errorf("step 0: %d, %v", step, ok)
	}
	if _, ok := Verify(seedSHA1, Code(seedSHA1, -1), at, -1); ok {
		t.Error("a code for step -1 was accepted")
	}
}

// TestOathtool checks Code and Verify against oathtool from OATH Toolkit, an
// independent C implementation, so a shared mistake with pquerna/otp or in
// our own step arithmetic would show.
func TestOathtool(t *testing.T) {
	path, err := exec.LookPath("oathtool")
	if err != nil {
		t.Fatalf("oathtool not found (%v): this test needs it as an independent implementation; install the Debian package oathtool (apt-get install oathtool)", err)
	}
	oathtool := func(secret []byte, at time.Time) string {
		t.Helper()
		// GNU date syntax with an explicit zone, so the local zone of the
		// machine cannot shift the step.
		now := at.UTC().Format("2006-01-02 15:04:05") + " UTC"
		out, err := exec.Command(path, "--totp", "-b", EncodeSecret(secret), "--now", now).CombinedOutput()
		if err != nil {
			t.Fatalf("oathtool --now %q: %v: %s", now, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	secrets := [][]byte{seedSHA1}
	for range 4 {
		secrets = append(secrets, NewSecret())
	}
	times := []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 29, 0, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC), // past the 32-bit rollover
		time.Unix(1234567890, 0),
		time.Now().Truncate(time.Second),
	}
	for _, secret := range secrets {
		for _, at := range times {
			step := StepAt(at)
			theirs := oathtool(secret, at)
			if ours := Code(secret, step); ours != theirs {
				t.Errorf("secret %s at %v: Code = %s, oathtool = %s", EncodeSecret(secret), at, ours, theirs)
			}
			if got, ok := Verify(secret, theirs, at, -1); !ok || got != step {
				t.Errorf("secret %s at %v: Verify(oathtool's %s) = %d, %v; want %d, true",
					EncodeSecret(secret), at, theirs, got, ok, step)
			}
			// The phone may be a step ahead: its code is accepted as T+1 ...
			ahead := oathtool(secret, at.Add(Period))
			if got, ok := Verify(secret, ahead, at, -1); !ok || got != step+1 {
				t.Errorf("secret %s at %v: code of the next step: %d, %v; want %d, true",
					EncodeSecret(secret), at, got, ok, step+1)
			}
			// ... but not two steps, unless it collides with a nearby code.
			far := oathtool(secret, at.Add(2*Period))
			if _, ok := Verify(secret, far, at, -1); ok && !nearby(secret, far, step) {
				t.Errorf("secret %s at %v: code of T+2 accepted", EncodeSecret(secret), at)
			}
		}
	}
}

// nearby reports whether code is also the code of T−1, T or T+1.
func nearby(secret []byte, code string, step int64) bool {
	for s := step - 1; s <= step+1; s++ {
		if Code(secret, s) == code {
			return true
		}
	}
	return false
}

func TestURI(t *testing.T) {
	secret := NewSecret()
	for _, c := range []struct{ issuer, account string }{
		{"sekisho", "acme: alice@acme.test"},
		{"sekisho", "alice+tag@acme.test"},
		{"Sekisho Dev & Co = 1?#/%", "ÿ 太郎/x?y#z&w=v+u%"},
	} {
		uri := URI(c.issuer, c.account, secret)
		if strings.ContainsAny(uri, " +") || strings.Count(uri, ":") != 2 {
			t.Errorf("URI has an unescaped space, + or colon: %s", uri)
		}
		key, err := otp.NewKeyFromURL(uri)
		if err != nil {
			t.Fatalf("NewKeyFromURL(%s): %v", uri, err)
		}
		if key.Type() != "totp" {
			t.Errorf("type %q, want totp", key.Type())
		}
		if key.Issuer() != c.issuer {
			t.Errorf("issuer %q, want %q (%s)", key.Issuer(), c.issuer, uri)
		}
		if key.AccountName() != c.account {
			t.Errorf("account %q, want %q (%s)", key.AccountName(), c.account, uri)
		}
		got, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("secret %q decodes to %x, %v; want %x", key.Secret(), got, err, secret)
		}
		if key.Digits() != otp.DigitsSix || key.Digits().Length() != Digits {
			t.Errorf("digits %d, want %d", key.Digits(), Digits)
		}
		if key.Period() != uint64(Period/time.Second) {
			t.Errorf("period %d, want 30", key.Period())
		}
		if key.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("algorithm %v, want SHA1", key.Algorithm())
		}
	}

	want := "otpauth://totp/sekisho:acme%3A%20alice%40acme.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" +
		"&issuer=sekisho&algorithm=SHA1&digits=6&period=30"
	if got := URI("sekisho", "acme: alice@acme.test", seedSHA1); got != want {
		t.Errorf("URI =\n%s\nwant\n%s", got, want)
	}
}

func TestQRCodePNG(t *testing.T) {
	uri := URI("sekisho", "acme: alice@acme.test", NewSecret())
	for _, size := range []int{200, 256} {
		b, err := QRCodePNG(uri, size)
		if err != nil {
			t.Fatalf("QRCodePNG(%d): %v", size, err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("QRCodePNG(%d) does not start with the PNG signature: % x", size, b[:min(8, len(b))])
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("DecodeConfig: %v", err)
		}
		if format != "png" || cfg.Width != size || cfg.Height != size {
			t.Errorf("got %s %dx%d, want png %dx%d", format, cfg.Width, cfg.Height, size, size)
		}
		checkQuietZone(t, b, uri)
	}
	for _, size := range []int{0, -1, 10} {
		if _, err := QRCodePNG(uri, size); err == nil {
			t.Errorf("QRCodePNG(%d) did not fail", size)
		}
	}
	if _, err := QRCodePNG("otpauth://totp/%zz", 200); err == nil {
		t.Error("QRCodePNG accepted a URI that does not parse")
	}
}

func FuzzVerify(f *testing.F) {
	now := verifyNow.Unix()
	f.Add(seedSHA1, Code(seedSHA1, StepAt(verifyNow)), now, int64(-1))
	f.Add(seedSHA1, "123 456", now, int64(0))
	f.Add([]byte{}, "", int64(0), int64(0))
	f.Add(seedSHA1, "１２３４５６", int64(-1<<62), int64(1<<62))
	f.Add(seedSHA512, "000000", int64(1<<62), int64(-1<<63))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, lastStep int64) {
		at := time.Unix(unix, 0)
		step, ok := Verify(secret, code, at, lastStep)
		if !ok {
			if step != 0 {
				t.Fatalf("refused, but step = %d", step)
			}
			return
		}
		current := StepAt(at)
		if step <= lastStep || step < 0 || step < current-Skew || step > current+Skew {
			t.Fatalf("accepted step %d: now is %d, lastStep %d", step, current, lastStep)
		}
		if want := strings.ReplaceAll(code, " ", ""); Code(secret, step) != want {
			t.Fatalf("accepted %q, but the code of step %d is %s", code, step, Code(secret, step))
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	secret := NewSecret()
	step := StepAt(verifyNow)
	// A wrong code, the usual case of a guess: all three steps are tried.
	code := "000000"
	for i := 1; nearby(secret, code, step); i++ {
		code = fmt.Sprintf("%06d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		Verify(secret, code, verifyNow, -1)
	}
}

// checkQuietZone checks that the code's dark modules span a whole number of
// pixels each and leave at least four light modules on every side.
func checkQuietZone(t *testing.T, b []byte, uri string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	modules := code.Bounds().Dx()
	r := img.Bounds()
	dark := image.Rectangle{Min: r.Max, Max: r.Min}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if l, _, _, _ := img.At(x, y).RGBA(); l < 0x8000 {
				dark = dark.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	// A QR code's finder patterns are dark to its corners, so the dark
	// bounding box is the code itself.
	if dark.Dx() != dark.Dy() || dark.Dx()%modules != 0 {
		t.Fatalf("%d×%d pixels of code for %d modules: not whole pixels per module", dark.Dx(), dark.Dy(), modules)
	}
	quiet := 4 * dark.Dx() / modules
	if dark.Min.X-r.Min.X < quiet || dark.Min.Y-r.Min.Y < quiet || r.Max.X-dark.Max.X < quiet || r.Max.Y-dark.Max.Y < quiet {
		t.Errorf("code at %v in %v: less than %d pixels (4 modules) of margin", dark, r, quiet)
	}
}

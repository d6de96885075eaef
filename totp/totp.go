// Package totp implements the time-based one-time passwords of RFC 6238 that
// authenticator apps speak: HMAC-SHA-1, 6 digits, 30-second steps.
//
// SHA-1 is a deliberate exception to ASVS 5.0's list of legacy algorithms: it
// is what every authenticator app implements, and HOTP uses it only inside
// HMAC, whose security does not rest on collision resistance, so the SHA-1
// collision attacks do not apply.
//
// The package keeps no state. Refusing a code that was already accepted
// (pquerna/otp, which computes the codes, has no such check) is the caller's
// job: store the step that Verify returns and pass it back as lastStep, with
// an atomic conditional update so that parallel requests cannot both win.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

const (
	// Digits is the code length every authenticator app shows by default.
	Digits = 6
	// Period is the RFC 6238 default step, the only one all apps honour.
	Period = 30 * time.Second
	// Skew is how many steps either side of the current one Verify accepts,
	// to forgive clock drift and the seconds a person needs to type a code.
	Skew = 1
	// SecretSize is the seed length in bytes: RFC 4226 recommends 160 bits,
	// the output size of SHA-1.
	SecretSize = 20
)

// minSecretSize is the 128 bits below which RFC 4226 (requirement R6) says a
// shared secret must not go; Verify refuses shorter ones so that a truncated
// or empty seed from a bug elsewhere cannot turn into guessable codes.
const minSecretSize = 16

// maxCodeLen bounds the input Verify looks at, so that a huge body costs no
// more than a short one. It leaves room for a few spaces around 6 digits.
const maxCodeLen = 16

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh seed. crypto/rand.Read cannot fail since Go 1.24
// (the program crashes instead), so there is no error to return.
func NewSecret() []byte {
	secret := make([]byte, SecretSize)
	_, _ = rand.Read(secret)
	return secret
}

// EncodeSecret returns the form users type into an app when they cannot
// scan the QR code: apps expect RFC 4648 base32, and padding is only noise
// to someone copying it by hand.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// URI returns the otpauth:// key URI of the Google Authenticator key-uri
// format, the one thing every app can import. The issuer appears both as the
// label prefix (for old apps) and as the issuer parameter (which newer apps
// prefer). Label and parameters escape everything but RFC 3986's unreserved
// characters: Java's URLDecoder, behind many Android apps, would read a
// literal + as a space, and a parser splitting the raw label must find only
// the separator colon. issuer should contain no colon all the same, because
// parsers that decode first (pquerna/otp among them) split at the first one.
func URI(issuer, account string, secret []byte) string {
	return "otpauth://totp/" + escape(issuer) + ":" + escape(account) +
		"?secret=" + EncodeSecret(secret) +
		"&issuer=" + escape(issuer) +
		"&algorithm=SHA1" +
		"&digits=" + strconv.Itoa(Digits) +
		"&period=" + strconv.Itoa(int(Period/time.Second))
}

// escape writes a space as %20, not +: Google Authenticator shows a + in
// the issuer literally. url.PathEscape (which pquerna/otp uses) would leave
// & and = alone and cut the query short, so this is QueryEscape with one
// substitution: every + that QueryEscape leaves stands for a space.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// quietModules is the light margin around a QR code, in modules: the four
// that ISO/IEC 18004 asks for, without which some scanners miss the code.
const quietModules = 4

// QRCodePNG renders uri as a PNG QR code of size×size pixels, for the
// enrollment page: whole pixels per module, so no module is blurred between
// two, and a quiet zone of four modules, so API clients can show the image
// as it is. size must leave at least one pixel per module (about 60 for a
// URI of ordinary length, margin included); smaller sizes return an error
// rather than an unreadable image.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size <= 0 {
		return nil, errors.New("totp: QR code size must be positive")
	}
	if _, err := otp.NewKeyFromURL(uri); err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietModules)
	if scale < 1 {
		return nil, fmt.Errorf("totp: QR code: %d pixels are too few for %d modules and their margin", size, modules)
	}
	scaled, err := barcode.Scale(code, modules*scale, modules*scale)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	off := (size - modules*scale) / 2
	draw.Draw(img, image.Rect(off, off, off+modules*scale, off+modules*scale), scaled, image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// StepAt returns the RFC 6238 time step T = floor(unix / 30), with T0 = 0.
// It rounds towards minus infinity, not towards zero, so that the second
// before the epoch is step −1 and no step lasts twice as long.
func StepAt(t time.Time) int64 {
	unix := t.Unix()
	period := int64(Period / time.Second)
	step := unix / period
	if unix%period < 0 {
		step--
	}
	return step
}

// Code returns the code an authenticator app shows during step. The step is
// used as RFC 4226's unsigned 64-bit counter, so a negative step (before
// 1970) wraps around; Verify never asks for one.
func Code(secret []byte, step int64) string {
	return generate(secret, uint64(step), otp.DigitsSix, otp.AlgorithmSHA1)
}

// generate keeps the digits and the hash as parameters only so that the
// tests can check the 8-digit and SHA-2 vectors of RFC 6238 through the
// same pquerna/otp call that Code makes.
func generate(secret []byte, counter uint64, digits otp.Digits, alg otp.Algorithm) string {
	code, err := hotp.GenerateCodeCustom(EncodeSecret(secret), counter,
		hotp.ValidateOpts{Digits: digits, Algorithm: alg})
	if err != nil {
		// pquerna/otp fails only on base32 it cannot decode, and this
		// base32 came from EncodeSecret: reaching here is a bug.
		panic("totp: " + err.Error())
	}
	return code
}

// Verify checks code against the steps T−1, T and T+1 around now, accepting
// only steps strictly greater than lastStep (the last step accepted for this
// authenticator; pass -1 or 0 if there is none, step 0 being in 1970) so
// that a code is never accepted twice. It returns the matched step, which
// the caller stores as the next lastStep. Should a code match two steps (one
// chance in a million), the later one is returned, so neither can be
// replayed.
//
// Spaces anywhere in code are ignored, because apps display codes as
// "123 456" and people copy them that way. Anything else that is not exactly
// 6 ASCII digits is refused before any HMAC is computed, and so are secrets
// shorter than 128 bits. The three candidate codes are always all computed
// and compared in constant time, so the response time does not tell which
// step, if any, matched.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	want, wellFormed := parseCode(code)
	if !wellFormed || len(secret) < minSecretSize {
		return 0, false
	}
	current := StepAt(now)
	for s := current - Skew; s <= current+Skew; s++ {
		if s < 0 {
			continue
		}
		match := subtle.ConstantTimeCompare([]byte(Code(secret, s)), want[:]) == 1
		if match && s > lastStep {
			step, ok = s, true
		}
	}
	if !ok {
		return 0, false
	}
	return step, true
}

// parseCode returns the 6 digits of code with spaces removed, without
// allocating, and reports whether code was exactly that. Only ASCII digits
// count: strconv and unicode.IsDigit would let "１２３４５６" through.
func parseCode(code string) (digits [Digits]byte, ok bool) {
	if len(code) > maxCodeLen {
		return digits, false
	}
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ':
		case '0' <= c && c <= '9' && n < Digits:
			digits[n] = c
			n++
		default:
			return digits, false
		}
	}
	return digits, n == Digits
}

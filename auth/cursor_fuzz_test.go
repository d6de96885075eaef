package auth

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
)

// FuzzCursor checks the cursors of the user list and the audit log, which
// come back from clients in ?cursor=: decoding never panics; it either
// refuses the cursor as the client's mistake (400 invalid_cursor on the
// field "cursor") or yields a key a database can compare as text (1 to 64
// bytes of UTF-8 without NUL); a key read back is the key the cursor was
// made of; and the audit log takes only a positive event id from it.
func FuzzCursor(f *testing.F) {
	for _, seed := range []string{
		"",
		encodeCursor("01a21314-619f-77f8-aaec-0b59fef710c1"),
		encodeCursor(itoa64(42)),
		encodeCursor("-5"),
		encodeCursor("0"),
		encodeCursor("99999999999999999999999"),
		encodeCursor("a\x00b"),
		encodeCursor("\xff\xfe"),
		encodeCursor(strings.Repeat("z", 64)),
		encodeCursor(strings.Repeat("z", 65)),
		"not a cursor!",
		"eyJ9",
		"AAAA",
		"AA==",
		"A",
		"MTcwMDAwMDAwMDAwMHwwMTk",
		"MTI\nz",
		"MTIz\r\n",
		"%00",
		strings.Repeat("A", 5000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		checkCursorOfKey(t, c)
		key, err := decodeCursor(c)
		if err != nil {
			var e *sekisho.Error
			if key != "" || !errors.As(err, &e) || e.Kind != sekisho.KindInvalid || e.Code != "invalid_cursor" || e.Field != "cursor" {
				t.Fatalf("decodeCursor(%q) = %q, %v; want a KindInvalid invalid_cursor on the field cursor", c, key, err)
			}
			return
		}
		if c == "" {
			if key != "" {
				t.Fatalf("decodeCursor(\"\") = %q, want no key (the first page)", key)
			}
			return
		}
		if len(key) == 0 || len(key) > 64 || !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
			t.Fatalf("decodeCursor(%q) = %q: not a key a database can compare as text", c, key)
		}
		// Whatever spelling the client sent, the cursor the server makes
		// of the key decodes to the same key.
		if again, err := decodeCursor(encodeCursor(key)); err != nil || again != key {
			t.Fatalf("key %q (from %q): its cursor %q decodes to %q, %v", key, c, encodeCursor(key), again, err)
		}
		if n, ok := parseID(key); ok {
			if n <= 0 || itoa64(n) != strings.TrimLeft(strings.TrimPrefix(key, "+"), "0") {
				t.Fatalf("audit cursor %q: key %q read as event id %d", c, key, n)
			}
		}
	})
}

// checkCursorOfKey checks the cursor the server makes of key.
func checkCursorOfKey(t *testing.T, key string) {
	t.Helper()
	c := encodeCursor(key)
	if strings.ContainsAny(c, "+/=?&#% ") {
		t.Fatalf("cursor %q of %q needs escaping in a URL", c, key)
	}
	got, err := decodeCursor(c)
	valid := len(key) > 0 && len(key) <= 64 && utf8.ValidString(key) && !strings.ContainsRune(key, 0)
	switch {
	case valid && (err != nil || got != key):
		t.Fatalf("key %q: cursor %q decodes to %q, %v", key, c, got, err)
	case !valid && key != "" && err == nil:
		t.Fatalf("key %q is no database key, yet its cursor %q decodes to %q", key, c, got)
	}
}

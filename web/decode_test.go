package web_test

import (
	"encoding/base32"
	"testing"
)

func decodeSeed(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatalf("secret %q: %v", s, err)
	}
	return b
}

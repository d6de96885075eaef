package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
)

// signInBody is the sign-in request's body, as the handler declares it.
type signInBody struct {
	Workspace string `json:"workspace"`
	Email     string `json:"email"`
	Password  string `json:"password"`
}

// policyBody has what the flat sign-in body lacks: an embedded proof (whose
// type errors Go names by path), a bool, a number and a pointer.
type policyBody struct {
	proof
	RequireMFA *bool `json:"require_mfa"`
	GraceDays  *int  `json:"grace_days"`
	Name       string
}

// FuzzDecode checks the strict decoder on arbitrary bodies up to maxBody:
// it never panics, and it either accepts the body or refuses it as the
// client's mistake (KindInvalid, a 400), never as an internal error (a 500).
// What it accepts is valid UTF-8 JSON without NUL, or blank.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``,
		` `,
		`{}`,
		`{"workspace":"acme","email":"a@acme.test","password":"correct horse battery staple"}`,
		`{"workspace":"acme","email":"a@acme.test","password":"p"} `,
		`{"workspace":1}`,
		`{"workspace":null}`,
		`{"workspace":"a","workspace":"b"}`,
		`{"Workspace":"acme"}`,
		`{"password":"\u0000"}`,
		`{"password":"\\u0000"}`,
		`{"password":"\ud800"}`,
		"{\"password\":\"\xff\"}",
		`{"zz":1}`,
		`{"code":{"a":1}}`,
		`{"require_mfa":"yes"}`,
		`{"grace_days":1e400}`,
		`{"grace_days":-1.5}`,
		`{"proof":{}}`,
		`{}{}`,
		`{} x`,
		`[]`,
		`null`,
		`"{}"`,
		`{"a":` + strings.Repeat("[", 10000),
		`{"workspace":"` + strings.Repeat("あ", 1000) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxBody {
			return // 413, checked in badinput_test.go
		}
		var in signInBody
		checkDecode(t, body, &in)
		if all := in.Workspace + in.Email + in.Password; strings.Contains(all, "\x00") || !utf8.ValidString(all) {
			t.Errorf("decoded a field with NUL or invalid UTF-8 from %q: %+v", body, in)
		}
		var p policyBody
		checkDecode(t, body, &p)
	})
}

// checkDecode decodes body into v as a handler would and checks the result.
func checkDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/sign-in", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	err := decode(httptest.NewRecorder(), r, v)
	if err == nil {
		if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
			t.Errorf("accepted invalid JSON %q", body)
		}
		if !utf8.Valid(body) {
			t.Errorf("accepted invalid UTF-8 %q", body)
		}
		return
	}
	var e *sekisho.Error
	if !errors.As(err, &e) {
		t.Fatalf("decode(%q) = %v (%T), want a *sekisho.Error", body, err, err)
	}
	if e.Kind != sekisho.KindInvalid || statusOf(e.Kind) != 400 {
		t.Errorf("decode(%q) = kind %v (%v), want KindInvalid", body, e.Kind, e)
	}
	if e.Code == "" || e.Message == "" {
		t.Errorf("decode(%q) = %+v, want a code and a message", body, e)
	}
}

package web

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestAppendJSON: every answer that encodes itself writes exactly the bytes
// encoding/json would. The values are random, every field of every type
// filled (a field appendJSON forgets shows up as a difference), with the
// strings a name or an email may hold: quotes, HTML, control characters,
// Japanese, invalid UTF-8, JavaScript's line separators.
func TestAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(20261204, 1))
	for _, a := range []jsonAppender{sessionJSON{}, userJSON{}} {
		typ := reflect.TypeOf(a)
		for range 2000 {
			v := reflect.New(typ).Elem()
			fill(t, r, v)
			checkAppendJSON(t, v.Interface().(jsonAppender))
		}
	}
}

// FuzzAppendJSON looks for a name or a time that appendJSON encodes
// differently from encoding/json.
func FuzzAppendJSON(f *testing.F) {
	f.Add("Alice", "アクメ株式会社", "a@acme.test", int64(1764892800123456789), true)
	f.Add("<script>\u2028\"\\", "\x00\x1f\x7f", "\xff\xfe", int64(0), false)
	f.Fuzz(func(t *testing.T, name, wsName, email string, ns int64, due bool) {
		at := time.Unix(0, ns).UTC()
		if at.Year() < 0 || at.Year() > 9999 {
			t.Skip() // beyond what time.Time's MarshalJSON encodes
		}
		s := sessionJSON{SessionID: email, User: userJSON{Name: name, Email: email, JoinedAt: at, CreatedAt: at},
			Workspace: sessionWS{Name: wsName, Slug: name}, AuthenticatedAt: at, ExpiresAt: at}
		if due {
			s.MFAEnrollmentDueAt = &at
		}
		checkAppendJSON(t, s)
	})
}

func checkAppendJSON(t *testing.T, a jsonAppender) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(a); err != nil {
		t.Fatal(err)
	}
	if got := append(a.appendJSON(nil), '\n'); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("appendJSON of %#v:\n got %s\nwant %s", a, got, want.Bytes())
	}
}

var tricky = []string{"", "a@acme.test", "Alice", "山田 太郎", `"quoted"`, `back\slash`, "<", ">", "&", "\x00", "\t\n\r\b\f\x1f", "\xff\xc3", "\u2028\u2029", "🙂", "\x7f"}

// fill sets every field of v to a random value, zero some of the time, and
// fails on a type it does not know, so a new field can't go untested.
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		if r.IntN(4) > 0 {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(253402300799), r.Int64N(1e9)).UTC()))
		}
		return
	case reflect.TypeFor[*time.Time]():
		if r.IntN(2) > 0 {
			at := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
			v.Set(reflect.ValueOf(&at))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(tricky[r.IntN(len(tricky))] + tricky[r.IntN(len(tricky))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, r, v.Field(i))
		}
	default:
		t.Fatalf("fill: no random values for %s", v.Type())
	}
}

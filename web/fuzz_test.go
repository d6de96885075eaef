package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/web"
)

// FuzzAPI sends fuzzed requests to every API route of one running server
// on SQLite: a fuzzed body, a fuzzed {id}, a fuzzed ?cursor= (which reaches
// the cursor decoding of the user list and the audit log), as a signed-in
// workspace admin or anonymously. The routes are web.APIRoutes, and the
// seeds give each route that takes a body its documented fields
// (openapi.yaml), well typed and wrongly typed, so that a new route or
// field is fuzzed without touching this test. Whatever comes in, the
// answer is never a 5xx and nothing is logged as an internal failure.
func FuzzAPI(f *testing.F) {
	routes := web.APIRoutes()
	fields := requestFields(f)
	fs := newFuzzServer(f, store.SQLite)
	token, adminID := fs.admin(f)

	for i, r := range routes {
		ri := uint8(i)
		f.Add(ri, "", "", []byte(``), true)
		f.Add(ri, "00000000-0000-0000-0000-000000000000", "", []byte(`{}`), true)
		f.Add(ri, "x", "", []byte(`{"password":"`+adminPassword+`","name":"n","email":"b@acme.test","role":"member"}`), r != "POST /api/v1/sign-out")
		if fs, ok := fields[r]; ok {
			var good, wrong []string
			for _, fd := range fs {
				switch fd.typ {
				case "boolean":
					good = append(good, fmt.Sprintf("%q:false", fd.name))
					wrong = append(wrong, fmt.Sprintf("%q:\"no\"", fd.name))
				case "integer":
					good = append(good, fmt.Sprintf("%q:7", fd.name))
					wrong = append(wrong, fmt.Sprintf("%q:1.5", fd.name))
				default:
					good = append(good, fmt.Sprintf("%q:\"x\"", fd.name))
					wrong = append(wrong, fmt.Sprintf("%q:[]", fd.name))
				}
			}
			f.Add(ri, adminID, "", []byte("{"+strings.Join(good, ",")+"}"), true)
			f.Add(ri, adminID, "", []byte("{"+strings.Join(wrong, ",")+"}"), true)
			f.Add(ri, "", "", []byte("{"+strings.Join(good, ",")+"}"), false)
		}
	}
	for _, c := range []string{"", "x", "eyJ9", "AAAAAAAAAAAAAAAAAAAAAA", "%00", "0:0", strings.Repeat("A", 500), "MTcwMDAwMDAwMDAwMHwwMTk"} {
		f.Add(uint8(0), "", c, []byte(nil), true)
	}
	f.Add(uint8(1), "", "", []byte(`{"workspace":"acme","email":"admin@acme.test","password":"x"}`), false)

	f.Fuzz(func(t *testing.T, ri uint8, id, cursor string, body []byte, signedIn bool) {
		route := routes[int(ri)%len(routes)]
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{id}", url.PathEscape(id))
		u := fs.srv.URL + path + "?cursor=" + url.QueryEscape(cursor)
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if signedIn {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		fs.do(t, req, fmt.Sprintf("%s %s (id %q, cursor %q, body %q)", method, path, id, cursor, body))
		if signedIn && !fs.alive(token) {
			token, adminID = fs.admin(t)
		}
	})
}

package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

// FuzzAPI sends fuzzed requests to every API route of one running server
// on SQLite: a fuzzed body, a fuzzed {id}, a fuzzed ?cursor= (which reaches
// the cursor decoding of the user list and the audit log), as a signed-in
// workspace admin or anonymously. Whatever comes in, the answer is never a
// 5xx and nothing is logged as an internal failure.
func FuzzAPI(f *testing.F) {
	routes := web.APIRoutes()
	// One server for the whole run, built as newEnv does; newEnv wants a
	// *testing.T, which a fuzz function does not have outside f.Fuzz.
	db, err := store.Open(context.Background(), storetest.URL(f, store.SQLite), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	keys, err := secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
	if err != nil {
		f.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	buf := &bytes.Buffer{}
	logs := &lockedWriter{w: buf}
	logged := func() string { logs.mu.Lock(); defer logs.mu.Unlock(); return buf.String() }
	log := slog.New(slog.NewTextHandler(logs, nil))
	svc := auth.New(db, secret.NewHasher(testParams, 4), keys, &mail.Recorder{}, log, auth.Config{BaseURL: "http://sekisho.test", Now: clk.Now})
	srv := httptest.NewServer(web.NewServer(svc, db, log, web.Options{BaseURL: "http://sekisho.test"}))
	f.Cleanup(srv.Close)

	ctx := context.Background()
	_, _, link, err := svc.CreateWorkspace(ctx, operator, "acme", "Acme", "admin@acme.test")
	if err != nil {
		f.Fatal(err)
	}
	m := linkToken.FindStringSubmatch(link)
	if m == nil {
		f.Fatalf("no token in %q", link)
	}
	if _, err := svc.AcceptInvitation(ctx, sekisho.Anonymous("", ""), m[2], adminPassword); err != nil {
		f.Fatal(err)
	}
	// signIn returns a fresh admin session; the fuzzer may end one (sign
	// out, a password change), and later inputs must still reach the
	// handlers behind authentication. Fuzzed sign-ins may have throttled
	// the account: then the clock moves past the wait.
	signIn := func(tb testing.TB) string {
		for range 10 {
			res, err := svc.SignIn(ctx, sekisho.Anonymous("192.0.2.1", "fuzz"), auth.Credentials{Workspace: "acme", Email: "admin@acme.test", Password: adminPassword})
			var e *sekisho.Error
			if errors.As(err, &e) && e.Kind == sekisho.KindThrottled {
				clk.Add(e.RetryAfter + time.Second)
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			return res.SessionToken
		}
		tb.Fatal("the admin's sign-in stays throttled")
		return ""
	}
	token := signIn(f)

	for i, r := range routes {
		f.Add(uint8(i), "", "", []byte(``), true)
		f.Add(uint8(i), "00000000-0000-0000-0000-000000000000", "", []byte(`{}`), true)
		f.Add(uint8(i), "x", "", []byte(`{"password":"`+adminPassword+`","name":"n","email":"b@acme.test","role":"member"}`), r != "POST /api/v1/sign-out")
	}
	for _, c := range []string{"", "x", "eyJ9", "AAAAAAAAAAAAAAAAAAAAAA", "%00", "0:0", strings.Repeat("A", 500), "MTcwMDAwMDAwMDAwMHwwMTk"} {
		f.Add(uint8(0), "", c, []byte(nil), true)
	}
	f.Add(uint8(1), "", "", []byte(`{"workspace":"acme","email":"admin@acme.test","password":"x"}`), false)

	// A hang is a failure too, with the request that caused it.
	client := &http.Client{Transport: srv.Client().Transport, Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, ri uint8, id, cursor string, body []byte, signedIn bool) {
		route := routes[int(ri)%len(routes)]
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{id}", url.PathEscape(id))
		u := srv.URL + path + "?cursor=" + url.QueryEscape(cursor)
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if signedIn {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s (id %q, cursor %q, body %q): %d %s", method, path, id, cursor, body, res.StatusCode, raw)
		}
		if strings.Contains(logged(), "request failed") {
			t.Fatalf("%s %s (id %q, cursor %q, body %q) logged an internal failure:\n%s", method, path, id, cursor, body, logged())
		}
		if signedIn {
			if _, err := svc.Authenticate(ctx, token); err != nil {
				token = signIn(t)
			}
		}
	})
}

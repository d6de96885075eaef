package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
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

// fuzzServer is one sekisho for a whole fuzzing run. newEnv wants a
// *testing.T, which a fuzz target has only inside f.Fuzz.
type fuzzServer struct {
	svc    *auth.Service
	srv    *httptest.Server
	client *http.Client
	clk    *clock
	mu     sync.Mutex
	buf    *bytes.Buffer
	logs   *lockedWriter
	admins int
}

func newFuzzServer(f *testing.F, d store.Dialect) *fuzzServer {
	f.Helper()
	db, err := store.Open(context.Background(), storetest.URL(f, d), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	keys, err := secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
	if err != nil {
		f.Fatal(err)
	}
	fs := &fuzzServer{clk: &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}, buf: &bytes.Buffer{}}
	fs.logs = &lockedWriter{w: fs.buf}
	log := slog.New(slog.NewTextHandler(fs.logs, nil))
	fs.svc = auth.New(db, secret.NewHasher(testParams, 4), keys, &mail.Recorder{}, log, auth.Config{BaseURL: "http://sekisho.test", Now: fs.clk.Now})
	fs.srv = httptest.NewServer(web.NewServer(fs.svc, db, log, web.Options{BaseURL: "http://localhost"}))
	f.Cleanup(fs.srv.Close)
	// A hang is a failure too, with the request that caused it.
	fs.client = &http.Client{Transport: fs.srv.Client().Transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return fs
}

// logged is what the server and the service have logged so far.
func (fs *fuzzServer) logged() string {
	fs.logs.mu.Lock()
	defer fs.logs.mu.Unlock()
	return fs.buf.String()
}

// admin returns a session of the active admin of a new workspace, and the
// admin's id. The fuzzer may end a session, change the password or
// throttle the account; a new admin is always at hand.
func (fs *fuzzServer) admin(tb testing.TB) (token, id string) {
	tb.Helper()
	fs.mu.Lock()
	fs.admins++
	slug := fmt.Sprintf("fuzz%d", fs.admins)
	fs.mu.Unlock()
	ctx := context.Background()
	_, u, link, err := fs.svc.CreateWorkspace(ctx, operator, slug, slug, "admin@"+slug+".test")
	if err != nil {
		tb.Fatal(err)
	}
	m := linkToken.FindStringSubmatch(link)
	if m == nil {
		tb.Fatalf("no token in %q", link)
	}
	if _, err := fs.svc.AcceptInvitation(ctx, sekisho.Anonymous("", ""), m[2], adminPassword); err != nil {
		tb.Fatal(err)
	}
	res, err := fs.svc.SignIn(ctx, sekisho.Anonymous("192.0.2.1", "fuzz"), auth.Credentials{Workspace: slug, Email: "admin@" + slug + ".test", Password: adminPassword})
	if err != nil || res.SessionToken == "" {
		tb.Fatalf("admin sign-in: %v", err)
	}
	return res.SessionToken, u.ID
}

// alive reports whether token is still a session.
func (fs *fuzzServer) alive(token string) bool {
	_, err := fs.svc.Authenticate(context.Background(), token)
	return err == nil
}

// do sends req and fails on a 5xx, a transport error or anything logged
// at level ERROR (an internal failure, a panic).
func (fs *fuzzServer) do(t *testing.T, req *http.Request, what string) (int, []byte) {
	t.Helper()
	from := len(fs.logged())
	res, err := fs.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 500 {
		t.Fatalf("%s: %d %.500s", what, res.StatusCode, raw)
	}
	if logs := fs.logged()[from:]; strings.Contains(logs, "level=ERROR") {
		t.Fatalf("%s logged an internal failure:\n%s", what, logs)
	}
	return res.StatusCode, raw
}

// FuzzPages posts fuzzed forms to every page and opens every page with a
// fuzzed path parameter, query, cookies and Accept-Language, through a
// real server on PostgreSQL (which, unlike SQLite, refuses NUL and invalid
// UTF-8 in text): anonymously, or with a workspace admin's session cookie
// and a pending sign-in flow. The pages come from the package's source
// (scanRoutes), the form fields from the templates. Posts carry no Origin
// nor Sec-Fetch-Site, as a same-origin form post from an older browser or
// any non-browser client: the cross-origin check lets them through to the
// handlers. Whatever comes in, the answer is never a 5xx and nothing is
// logged as an internal failure.
func FuzzPages(f *testing.F) {
	var routes []scannedRoute
	for _, r := range scanRoutes(f) {
		if !r.api {
			routes = append(routes, r)
		}
	}
	fields := formFields(f)
	fs := newFuzzServer(f, store.Postgres)
	token, adminID := fs.admin(f)

	full := url.Values{}
	for _, k := range fields {
		full.Set(k, "x")
	}
	full.Set("email", "someone@fuzz1.test")
	full.Set("role", "member")
	full.Set("mfa_grace_days", "7")
	for i := range routes {
		ri := uint8(i)
		f.Add(ri, "", "", []byte(""), uint8(0), "", "", uint8(1))
		f.Add(ri, adminID, "", []byte(full.Encode()), uint8(0), "", "ja", uint8(1))
		f.Add(ri, "\xff\x00", "q=%FF&cursor=%00", []byte("name=%zz"), uint8(0), "sekisho_flash=ok|flash.signed_out|9", "ja;q=x", uint8(1))
		f.Add(ri, "x", "lang=ja", []byte(`{"name":"x"}`), uint8(2), "sekisho_flow=m:t:x", "", uint8(2))
	}
	f.Add(uint8(0), "", "", []byte(strings.Repeat("a=b&", 20000)), uint8(0), strings.Repeat("c=d; ", 100), strings.Repeat("ja,", 500), uint8(1))
	// What the black-box run found (docs/fuzzing-section.md): a 500 for a
	// static file name that is not UTF-8, and on PostgreSQL for ids and
	// filters that are not text; a form that is not one, read as empty.
	at := func(pattern string) uint8 {
		for i, r := range routes {
			if r.pattern == pattern {
				return uint8(i)
			}
		}
		f.Fatalf("no page route %q", pattern)
		return 0
	}
	f.Add(at("GET /static/"), "\xe5\xe1/x", "", []byte(nil), uint8(1), "", "", uint8(0))
	f.Add(at("GET /admin/users/{id}"), "\xff", "", []byte(nil), uint8(1), "", "", uint8(1))
	f.Add(at("POST /admin/users/{id}/delete"), "\xff", "", []byte(""), uint8(0), "", "", uint8(1))
	f.Add(at("POST /account/sessions/{id}/revoke"), "\x00", "", []byte(""), uint8(0), "", "", uint8(1))
	f.Add(at("GET /admin/audit"), "", "actor=%00", []byte(nil), uint8(1), "", "", uint8(1))
	f.Add(at("POST /admin/workspace"), "", "", []byte("password=%zz"), uint8(0), "", "", uint8(1))
	f.Add(at("POST /account/profile"), "", "", []byte(`{"name":"x"}`), uint8(2), "", "", uint8(1))

	contentTypes := []string{"application/x-www-form-urlencoded", "", "application/json", "multipart/form-data; boundary=x", "text/plain; charset=\xff"}
	f.Fuzz(func(t *testing.T, ri uint8, param, query string, body []byte, ct uint8, cookie, lang string, who uint8) {
		r := routes[int(ri)%len(routes)]
		method := r.method
		if method == "" {
			method = "POST"
		}
		path := strings.ReplaceAll(r.path, "{$}", "")
		for _, name := range r.wildcards() {
			v := param
			if v == "" {
				v = map[string]string{"id": adminID, "slug": "fuzz1", "token": "x"}[name]
			}
			path = strings.Replace(path, "{"+name+"}", url.PathEscape(v), 1)
		}
		if strings.HasSuffix(path, "/") && r.method == "" || r.pattern == "GET /static/" {
			path += url.PathEscape(param)
		}
		u := fs.srv.URL + path
		if query != "" {
			u += "?" + query
		}
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			req, err = http.NewRequest(method, fs.srv.URL+path+"?"+url.QueryEscape(query), bytes.NewReader(body))
			if err != nil {
				t.Skip("no such request")
			}
		}
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		var cookies []string
		if who%3 > 0 {
			cookies = append(cookies, "sekisho_session="+token)
		}
		if who%3 == 2 {
			cookies = append(cookies, "sekisho_flow=m:t:"+secret.NewToken())
		}
		if c := headerText(cookie); c != "" {
			cookies = append(cookies, c)
		}
		if len(cookies) > 0 {
			req.Header.Set("Cookie", strings.Join(cookies, "; "))
		}
		if l := headerText(lang); l != "" {
			req.Header.Set("Accept-Language", l)
		}
		fs.do(t, req, fmt.Sprintf("%s %q (body %.200q, Content-Type %q, cookies %.200q, Accept-Language %.100q)", method, path+"?"+query, body, req.Header.Get("Content-Type"), cookies, lang))
		if who%3 > 0 && !fs.alive(token) {
			token, adminID = fs.admin(t)
		}
	})
}

// headerText is s without the bytes a client can't send in a header.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// requestFields reads the documented request fields of every API route
// from openapi.yaml, for seeds (contractRequestBody wants a *testing.T).
func requestFields(tb testing.TB) map[string][]contractField {
	tb.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	doc, msg := contractParseYAML(raw)
	if msg != "" {
		tb.Fatal(msg)
	}
	resolve := func(n *contractNode) *contractNode {
		for i := 0; n != nil && i < 5; i++ {
			ref := n.val
			if r := n.get("$ref"); r != nil {
				ref = "$ref: " + r.val
			}
			m := contractRef.FindStringSubmatch(ref)
			if m == nil {
				return n
			}
			n = doc.get("components", m[1], m[2])
		}
		return n
	}
	out := map[string][]contractField{}
	for _, route := range web.APIRoutes() {
		method, path, _ := strings.Cut(route, " ")
		rb := doc.get("paths", path, strings.ToLower(method), "requestBody")
		if rb == nil {
			continue
		}
		schema := resolve(resolve(rb).get("content", "application/json", "schema"))
		props := schema.get("properties")
		if props == nil {
			tb.Fatalf("%s: request body without properties", route)
		}
		for _, name := range props.keys {
			p := resolve(props.kids[name])
			typ := p.val
			if ty := p.get("type"); ty != nil {
				typ = "type: " + ty.val
			}
			m := contractType.FindStringSubmatch(typ)
			if m == nil {
				tb.Fatalf("%s: property %s has no type", route, name)
			}
			out[route] = append(out[route], contractField{name, m[1]})
		}
	}
	if len(out) < 20 {
		tb.Fatalf("only %d routes with a request body in openapi.yaml", len(out))
	}
	return out
}

package web_test

// Bad input on every route (PRODUCT.md: "Never a 500 for bad input"):
// malformed and mistyped bodies, wrong media types, oversized bodies,
// garbage in path and query parameters and in the Authorization header.
// Each answer must be a 4xx in the API's error format, documented in
// openapi.yaml, and a request that failed validation must leave no trace
// in the database.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

// badEnv is one sekisho with a workspace admin, a member with MFA and a
// member the admin acts on.
type badEnv struct {
	t      *testing.T
	e      *env
	db     *contractDB
	doc    *contractNode
	admin  string // session of acme's workspace admin (no MFA, so aal1 is enough)
	member string // session of a member with one authenticator
	authID string // the member's authenticator
	victim string // id of the member the admin acts on
}

// TestBadInput runs every kind of bad input against one sekisho per
// database; the requests that may act (empty bodies) go last.
func TestBadInput(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBadEnv(t, d)
			b.bodies()
			b.stringFields()
			b.bodiless()
			b.pathParameters()
			b.queryParameters()
			b.credentials()
			b.userAgents()
			b.methods()
			b.documentedFields()
			b.emptyBodies()
		})
	}
}

func newBadEnv(t *testing.T, d store.Dialect) *badEnv {
	e := newEnv(t, d)
	b := &badEnv{t: t, e: e, db: e.contractDB(), doc: contractDoc(t)}
	_, b.admin = e.workspace("acme")
	e.invite(b.admin, "member@acme.test", "member", permPassword)
	b.member = e.signIn("acme", "member@acme.test", permPassword)
	e.enroll(&b.member, "phone")
	mfa := e.call("GET", "/api/v1/me/mfa", b.member, nil).must(t, 200)
	b.authID = mfa.Body["authenticators"].([]any)[0].(map[string]any)["id"].(string)
	b.victim = e.invite(b.admin, "victim@acme.test", "member", permPassword)
	return b
}

// target returns the token and the filled-in path a request to route is
// made with, so that it reaches the handler's own validation.
func (b *badEnv) target(route string) (method, path, token string) {
	method, path, _ = strings.Cut(route, " ")
	id := b.victim
	switch {
	case strings.HasPrefix(path, "/api/v1/admin/"):
		token = b.admin
	case strings.HasPrefix(path, "/api/v1/me/mfa/totp/"):
		token, id = b.member, b.authID
	case strings.HasPrefix(path, "/api/v1/me/sessions/"):
		token, id = b.member, "no-such-session"
	case !contractIsPublic(b.t, b.doc, route):
		token = b.member
	}
	return method, contractFill(path, id), token
}

func contractIsPublic(t *testing.T, doc *contractNode, route string) bool {
	sec := contractOp(t, doc, route).get("security")
	return sec != nil && sec.val == "[]"
}

// badCase is one malformed request.
type badCase struct {
	name        string
	contentType string
	body        []byte
	status      int    // 0: any 4xx
	code        string // "" for any
	field       string // "" for none expected
}

// rejected checks that r is an error answer of the API, as c expects,
// and documented for route.
func (b *badEnv) rejected(route string, c badCase, r resp) bool {
	b.t.Helper()
	what := fmt.Sprintf("%s: %s", route, c.name)
	if msg := contractIsError(r); msg != "" {
		b.t.Errorf("%s: %s: %.300s", what, msg, r.Raw)
		return false
	}
	ok := true
	if c.status != 0 && r.Status != c.status {
		b.t.Errorf("%s: status %d, want %d: %.300s", what, r.Status, c.status, r.Raw)
		ok = false
	}
	if c.code != "" && r.code() != c.code {
		b.t.Errorf("%s: code %q, want %q: %.300s", what, r.code(), c.code, r.Raw)
		ok = false
	}
	if c.field != "" && r.contractErrField() != c.field {
		b.t.Errorf("%s: field %q, want %q: %.300s", what, r.contractErrField(), c.field, r.Raw)
		ok = false
	}
	contractCheckResponse(b.t, b.doc, route, r)
	return ok
}

// bodyRoute is a route that takes a JSON body, with its fields.
type bodyRoute struct {
	route string
	body  *contractBody
}

// bodyRoutes are the routes that take a JSON body, by openapi.yaml, in
// the order of the route table; bodiless checks that the others ignore
// theirs.
func (b *badEnv) bodyRoutes() []bodyRoute {
	var out []bodyRoute
	for _, r := range web.APIRoutes() {
		if body := contractRequestBody(b.t, b.doc, r); body != nil {
			out = append(out, bodyRoute{r, body})
		}
	}
	if len(out) < 20 {
		b.t.Fatalf("only %d routes with a body in openapi.yaml", len(out))
	}
	return out
}

// syntaxCases fail in decoding, before any handler logic: they must leave
// every table as it was, audit log and throttles included.
func syntaxCases(fields []contractField) []badCase {
	big := bytes.Repeat([]byte("a"), 64<<10+1)
	cases := []badCase{
		{"malformed JSON", "application/json", []byte(`{"a":`), 400, "invalid_json", ""},
		{"unterminated string", "application/json", []byte(`{"a": "b`), 400, "invalid_json", ""},
		{"not JSON", "application/json", []byte(`hello`), 400, "invalid_json", ""},
		{"single quotes", "application/json", []byte(`{'a': 1}`), 400, "invalid_json", ""},
		{"trailing comma", "application/json", []byte(`{"undocumented": 1,}`), 400, "", ""},
		{"array", "application/json", []byte(`[]`), 400, "invalid_json", ""},
		{"array of object", "application/json", []byte(`[{}]`), 400, "invalid_json", ""},
		{"string", "application/json", []byte(`"{}"`), 400, "invalid_json", ""},
		{"number", "application/json", []byte(`42`), 400, "invalid_json", ""},
		{"two objects", "application/json", []byte(`{}{}`), 400, "invalid_json", ""},
		{"object then garbage", "application/json", []byte(`{} x`), 400, "invalid_json", ""},
		{"object then array", "application/json", []byte("{}\n[]"), 400, "invalid_json", ""},
		{"unknown field", "application/json", []byte(`{"zz_unknown": 1}`), 400, "unknown_field", "zz_unknown"},
		{"unknown nested in known", "application/json", []byte(`{"zz_unknown": {"a": [1, 2, {"b": null}]}}`), 400, "unknown_field", "zz_unknown"},
		{"deep nesting", "application/json", []byte(`{"zz": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), 400, "", ""},
		{"text/plain", "text/plain", []byte(`{}`), 400, "unsupported_media_type", ""},
		{"form", "application/x-www-form-urlencoded", []byte(`a=b`), 400, "unsupported_media_type", ""},
		{"multipart", "multipart/form-data; boundary=x", []byte("--x--\r\n"), 400, "unsupported_media_type", ""},
		{"json-like type", "application/json-patch+json", []byte(`{}`), 400, "unsupported_media_type", ""},
		{"malformed type", "application/json;;;", []byte(`{}`), 400, "unsupported_media_type", ""},
		{"over 64 KiB", "application/json", append(append([]byte(`{"zz":"`), big...), `"}`...), 413, "request_too_large", ""},
		{"over 64 KiB of garbage", "application/json", big[:64<<10+1], 413, "request_too_large", ""},
		{"invalid UTF-8 in a key", "application/json", []byte("{\"\xff\xfe\": 1}"), 400, "", ""},
	}
	for _, f := range fields {
		var wrong []string
		switch f.typ {
		case "string":
			wrong = []string{`1`, `true`, `{}`, `["a"]`}
		case "boolean":
			wrong = []string{`"true"`, `1`, `{}`, `[]`}
		case "integer":
			wrong = []string{`"5"`, `1.5`, `1e400`, `99999999999999999999`, `true`, `[]`}
		}
		for _, v := range wrong {
			cases = append(cases, badCase{fmt.Sprintf("%s as %s", f.name, v), "application/json",
				[]byte(`{"` + f.name + `": ` + v + `}`), 400, "invalid_field_type", f.name})
		}
		good := map[string]string{"string": `"a"`, "boolean": `true`, "integer": `1`}[f.typ]
		if good != "" {
			cases = append(cases,
				badCase{f.name + " twice", "application/json", []byte(`{"` + f.name + `": ` + good + `, "` + f.name + `": ` + good + `}`), 400, "duplicate_field", f.name},
				badCase{f.name + " in upper case", "application/json", []byte(`{"` + strings.ToUpper(f.name) + `": ` + good + `}`), 400, "unknown_field", strings.ToUpper(f.name)})
		}
		if f.typ == "string" {
			cases = append(cases, badCase{f.name + " with invalid UTF-8", "application/json",
				[]byte("{\"" + f.name + "\": \"ok\xff\xfe\xc0\xaf\"}"), 400, "invalid_json", ""})
		}
	}
	return cases
}

// bodies sends every malformed body to every route that takes
// one. Each is refused with 400 (413 when too large) in the error format,
// and changes nothing at all.
func (b *badEnv) bodies() {
	t := b.t
	all := append(append([]string{}, contractStateTables...), contractLogTables...)
	for _, br := range b.bodyRoutes() {
		route := br.route
		method, path, token := b.target(route)
		cases := syntaxCases(br.body.fields)
		before := b.db.snapshot(all...)
		for _, c := range cases {
			r := b.e.contractRaw(method, path, token, c.contentType, c.body)
			b.rejected(route, c, r)
		}
		if d := before.diff(b.db.snapshot(all...)); d != "" {
			t.Errorf("%s: malformed requests changed the database:%s", route, d)
		}
	}
}

// stringFields fills each string field of each route, one at a
// time, with a string as large as the body limit allows (ASCII, and
// multi-byte Japanese), and with a NUL character, which PostgreSQL can't
// store. The answer is an error in the API's format, never a 5xx, and the
// state tables do not change (a failed credential check may be counted in
// the audit log and the throttles). Two answers are not errors by design:
// requesting a password reset answers the same whatever the input, and an
// access code is looked at only while an admin reset left one pending.
func (b *badEnv) stringFields() {
	t := b.t
	mails := len(b.e.mail.Messages())
	values := []struct{ kind, json string }{
		{"huge ASCII", strings.Repeat("a", 60000)},
		{"huge Japanese", strings.Repeat("関所", 10000)}, // 60,000 bytes, 20,000 code points
		{"NUL", `admin\u0000@acme.test`},
	}
	for _, br := range b.bodyRoutes() {
		route := br.route
		method, path, token := b.target(route)
		before := b.db.snapshot(contractStateTables...)
		for _, f := range br.body.fields {
			if f.typ != "string" {
				continue
			}
			for _, v := range values {
				r := b.e.contractRaw(method, path, token, "application/json", []byte(`{"`+f.name+`": "`+v.json+`"}`))
				c := badCase{name: v.kind + " " + f.name}
				if v.kind == "NUL" {
					c.status, c.code = 400, "invalid_json"
				}
				switch {
				case route == "POST /api/v1/password-reset" && r.Status == 202 && v.kind != "NUL":
				case route == "POST /api/v1/me/mfa/totp" && f.name == "access_code" && r.Status == 201 && v.kind != "NUL":
					before = b.db.snapshot(contractStateTables...) // a pending authenticator, as asked
				default:
					b.rejected(route, c, r)
				}
			}
		}
		if d := before.diff(b.db.snapshot(contractStateTables...)); d != "" {
			t.Errorf("%s: bad strings changed the database:%s", route, d)
		}
	}
	// Whole requests, with a NUL where a lookup key goes.
	for _, c := range []struct{ route, body string }{
		{"POST /api/v1/sign-in", `{"workspace": "acme", "email": "member\u0000@acme.test", "password": "` + permPassword + `"}`},
		{"POST /api/v1/sign-in", `{"workspace": "ac\u0000me", "email": "member@acme.test", "password": "` + permPassword + `"}`},
		{"POST /api/v1/password-reset", `{"workspace": "acme", "email": "member@acme.test\u0000"}`},
		{"POST /api/v1/admin/users", `{"email": "new@acme.test", "name": "A\u0000B"}`},
	} {
		method, path, token := b.target(c.route)
		before := b.db.snapshot(contractStateTables...)
		r := b.e.contractRaw(method, path, token, "application/json", []byte(c.body))
		b.rejected(c.route, badCase{name: "NUL in " + c.body, status: 400, code: "invalid_json"}, r)
		if d := before.diff(b.db.snapshot(contractStateTables...)); d != "" {
			t.Errorf("%s with a NUL: the database changed:%s", c.route, d)
		}
	}
	if n := len(b.e.mail.Messages()); n != mails {
		t.Errorf("%d emails sent", n-mails)
	}
}

// emptyBodies: an empty body reads as {}. Where a field is
// required it is refused like any missing field and changes nothing; where
// every field is optional it is an ordinary request, never a 5xx.
func (b *badEnv) emptyBodies() {
	t := b.t
	var optional []string
	for _, br := range b.bodyRoutes() {
		route := br.route
		if !br.body.mustHaveOne {
			optional = append(optional, route)
			continue
		}
		method, path, token := b.target(route)
		before := b.db.snapshot(contractStateTables...)
		for _, ct := range []string{"application/json", ""} {
			for _, raw := range []string{"", "  \n", "{}"} {
				r := b.e.contractRaw(method, path, token, ct, []byte(raw))
				b.rejected(route, badCase{name: fmt.Sprintf("body %q, Content-Type %q", raw, ct)}, r)
			}
		}
		if d := before.diff(b.db.snapshot(contractStateTables...)); d != "" {
			t.Errorf("%s: empty bodies changed the database:%s", route, d)
		}
	}
	// The optional ones last, as they may act.
	for _, route := range optional {
		method, path, token := b.target(route)
		r := b.e.contractRaw(method, path, token, "", nil)
		if r.Status >= 500 || (r.Status >= 400 && contractIsError(r) != "") {
			t.Errorf("%s with no body: %d %s", route, r.Status, r.Raw)
		}
		contractCheckResponse(t, b.doc, route, r)
	}
}

// bodiless: routes without a request body ignore one, even a
// malformed one, rather than fail on it.
func (b *badEnv) bodiless() {
	t := b.t
	for _, route := range web.APIRoutes() {
		if contractRequestBody(t, b.doc, route) != nil || route == "POST /api/v1/sign-out" {
			continue
		}
		method, _, token := b.target(route)
		path := contractFill(strings.SplitN(route, " ", 2)[1], "no-such-id") // leave the victim be
		a := b.e.contractRaw(method, path, token, "", nil)
		z := b.e.contractRaw(method, path, token, "text/plain", []byte(`{"a":`))
		if a.Status >= 500 || z.Status != a.Status {
			t.Errorf("%s: %d without a body, %d with a malformed one", route, a.Status, z.Status)
		}
	}
}

// pathParameters puts garbage where ids go: too long, unicode,
// encoded path traversal, control and invalid UTF-8 bytes. Every answer is
// 404 in the error format, and nothing changes.
func (b *badEnv) pathParameters() {
	t := b.t
	ids := []string{
		strings.Repeat("a", 5000),
		strings.Repeat("9", 200),
		url.PathEscape("ユーザー"),
		url.PathEscape("関所") + strings.Repeat("%E2%80%AE", 50),
		"%2e%2e%2f%2e%2e%2fworkspace",
		"..%2F..%2F..%2Fworkspace",
		"%2F",
		"%00",
		"%FF%FE",
		"%C0%AF",
		"%25",
		"'%20OR%20'1'='1",
		"1;DROP%20TABLE%20users",
		"null",
		"-1",
		"00000000-0000-0000-0000-000000000000",
		"%7B%7D",
	}
	all := append(append([]string{}, contractStateTables...), contractLogTables...)
	before := b.db.snapshot(all...)
	for _, route := range web.APIRoutes() {
		if !strings.Contains(route, "{id}") {
			continue
		}
		method, _, token := b.target(route)
		for _, id := range ids {
			path := contractFill(strings.SplitN(route, " ", 2)[1], id)
			var body []byte
			if method != "GET" {
				body = []byte(`{}`)
				if strings.HasSuffix(route, "/confirm") {
					body = []byte(`{"code": "123456"}`)
				}
			}
			r := b.e.contractRaw(method, path, token, "application/json", body)
			b.rejected(route, badCase{name: "id " + id[:min(len(id), 40)], status: 404}, r)
		}
	}
	if d := before.diff(b.db.snapshot(all...)); d != "" {
		t.Errorf("garbage ids changed the database:%s", d)
	}
	// Literal dot segments never reach a handler: the router
	// answers with a redirect to the cleaned path (a 3xx without
	// side effects), and encoded ones (above) are plain ids.
	for _, p := range []string{"/api/v1/admin/users/../workspace", "/api/v1/admin/users/./" + b.victim, "/api/v1/admin/users//" + b.victim} {
		r := b.e.contractRaw("DELETE", p, b.admin, "", nil)
		redirect := r.Status >= 300 && r.Status <= 308 && strings.HasPrefix(r.Header.Get("Location"), "/api/v1/")
		if r.Status != 404 && !redirect {
			t.Errorf("DELETE %s: %d %q %s", p, r.Status, r.Header.Get("Location"), r.Raw)
		}
	}
	if d := before.diff(b.db.snapshot(all...)); d != "" {
		t.Errorf("dot segments changed the database:%s", d)
	}
}

// queryParameters: garbage in the list and audit filters is
// refused with 400 naming the parameter.
func (b *badEnv) queryParameters() {
	t := b.t
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	long := strings.Repeat("x", 101)
	type q struct {
		query, field string
		status       int
	}
	paging := []q{
		{"cursor=not+a+cursor!", "cursor", 400},
		{"cursor=%FF%FE", "", 400},
		{"cursor=" + b64(strings.Repeat("z", 100)), "cursor", 400},
		{"cursor=" + strings.Repeat("A", 5000), "cursor", 400},
		{"cursor=" + b64("\xff\xfe"), "cursor", 400},
		{"cursor=" + b64("a\x00b"), "cursor", 400},
		{"limit=abc", "limit", 400},
		{"limit=-1", "limit", 400},
		{"limit=201", "limit", 400},
		{"limit=1e3", "limit", 400},
		{"limit=1.5", "limit", 400},
		{"limit=99999999999999999999", "limit", 400},
		{"limit=%00", "", 400},
		{"%FF=1", "", 400},
		{"limit=", "", 200}, // empty means the default
		{"unknown=%E9%96%A2", "", 200},
	}
	cases := map[string][]q{
		"GET /api/v1/admin/users": append([]q{
			{"mfa=yes", "mfa", 400},
			{"mfa=ENABLED", "mfa", 400},
			{"role=root", "role", 400},
			{"role=" + url.QueryEscape("workspace_admin' OR '1'='1"), "role", 400},
			{"status=gone", "status", 400},
			{"q=" + long, "q", 400},
			{"q=" + strings.Repeat("%E9%96%A2", 101), "q", 400},
			{"q=%00", "", 400},
			{"q=%FF", "", 400},
			{"q=" + url.QueryEscape("%_\\'\""), "", 200},
		}, paging...),
		"GET /api/v1/admin/audit-events": append([]q{
			{"since=yesterday", "since", 400},
			{"since=2026-13-01T00:00:00Z", "since", 400},
			{"since=1700000000", "since", 400},
			{"until=2026-01-01", "until", 400},
			{"until=%FF", "", 400},
			{"cursor=" + b64("abc"), "cursor", 400},
			{"cursor=" + b64("-5"), "cursor", 400},
			{"cursor=" + b64("99999999999999999999999"), "cursor", 400},
			{"actor=" + long, "filter", 400},
			{"target=" + long, "filter", 400},
			{"type=" + long, "filter", 400},
			{"actor=%00", "", 400},
			{"target=%C0%AF", "", 400},
			{"type=%FF", "", 400},
		}, paging...),
		"GET /api/v1/admin/audit-events/export": {
			{"since=yesterday", "since", 400},
			{"until=2026-01-01", "until", 400},
			{"cursor=not+a+cursor!", "cursor", 400},
			{"cursor=" + b64("abc"), "cursor", 400},
			{"cursor=" + b64("a\x00b"), "cursor", 400},
			{"limit=abc", "limit", 400},
			{"actor=" + long, "filter", 400},
			{"target=%00", "", 400},
		},
	}
	all := append(append([]string{}, contractStateTables...), contractLogTables...)
	before := b.db.snapshot(all...)
	for route, qs := range cases {
		_, path, token := b.target(route)
		for _, c := range qs {
			r := b.e.contractRaw("GET", path+"?"+c.query, token, "", nil)
			if c.status == 200 {
				if r.Status != 200 {
					t.Errorf("%s?%.60s: %d %s", route, c.query, r.Status, r.Raw)
				}
				continue
			}
			b.rejected(route, badCase{name: "?" + c.query[:min(len(c.query), 60)], status: c.status, field: c.field}, r)
		}
	}
	if d := before.diff(b.db.snapshot(all...)); d != "" {
		t.Errorf("garbage queries changed the database:%s", d)
	}
}

// credentials: a garbled Authorization header is "not signed
// in", never an error of another kind.
func (b *badEnv) credentials() {
	for _, h := range []string{
		"Bearer",
		"Bearer ",
		"Bearer " + strings.Repeat("A", 10000),
		"Bearer " + b.member + "x",
		"Bearer " + b.member[:42],
		"Bearer  " + strings.Repeat("=", 43),
		"Bearer 関所関所関所関所関所関所関所関所関所関所関所関所関所関所",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("member@acme.test:"+permPassword)),
		"bearer " + b.member,
		"Token " + b.member,
	} {
		for _, route := range []string{"GET /api/v1/session", "GET /api/v1/admin/users", "PATCH /api/v1/me"} {
			method, path, _ := b.target(route)
			r := b.e.contractRawHeader(method, path, h)
			b.rejected(route, badCase{name: "Authorization " + h[:min(len(h), 30)], status: 401, code: "unauthenticated"}, r)
		}
	}
}

// userAgents: HTTP lets a User-Agent carry any byte above 0x7f, and it is
// stored with sessions and audit events. Invalid UTF-8 there must not fail
// a request, nor keep a failed sign-in out of the audit log.
func (b *badEnv) userAgents() {
	t := b.t
	signIn := func(ua, password string) resp {
		h := http.Header{"User-Agent": {ua}, "Content-Type": {"application/json"}}
		j, _ := json.Marshal(map[string]string{"workspace": "acme", "email": "member@acme.test", "password": password})
		return b.e.contractSend("POST", "/api/v1/sign-in", h, j)
	}
	for _, ua := range []string{"\xff\xfe", "Mozilla/5.0 \xc3", strings.Repeat("é", 300) + "\xe9"} {
		before := len(b.db.snapshot("audit_events")["audit_events"])
		if r := signIn(ua, "not the password at all"); r.Status != 401 || r.code() != "invalid_credentials" {
			t.Errorf("sign-in with User-Agent %.20q and a wrong password: %d %.200s", ua, r.Status, r.Raw)
		}
		if after := len(b.db.snapshot("audit_events")["audit_events"]); after != before+1 {
			t.Errorf("User-Agent %.20q: failed sign-in wrote %d audit events, want 1", ua, after-before)
		}
		r := signIn(ua, permPassword)
		if r.Status != 200 {
			t.Errorf("sign-in with User-Agent %.20q: %d %.200s", ua, r.Status, r.Raw)
			continue
		}
		// A signed-in write records the user agent too.
		h := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + b.member}, "Content-Type": {"application/json"}}
		if r := b.e.contractSend("PATCH", "/api/v1/me", h, []byte(`{"locale": "en"}`)); r.Status != 200 {
			t.Errorf("PATCH /api/v1/me with User-Agent %.20q: %d %.200s", ua, r.Status, r.Raw)
		}
	}
}

// methods: a method a path does not have is an error in the
// API's format, not an HTML page or a 5xx.
func (b *badEnv) methods() {
	t := b.t
	have := map[string]bool{}
	for _, r := range web.APIRoutes() {
		have[r] = true
	}
	for _, r := range web.APIRoutes() {
		_, p, _ := strings.Cut(r, " ")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if have[m+" "+p] {
				continue
			}
			_, path, token := b.target(r)
			res := b.e.contractRaw(m, path, token, "application/json", []byte(`{}`))
			if msg := contractIsError(res); msg != "" || (res.Status != 404 && res.Status != 405) {
				t.Errorf("%s %s: %d %s %.200s", m, p, res.Status, msg, res.Raw)
			}
		}
	}
}

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/web"
)

// contractOutsideAPI are the routes the document describes besides
// web.APIRoutes.
var contractOutsideAPI = []string{"GET /healthz", "GET /readyz"}

// TestOpenAPIMatchesRoutes keeps openapi.yaml and the route table in step:
// every route is documented with its method, and the document describes no
// route the server does not have.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := contractDoc(t)
	if v := doc.get("openapi"); v == nil || !strings.HasPrefix(v.val, "3.1") {
		t.Fatalf("openapi: %v, want 3.1.x", v)
	}
	want := append(slices.Clone(web.APIRoutes()), contractOutsideAPI...)
	slices.Sort(want)

	paths := doc.get("paths")
	if paths == nil {
		t.Fatal("no paths")
	}
	var got []string
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for _, p := range paths.keys {
		for _, m := range paths.kids[p].keys {
			if !slices.Contains(methods, m) {
				if m != "parameters" && m != "summary" && m != "description" {
					t.Errorf("%s: unexpected key %q", p, m)
				}
				continue
			}
			got = append(got, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(got)
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("openapi.yaml describes %s, which is not a route", r)
		}
	}
}

// TestOpenAPIOperations checks each operation for what clients rely on:
// a unique operationId, the path parameters declared, the error format
// and statuses that every signed-in or body-taking call can give.
func TestOpenAPIOperations(t *testing.T) {
	doc := contractDoc(t)
	ids := map[string]string{}
	public := map[string]bool{}
	for _, r := range append(web.APIRoutes(), contractOutsideAPI...) {
		op := contractOp(t, doc, r)
		id := op.get("operationId")
		if id == nil || id.val == "" {
			t.Errorf("%s: no operationId", r)
		} else if prev, dup := ids[id.val]; dup {
			t.Errorf("%s: operationId %s also used by %s", r, id.val, prev)
		} else {
			ids[id.val] = r
		}
		if op.get("responses") == nil || len(op.get("responses").keys) == 0 {
			t.Errorf("%s: no responses", r)
			continue
		}
		if strings.Contains(r, "{id}") && op.get("parameters") == nil {
			t.Errorf("%s: path parameter id not declared", r)
		}
		sec := op.get("security")
		public[r] = sec != nil && sec.val == "[]"
		if !public[r] && !contractDocumentsStatus(t, doc, r, 401) {
			t.Errorf("%s: signed-in route without a 401 response", r)
		}
		if strings.Contains(r, "/admin/") && !contractDocumentsStatus(t, doc, r, 403) {
			t.Errorf("%s: admin route without a 403 response", r)
		}
		if b := contractRequestBody(t, doc, r); b != nil {
			for _, st := range []int{400, 413} {
				if !contractDocumentsStatus(t, doc, r, st) {
					t.Errorf("%s: takes a body but documents no %d", r, st)
				}
			}
		}
	}
	// The routes that need no session are exactly the public ones.
	for _, r := range []string{"POST /api/v1/setup", "POST /api/v1/sign-in", "POST /api/v1/sign-in/mfa",
		"POST /api/v1/sign-in/enroll", "POST /api/v1/sign-in/enroll/confirm", "POST /api/v1/invitations/accept",
		"POST /api/v1/password-reset", "POST /api/v1/password-reset/confirm", "GET /api/v1/openapi.yaml",
		"GET /healthz", "GET /readyz"} {
		if !public[r] {
			t.Errorf("%s needs no session but the document does not say security: []", r)
		}
	}

	// Every $ref points at a component that exists.
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"#/components/([A-Za-z]+)/([A-Za-z0-9_]+)"`).FindAllStringSubmatch(string(raw), -1) {
		if doc.get("components", m[1], m[2]) == nil {
			t.Errorf("dangling reference %s", m[0])
		}
	}
	// The error format of PRODUCT.md.
	e := doc.get("components", "schemas", "Error", "properties", "error", "properties")
	if e == nil || e.get("code") == nil || e.get("message") == nil || e.get("field") == nil {
		t.Error("components.schemas.Error must describe error.code, error.message and error.field")
	}
	if doc.get("components", "responses", "Throttled", "headers", "Retry-After") == nil {
		t.Error("the 429 response must document Retry-After")
	}
	for _, s := range []string{"bearerAuth", "cookieAuth"} {
		if doc.get("components", "securitySchemes", s) == nil {
			t.Errorf("security scheme %s missing", s)
		}
	}
}

// TestOpenAPIServed checks that the server hands out the embedded document
// as it is in the source tree.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, store.SQLite)
	r := e.contractRaw("GET", "/api/v1/openapi.yaml", "", "", nil)
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q", ct)
	}
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Raw != string(raw) {
		t.Error("served document differs from openapi.yaml")
	}
	// Public: no session needed, and a bad token does not matter.
	if r := e.contractRaw("GET", "/api/v1/openapi.yaml", "garbage", "", nil); r.Status != 200 {
		t.Errorf("with a bad token: status %d", r.Status)
	}
}

// documentedFields checks the documented request fields against the
// handlers' strict decoding: each documented field is accepted (a null
// sets nothing), and a field the document does not list is refused. It
// runs in TestBadInput's sekisho.
func (b *badEnv) documentedFields() {
	t := b.t
	for _, r := range web.APIRoutes() {
		body := contractRequestBody(t, b.doc, r)
		if body == nil {
			continue
		}
		method, _, token := b.target(r)
		_, path, _ := strings.Cut(r, " ")
		path = contractFill(path, "00000000-0000-7000-8000-000000000000") // acts on nothing
		for _, f := range body.fields {
			res := b.e.contractRaw(method, path, token, "application/json", []byte(`{"`+f.name+`": null}`))
			if res.Status >= 500 || res.code() == "unknown_field" {
				t.Errorf("%s: documented field %q: %d %s", r, f.name, res.Status, res.Raw)
			}
		}
		res := b.e.contractRaw(method, path, token, "application/json", []byte(`{"undocumented_field": null}`))
		if res.Status != 400 || res.code() != "unknown_field" || res.contractErrField() != "undocumented_field" {
			t.Errorf("%s: undocumented field: %d %s", r, res.Status, res.Raw)
		}
	}
}

// TestOpenAPIResponses walks every route once to a success on a fresh
// sekisho, from the first-run setup to deleting a user, and checks each
// answer against openapi.yaml: a documented status and, for JSON, the
// documented shape (every member documented, every required one there).
func TestOpenAPIResponses(t *testing.T) {
	e := newEnv(t, store.SQLite)
	doc := contractDoc(t)
	ctx := context.Background()
	covered := map[string]bool{}
	// do sends one request of route and checks the answer.
	do := func(route, path, token string, body any, status int) resp {
		t.Helper()
		method, _, _ := strings.Cut(route, " ")
		r := e.call(method, path, token, body)
		if r.Status != status {
			t.Fatalf("%s: status %d, want %d: %.300s", route, r.Status, status, r.Raw)
		}
		contractCheckResponse(t, doc, route, r)
		covered[route] = true
		return r
	}
	tokenOf := func(link string) string { return link[strings.LastIndexByte(link, '/')+1:] }
	const pw, pw2, pw3 = "tulip marmalade orbit 7", "second tulip marmalade 8", "third tulip marmalade 9"

	do("GET /healthz", "/healthz", "", nil, 200)
	do("GET /readyz", "/readyz", "", nil, 200)
	do("GET /api/v1/openapi.yaml", "/api/v1/openapi.yaml", "", nil, 200)

	link, err := e.svc.SetupLink(ctx)
	if err != nil || link == "" {
		t.Fatalf("setup link %q: %v", link, err)
	}
	admin := do("POST /api/v1/setup", "/api/v1/setup", "", map[string]string{"token": tokenOf(link), "workspace_slug": "acme",
		"workspace_name": "ACME", "email": "admin@acme.test", "name": "Ada", "password": adminPassword}, 201).str("session_token")
	do("GET /api/v1/session", "/api/v1/session", admin, nil, 200)
	do("GET /api/v1/me", "/api/v1/me", admin, nil, 200)
	do("PATCH /api/v1/me", "/api/v1/me", admin, map[string]string{"name": "Ada A", "locale": "ja"}, 200)

	// A member, invited and accepted.
	r := do("POST /api/v1/admin/users", "/api/v1/admin/users", admin, map[string]string{"email": "m@acme.test", "name": "Mo", "role": "member"}, 201)
	mID := r.Body["user"].(map[string]any)["id"].(string)
	do("POST /api/v1/invitations/accept", "/api/v1/invitations/accept", "", map[string]string{"token": tokenOf(r.str("invitation_url")), "password": pw}, 200)
	do("GET /api/v1/admin/users", "/api/v1/admin/users?role=member", admin, nil, 200)
	do("GET /api/v1/admin/users/{id}", "/api/v1/admin/users/"+mID, admin, nil, 200)
	do("PATCH /api/v1/admin/users/{id}", "/api/v1/admin/users/"+mID, admin, map[string]string{"name": "Mo M"}, 200)
	m := do("POST /api/v1/sign-in", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "m@acme.test", "password": pw}, 200).str("session_token")

	// Their factors.
	enroll := func(name string) (id string, seed []byte) {
		t.Helper()
		r := do("POST /api/v1/me/mfa/totp", "/api/v1/me/mfa/totp", m, map[string]string{"name": name}, 201)
		id, seed = r.str("id"), decodeSeed(t, r.str("secret"))
		m = do("POST /api/v1/me/mfa/totp/{id}/confirm", "/api/v1/me/mfa/totp/"+id+"/confirm", m, map[string]string{"code": e.code(seed)}, 200).str("session_token")
		return id, seed
	}
	id1, seed := enroll("phone")
	do("GET /api/v1/me/mfa", "/api/v1/me/mfa", m, nil, 200)
	do("PATCH /api/v1/me/mfa/totp/{id}", "/api/v1/me/mfa/totp/"+id1, m, map[string]string{"name": "old phone"}, 204)
	do("POST /api/v1/me/mfa/recovery-codes", "/api/v1/me/mfa/recovery-codes", m, nil, 200)
	do("POST /api/v1/session/reauthenticate", "/api/v1/session/reauthenticate", m, map[string]string{"password": pw}, 200)

	// A second sign-in, with the code; the first session revokes it.
	r = do("POST /api/v1/sign-in", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "m@acme.test", "password": pw}, 200)
	r = do("POST /api/v1/sign-in/mfa", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(seed)}, 200)
	other := do("GET /api/v1/session", "/api/v1/session", r.str("session_token"), nil, 200).str("session_id")
	do("GET /api/v1/me/sessions", "/api/v1/me/sessions", m, nil, 200)
	do("DELETE /api/v1/me/sessions/{id}", "/api/v1/me/sessions/"+other, m, nil, 204)
	do("PUT /api/v1/me/password", "/api/v1/me/password", m, map[string]string{"current_password": pw, "new_password": pw2}, 204)

	// Forgot password.
	do("POST /api/v1/password-reset", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "m@acme.test"}, 202)
	last, ok := e.mail.Last("m@acme.test")
	found := linkToken.FindStringSubmatch(last.Text)
	if !ok || found == nil {
		t.Fatalf("no reset link mailed: %q", last.Text)
	}
	do("POST /api/v1/password-reset/confirm", "/api/v1/password-reset/confirm", "", map[string]string{"token": found[2], "password": pw3}, 200)
	r = do("POST /api/v1/sign-in", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "m@acme.test", "password": pw3}, 200)
	m = do("POST /api/v1/sign-in/mfa", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": r.str("flow_token"), "code": e.code(seed)}, 200).str("session_token")

	// Replace a device, then remove everything.
	enroll("new phone")
	do("DELETE /api/v1/me/mfa/totp/{id}", "/api/v1/me/mfa/totp/"+id1, m, map[string]string{"password": pw3}, 204)
	do("DELETE /api/v1/me/mfa", "/api/v1/me/mfa", m, nil, 204)

	// The admin resets the member's MFA, requires MFA with no grace, and
	// the member enrolls while signing in.
	enroll("phone again")
	do("DELETE /api/v1/admin/users/{id}/mfa", "/api/v1/admin/users/"+mID+"/mfa", admin, map[string]string{"password": adminPassword}, 200)
	e.enroll(&admin, "admin phone")
	do("GET /api/v1/admin/workspace", "/api/v1/admin/workspace", admin, nil, 200)
	do("PATCH /api/v1/admin/workspace", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}, 200)
	r = do("POST /api/v1/sign-in", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "m@acme.test", "password": pw3}, 200)
	if r.str("state") != "mfa_enrollment_required" {
		t.Fatalf("sign-in after a reset under required MFA: %s", r.Raw)
	}
	flow := r.str("flow_token")
	r = do("POST /api/v1/sign-in/enroll", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}, 200)
	m = do("POST /api/v1/sign-in/enroll/confirm", "/api/v1/sign-in/enroll/confirm", "",
		map[string]string{"flow_token": flow, "code": e.code(decodeSeed(t, r.str("secret")))}, 200).str("session_token")

	// The audit log, as a page and as NDJSON.
	do("GET /api/v1/admin/audit-events", "/api/v1/admin/audit-events?limit=5", admin, nil, 200)
	x := do("GET /api/v1/admin/audit-events/export", "/api/v1/admin/audit-events/export", admin, nil, 200)
	schema := contractResponseSchema(t, doc, "GET /api/v1/admin/audit-events/export", 200, "application/x-ndjson")
	lines := strings.Split(strings.TrimSpace(x.Raw), "\n")
	if schema == nil || len(lines) < 10 {
		t.Fatalf("export: %d lines, schema %v", len(lines), schema != nil)
	}
	for i, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("export line %d: %v", i, err)
		}
		for _, p := range contractShape(t, doc, schema, v, fmt.Sprintf("line %d", i)) {
			t.Errorf("export: %s", p)
		}
	}

	do("POST /api/v1/sign-out", "/api/v1/sign-out", m, nil, 204)
	do("DELETE /api/v1/admin/users/{id}", "/api/v1/admin/users/"+mID, admin, nil, 204)

	for _, r := range append(web.APIRoutes(), contractOutsideAPI...) {
		if !covered[r] {
			t.Errorf("%s was not exercised", r)
		}
	}
}

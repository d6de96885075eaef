package web_test

// Helpers of the API contract tests (openapi_test.go, permissions_test.go,
// badinput_test.go): a minimal reader of openapi.yaml, raw requests, error
// format checks and database snapshots.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/store"
)

// contractNode is one block mapping of a YAML document. Flow values
// ({…}, […]) and scalars stay raw text in val; lists are skipped, which
// openapi.yaml uses only for tags, servers, security and parameters.
type contractNode struct {
	val  string
	kids map[string]*contractNode
	keys []string // in document order
}

func (n *contractNode) get(path ...string) *contractNode {
	for _, k := range path {
		if n == nil || n.kids == nil {
			return nil
		}
		n = n.kids[k]
	}
	return n
}

// contractParseYAML reads the block-mapping skeleton of a YAML document:
// enough to walk openapi.yaml without a YAML module.
func contractParseYAML(doc []byte) (*contractNode, string) {
	root := &contractNode{kids: map[string]*contractNode{}}
	type frame struct {
		indent int
		node   *contractNode
	}
	stack := []frame{{-1, root}}
	skipAbove := -1 // skip lines indented more than this (block scalars, lists)
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		indent := len(text) - len(strings.TrimLeft(text, " "))
		if skipAbove >= 0 {
			if trimmed == "" || indent > skipAbove {
				continue
			}
			skipAbove = -1
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(text, "\t") {
			return nil, fmt.Sprintf("openapi.yaml:%d: tab in indentation", line)
		}
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			skipAbove = indent
			continue
		}
		key, val, ok := strings.Cut(trimmed, ": ")
		if !ok {
			if !strings.HasSuffix(trimmed, ":") {
				return nil, fmt.Sprintf("openapi.yaml:%d: not a mapping entry: %q", line, text)
			}
			key = strings.TrimSuffix(trimmed, ":")
		}
		key = strings.Trim(key, `"'`)
		val = strings.TrimSpace(val)
		for stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1].node
		if parent.kids == nil {
			parent.kids = map[string]*contractNode{}
		}
		if _, dup := parent.kids[key]; dup {
			return nil, fmt.Sprintf("openapi.yaml:%d: duplicate key %q", line, key)
		}
		n := &contractNode{val: val}
		parent.kids[key] = n
		parent.keys = append(parent.keys, key)
		switch {
		case val == "|" || val == ">" || val == "|-" || val == ">-":
			skipAbove = indent
		case val == "":
			stack = append(stack, frame{indent, n})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err.Error()
	}
	return root, ""
}

var (
	contractDocOnce   sync.Once
	contractDocParsed *contractNode
	contractDocErr    string
)

// contractDoc returns openapi.yaml, parsed once.
func contractDoc(t *testing.T) *contractNode {
	t.Helper()
	contractDocOnce.Do(func() {
		raw, err := os.ReadFile("openapi.yaml")
		if err != nil {
			contractDocErr = err.Error()
			return
		}
		contractDocParsed, contractDocErr = contractParseYAML(raw)
	})
	if contractDocErr != "" {
		t.Fatal(contractDocErr)
	}
	return contractDocParsed
}

// contractOp returns the operation of route ("METHOD /path") in doc.
func contractOp(t *testing.T, doc *contractNode, route string) *contractNode {
	t.Helper()
	method, path, _ := strings.Cut(route, " ")
	op := doc.get("paths", path, strings.ToLower(method))
	if op == nil {
		t.Fatalf("openapi.yaml does not describe %s", route)
	}
	return op
}

var contractRef = regexp.MustCompile(`\$ref: "#/components/([A-Za-z]+)/([A-Za-z0-9_]+)"`)

// contractResolve follows a schema's $ref (block or flow form).
func contractResolve(t *testing.T, doc, schema *contractNode) *contractNode {
	t.Helper()
	for i := 0; schema != nil && i < 5; i++ {
		ref := schema.val
		if r := schema.get("$ref"); r != nil {
			ref = "$ref: " + r.val
		}
		m := contractRef.FindStringSubmatch(ref)
		if m == nil {
			return schema
		}
		schema = doc.get("components", m[1], m[2])
		if schema == nil {
			t.Fatalf("openapi.yaml: dangling %s", m[0])
		}
	}
	return schema
}

// contractField is one property of a documented request body.
type contractField struct {
	name string
	typ  string // string, boolean or integer
}

// contractBody describes the JSON request body of route, or nil when it
// takes none: its fields, and whether some field must be present.
type contractBody struct {
	fields      []contractField
	mustHaveOne bool
}

var contractType = regexp.MustCompile(`\btype: \[?"?([a-z]+)`)

func contractRequestBody(t *testing.T, doc *contractNode, route string) *contractBody {
	t.Helper()
	op := contractOp(t, doc, route)
	rb := op.get("requestBody")
	if rb == nil {
		return nil
	}
	schema := contractResolve(t, doc, rb.get("content", "application/json", "schema"))
	if schema == nil {
		t.Fatalf("%s: requestBody without an application/json schema", route)
	}
	b := &contractBody{mustHaveOne: schema.get("required") != nil || schema.get("anyOf") != nil}
	props := schema.get("properties")
	if props == nil {
		t.Fatalf("%s: request schema without properties", route)
	}
	for _, name := range props.keys {
		p := contractResolve(t, doc, props.kids[name])
		raw := p.val
		if ty := p.get("type"); ty != nil {
			raw = "type: " + ty.val
		}
		m := contractType.FindStringSubmatch(raw)
		if m == nil {
			t.Fatalf("%s: property %s has no type", route, name)
		}
		b.fields = append(b.fields, contractField{name, m[1]})
	}
	return b
}

// contractDocumentsStatus reports whether route's documented responses
// include status.
func contractDocumentsStatus(t *testing.T, doc *contractNode, route string, status int) bool {
	t.Helper()
	return contractOp(t, doc, route).get("responses", fmt.Sprint(status)) != nil
}

// contractFill replaces {id} in a route's path.
func contractFill(path, id string) string { return strings.ReplaceAll(path, "{id}", id) }

// contractRaw sends a request exactly as given, without following
// redirects, and decodes the answer like env.call.
func (e *env) contractRaw(method, path, token, contentType string, body []byte) resp {
	e.t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.contractSend(method, path, h, body)
}

// contractRawHeader sends a bodiless request with the Authorization
// header as given.
func (e *env) contractRawHeader(method, path, authorization string) resp {
	e.t.Helper()
	return e.contractSend(method, path, http.Header{"Authorization": {authorization}}, nil)
}

func (e *env) contractSend(method, path string, h http.Header, body []byte) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("%s %.100s: %v", method, path, err)
	}
	req.Header = h
	client := *e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %.100s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			e.t.Fatalf("%s %.100s: bad JSON %q", method, path, raw)
		}
	}
	return r
}

var contractCode = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// contractIsError reports what is wrong with r as an error answer of the
// API, or "" when it is a 4xx in the error format.
func contractIsError(r resp) string {
	if r.Status < 400 || r.Status >= 500 {
		return fmt.Sprintf("status %d, want 4xx", r.Status)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return fmt.Sprintf("Content-Type %q, want JSON", r.Header.Get("Content-Type"))
	}
	e, ok := r.Body["error"].(map[string]any)
	if !ok || len(r.Body) != 1 {
		return "body is not {\"error\": {…}}"
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if !contractCode.MatchString(code) || msg == "" {
		return fmt.Sprintf("error code %q / message %q", code, msg)
	}
	for k := range e {
		if k != "code" && k != "message" && k != "field" {
			return fmt.Sprintf("unexpected error member %q", k)
		}
	}
	if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
		return "429 without Retry-After"
	}
	return ""
}

// contractField returns error.field of an error answer.
func (r resp) contractErrField() string {
	e, _ := r.Body["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// contractDB reads sekisho's tables behind an env, for snapshots.
type contractDB struct {
	t       *testing.T
	db      *sql.DB
	pg      bool
	queries map[string]*sql.Stmt // table → query of its content
}

func (e *env) contractDB() *contractDB {
	e.t.Helper()
	var db *sql.DB
	var err error
	pg := e.db.Dialect() == store.Postgres
	if pg {
		db, err = sql.Open("pgx", e.dbURL)
	} else {
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(e.dbURL, "sqlite:")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	c := &contractDB{t: e.t, db: db, pg: pg, queries: map[string]*sql.Stmt{}}
	for _, table := range append(append([]string{}, contractStateTables...), contractLogTables...) {
		q := "SELECT name FROM pragma_table_info('" + table + "')"
		if pg {
			q = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '" + table + "' ORDER BY ordinal_position"
		}
		rows, err := db.Query(q)
		if err != nil {
			e.t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var col string
			if err := rows.Scan(&col); err != nil {
				e.t.Fatal(err)
			}
			if col == "last_seen_at" {
				continue // any signed-in request may move it
			}
			if pg {
				col = "quote_nullable(" + col + "::text)"
			}
			cols = append(cols, col)
		}
		rows.Close()
		if len(cols) == 0 {
			e.t.Fatalf("table %s has no columns", table)
		}
		// PostgreSQL renders a table as one string, which keeps a snapshot
		// to one round trip per table; the embedded SQLite is quicker at
		// handing over plain rows (it runs instrumented under -race).
		q = "SELECT " + strings.Join(cols, ", ") + " FROM " + table
		if pg {
			q = "SELECT coalesce(string_agg(r, E'\\n' ORDER BY r), '') FROM (SELECT concat_ws(',', " + strings.Join(cols, ", ") + ") AS r FROM " + table + ") x"
		}
		// Prepared once: parsing SQL is most of a snapshot's cost.
		if c.queries[table], err = db.Prepare(q); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

// contractStateTables hold what a request may change; the log tables
// (audit events, throttle counters) may also grow when a request fails
// after validation, e.g. a wrong code that must be counted.
var (
	contractStateTables = []string{"workspaces", "users", "sessions", "signin_flows", "authenticators", "recovery_codes", "tokens"}
	contractLogTables   = []string{"audit_events", "throttles"}
)

// contractSnapshot is the content of some tables, one line per row.
type contractSnapshot map[string][]string

// snapshot reads every row of tables (sessions without last_seen_at).
func (c *contractDB) snapshot(tables ...string) contractSnapshot {
	c.t.Helper()
	s := contractSnapshot{}
	for _, table := range tables {
		if c.pg {
			var all string
			if err := c.queries[table].QueryRow().Scan(&all); err != nil {
				c.t.Fatalf("snapshot %s: %v", table, err)
			}
			s[table] = strings.Split(all, "\n")
			continue
		}
		rows, err := c.queries[table].Query()
		if err != nil {
			c.t.Fatalf("snapshot %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var out []string
		var b []byte
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				c.t.Fatal(err)
			}
			b = b[:0]
			for _, v := range vals {
				if !v.Valid {
					b = append(b, "NULL,"...)
					continue
				}
				b = strconv.AppendQuote(b, v.String)
				b = append(b, ',')
			}
			out = append(out, string(b))
		}
		if err := rows.Err(); err != nil {
			c.t.Fatal(err)
		}
		rows.Close()
		sort.Strings(out)
		s[table] = out
	}
	return s
}

// diff describes how s2 differs from s, or "" when they are equal.
func (s contractSnapshot) diff(s2 contractSnapshot) string {
	var b strings.Builder
	tables := make([]string, 0, len(s))
	for k := range s {
		tables = append(tables, k)
	}
	sort.Strings(tables)
	for _, table := range tables {
		before, after := s[table], s2[table]
		seen := map[string]int{}
		for _, r := range before {
			seen[r]++
		}
		for _, r := range after {
			seen[r]--
		}
		for r, n := range seen {
			switch {
			case n > 0:
				fmt.Fprintf(&b, "\n  %s: - %s", table, r)
			case n < 0:
				fmt.Fprintf(&b, "\n  %s: + %s", table, r)
			}
		}
	}
	return b.String()
}

// contractResponseSchema returns the documented schema of route's answer
// with status in mediaType, or nil when there is none.
func contractResponseSchema(t *testing.T, doc *contractNode, route string, status int, mediaType string) *contractNode {
	t.Helper()
	res := contractResolve(t, doc, contractOp(t, doc, route).get("responses", fmt.Sprint(status)))
	return contractResolve(t, doc, res.get("content", mediaType, "schema"))
}

// contractShape compares a decoded JSON value with a documented schema:
// every member of an object is documented, every required one present,
// recursively through arrays and references. Scalars are not checked.
func contractShape(t *testing.T, doc, schema *contractNode, v any, at string) []string {
	t.Helper()
	schema = contractResolve(t, doc, schema)
	if schema == nil {
		return nil
	}
	var problems []string
	switch v := v.(type) {
	case map[string]any:
		props := schema.get("properties")
		if props == nil {
			return nil // a free-form map, such as audit details
		}
		for k, x := range v {
			p := props.get(k)
			if p == nil {
				problems = append(problems, fmt.Sprintf("%s.%s is not documented", at, k))
				continue
			}
			problems = append(problems, contractShape(t, doc, p, x, at+"."+k)...)
		}
		if req := schema.get("required"); req != nil {
			for _, k := range strings.Split(strings.Trim(req.val, "[]"), ",") {
				if k = strings.TrimSpace(k); k != "" {
					if _, ok := v[k]; !ok {
						problems = append(problems, fmt.Sprintf("%s.%s is required but missing", at, k))
					}
				}
			}
		}
	case []any:
		items := schema.get("items")
		for i, x := range v {
			problems = append(problems, contractShape(t, doc, items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return problems
}

// contractCheckResponse checks that r's status is documented for route
// and, for JSON, that its body has the documented shape.
func contractCheckResponse(t *testing.T, doc *contractNode, route string, r resp) {
	t.Helper()
	if !contractDocumentsStatus(t, doc, route, r.Status) {
		t.Errorf("%s: status %d is not documented", route, r.Status)
		return
	}
	if r.Body == nil {
		return
	}
	schema := contractResponseSchema(t, doc, route, r.Status, "application/json")
	if schema == nil {
		t.Errorf("%s: %d answers JSON, documented without a JSON schema", route, r.Status)
		return
	}
	for _, p := range contractShape(t, doc, schema, r.Body, "body") {
		t.Errorf("%s: %d: %s", route, r.Status, p)
	}
}

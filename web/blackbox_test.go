package web_test

// The black-box run of issue 7: thousands of malformed requests to every
// route, as an anonymous client, with garbage credentials and with valid
// sessions (admins' included), on each database. Every request is made
// invalid on purpose: invalid or truncated JSON, wrong field types, bodies
// over the limit, deep nesting, invalid UTF-8, NUL, wrong media types and
// methods, garbage path parameters, queries, cursors, headers and cookies,
// cross-origin posts, broken HTTP framing. What must hold:
//
//   - no 5xx and no panic (the request log and the service log show no
//     internal failure);
//   - every 4xx of the API is in its error format ({"error": {…}});
//   - the security state is exactly as before: every row of every table,
//     except what a refused request is supposed to leave behind — audit
//     events of refusals (appended, never a success), throttle counters,
//     and the last_seen_at of the sessions the requests came with.
//
// `go test` sends 1,500 requests per database; the full run is
// `go test ./web -run TestBlackBox -blackbox.n=20000 -v`. A failure names
// the request's index: -blackbox.seed and -blackbox.n reproduce it.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

var (
	blackboxN    = flag.Int("blackbox.n", 1500, "requests per database in TestBlackBox (the full run: 20000)")
	blackboxSeed = flag.Uint64("blackbox.seed", 20261125, "seed of TestBlackBox's requests")
)

// bbMaxBody is the server's limit on request bodies (web.maxBody).
const bbMaxBody = 64 << 10

func TestBlackBox(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { blackBox(t, d) })
	}
}

func blackBox(t *testing.T, d store.Dialect) {
	w := newBBWorld(t, d)
	n := *blackboxN
	before := w.snapshot()
	w.checkInvariants(before)
	mails := len(w.e.mail.Messages())

	w.framing()
	w.clientGone()
	if t.Failed() {
		t.FailNow()
	}

	stats := bbStats{status: map[int]int{}, mutation: map[string]int{}, routes: map[string]int{}}
	last := before
	const window = 250 // requests between two snapshots, to point at the culprits
	var recent []string
	start := time.Now()
	for i := range n {
		q := w.generate(i)
		res := w.send(q)
		stats.add(q, res)
		recent = append(recent, fmt.Sprintf("#%d %s → %d", i, q, res.status))
		w.checkAnswer(i, q, res)
		if (i+1)%window == 0 || i == n-1 {
			now := w.snapshot()
			if msg := w.compare(before, now); msg != "" {
				t.Fatalf("after request #%d the database differs from before the run:%s\nrequests since the last snapshot:\n%s",
					i, msg, strings.Join(recent, "\n"))
			}
			last = now
			recent = recent[:0]
		}
		if t.Failed() && w.failures > 20 {
			t.Fatalf("stopping after %d failures", w.failures)
		}
	}
	elapsed := time.Since(start)
	w.srv.Close() // waits for every handler: the logs are complete
	w.checkLogs()
	if got := len(w.e.mail.Messages()); got != mails {
		t.Errorf("the run sent %d emails", got-mails)
	}
	// The sessions still work: none was ended by a request.
	for name, tok := range w.sessions {
		if r := w.e.call("GET", "/api/v1/session", tok, nil); r.Status != 200 {
			t.Errorf("session of %s after the run: %d %s", name, r.Status, r.Raw)
		}
	}
	added := map[string]int{}
	old := map[string]bool{}
	for _, row := range before.rows["audit_events"] {
		old[row["id"]] = true
	}
	for _, row := range last.rows["audit_events"] {
		if old[row["id"]] {
			continue
		}
		u, _ := strconv.Unquote(row["type"])
		r, _ := strconv.Unquote(row["result"])
		added[u+" "+r]++
	}
	t.Logf("%s: %d requests in %v (seed %d): %s; audit events added: %v; %d throttle rows",
		d, n, elapsed.Round(time.Millisecond), *blackboxSeed, stats.summary(), added, len(last.tables["throttles"]))
}

// bbWorld is a seeded sekisho and what the run knows about it.
type bbWorld struct {
	t       *testing.T
	d       store.Dialect
	e       *env
	srv     *httptest.Server // the server under test, logging to logs
	handler http.Handler     // its handler
	logs    *lockedWriter
	logBuf  *bytes.Buffer
	client  *http.Client
	db      *sql.DB

	routes []scannedRoute
	byPat  map[string]scannedRoute
	probe  *http.ServeMux // the same patterns: which one takes a request
	hit    bbHit          // what the probe saw last
	csrf   *http.CrossOriginProtection
	bodies map[string]*contractBody // API pattern → documented request body
	public map[string]bool          // API pattern → needs no session
	fields []string                 // the pages' form fields

	// What may let a request act: session tokens (by who holds them),
	// pending sign-in flows (the page cookie's value by kind), links'
	// tokens and the passwords in use.
	sessions  map[string]string
	flows     map[string]string
	flowToks  []string
	links     []string
	passwords []string
	ids       map[string]bool // every id in the database, lower case
	emails    []string

	failures int
}

type bbHit struct {
	pattern string
	vals    map[string]string
}

// newBBWorld seeds a database: two workspaces, admins and members with
// and without TOTP, a user admin, a disabled and an invited user, a
// pending password reset, and sign-ins waiting for their second factor or
// for a forced enrollment.
func newBBWorld(t *testing.T, d store.Dialect) *bbWorld {
	e := newEnv(t, d)
	w := &bbWorld{t: t, d: d, e: e, sessions: map[string]string{}, flows: map[string]string{}, ids: map[string]bool{},
		bodies: map[string]*contractBody{}, public: map[string]bool{}, byPat: map[string]scannedRoute{}}

	_, admin := e.workspace("acme")
	e.enroll(&admin, "admin phone")
	e.invite(admin, "ua@acme.test", "user_admin", permPassword)
	ua := e.signIn("acme", "ua@acme.test", permPassword)
	e.invite(admin, "mfa@acme.test", "member", permPassword)
	mem := e.signIn("acme", "mfa@acme.test", permPassword)
	e.enroll(&mem, "phone")
	e.invite(admin, "plain@acme.test", "member", permPassword)
	plain := e.signIn("acme", "plain@acme.test", permPassword)
	gone := e.invite(admin, "gone@acme.test", "member", permPassword)
	e.call("PATCH", "/api/v1/admin/users/"+gone, admin, map[string]string{"status": "disabled"}).must(t, 200)
	inv := e.call("POST", "/api/v1/admin/users", admin, map[string]string{"email": "new@acme.test", "role": "member"}).must(t, 201)
	e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "plain@acme.test"}).must(t, 202)
	msg, ok := e.mail.Last("plain@acme.test")
	reset := linkToken.FindStringSubmatch(msg.Text)
	if !ok || reset == nil {
		t.Fatalf("no reset link mailed: %q", msg.Text)
	}
	invite := linkToken.FindStringSubmatch(inv.str("invitation_url"))
	mflow := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "mfa@acme.test", "password": permPassword}).must(t, 200)
	if mflow.str("state") != "mfa_required" {
		t.Fatalf("sign-in of a member with MFA: %s", mflow.Raw)
	}

	_, gadmin := e.workspace("globex")
	e.enroll(&gadmin, "phone")
	e.call("PATCH", "/api/v1/admin/workspace", gadmin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}).must(t, 200)
	e.invite(gadmin, "m@globex.test", "member", permPassword)
	eflow := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "globex", "email": "m@globex.test", "password": permPassword}).must(t, 200)
	if eflow.str("state") != "mfa_enrollment_required" {
		t.Fatalf("sign-in under required MFA: %s", eflow.Raw)
	}

	w.sessions = map[string]string{"acme admin": admin, "acme user admin": ua, "acme member with MFA": mem,
		"acme member without MFA": plain, "globex admin": gadmin}
	w.flows = map[string]string{"m": "m:tr:" + mflow.str("flow_token"), "e": "e::" + eflow.str("flow_token")}
	w.flowToks = []string{mflow.str("flow_token"), eflow.str("flow_token")}
	w.links = []string{invite[2], reset[2]}
	w.passwords = []string{adminPassword, permPassword}
	w.emails = []string{"admin@acme.test", "ua@acme.test", "mfa@acme.test", "plain@acme.test", "gone@acme.test", "new@acme.test",
		"admin@globex.test", "m@globex.test"}

	// The server under test: sekisho's handler over the same service, with
	// its own log, behind a trusted proxy so that X-Forwarded-For is read.
	w.logBuf = &bytes.Buffer{}
	w.logs = &lockedWriter{w: w.logBuf}
	w.handler = web.NewServer(e.svc, e.db, slog.New(slog.NewTextHandler(w.logs, nil)), web.Options{
		BaseURL:        "http://localhost",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
	})
	w.srv = httptest.NewServer(w.handler)
	t.Cleanup(w.srv.Close)
	w.client = &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(w.client.CloseIdleConnections)

	doc := contractDoc(t)
	w.routes = scanRoutes(t)
	w.fields = formFields(t)
	w.csrf = http.NewCrossOriginProtection()
	w.probe = http.NewServeMux()
	for _, r := range w.routes {
		w.byPat[r.pattern] = r
		names := r.wildcards()
		w.probe.HandleFunc(r.pattern, func(_ http.ResponseWriter, req *http.Request) {
			w.hit.pattern = req.Pattern
			for _, n := range names {
				w.hit.vals[n] = req.PathValue(n)
			}
		})
		if r.api {
			w.bodies[r.pattern] = contractRequestBody(t, doc, r.pattern)
			w.public[r.pattern] = contractIsPublic(t, doc, r.pattern)
		}
	}
	w.openDB()
	return w
}

// openDB opens a second, read-only connection for snapshots.
func (w *bbWorld) openDB() {
	var err error
	if w.d == store.Postgres {
		w.db, err = sql.Open("pgx", w.e.dbURL)
	} else {
		w.db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(w.e.dbURL, "sqlite:")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.db.Close() })
}

// bbSnapshot is every row of every table, one string per row; sessions
// without last_seen_at, which any signed-in request moves.
type bbSnapshot struct {
	tables map[string][]string
	cols   map[string][]string
	rows   map[string][]map[string]string
}

func (w *bbWorld) snapshot() bbSnapshot {
	w.t.Helper()
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
	if w.d == store.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
	}
	names := w.queryStrings(q)
	s := bbSnapshot{tables: map[string][]string{}, cols: map[string][]string{}, rows: map[string][]map[string]string{}}
	for _, table := range names {
		rows, err := w.db.Query("SELECT * FROM " + table)
		if err != nil {
			w.t.Fatalf("snapshot of %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		s.cols[table] = cols
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var lines []string
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				w.t.Fatal(err)
			}
			row := map[string]string{}
			var b strings.Builder
			for i, v := range vals {
				text := bbText(v)
				row[cols[i]] = text
				if table == "sessions" && cols[i] == "last_seen_at" {
					continue
				}
				b.WriteString(cols[i] + "=" + text + " ")
			}
			lines = append(lines, b.String())
			s.rows[table] = append(s.rows[table], row)
		}
		if err := rows.Err(); err != nil {
			w.t.Fatal(err)
		}
		rows.Close()
		sort.Strings(lines)
		s.tables[table] = lines
	}
	return s
}

func bbText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return strconv.Quote(string(x))
	case string:
		return strconv.Quote(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

func (w *bbWorld) queryStrings(q string) []string {
	rows, err := w.db.Query(q)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// checkInvariants checks that the seeded database is what the run
// expects, and collects every id in it: a path parameter that is none of
// them can't act on anything.
func (w *bbWorld) checkInvariants(s bbSnapshot) {
	for _, table := range []string{"audit_events", "throttles", "sessions", "users", "workspaces", "authenticators", "recovery_codes", "tokens", "signin_flows"} {
		if _, ok := s.tables[table]; !ok {
			w.t.Fatalf("no table %s in the snapshot", table)
		}
	}
	if len(s.tables["sessions"]) < 5 || len(s.tables["signin_flows"]) < 2 || len(s.tables["tokens"]) < 2 || len(s.tables["recovery_codes"]) < 10 {
		w.t.Fatalf("the seed is smaller than expected: %d sessions, %d flows, %d tokens, %d recovery codes",
			len(s.tables["sessions"]), len(s.tables["signin_flows"]), len(s.tables["tokens"]), len(s.tables["recovery_codes"]))
	}
	for _, rows := range s.rows {
		for _, row := range rows {
			for col, v := range row {
				if col == "id" || strings.HasSuffix(col, "_id") {
					if u, err := strconv.Unquote(v); err == nil && u != "" {
						w.ids[strings.ToLower(u)] = true
					}
				}
			}
		}
	}
}

// compare describes how now differs from before beyond what refused
// requests may leave: audit events appended with a result other than
// success, and throttle counters. Every other table is compared row by
// row (sessions without last_seen_at).
func (w *bbWorld) compare(before, now bbSnapshot) string {
	var b strings.Builder
	var tables []string
	for k := range before.tables {
		tables = append(tables, k)
	}
	for k := range now.tables {
		if _, ok := before.tables[k]; !ok {
			tables = append(tables, k)
		}
	}
	sort.Strings(tables)
	for _, table := range tables {
		switch table {
		case "throttles":
			continue
		case "audit_events":
			old := map[string]bool{}
			for _, r := range before.tables[table] {
				old[r] = true
			}
			for _, r := range before.tables[table] {
				if !slices.Contains(now.tables[table], r) {
					fmt.Fprintf(&b, "\n  audit_events: - %s", r)
				}
			}
			for _, row := range now.rows[table] {
				if row["result"] == strconv.Quote("success") {
					line := ""
					for _, c := range now.cols[table] {
						line += c + "=" + row[c] + " "
					}
					if !old[line] {
						fmt.Fprintf(&b, "\n  audit_events: + a success: %s", line)
					}
				}
			}
			continue
		}
		seen := map[string]int{}
		for _, r := range before.tables[table] {
			seen[r]++
		}
		for _, r := range now.tables[table] {
			seen[r]--
		}
		var diff []string
		for r, n := range seen {
			switch {
			case n > 0:
				diff = append(diff, fmt.Sprintf("\n  %s: - %s", table, r))
			case n < 0:
				diff = append(diff, fmt.Sprintf("\n  %s: + %s", table, r))
			}
		}
		sort.Strings(diff)
		b.WriteString(strings.Join(diff, ""))
	}
	return b.String()
}

// checkLogs: no panic and no internal failure in the request log or the
// service's log.
func (w *bbWorld) checkLogs() {
	w.logs.mu.Lock()
	served := w.logBuf.String()
	w.logs.mu.Unlock()
	service := w.e.logs.String() // the service is idle: the run is over
	if strings.Count(served, "msg=request") < *blackboxN/2 {
		w.t.Errorf("only %d request log lines for %d requests", strings.Count(served, "msg=request"), *blackboxN)
	}
	for name, logs := range map[string]string{"request log": served, "service log": service} {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "msg=panic") || strings.Contains(line, "panic") {
				w.t.Errorf("%s: %.600s", name, line)
			}
		}
	}
}

// framing sends, to every route that reads a body, one whose chunked
// framing breaks, one that ends before its Content-Length and one that
// does not parse, as a signed-in admin: the body can't be read, which is
// bad input (400), never an internal error nor an action on blank fields.
func (w *bbWorld) framing() {
	admin := w.sessions["acme admin"]
	for _, r := range w.routes {
		var hdr string
		switch {
		case r.api && w.bodies[r.pattern] != nil:
			hdr = "Authorization: Bearer " + admin + "\r\nContent-Type: application/json\r\n"
		case !r.api && r.method == "POST":
			hdr = "Cookie: sekisho_session=" + admin + "; sekisho_flow=" + w.flows["m"] + "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		default:
			continue
		}
		path := strings.NewReplacer("{id}", "x", "{token}", w.links[0], "{slug}", "acme").Replace(r.path)
		for _, framing := range []string{
			"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
			"Content-Length: 100\r\n\r\n{\"a\":",
			"Content-Length: 8\r\n\r\nname=%zz", // well framed, but neither JSON nor a form
		} {
			q := &bbReq{route: r, method: r.method, target: path, raw: []string{"as is"}, what: []string{"framing"}, served: path}
			res := w.sendRaw(q, []byte(r.method+" "+path+" HTTP/1.1\r\nHost: sekisho.test\r\n"+hdr+framing))
			if res.err != nil || res.status != 400 {
				w.failures++
				w.t.Errorf("%s with %.30q: %d %v %.300s", r.pattern, framing, res.status, res.err, res.body)
				continue
			}
			w.checkAnswer(-1, q, res)
		}
	}
}

// clientGone opens every page and every GET of the API, signed in, for
// a client that is already gone (its request's context is done, as when
// it closes the connection): the server may give up, but it blames no
// failure on itself or on the database.
func (w *bbWorld) clientGone() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	admin := w.sessions["acme admin"]
	for _, r := range w.routes {
		if r.method != "GET" {
			continue
		}
		path := strings.NewReplacer("{id}", "x", "{token}", w.links[0], "{slug}", "acme", "{$}", "").Replace(r.path)
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Cookie", "sekisho_session="+admin)
		rec := httptest.NewRecorder()
		w.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			w.failures++
			w.t.Errorf("GET %s for a client gone: %d %.300s", path, rec.Code, rec.Body)
		}
	}
}

// bbReq is one request of the run.
type bbReq struct {
	route  scannedRoute // the route it was made for
	method string
	target string // the request-target as sent: escaped path and query
	header http.Header
	pairs  []bbPair // the JSON object or form, until bytes are fixed
	body   []byte   // set: the body as it is, pairs no longer apply
	form   bool     // pairs make a form, not JSON
	raw    []string // HTTP-level defects: sent over a raw connection
	what   []string
	served string // the path as the server reads it
}

type bbPair struct{ k, v string } // JSON: v is raw JSON; form: v is the value

func (q *bbReq) String() string {
	return fmt.Sprintf("%s %.120q [%s]", q.method, q.target, strings.Join(q.what, ", "))
}

// freeze fixes the body as bytes: later mutations edit the bytes.
func (q *bbReq) freeze() []byte {
	q.body = q.bytes()
	return q.body
}

// bytes returns the body.
func (q *bbReq) bytes() []byte {
	if q.body != nil {
		return q.body
	}
	var b strings.Builder
	if q.form {
		for i, p := range q.pairs {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(p.k) + "=" + url.QueryEscape(p.v))
		}
	} else if q.pairs != nil {
		b.WriteByte('{')
		for i, p := range q.pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(p.k)
			b.Write(k)
			b.WriteByte(':')
			b.WriteString(p.v)
		}
		b.WriteByte('}')
	}
	return []byte(b.String())
}

// generate makes request i: a route, credentials, a plausible body, one
// to four mutations, then more until the request can't act.
func (w *bbWorld) generate(i int) *bbReq {
	rng := rand.New(rand.NewPCG(*blackboxSeed, uint64(i)))
	r := w.routes[rng.IntN(len(w.routes))]
	q := &bbReq{route: r, method: r.method, header: http.Header{}}
	if q.method == "" {
		q.method = bbPick(rng, []string{"GET", "POST", "PUT", "PATCH", "DELETE"})
	}
	q.target = w.fillPath(rng, r)
	q.header.Set("User-Agent", "sekisho-blackbox/1")
	w.credentials(rng, q)
	switch {
	case r.api && w.bodies[r.pattern] != nil:
		for _, f := range w.bodies[r.pattern].fields {
			if rng.IntN(10) < 7 {
				q.pairs = append(q.pairs, bbPair{f.name, w.value(rng, f.typ)})
			}
		}
		if q.pairs == nil {
			q.pairs = []bbPair{}
		}
		q.header.Set("Content-Type", "application/json")
	case !r.api && q.method == "POST":
		q.form = true
		for range rng.IntN(5) {
			f := bbPick(rng, w.fields)
			q.pairs = append(q.pairs, bbPair{f, w.plain(rng)})
		}
		q.header.Set("Content-Type", "application/x-www-form-urlencoded")
	case rng.IntN(4) == 0:
		q.body = []byte(bbPick(rng, []string{`{}`, `{"a":1}`, `x`, "\xff"}))
		q.header.Set("Content-Type", "application/json")
	}
	for range 1 + rng.IntN(4) {
		m := bbPick(rng, bbMutations)
		if m.fn(w, rng, q) {
			q.what = append(q.what, m.name)
		}
	}
	for try := 0; ; try++ {
		harmless, why := w.harmless(q)
		if harmless {
			q.what = append(q.what, "("+why+")")
			return q
		}
		if try == 100 {
			w.t.Fatalf("request #%d: could not make it invalid: %s", i, q)
		}
		m := bbPick(rng, bbBreaking)
		if m.fn(w, rng, q) {
			q.what = append(q.what, m.name)
		}
	}
}

func bbPick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// fillPath fills the route's wildcards with real values (the mutations
// replace them with garbage) and a trailing pattern with something.
func (w *bbWorld) fillPath(rng *rand.Rand, r scannedRoute) string {
	p := r.path
	p = strings.ReplaceAll(p, "{$}", "")
	ids := slices.Collect(func(yield func(string) bool) {
		for id := range w.ids {
			if !yield(id) {
				return
			}
		}
	})
	slices.Sort(ids)
	for _, name := range r.wildcards() {
		var v string
		switch name {
		case "id":
			v = bbPick(rng, ids)
		case "token":
			v = bbPick(rng, w.links)
		case "slug":
			v = bbPick(rng, []string{"acme", "globex", "nosuch"})
		default:
			v = "x"
		}
		p = strings.Replace(p, "{"+name+"}", url.PathEscape(v), 1)
	}
	if strings.HasSuffix(p, "/") && r.method == "" || r.pattern == "GET /static/" {
		p += bbPick(rng, []string{"", "x", "app.css", "nope/deeper", "%2e%2e/%2e%2e/etc/passwd", url.PathEscape("関所")})
	}
	return p
}

// credentials gives the request a session (bearer token or cookie), a
// garbage one, or none; a pending sign-in flow on the pages.
func (w *bbWorld) credentials(rng *rand.Rand, q *bbReq) {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range w.sessions {
			if !yield(k) {
				return
			}
		}
	})
	var tok string
	switch rng.IntN(8) {
	case 0, 1: // none
	case 2:
		tok = base64.RawURLEncoding.EncodeToString(bbBytes(rng, 32)) // well-formed, never issued
	default:
		tok = w.sessions[bbPick(rng, names)]
	}
	var cookies []string
	if tok != "" {
		if q.route.api && rng.IntN(5) > 0 {
			q.header.Set("Authorization", "Bearer "+tok)
		} else {
			cookies = append(cookies, "sekisho_session="+tok)
		}
	}
	if strings.Contains(q.route.path, "/sign-in/") && rng.IntN(3) > 0 {
		cookies = append(cookies, "sekisho_flow="+w.flows[bbPick(rng, []string{"m", "e"})])
	}
	if len(cookies) > 0 {
		q.header.Set("Cookie", strings.Join(cookies, "; "))
	}
}

// value is a plausible JSON value of type typ, never a real credential.
func (w *bbWorld) value(rng *rand.Rand, typ string) string {
	switch typ {
	case "boolean":
		return bbPick(rng, []string{"true", "false", "null"})
	case "integer":
		return bbPick(rng, []string{"0", "1", "7", "90", "91", "-1", "null", "100000"})
	}
	b, _ := json.Marshal(w.plain(rng))
	return string(b)
}

// plain is a string a client might send: names, emails, codes, random
// text; never a password or token in use.
func (w *bbWorld) plain(rng *rand.Rand) string {
	switch rng.IntN(12) {
	case 0:
		return ""
	case 1:
		return bbPick(rng, w.emails)
	case 2:
		return fmt.Sprintf("%06d", rng.IntN(1000000))
	case 3:
		return "ABCD-EFGH-JKMN-PQRS"
	case 4:
		return bbPick(rng, []string{"member", "user_admin", "workspace_admin", "root", "disabled", "active", "on", "ja", "en", "role", "disable", "enable"})
	case 5:
		return strings.Repeat("関所", 1+rng.IntN(80))
	case 6:
		return "' OR '1'='1'; --"
	case 7:
		return "<script>alert(1)</script>"
	case 8:
		return "\u202e\u200b\ufeff" + "x"
	case 9:
		return strings.Repeat("a", 90+rng.IntN(40))
	default:
		return base64.RawURLEncoding.EncodeToString(bbBytes(rng, 1+rng.IntN(24)))
	}
}

func bbBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// bbGarbage is a path segment that names nothing: long, encoded, binary.
func bbGarbage(rng *rand.Rand) string {
	switch rng.IntN(16) {
	case 0:
		return strings.Repeat("a", 5000)
	case 1:
		return strings.Repeat("9", 300)
	case 2:
		return url.PathEscape("ユーザー") + strings.Repeat("%E2%80%AE", 20)
	case 3:
		return "%00"
	case 4:
		return "%FF%FE"
	case 5:
		return "%C0%AF"
	case 6:
		return "%2e%2e%2f%2e%2e%2fworkspace"
	case 7:
		return "%2F"
	case 8:
		return "%25"
	case 9:
		return "'%20OR%20'1'='1"
	case 10:
		return "-1"
	case 11:
		return "00000000-0000-0000-0000-000000000000"
	case 12:
		return url.PathEscape(string(bbBytes(rng, 1+rng.IntN(40))))
	case 13:
		return "%7B%7D"
	case 14:
		return base64.RawURLEncoding.EncodeToString(bbBytes(rng, 32))
	default:
		return "x" + strconv.Itoa(rng.IntN(1000))
	}
}

// bbMutation changes a request; it returns false where it does not apply.
type bbMutation struct {
	name string
	fn   func(w *bbWorld, rng *rand.Rand, q *bbReq) bool
}

// jsonBody reports whether the request carries a JSON body (or should).
func (q *bbReq) jsonBody() bool { return !q.form }

var (
	// bbBreaking are the mutations that can make a request invalid;
	// generate applies them until it is.
	bbBreaking = []bbMutation{
		{"invalid JSON", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if !q.jsonBody() {
				return false
			}
			q.body = []byte(bbPick(rng, []string{`{"a":`, `{'a': 1}`, `{"a": 1,}`, `hello`, `{"a" 1}`, `{,}`, `}{`, `{"a":"b`,
				`{"a":tru}`, `{"a":01}`, `{"a":"\x"}`, `{"a":NaN}`, `{"a":-}`, "{\"a\":\"b\nc\"}", `[`, `{"a":[1,2}`}))
			return true
		}},
		{"truncated JSON", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			b := q.freeze()
			if !q.jsonBody() || len(b) < 2 || b[0] != '{' {
				return false
			}
			q.body = b[:1+rng.IntN(len(b)-1)]
			return true
		}},
		{"wrong type", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			b := w.bodies[q.route.pattern]
			if !q.jsonBody() || q.body != nil || b == nil || len(b.fields) == 0 {
				return false
			}
			f := bbPick(rng, b.fields)
			var wrong []string
			switch f.typ {
			case "string":
				wrong = []string{`1`, `true`, `{}`, `["a"]`, `1.5`, `{"a":"b"}`}
			case "boolean":
				wrong = []string{`"true"`, `1`, `{}`, `[]`, `"on"`, `0`}
			default:
				wrong = []string{`"5"`, `1.5`, `1e400`, `99999999999999999999`, `true`, `[]`, `{}`, `-0.0`}
			}
			q.pairs = append(q.pairs, bbPair{f.name, bbPick(rng, wrong)})
			return true
		}},
		{"unknown field", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if !q.jsonBody() || q.body != nil {
				return false
			}
			q.pairs = append(q.pairs, bbPair{bbPick(rng, []string{"zz_unknown", "workspace_id", "role_", "is_admin", "aal", "user_id"}),
				bbPick(rng, []string{`1`, `"x"`, `null`, `{"a":[1,{"b":null}]}`, `true`})})
			return true
		}},
		{"body over the limit", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			n := bbMaxBody + 1 + rng.IntN(bbMaxBody/4)
			if rng.IntN(50) == 0 {
				n = 1 << 20
			}
			switch {
			case q.form:
				q.body = []byte("name=" + strings.Repeat("a", n))
			case rng.IntN(2) == 0:
				q.body = []byte(`{"name":"` + strings.Repeat("関", n/3+1) + `"}`)
			default:
				q.body = bytes.Repeat([]byte{'{'}, n)
			}
			return true
		}},
		{"deep nesting", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if !q.jsonBody() {
				return false
			}
			n := 10001 + rng.IntN(20000)
			if rng.IntN(2) == 0 {
				q.body = []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
			} else {
				q.body = []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
			}
			return true
		}},
		{"invalid UTF-8", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			bad := bbPick(rng, []string{"\xff", "\xfe\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe3\x81", "\x80"})
			if q.form {
				q.pairs = append(q.pairs, bbPair{bbPick(rng, w.fields), "ok" + bad})
				return true
			}
			if q.body != nil {
				return false
			}
			if rng.IntN(2) == 0 || len(q.pairs) == 0 {
				q.pairs = append(q.pairs, bbPair{"name" + bad, `"x"`})
			} else {
				i := rng.IntN(len(q.pairs))
				q.pairs[i].v = `"a` + bad + `"`
			}
			return true
		}},
		{"NUL", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if q.form {
				q.pairs = append(q.pairs, bbPair{bbPick(rng, w.fields), "a\x00b"})
				return true
			}
			if q.body != nil {
				return false
			}
			v := bbPick(rng, []string{`"a\u0000b"`, `"\u0000"`, "\"a\x00b\""})
			if len(q.pairs) > 0 && rng.IntN(2) == 0 {
				q.pairs[rng.IntN(len(q.pairs))].v = v
			} else {
				q.pairs = append(q.pairs, bbPair{"email", v})
			}
			return true
		}},
		{"wrong media type", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if len(q.freeze()) == 0 {
				q.body = []byte(bbPick(rng, []string{`{}`, `a=b`, "--x--\r\n"}))
			}
			ct := bbPick(rng, []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
				"application/json-patch+json", "application/json;;;", "text/html; charset=\xff", "application/xml", "*/*", "json",
				"application/octet-stream", "application/json, text/plain"})
			if q.form {
				ct = bbPick(rng, []string{"application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded;;;",
					"application/octet-stream", "x-www-form-urlencoded", "text/html"})
			}
			q.header.Set("Content-Type", ct)
			return true
		}},
		{"trailing data", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			b := q.freeze()
			if !q.jsonBody() || len(b) == 0 {
				return false
			}
			q.body = append(append([]byte{}, b...), bbPick(rng, []string{`{}`, ` x`, "\n[]", `,`, `}`, ` "a"`})...)
			return true
		}},
		{"not an object", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if !q.jsonBody() {
				return false
			}
			q.body = []byte(bbPick(rng, []string{`[]`, `[{}]`, `"{}"`, `42`, `true`, `-1e999`, `"\u0000"`}))
			return true
		}},
		{"malformed form", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if !q.form {
				return false
			}
			b := q.freeze()
			bad := bbPick(rng, []string{"%zz", "%", "%G1", "a=%", "a;b=c", "name=x;y", "%%", "a=%e3%81"})
			q.body = append(append([]byte(bad+"&"), b...), []byte("&"+bad)...)
			return true
		}},
		{"garbage path parameter", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			names := q.route.wildcards()
			if len(names) == 0 {
				return false
			}
			// Rebuild the path with garbage in one wildcard, real values
			// in the others.
			path, query, _ := strings.Cut(q.target, "?")
			segs := strings.Split(path, "/")
			psegs := strings.Split(q.route.path, "/")
			if len(segs) < len(psegs) {
				return false
			}
			var at []int
			for i, s := range psegs {
				if strings.HasPrefix(s, "{") && s != "{$}" {
					at = append(at, i)
				}
			}
			segs[bbPick(rng, at)] = bbGarbage(rng)
			q.target = strings.Join(segs, "/")
			if query != "" {
				q.target += "?" + query
			}
			return true
		}},
		{"extra path segment", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			path, query, _ := strings.Cut(q.target, "?")
			path = strings.TrimSuffix(path, "/") + "/" + bbGarbage(rng)
			if query != "" {
				path += "?" + query
			}
			q.target = path
			return true
		}},
		{"wrong method", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			m := bbPick(rng, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "FOO", "get", "post"})
			if m == q.method {
				return false
			}
			q.method = m
			return true
		}},
		{"bad credentials", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			q.header.Del("Authorization")
			var keep []string
			for _, c := range strings.Split(q.header.Get("Cookie"), ";") {
				if c = strings.TrimSpace(c); c != "" && !strings.HasPrefix(c, "sekisho_session=") {
					keep = append(keep, c)
				}
			}
			q.header.Del("Cookie")
			if len(keep) > 0 {
				q.header.Set("Cookie", strings.Join(keep, "; "))
			}
			tok := base64.RawURLEncoding.EncodeToString(bbBytes(rng, 32))
			some := w.sessions[bbPick(rng, []string{"acme admin", "acme member with MFA"})]
			switch rng.IntN(12) {
			case 0:
				q.header.Set("Authorization", "Bearer")
			case 1:
				q.header.Set("Authorization", "Bearer ")
			case 2:
				q.header.Set("Authorization", "Bearer "+strings.Repeat("A", 10000))
			case 3:
				q.header.Set("Authorization", "Bearer "+some[:42])
			case 4:
				q.header.Set("Authorization", "Bearer "+tok)
			case 5:
				q.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin@acme.test:"+tok)))
			case 6:
				q.header.Set("Authorization", "Bearer 関所関所関所関所関所関所関所関所関所関所関所関所関所関所")
			case 7:
				q.header.Set("Authorization", "Bearer \xff\xfe"+tok[2:])
			case 8:
				q.header.Add("Cookie", "sekisho_session="+tok)
			case 9:
				q.header.Add("Cookie", "sekisho_session=\"\"; sekisho_session=;")
			case 10:
				q.header.Add("Cookie", "sekisho_session="+strings.Repeat("x", 8000))
			default:
				q.header.Set("Authorization", "Bearer "+tok+" "+tok)
			}
			return true
		}},
		{"cross-origin", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			switch rng.IntN(4) {
			case 0:
				q.header.Set("Sec-Fetch-Site", "cross-site")
			case 1:
				q.header.Set("Sec-Fetch-Site", "same-site")
			case 2:
				q.header.Set("Origin", "https://evil.example")
			default:
				q.header.Set("Origin", "null")
			}
			return true
		}},
	}

	// bbMutations are all mutations; most make a request odd without
	// making it invalid by themselves.
	bbMutations = append(append([]bbMutation{}, bbBreaking...),
		bbMutation{"garbage query", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			var parts []string
			for range 1 + rng.IntN(4) {
				k := bbPick(rng, []string{"cursor", "limit", "q", "role", "status", "mfa", "actor", "target", "type", "since", "until",
					"lang", "sent", "workspace", "x", "%FF", "%00", "a;b", ""})
				v := bbPick(rng, []string{"", "%FF%FE", "%00", "%zz", "1e3", "-1", "201", "99999999999999999999", "enabled", "ja",
					"2026-13-01T00:00:00Z", strings.Repeat("A", 5000), url.QueryEscape("' OR 1=1 --"), "a;b",
					base64.RawURLEncoding.EncodeToString([]byte("\xff\x00")), base64.RawURLEncoding.EncodeToString([]byte("-5")),
					base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("z", 100))), url.QueryEscape(string(bbBytes(rng, 12)))})
				parts = append(parts, k+"="+v)
			}
			path, _, _ := strings.Cut(q.target, "?")
			q.target = path + "?" + strings.Join(parts, "&")
			return true
		}},
		bbMutation{"odd path", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			path, query, _ := strings.Cut(q.target, "?")
			switch rng.IntN(6) {
			case 0:
				path = strings.Replace(path, "/", "//", 2)
			case 1:
				path += "/../" + bbPick(rng, []string{"admin", "api/v1/admin/workspace", "account"})
			case 2:
				path = strings.ToUpper(path)
			case 3:
				path += "/"
			case 4:
				path = "/" + strings.Repeat("a/", 2000) + path
			default:
				path = strings.Replace(path, "/", "/./", 1)
			}
			q.target = path
			if query != "" {
				q.target += "?" + query
			}
			return true
		}},
		bbMutation{"odd headers", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			switch rng.IntN(8) {
			case 0:
				q.header.Set("Accept-Language", bbPick(rng, []string{"ja;q=abc, en;q=-1", "*;q=2", strings.Repeat("ja,", 3000), "\xff\xfe",
					"en-US;q=0.9;q=0.1;x=y", ";;;,,,", "zz-ZZ, ja-JP;q=1e400", "ja;q=NaN"}))
			case 1:
				q.header.Set("User-Agent", bbPick(rng, []string{"\xff\xfe", strings.Repeat("Mozilla/5.0 ", 6000), "関所\xe9", ""}))
			case 2:
				q.header.Set("X-Forwarded-For", bbPick(rng, []string{"garbage", "1.2.3.4, , ::1, zz", strings.Repeat("10.0.0.1,", 2000),
					"999.999.999.999", "[::1]:80", "\xff", "203.0.113.7, 127.0.0.1"}))
			case 3:
				q.header.Set("Accept", bbPick(rng, []string{"text/html", "*/*;q=x", "application/json", "\xff"}))
			case 4:
				for i := range 100 + rng.IntN(300) {
					q.header.Add(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", rng.IntN(200)))
				}
			case 5:
				q.header.Set("X-Large", strings.Repeat("L", 100<<10+rng.IntN(200<<10)))
			case 6:
				q.header.Set("Content-Encoding", bbPick(rng, []string{"gzip", "br", "identity", "x"}))
			default:
				q.header.Set("Expect", "100-continue")
			}
			return true
		}},
		bbMutation{"odd cookies", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			c := bbPick(rng, []string{
				"sekisho_flash=ok|flash.signed_out|99999999999999999999", "sekisho_flash=error|flash.nope", "sekisho_flash=|||",
				"sekisho_lang=zz", "sekisho_lang=\xff", "sekisho_workspace=" + strings.Repeat("a", 5000), "sekisho_workspace=..%2F",
				"sekisho_flow=m:t:" + base64.RawURLEncoding.EncodeToString(bbBytes(rng, 32)), "sekisho_flow=e::", "sekisho_flow=x:y",
				"sekisho_flow=::::", ";;;;", "=x", "a=\"b", "関所=値", strings.Repeat("c=d; ", 2000), "sekisho_flash=" + strings.Repeat("|", 4000),
			})
			q.header.Add("Cookie", c)
			return true
		}},
		bbMutation{"duplicate field", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			if q.body != nil || len(q.pairs) == 0 {
				return false
			}
			p := bbPick(rng, q.pairs)
			if q.form {
				q.pairs = append(q.pairs, bbPair{p.k, w.plain(rng)})
			} else {
				q.pairs = append(q.pairs, bbPair{strings.ToUpper(p.k), p.v})
			}
			return true
		}},
		bbMutation{"wrong password", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			pw := "wrong " + base64.RawURLEncoding.EncodeToString(bbBytes(rng, 12))
			switch q.route.pattern {
			case "POST /api/v1/sign-in":
				q.body = nil
				q.pairs = []bbPair{{"workspace", `"acme"`}, {"email", strconv.Quote(bbPick(rng, w.emails))}, {"password", strconv.Quote(pw)}}
			case "POST /api/v1/session/reauthenticate":
				q.body = nil
				q.pairs = []bbPair{{"password", strconv.Quote(pw)}}
			case "POST /w/{slug}/sign-in":
				q.body = nil
				q.pairs = []bbPair{{"email", bbPick(rng, w.emails)}, {"password", pw}}
			default:
				return false
			}
			return true
		}},
		bbMutation{"chunked body", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			q.raw = append(q.raw, "chunked")
			return true
		}},
		bbMutation{"broken HTTP", func(w *bbWorld, rng *rand.Rand, q *bbReq) bool {
			q.raw = append(q.raw, bbPick(rng, []string{"nul header", "ctl header", "bad header name", "no colon", "bare LF", "folded header",
				"two lengths", "short length", "long length", "bad chunks", "raw bytes in path", "huge header", "space in path", "HTTP/1.0",
				"absolute URI", "no Host"}))
			return true
		}},
	)
)

// wire returns the request as the server reads it off the connection.
// For a probe (harmless) a body over the limit is cut short after the
// limit, which is as far as the server reads it.
func (w *bbWorld) wire(q *bbReq, probe bool) []byte {
	full := q.bytes()
	cut := full
	if probe && len(cut) > bbMaxBody+2 {
		cut = cut[:bbMaxBody+2]
	}
	if len(q.raw) == 0 {
		req, err := http.NewRequest(q.method, w.srv.URL+q.target, bytes.NewReader(cut))
		if err == nil {
			req.Header = q.header.Clone()
			var buf bytes.Buffer
			if err := req.Write(&buf); err == nil {
				return buf.Bytes()
			}
		}
		q.raw = append(q.raw, "as is") // no client sends it: write it by hand
	}
	body := full
	target := q.target
	host := "Host: " + strings.TrimPrefix(w.srv.URL, "http://") + "\r\n"
	proto := "HTTP/1.1"
	var extra []string
	length := fmt.Sprintf("Content-Length: %d\r\n", len(body))
	for _, d := range q.raw {
		switch d {
		case "nul header":
			extra = append(extra, "X-Junk: a\x00b")
		case "ctl header":
			extra = append(extra, "X-Junk: a\x01\x1bb")
		case "bad header name":
			extra = append(extra, "X Junk: 1")
		case "no colon":
			extra = append(extra, "X-Junk")
		case "folded header":
			extra = append(extra, "X-Junk: a\r\n  folded")
		case "two lengths":
			length += fmt.Sprintf("Content-Length: %d\r\n", len(body)+1)
		case "short length":
			if len(body) > 1 {
				length = fmt.Sprintf("Content-Length: %d\r\n", len(body)/2)
			}
		case "long length":
			length = fmt.Sprintf("Content-Length: %d\r\n", len(body)+10)
		case "chunked":
			length = "Transfer-Encoding: chunked\r\n"
			var b bytes.Buffer
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 1000)
				fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
				rest = rest[n:]
			}
			b.WriteString("0\r\n\r\n")
			body = b.Bytes()
		case "bad chunks":
			length = "Transfer-Encoding: chunked\r\n"
			body = []byte("zz\r\n" + string(body) + "\r\n0\r\n\r\n")
		case "raw bytes in path":
			target = strings.Replace(target, "/", "/\xff\xfe関", 1)
		case "space in path":
			target = strings.Replace(target, "/", "/a b", 1)
		case "huge header":
			extra = append(extra, "X-Huge: "+strings.Repeat("h", 1<<20+8192))
		case "HTTP/1.0":
			proto = "HTTP/1.0"
		case "absolute URI":
			target = "http://evil.example" + target
		case "no Host":
			host = ""
		}
	}
	var b bytes.Buffer
	b.WriteString(q.method + " " + target + " " + proto + "\r\n" + host)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q.header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range q.header[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	for _, x := range extra {
		b.WriteString(x + "\r\n")
	}
	b.WriteString(length + "Connection: close\r\n\r\n")
	if probe && len(body) > bbMaxBody+2 {
		body = body[:bbMaxBody+2]
	}
	b.Write(body)
	out := b.Bytes()
	if slices.Contains(q.raw, "bare LF") {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	return out
}

// harmless reports whether the server is bound to refuse the request
// before it acts, and why: by the route it reaches, by the request's
// framing, or by the validation every handler does first. It reads the
// request as the server will (http.ReadRequest off the same bytes) and
// routes it with a mux of the same patterns. What it can't be sure of
// counts as harmful, and generate breaks the request further.
func (w *bbWorld) harmless(q *bbReq) (bool, string) {
	sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(w.wire(q, true))))
	if err != nil {
		return true, "unreadable HTTP"
	}
	if sr.ProtoMajor != 1 || sr.Host == "" && sr.ProtoMinor == 1 {
		return true, "unreadable HTTP"
	}
	q.served = sr.URL.Path
	body, err := io.ReadAll(io.LimitReader(sr.Body, bbMaxBody+2))
	bodyErr := err != nil || len(body) > bbMaxBody
	w.hit = bbHit{vals: map[string]string{}}
	w.probe.ServeHTTP(httptest.NewRecorder(), sr)
	r, ok := w.byPat[w.hit.pattern]
	switch {
	case !ok:
		return true, "no route"
	case r.method == "":
		return true, "catch-all"
	case r.method == "GET" || r.pattern == "GET /static/":
		return true, "a read"
	}
	if w.csrf.Check(sr) != nil {
		return true, "cross-origin"
	}
	auth := strings.Join(sr.Header.Values("Authorization"), "\n") + "\n" + strings.Join(sr.Header.Values("Cookie"), "\n")
	hasSession := false
	for _, tok := range w.sessions {
		hasSession = hasSession || strings.Contains(auth, tok)
	}
	if (r.api && !w.public[r.pattern] || r.signedIn) && !hasSession {
		return true, "not signed in"
	}
	if id, ok := w.hit.vals["id"]; ok && !w.ids[strings.ToLower(strings.TrimSpace(id))] {
		return true, "no such id"
	}
	if tok, ok := w.hit.vals["token"]; ok && !slices.ContainsFunc(w.links, func(l string) bool { return strings.Contains(tok, l) }) {
		return true, "no such token"
	}
	if r.api {
		if b := w.bodies[r.pattern]; b != nil {
			if bodyErr || !jsonAccepted(sr.Header.Get("Content-Type"), body, b.fields) {
				return true, "bad body"
			}
			if w.wrongPasswordOnly(r.pattern, body, false) {
				return true, "wrong password"
			}
		}
		return false, ""
	}
	// A page's form post.
	if bodyErr || !formAccepted(sr, body) {
		return true, "bad form"
	}
	if strings.Contains(r.path, "/sign-in/") && !slices.ContainsFunc(w.flowToks, func(f string) bool { return strings.Contains(auth, f) }) {
		return true, "no sign-in flow"
	}
	if w.wrongPasswordOnly(r.pattern, body, true) {
		return true, "wrong password"
	}
	return false, ""
}

// jsonAccepted mirrors the strict decoding of the API (web/json.go): it
// reports false only for bodies that decoding refuses for sure.
func jsonAccepted(contentType string, body []byte, fields []contractField) bool {
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
			return false
		}
	}
	if !utf8.Valid(body) || bytes.Contains(body, []byte(`\u0000`)) {
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return false
	}
	obj, ok := v.(map[string]any)
	if v == nil {
		return true // null decodes as nothing at all
	}
	if !ok {
		return false
	}
	for k, val := range obj {
		var f *contractField
		ascii := true
		for i := range fields {
			if strings.EqualFold(fields[i].name, k) {
				f = &fields[i]
			}
		}
		for _, c := range k {
			ascii = ascii && c < utf8.RuneSelf
		}
		if f == nil {
			if ascii {
				return false // unknown field
			}
			continue // Unicode case folding: leave it to the server
		}
		if val == nil {
			continue
		}
		switch f.typ {
		case "string":
			if _, ok := val.(string); !ok {
				return false
			}
		case "boolean":
			if _, ok := val.(bool); !ok {
				return false
			}
		case "integer":
			n, ok := val.(json.Number)
			if !ok {
				return false
			}
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				return false
			}
		}
	}
	return true
}

// formAccepted is what a page takes as a form post: a body of
// application/x-www-form-urlencoded (or none) that parses, with the query,
// into UTF-8 text without NUL.
func formAccepted(sr *http.Request, body []byte) bool {
	ct := sr.Header.Get("Content-Type")
	if ct != "" || len(body) > 0 {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return false
		}
	}
	for _, raw := range []string{sr.URL.RawQuery, string(body)} {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return false
		}
		for k, vs := range v {
			for _, s := range append(vs, k) {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					return false
				}
			}
		}
	}
	return true
}

// wrongPasswordOnly: a sign-in or re-authentication whose only secret is
// a password nobody has fails, and may leave an audit event and a
// throttle count, which the run allows.
func (w *bbWorld) wrongPasswordOnly(pattern string, body []byte, form bool) bool {
	switch pattern {
	case "POST /api/v1/sign-in", "POST /api/v1/session/reauthenticate", "POST /w/{slug}/sign-in":
	default:
		return false
	}
	text := string(body)
	if form {
		v, err := url.ParseQuery(text)
		if err != nil {
			return false
		}
		text = fmt.Sprint(v)
		if v.Get("password") == "" {
			return false
		}
	} else {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return false
		}
		for k := range m {
			if !strings.EqualFold(k, "password") && !strings.EqualFold(k, "workspace") && !strings.EqualFold(k, "email") {
				return false
			}
		}
		if s, _ := m["password"].(string); s == "" {
			return false
		}
	}
	for _, pw := range w.passwords {
		if strings.Contains(text, pw) {
			return false
		}
	}
	return true
}

// bbRes is an answer.
type bbRes struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// send sends the request with the HTTP client, or over a connection of
// its own when it must go as it is.
func (w *bbWorld) send(q *bbReq) bbRes {
	wire := w.wire(q, false)
	if len(q.raw) > 0 {
		return w.sendRaw(q, wire)
	}
	req, err := http.NewRequest(q.method, w.srv.URL+q.target, bytes.NewReader(q.bytes()))
	if err != nil {
		return bbRes{err: err}
	}
	req.Header = q.header.Clone()
	res, err := w.client.Do(req)
	if err != nil {
		return bbRes{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return bbRes{status: res.StatusCode, header: res.Header, body: b, err: err}
}

func (w *bbWorld) sendRaw(q *bbReq, wire []byte) bbRes {
	conn, err := net.Dial("tcp", w.srv.Listener.Addr().String())
	if err != nil {
		return bbRes{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// The server may answer and close before it has read everything; a
	// body shorter than its Content-Length ends where the client stops.
	go func() {
		conn.Write(wire)
		conn.(*net.TCPConn).CloseWrite()
	}()
	method := q.method
	if method != "HEAD" {
		method = "GET"
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	for err == nil && res.StatusCode < 200 { // 100 Continue: the answer follows
		res, err = http.ReadResponse(br, &http.Request{Method: method})
	}
	if err != nil {
		return bbRes{err: err}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return bbRes{status: res.StatusCode, header: res.Header, body: b}
}

// checkAnswer: no 5xx; the API's refusals in its error format; the pages'
// as HTML pages.
func (w *bbWorld) checkAnswer(i int, q *bbReq, res bbRes) {
	t := w.t
	t.Helper()
	fail := func(format string, args ...any) {
		w.failures++
		t.Errorf("request #%d %s: "+format, append([]any{i, q}, args...)...)
	}
	if res.err != nil {
		// A connection closed on a request the server refused to read (a
		// broken one, or one whose body it did not wait for) is an answer;
		// on anything else it is a failure.
		if len(q.raw) == 0 && len(q.bytes()) <= bbMaxBody {
			fail("%v", res.err)
		}
		return
	}
	if res.status >= 500 {
		fail("%d %.400s", res.status, res.body)
		return
	}
	if res.status < 400 || q.method == "HEAD" || res.header.Get("X-Request-Id") == "" {
		return // not an error, or answered by net/http before routing
	}
	path := q.served
	ct := res.header.Get("Content-Type")
	if strings.HasPrefix(path, "/api/") || strings.HasPrefix(ct, "application/json") {
		r := resp{Status: res.status, Header: res.header, Raw: string(res.body)}
		if err := json.Unmarshal(res.body, &r.Body); err != nil {
			fail("%d, not JSON: %.300s", res.status, res.body)
			return
		}
		if msg := contractIsError(r); msg != "" {
			fail("%s: %.300s", msg, res.body)
		}
		return
	}
	if !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(path, "/static/") {
		fail("%d with Content-Type %q: %.300s", res.status, ct, res.body)
	}
}

// bbStats counts what the run sent and got.
type bbStats struct {
	status   map[int]int
	mutation map[string]int
	routes   map[string]int
}

func (s *bbStats) add(q *bbReq, res bbRes) {
	s.status[res.status]++
	s.routes[q.route.pattern]++
	for _, m := range q.what {
		s.mutation[m]++
	}
}

func (s *bbStats) summary() string {
	var st []string
	for k, v := range s.status {
		st = append(st, fmt.Sprintf("%d×%d", v, k))
	}
	sort.Strings(st)
	var ms []string
	for k, v := range s.mutation {
		ms = append(ms, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ms)
	return fmt.Sprintf("%d routes; answers %s; mutations: %s", len(s.routes), strings.Join(st, " "), strings.Join(ms, ", "))
}

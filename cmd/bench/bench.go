package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// report is everything one run measured.
type report struct {
	opts     *options
	started  time.Time
	took     time.Duration
	machine  machine
	argon    *argonResult
	floor    []*loadResult // session checks against the HTTP floor
	backends []*backendResult
}

// backendResult is what was measured on one database.
type backendResult struct {
	name      string
	seed      []timed
	sessions  []*loadResult
	signins   []*loadResult
	listUsers int
	list      []*listResult
	policy    []*policyResult
	scaleout  []*loadResult
	hwm       []int64 // VmHWM of the single instance at its end, KiB
	scaleHWM  []int64 // of each scale-out instance
	logs      []logCounts
}

// logCounts is what one server process wrote.
type logCounts struct {
	server                         string
	lines, errors, warnings, mails int64
	errorLines                     []string
}

func (s *server) counts(name string) logCounts {
	l := s.logs
	return logCounts{server: name, lines: l.lines.Load(), errors: l.errors.Load(), warnings: l.warnings.Load(), mails: l.mails.Load(), errorLines: l.errorLines()}
}

// errorCount is how many requests failed, whatever the reason.
func (r *report) errorCount() int {
	n := 0
	for _, x := range r.floor {
		n += x.errorCount()
	}
	for _, b := range r.backends {
		for _, l := range [][]*loadResult{b.sessions, b.signins, b.scaleout} {
			for _, x := range l {
				n += x.errorCount()
			}
		}
		for _, x := range b.list {
			n += x.errorCount()
		}
		for _, x := range b.policy {
			n += x.errorCount()
		}
	}
	return n
}

// serverErrors is how many error lines the servers logged.
func (r *report) serverErrors() int {
	n := 0
	for _, b := range r.backends {
		for _, l := range b.logs {
			n += int(l.errors)
		}
	}
	return n
}

type progress func(format string, args ...any)

// benchmark runs the chosen sections; progress goes to w.
func benchmark(ctx context.Context, o *options, w io.Writer) (*report, error) {
	rep := &report{opts: o, started: time.Now()}
	logf := progress(func(format string, args ...any) {
		fmt.Fprintf(w, "bench: %5.1fs "+format+"\n", append([]any{time.Since(rep.started).Seconds()}, args...)...)
	})
	rep.machine = describeMachine(ctx, o)
	if o.needs("argon2") {
		d := argonDuration(o.duration)
		logf("argon2id on %d cores for %s", rep.machine.cores, d)
		var err error
		if rep.argon, err = measureArgon2(ctx, d); err != nil {
			return nil, err
		}
	}
	if o.needs("floor") {
		var err error
		if rep.floor, err = measureFloor(ctx, o, logf); err != nil {
			return nil, err
		}
	}
	if len(o.backends) > 0 && o.needs("session", "signin", "list", "policy", "scaleout") {
		tmp, err := os.MkdirTemp("", "sekisho-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		// One hash of the password with the server's parameters, shared by
		// every seeded user: each sign-in still verifies at full cost. It is
		// made while the server builds.
		type hashed struct {
			hash string
			err  error
		}
		hc := make(chan hashed, 1)
		go func() {
			h, err := secret.NewHasher(secret.DefaultParams, 1).Hash(ctx, benchPassword)
			hc <- hashed{h, err}
		}()
		bin := o.sekisho
		if bin == "" {
			logf("building ./cmd/sekisho")
			bin, err = buildSekisho(ctx, tmp)
		}
		h := <-hc
		if err = errors.Join(err, h.err); err != nil {
			return nil, err
		}
		hash := h.hash
		key := make([]byte, 32)
		rand.Read(key)
		keys := "bench:" + base64.StdEncoding.EncodeToString(key)
		for _, name := range o.backends {
			b, err := runBackend(ctx, o, name, bin, filepath.Join(tmp, name), hash, keys, logf)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			rep.backends = append(rep.backends, b)
		}
	}
	rep.took = time.Since(rep.started)
	return rep, nil
}

// argonDuration is how long the raw argon2id rate is measured.
func argonDuration(d time.Duration) time.Duration {
	return min(max(d/2, 250*time.Millisecond), 5*time.Second)
}

func runBackend(ctx context.Context, o *options, name, bin, dir, hash, keySpec string, logf progress) (b *backendResult, err error) {
	b = &backendResult{name: name}
	dataDir := filepath.Join(dir, "data")
	dbURL := ""
	var pg *postgresDB
	if name == "postgres" {
		if pg, err = createPostgresDB(ctx, o.postgresURL); err != nil {
			return nil, err
		}
		defer func() {
			if dropErr := pg.drop(); dropErr != nil {
				err = errors.Join(err, fmt.Errorf("drop database %s: %w", pg.name, dropErr))
			}
		}()
		dbURL = pg.url
		logf("%s: database %s", name, pg.name)
	}

	f, err := seedDatabase(ctx, o, dbURL, dataDir, hash, keySpec, logf, name)
	if err != nil {
		return nil, err
	}
	if pg != nil {
		if err := pg.analyze(ctx); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
	}
	b.seed = f.steps

	if o.needs("session", "signin", "list", "policy") {
		srv, err := startServer(ctx, bin, dataDir, dbURL, keySpec)
		if err != nil {
			return nil, err
		}
		err = b.single(ctx, o, srv, f, logf)
		if _, hwm, perr := procStatus(srv.pid()); perr == nil {
			b.hwm = []int64{hwm}
		}
		err = errors.Join(err, srv.stop())
		b.logs = append(b.logs, srv.counts("single"))
		if err != nil {
			return nil, err
		}
	}
	if name == "postgres" && o.needs("scaleout") {
		if err := b.scaleOut(ctx, o, bin, dir, dbURL, keySpec, f, logf); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func seedDatabase(ctx context.Context, o *options, dbURL, dataDir, hash, keySpec string, logf progress, name string) (*fixture, error) {
	logf("%s: seeding", name)
	db, err := store.Open(ctx, dbURL, dataDir)
	if err != nil {
		return nil, err
	}
	keys, err := secret.ParseKeyring(keySpec)
	if err != nil {
		db.Close()
		return nil, err
	}
	f, err := seedFixture(ctx, db, keys, hash, o)
	if err = errors.Join(err, db.Close()); err != nil {
		return nil, err
	}
	for _, s := range f.steps {
		logf("%s: seeded %s in %s", name, s.what, s.took.Round(time.Millisecond))
	}
	return f, nil
}

// single runs the sections that measure one server instance.
func (b *backendResult) single(ctx context.Context, o *options, srv *server, f *fixture, logf progress) error {
	one := []*server{srv}
	if o.needs("session") {
		for _, n := range o.connections {
			logf("%s: session checks, %d connections, %s", b.name, n, o.duration)
			b.sessions = append(b.sessions, sessionLoad(ctx, one, f.tokens, n, o.duration))
		}
	}
	if o.needs("signin") {
		pool := &totpPool{users: f.totpUsers}
		for _, p := range []*totpPool{nil, pool} {
			for _, n := range o.clients {
				logf("%s: sign-ins (TOTP %v), %d clients, %s", b.name, p != nil, n, o.duration)
				b.signins = append(b.signins, signInLoad(ctx, one, f, p, n, o.duration))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	admins := map[string]string{} // slug → session token
	if o.needs("list") {
		logf("%s: admin user list of %d users", b.name, f.big.users)
		b.listUsers = f.big.users
		list, err := measureList(srv, f.big, admins, o.requests)
		if err != nil {
			return err
		}
		b.list = list
	}
	if o.needs("policy") {
		for _, ws := range []*seededWorkspace{f.small, f.big} {
			logf("%s: Require MFA on %d users", b.name, ws.users)
			p, err := measurePolicy(ctx, srv, ws, admins, policyToggles(o.requests))
			if err != nil {
				return err
			}
			b.policy = append(b.policy, p)
		}
	}
	return ctx.Err()
}

// policyToggles is how often Require MFA is turned on and off per
// workspace: each time on notifies every user without MFA by email.
func policyToggles(requests int) int { return min(max(requests/40, 1), 5) }

// scaleOut compares one instance with three on the same database.
func (b *backendResult) scaleOut(ctx context.Context, o *options, bin, dir, dbURL, keys string, f *fixture, logf progress) (err error) {
	var servers []*server
	defer func() {
		for i, s := range servers {
			if _, hwm, perr := procStatus(s.pid()); perr == nil {
				b.scaleHWM = append(b.scaleHWM, hwm)
			}
			err = errors.Join(err, s.stop())
			b.logs = append(b.logs, s.counts(fmt.Sprintf("scale-out %d", i+1)))
		}
	}()
	for i := range 3 {
		s, err := startServer(ctx, bin, filepath.Join(dir, fmt.Sprintf("scale%d", i)), dbURL, keys)
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}
	conns := scaleConnections(o.connections)
	clients := o.clients[len(o.clients)-1]
	for _, n := range []int{1, 3} {
		for _, c := range conns {
			logf("%s: scale-out, %d instances, session checks, %d connections", b.name, n, c)
			b.scaleout = append(b.scaleout, sessionLoad(ctx, servers[:n], f.tokens, c, o.duration))
		}
		logf("%s: scale-out, %d instances, password sign-ins, %d clients", b.name, n, clients)
		b.scaleout = append(b.scaleout, signInLoad(ctx, servers[:n], f, nil, clients, o.duration))
	}
	return ctx.Err()
}

// scaleConnections are the session-check levels of the scale-out: the
// concurrent ones (one connection can't use a second instance).
func scaleConnections(levels []int) []int {
	var out []int
	for _, n := range levels {
		if n > 1 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = levels[len(levels)-1:]
	}
	return out
}

// api is a sequential client for the admin calls, timing each.
type api struct {
	conn *httpConn
	addr string
	body []byte
}

func newAPI(addr string) *api { return &api{conn: newConn(addr), addr: addr} }

// call sends one request with a bearer token (if any) and a JSON body (if
// in is not nil); the answer's body is left in a.body.
func (a *api) call(method, path, token string, in any) (int, time.Duration, error) {
	var b []byte
	if in != nil {
		var err error
		if b, err = json.Marshal(in); err != nil {
			return 0, 0, err
		}
	}
	var hdr []string
	if token != "" {
		hdr = append(hdr, "Authorization: Bearer "+token)
	}
	req := request(method, a.addr, path, b, hdr...)
	start := time.Now()
	status, err := a.conn.do(req, &a.body)
	return status, time.Since(start), err
}

// must calls and decodes a 200 answer into out.
func (a *api) must(method, path, token string, in, out any) error {
	status, _, err := a.call(method, path, token, in)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status != 200 {
		return fmt.Errorf("%s %s: %s", method, path, failure(status, a.body))
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// adminSession signs the workspace's admin in with password and TOTP (an
// admin with MFA needs aal2 for the console), once per server.
func adminSession(a *api, ws *seededWorkspace, cache map[string]string) (string, error) {
	if t, ok := cache[ws.slug]; ok {
		return t, nil
	}
	var first signInAnswer
	if err := a.must("POST", "/api/v1/sign-in", "", map[string]string{"workspace": ws.slug, "email": ws.adminEmail, "password": benchPassword}, &first); err != nil {
		return "", err
	}
	if first.State != "mfa_required" {
		return "", fmt.Errorf("admin sign-in: state %q, want mfa_required", first.State)
	}
	var second signInAnswer
	code := totp.Code(ws.adminSeed, totp.StepAt(time.Now()))
	if err := a.must("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": first.FlowToken, "code": code}, &second); err != nil {
		return "", err
	}
	if second.State != "signed_in" {
		return "", fmt.Errorf("admin sign-in: state %q after the code", second.State)
	}
	cache[ws.slug] = second.SessionToken
	return second.SessionToken, nil
}

// listResult is one kind of admin-list request, repeated.
type listResult struct {
	what   string
	rows   int // users on the page
	hist   histogram
	errors map[string]int
}

func (l *listResult) errorCount() int {
	n := 0
	for _, c := range l.errors {
		n += c
	}
	return n
}

type userPage struct {
	Users      []json.RawMessage `json:"users"`
	NextCursor string            `json:"next_cursor"`
}

// listPage requests one page and returns it with its latency.
func (a *api) listPage(token, query, cursor string) (*userPage, time.Duration, string) {
	path := "/api/v1/admin/users?" + query
	if cursor != "" {
		path += "&cursor=" + url.QueryEscape(cursor)
	}
	status, took, err := a.call("GET", path, token, nil)
	if err != nil {
		return nil, took, connFailure(err)
	}
	if status != 200 {
		return nil, took, failure(status, a.body)
	}
	var p userPage
	if err := json.Unmarshal(a.body, &p); err != nil {
		return nil, took, "200 with bad JSON"
	}
	return &p, took, ""
}

// walk pages through the whole list matching query, timing every page,
// and returns the cursors it was handed, in order.
func (a *api) walk(what, token, query string, want int) (*listResult, []string) {
	r := &listResult{what: what, errors: map[string]int{}}
	var cursors []string
	cursor, total := "", 0
	for {
		p, took, fail := a.listPage(token, query, cursor)
		if fail != "" {
			r.errors[fail]++
			return r, cursors
		}
		r.hist.record(took)
		total += len(p.Users)
		r.rows = max(r.rows, len(p.Users))
		if p.NextCursor == "" {
			break
		}
		cursors = append(cursors, p.NextCursor)
		cursor = p.NextCursor
	}
	if total != want {
		r.errors[fmt.Sprintf("walk found %d users, want %d", total, want)]++
	}
	return r, cursors
}

// repeat requests the same page n times.
func (a *api) repeat(what, token, query, cursor string, n int) *listResult {
	r := &listResult{what: what, errors: map[string]int{}}
	for range n {
		p, took, fail := a.listPage(token, query, cursor)
		if fail != "" {
			r.errors[fail]++
			continue
		}
		r.hist.record(took)
		r.rows = len(p.Users)
	}
	return r
}

// at returns the cursor of the page at fraction q of a walk: page k > 0
// of the walk was asked for with cursors[k-1].
func at(cursors []string, q float64) string {
	if len(cursors) == 0 {
		return ""
	}
	k := int(q * float64(len(cursors)+1))
	return cursors[min(max(k, 1), len(cursors))-1]
}

// measureList walks the admin list of ws, whole and filtered, then asks
// for pages at its start, middle and end n times each.
func measureList(srv *server, ws *seededWorkspace, admins map[string]string, n int) ([]*listResult, error) {
	a := newAPI(srv.addr)
	defer a.conn.Close()
	token, err := adminSession(a, ws, admins)
	if err != nil {
		return nil, err
	}
	walkAll, all := a.walk("walk the whole list, 200 a page", token, "limit=200", ws.users)
	walkNoMFA, noMFA := a.walk("walk mfa=disabled, 200 a page", token, "mfa=disabled&limit=200", ws.withoutMFA)
	// The search matches the last member only, so it reads every row.
	last := fmt.Sprintf("u%06d", ws.users-2)
	out := []*listResult{
		a.repeat("first page (50)", token, "", "", n),
		a.repeat("page at 50 % of the walk", token, "", at(all, 0.5), n),
		a.repeat("page at 90 % of the walk", token, "", at(all, 0.9), n),
		a.repeat("mfa=disabled, first page", token, "mfa=disabled", "", n),
		a.repeat("mfa=disabled, page at 90 %", token, "mfa=disabled", at(noMFA, 0.9), n),
		a.repeat("mfa=enabled, first page", token, "mfa=enabled", "", n),
		a.repeat("role=workspace_admin (1 match)", token, "role=workspace_admin", "", n),
		a.repeat("q="+last+" (substring search, 1 match)", token, "q="+last, "", max(n/10, 3)),
		walkAll, walkNoMFA,
	}
	return out, nil
}

// policyResult is Require MFA turned on and off in one workspace.
type policyResult struct {
	users, withoutMFA int
	on, off           histogram
	errors            map[string]int
	// The emails that turning it on sends in the background, one per user
	// without MFA: how many the server printed, and the slowest run.
	mailed     int64
	mailTook   time.Duration
	mailMissed bool
}

func (p *policyResult) errorCount() int {
	n := 0
	for _, c := range p.errors {
		n += c
	}
	return n
}

// notifyTimeout bounds the wait for the background notifications.
const notifyTimeout = 2 * time.Minute

// setPolicy turns Require MFA on or off as the console does: a sensitive
// change, so when the server asks for a fresh credential the client
// re-authenticates with the password and sends the change again. Only the
// change itself is timed.
func (a *api) setPolicy(token string, on bool) (time.Duration, int, string) {
	var took time.Duration
	for attempt := 0; ; attempt++ {
		status, t, err := a.call("PATCH", "/api/v1/admin/workspace", token, map[string]bool{"require_mfa": on})
		took = t
		if err != nil {
			return took, 0, connFailure(err)
		}
		if status == 200 {
			break
		}
		fail := failure(status, a.body)
		if attempt > 0 || fail != "403 reauthentication_required" {
			return took, 0, fail
		}
		if err := a.must("POST", "/api/v1/session/reauthenticate", token, map[string]string{"password": benchPassword}, nil); err != nil {
			return took, 0, "reauthenticate: " + err.Error()
		}
	}
	var w struct {
		RequireMFA      bool `json:"require_mfa"`
		UsersWithoutMFA int  `json:"users_without_mfa"`
	}
	if err := json.Unmarshal(a.body, &w); err != nil || w.RequireMFA != on {
		return took, 0, "200 without the change"
	}
	return took, w.UsersWithoutMFA, ""
}

func measurePolicy(ctx context.Context, srv *server, ws *seededWorkspace, admins map[string]string, toggles int) (*policyResult, error) {
	a := newAPI(srv.addr)
	defer a.conn.Close()
	token, err := adminSession(a, ws, admins)
	if err != nil {
		return nil, err
	}
	r := &policyResult{users: ws.users, withoutMFA: ws.withoutMFA, errors: map[string]int{}}
	for range toggles {
		before := srv.logs.mails.Load()
		took, without, fail := a.setPolicy(token, true)
		if fail != "" {
			r.errors["on: "+fail]++
			continue
		}
		r.on.record(took)
		if without != ws.withoutMFA {
			r.errors[fmt.Sprintf("on: users_without_mfa %d, want %d", without, ws.withoutMFA)]++
		}
		start := time.Now()
		for srv.logs.mails.Load()-before < int64(without) && time.Since(start) < notifyTimeout && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		r.mailed = srv.logs.mails.Load() - before
		if r.mailed < int64(without) {
			r.mailMissed = true
		}
		r.mailTook = max(r.mailTook, time.Since(start))
		took, _, fail = a.setPolicy(token, false)
		if fail != "" {
			r.errors["off: "+fail]++
			continue
		}
		r.off.record(took)
	}
	return r, ctx.Err()
}

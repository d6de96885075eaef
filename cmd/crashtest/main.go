// Command crashtest kills sekisho with SIGKILL under concurrent write load,
// hundreds of times, and checks after every restart that what the clients
// were told happened did happen, and that nothing happened by halves.
//
// It builds the real sekisho binary, creates a workspace with the operator
// CLI, and runs `sekisho serve` as a child process over one data folder
// (SQLite) or one fresh PostgreSQL database. Each cycle, workers sign in
// (password, TOTP code, recovery code), enroll authenticators, regenerate
// recovery codes, sign out, and as admins reset MFA and change roles and
// status; after a random delay the server is killed. Every request that got
// its answer is written into a client-side ledger (the model); the one
// request per worker in flight at the kill may or may not have happened.
// After the restart the checker reads the database in one transaction and
// requires, for every user, exactly the ledger's state, or the ledger's
// state with the request in flight applied: role, status, authenticators
// and the last TOTP step each accepted, recovery codes used and unused,
// sessions, and the number of audit events of each kind. It also checks
// rules that hold whatever the ledger says (the last role or MFA event
// matches the user; has_mfa matches the authenticators; the audit log only
// grows; PRAGMA integrity_check and foreign_key_check on SQLite), that no
// notification email was lost (for every user and kind, the mail lines in
// serve.log plus the outbox rows are at least the committed audit events
// that call for that mail; see mail.go), and through the API that
// acknowledged sessions work, revoked ones don't, and used TOTP and
// recovery codes are refused.
//
// Usage:
//
//	go run ./cmd/crashtest [-db sqlite|postgres|both] [-cycles N] [-workers N] [-users N] [-seed N]
//		[-postgres-url URL] [-keep-dir DIR] [-min-kill D] [-max-kill D] [-sekisho BIN] [-v]
//
// It exits with status 1 after the first cycle with a finding.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type config struct {
	DB          string
	Cycles      int
	Workers     int
	Users       int
	Seed        uint64
	PostgresURL string
	KeepDir     string
	Bin         string
	MinKill     time.Duration
	MaxKill     time.Duration
	Replays     int
	Verbose     bool
}

// errFindings is returned when a check failed; the findings are printed.
var errFindings = errors.New("findings (see above)")

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("crashtest", flag.ContinueOnError)
	fs.SetOutput(out)
	var cfg config
	fs.StringVar(&cfg.DB, "db", "both", "`backend`: sqlite, postgres or both")
	fs.IntVar(&cfg.Cycles, "cycles", 300, "kills per backend")
	fs.IntVar(&cfg.Workers, "workers", 4, "concurrent clients")
	fs.IntVar(&cfg.Users, "users", 24, "users in the pool the workers act on")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock); timing still varies between runs")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", defaultPostgresURL(), "PostgreSQL server on which a fresh database is created and dropped (env SEKISHO_TEST_POSTGRES_URL)")
	fs.StringVar(&cfg.KeepDir, "keep-dir", "", "keep the data folders (and the PostgreSQL database) here instead of deleting them")
	fs.StringVar(&cfg.Bin, "sekisho", "", "a sekisho binary to test instead of building ./cmd/sekisho")
	fs.DurationVar(&cfg.MinKill, "min-kill", 20*time.Millisecond, "shortest time from the moment every worker has had an answer to the kill")
	fs.DurationVar(&cfg.MaxKill, "max-kill", 5*time.Second, "longest time from the moment every worker has had an answer to the kill (log-uniform between the two)")
	fs.IntVar(&cfg.Replays, "replays", 1, "used TOTP codes and used recovery codes replayed through the API after each restart")
	fs.BoolVar(&cfg.Verbose, "v", false, "print every cycle")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || cfg.Cycles < 1 || cfg.Workers < 1 || cfg.Users < cfg.Workers || cfg.MinKill <= 0 || cfg.MaxKill < cfg.MinKill {
		fs.Usage()
		return fmt.Errorf("bad arguments: want -cycles ≥ 1, -users ≥ -workers ≥ 1, 0 < -min-kill ≤ -max-kill: %w", flag.ErrHelp)
	}
	var backends []string
	switch cfg.DB {
	case "sqlite", "postgres":
		backends = []string{cfg.DB}
	case "both":
		backends = []string{"sqlite", "postgres"}
	default:
		return fmt.Errorf("-db %q: want sqlite, postgres or both: %w", cfg.DB, flag.ErrHelp)
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}

	tmp, err := os.MkdirTemp("", "sekisho-crashtest-")
	if err != nil {
		return err
	}
	keep := false // after a finding, for the server's log and the database
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()
	if cfg.Bin == "" {
		start := time.Now()
		if cfg.Bin, err = buildServer(ctx, tmp, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "built sekisho in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	for i, b := range backends {
		r := &runner{cfg: cfg, backend: b, out: out, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
		if err := r.run(ctx, tmp); err != nil {
			r.report()
			if errors.Is(err, errFindings) && cfg.KeepDir == "" {
				keep = true
				fmt.Fprintf(out, "kept the data folder %s; serve.log there has the server's output\n", r.dir)
			}
			return err
		}
		r.report()
	}
	return nil
}

func defaultPostgresURL() string {
	if u := os.Getenv("SEKISHO_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// runner is one backend's run.
type runner struct {
	cfg     config
	backend string
	out     io.Writer
	rng     *rand.Rand

	dir   string
	srv   *server
	base  string
	pg    *sql.DB
	slug  string
	wsID  string
	users []*user
	// admins act on the pool; only their sessions are modelled.
	admins []*user

	mu       sync.Mutex
	findings []string
	warnings []string // server errors: outcome unknown, checked like a kill

	auditCount, auditMax int64
	mail                 mailCheck
	stats                stats
}

type stats struct {
	cycles               int
	start                time.Time
	duration             time.Duration
	acked                map[string]int
	refused              int
	inflight             int
	done, undone, unseen int
	replays              int
	ready, load          []time.Duration
	checks               time.Duration
}

func (r *runner) finding(cycle int, format string, args ...any) {
	msg := fmt.Sprintf("%s cycle %d: ", r.backend, cycle) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings = append(r.findings, msg)
	fmt.Fprintln(r.out, "FINDING:", msg)
}

// warn records something worth a look that is not a violation.
func (r *runner) warn(cycle int, format string, args ...any) {
	msg := fmt.Sprintf("%s cycle %d: ", r.backend, cycle) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, msg)
	fmt.Fprintln(r.out, "WARNING:", msg)
}

func (r *runner) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.findings) > 0
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "%s: "+format+"\n", append([]any{r.backend}, args...)...)
}

func (r *runner) run(ctx context.Context, tmp string) (err error) {
	r.stats = stats{start: time.Now(), acked: map[string]int{}}
	defer func() { r.stats.duration = time.Since(r.stats.start) }()
	r.dir = filepath.Join(tmp, r.backend)
	if r.cfg.KeepDir != "" {
		r.dir = filepath.Join(r.cfg.KeepDir, r.backend)
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	if entries, _ := os.ReadDir(r.dir); len(entries) > 0 {
		return fmt.Errorf("%s is not empty", r.dir)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(r.dir, "serve.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	r.srv = &server{bin: r.cfg.Bin, dir: r.dir, addr: addr, log: log}
	r.base = "http://" + addr
	defer r.srv.kill()
	if r.backend == "postgres" {
		// Not :=, which would declare an err of this block: the deferred
		// function must see the one run returns, to keep the database
		// after a finding.
		var dbURL, name string
		var drop func() error
		dbURL, name, drop, err = createPostgres(ctx, r.cfg.PostgresURL)
		if err != nil {
			return err
		}
		r.srv.dbURL = dbURL
		if r.cfg.KeepDir != "" {
			r.logf("database %s kept", name)
		} else {
			defer func() {
				r.srv.kill()
				if errors.Is(err, errFindings) {
					r.logf("database %s kept for inspection (drop it when done)", name)
					return
				}
				if derr := drop(); derr != nil && err == nil {
					err = fmt.Errorf("drop database %s: %w", name, derr)
				}
			}()
		}
		if r.pg, err = sql.Open("pgx", dbURL); err != nil {
			return err
		}
		defer r.pg.Close()
	}
	r.logf("data folder %s, seed %d", r.dir, r.cfg.Seed)

	if err := r.setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := r.check(ctx, 0, nil); err != nil {
		return err
	}
	for cycle := 1; cycle <= r.cfg.Cycles; cycle++ {
		inflight, err := r.loadAndKill(ctx, cycle)
		if err != nil {
			return err
		}
		ready, err := r.srv.start(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.finding(cycle, "restart after the kill: %v", err)
				return errFindings
			}
			return err
		}
		r.stats.ready = append(r.stats.ready, ready)
		if err := r.check(ctx, cycle, inflight); err != nil {
			return err
		}
		r.stats.cycles = cycle
		if !r.cfg.Verbose && cycle%25 == 0 {
			r.logf("%d cycles, %s", cycle, time.Since(r.stats.start).Round(time.Second))
		}
	}
	return r.srv.stop()
}

var invitationToken = regexp.MustCompile(`/invitations/([A-Za-z0-9_-]{43})`)

// setup creates the workspace with the operator CLI, starts the server, and
// through the API accepts the admin's invitation, invites a second admin
// and the pool, and enrolls a third of the pool.
func (r *runner) setup(ctx context.Context) error {
	r.slug = "crash"
	out, err := r.srv.cli(ctx, "workspaces", "create", "--slug", r.slug, "--name", "Crash test",
		"--admin-email", "admin1@crash.test", "--reason", "crash test setup")
	if err != nil {
		return err
	}
	m := invitationToken.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no invitation link in %q", out)
	}
	if _, err := r.srv.start(ctx); err != nil {
		return err
	}
	a := r.newAgent(0, r.rng)
	defer a.c.close()
	accept := func(email, role, link string) (*user, error) {
		m := invitationToken.FindStringSubmatch(link)
		if m == nil {
			return nil, fmt.Errorf("no invitation token in %q", link)
		}
		password := fmt.Sprintf("sunlit orchard lantern %x", r.rng.Uint64())
		res, err := a.c.do(ctx, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": m[1], "password": password})
		if err != nil {
			return nil, err
		}
		if res.status != 200 {
			return nil, fmt.Errorf("accept invitation of %s: %d %s", email, res.status, res.raw)
		}
		id, _ := res.body["user"].(map[string]any)["id"].(string)
		return newUser(id, email, password, role), nil
	}
	admin, err := accept("admin1@crash.test", "workspace_admin", m[0])
	if err != nil {
		return err
	}
	r.admins = []*user{admin}
	if err := r.refreshAdmins(ctx, a); err != nil {
		return err
	}
	res, err := a.c.do(ctx, "GET", "/api/v1/session", admin.sessions[0].token, nil)
	if err != nil {
		return err
	}
	ws, _ := res.body["workspace"].(map[string]any)
	r.wsID, _ = ws["id"].(string)
	invite := func(email, role string) (*user, error) {
		res, err := a.c.do(ctx, "POST", "/api/v1/admin/users", admin.sessions[0].token, map[string]string{"email": email, "role": role})
		if err != nil {
			return nil, err
		}
		if res.status != 201 {
			return nil, fmt.Errorf("invite %s: %d %s", email, res.status, res.raw)
		}
		return accept(email, role, res.str("invitation_url"))
	}
	admin2, err := invite("admin2@crash.test", "workspace_admin")
	if err != nil {
		return err
	}
	r.admins = append(r.admins, admin2)
	for i := range r.cfg.Users {
		u, err := invite(fmt.Sprintf("user%02d@crash.test", i+1), "member")
		if err != nil {
			return err
		}
		r.users = append(r.users, u)
	}
	if err := r.refreshAdmins(ctx, a); err != nil {
		return err
	}
	// Enroll every third user, in parallel as the server hashes two at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		b := r.newAgent(0, rand.New(rand.NewPCG(r.cfg.Seed, uint64(100+w))))
		wg.Go(func() {
			defer b.c.close()
			for i := w * 3; i < len(r.users); i += 6 {
				if errs[w] = b.enroll(ctx, r.users[i]); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if r.failed() {
		return errFindings
	}
	return nil
}

// refreshAdmins signs the admins in again when their sessions are too old
// for an MFA reset (which needs a sign-in in the last 5 minutes).
func (r *runner) refreshAdmins(ctx context.Context, a *agent) error {
	for _, ad := range r.admins {
		if n := len(ad.sessions); n > 0 && time.Since(ad.sessions[n-1].authAt) < 2*time.Minute {
			continue
		}
		t, err := a.signIn(ctx, ad)
		if err != nil {
			return err
		}
		if t == "" {
			return fmt.Errorf("admin %s could not sign in", ad.email)
		}
		ad.sessions = ad.sessions[len(ad.sessions)-1:]
	}
	return nil
}

// adminToken returns the newest session token of a random admin.
func (r *runner) adminToken(rng *rand.Rand) string {
	ad := r.admins[rng.IntN(len(r.admins))]
	return ad.sessions[len(ad.sessions)-1].token
}

// loadAndKill runs the workers against the server and kills it after a
// random delay. It returns the requests left in flight, by user.
func (r *runner) loadAndKill(ctx context.Context, cycle int) (map[*user]*inflight, error) {
	workers := make([]*agent, r.cfg.Workers)
	owned := make([][]*user, r.cfg.Workers)
	for i, u := range r.users {
		w := (i + cycle) % r.cfg.Workers
		owned[w] = append(owned[w], u)
	}
	// The delay runs from the moment every worker has had an answer, so
	// that however slow the machine (a password hash takes 30 ms on an
	// idle core, ten times that on a busy one), kills fall among the
	// writes of every kind rather than all into the first hashes.
	acked := make(chan struct{})
	var mu sync.Mutex
	waiting := len(workers)
	var wg sync.WaitGroup
	for w := range workers {
		workers[w] = r.newAgent(cycle, rand.New(rand.NewPCG(r.rng.Uint64(), uint64(w))))
		first := true
		workers[w].onAck = func() {
			mu.Lock()
			defer mu.Unlock()
			if first {
				first = false
				if waiting--; waiting == 0 {
					close(acked)
				}
			}
		}
		// One worker is an admin at the console: its writes need no
		// password hash, so transactions commit all the time and kills
		// land among them, not only in the hashing of sign-ins.
		workers[w].admin = w == 0 && len(workers) > 1
		wg.Go(func() { workers[w].load(ctx, owned[w]) })
	}
	// Log-uniform: most kills come early, among the quick writes, and
	// some late enough for the slow ones (a first authenticator's ten
	// recovery-code hashes) to finish.
	ratio := float64(r.cfg.MaxKill) / float64(r.cfg.MinKill)
	delay := time.Duration(float64(r.cfg.MinKill) * math.Pow(ratio, r.rng.Float64()))
	start := time.Now()
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
	}
	r.srv.kill()
	r.stats.load = append(r.stats.load, time.Since(start))
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inflight := map[*user]*inflight{}
	nacked := 0
	for _, w := range workers {
		w.c.close()
		for k, n := range w.acked {
			r.stats.acked[k] += n
			nacked += n
		}
		r.stats.refused += w.refused
		if w.inflight != nil {
			inflight[w.inflight.u] = w.inflight
		}
	}
	if r.cfg.Verbose {
		var what []string
		for _, f := range inflight {
			what = append(what, f.what)
		}
		sort.Strings(what)
		r.logf("cycle %d: killed %s after every worker had an answer: %d acknowledged, in flight: %s", cycle, delay.Round(time.Millisecond), nacked, strings.Join(what, ", "))
	}
	return inflight, nil
}

// check verifies the database and the API after a restart (or after the
// setup, cycle 0), then signs the admins in again if needed.
func (r *runner) check(ctx context.Context, cycle int, inflight map[*user]*inflight) error {
	start := time.Now()
	defer func() { r.stats.checks += time.Since(start) }()
	db, err := r.openDB()
	if err != nil {
		return err
	}
	if r.backend == "sqlite" {
		defer db.Close()
		if err := r.integrity(ctx, db, cycle); err != nil {
			return fmt.Errorf("cycle %d: %w", cycle, err)
		}
	} else if err := r.waitQuiet(ctx, db); err != nil {
		return fmt.Errorf("cycle %d: %w", cycle, err)
	}
	s, err := r.snapshot(ctx, db)
	if err != nil {
		return fmt.Errorf("cycle %d: snapshot: %w", cycle, err)
	}
	if r.backend == "sqlite" {
		db.Close() // before the next kill, see openDB
	}
	r.invariants(cycle, s)
	r.compare(cycle, s, inflight)
	if err := r.checkMail(cycle, s); err != nil {
		return fmt.Errorf("cycle %d: %w", cycle, err)
	}
	a := r.newAgent(cycle, rand.New(rand.NewPCG(r.rng.Uint64(), 999)))
	defer a.c.close()
	if err := r.probe(ctx, a, cycle); err != nil {
		r.finding(cycle, "the server stopped answering the checks: %v", err)
	}
	if err := r.refreshAdmins(ctx, a); err != nil {
		r.finding(cycle, "sign the admins in: %v", err)
	}
	for _, u := range r.users {
		clear(u.pending) // what a later kill leaves pending expires unseen
	}
	if r.failed() {
		return errFindings
	}
	return nil
}

func (r *runner) report() {
	st := r.stats
	w := r.out
	fmt.Fprintf(w, "\n== %s: %d cycles in %s (seed %d, %d workers, %d users, kill %s–%s after every worker had an answer)\n",
		r.backend, st.cycles, st.duration.Round(time.Second), r.cfg.Seed, r.cfg.Workers, r.cfg.Users, r.cfg.MinKill, r.cfg.MaxKill)
	total := 0
	var kinds []string
	for k, n := range st.acked {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "acknowledged requests: %d (%s)\n", total, strings.Join(kinds, ", "))
	fmt.Fprintf(w, "in flight at a kill: %d — committed %d, rolled back %d, indistinguishable %d\n", st.inflight, st.done, st.undone, st.unseen)
	fmt.Fprintf(w, "refused as expected (throttled, stale TOTP step, full authenticator list): %d; replays refused: %d\n", st.refused, st.replays)
	fmt.Fprintf(w, "restart until /readyz: %s; load before the kill: %s; checks %s in all\n",
		spread(st.ready), spread(st.load), st.checks.Round(time.Millisecond))
	fmt.Fprintln(w, r.mail.report(st.cycles))
	if len(r.warnings) > 0 {
		fmt.Fprintf(w, "server errors (outcome unknown, checked like requests in flight at a kill): %d\n", len(r.warnings))
		for _, m := range r.warnings {
			fmt.Fprintln(w, "  -", m)
		}
	}
	if len(r.findings) == 0 {
		fmt.Fprintf(w, "findings: none\n")
	} else {
		fmt.Fprintf(w, "findings: %d\n", len(r.findings))
		for _, f := range r.findings {
			fmt.Fprintln(w, "  -", f)
		}
	}
}

// spread summarizes durations as median (min–max).
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %s (%s–%s)", s[len(s)/2].Round(time.Millisecond), s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

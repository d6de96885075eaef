// Command bench measures a real sekisho server and prints a Markdown
// report: session checks, sign-ins, the raw argon2id rate, the admin user
// list of a 100,000-user workspace, turning Require MFA on, server memory,
// and several instances on one PostgreSQL database.
//
// It builds cmd/sekisho, starts `sekisho serve` as a child process on a
// fresh SQLite data folder and on a fresh PostgreSQL database (dropped at
// the end), seeds the data straight through the store package, and drives
// the HTTP API with its own small keep-alive client. Run it from the
// repository root:
//
//	go run ./cmd/bench [-duration 10s] [-backends sqlite,postgres] [-only session,signin,…] [-out report.md]
//
// docs/benchmarks.md says what each measurement does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(floorEnv) != "" {
		if err := serveFloor(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: the HTTP floor:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sections are the measurements, in the order they run.
var sections = []string{"argon2", "floor", "session", "signin", "list", "policy", "scaleout"}

var backendNames = map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}

type options struct {
	args        []string
	backends    []string
	only        map[string]bool
	duration    time.Duration
	postgresURL string
	out         string
	sekisho     string
	cpuProfile  string
	users       int
	sessions    int
	signinUsers int
	requests    int
	connections []int
	clients     []int
}

// needs reports whether any of the sections runs.
func (o *options) needs(section ...string) bool {
	for _, s := range section {
		if o.only[s] {
			return true
		}
	}
	return false
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{args: args}
	backends := fs.String("backends", "sqlite,postgres", "databases to measure, comma-separated: sqlite, postgres")
	only := fs.String("only", strings.Join(sections, ","), "sections to run, comma-separated: "+strings.Join(sections, ", "))
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each session-check and sign-in load")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL server to create the benchmark's database on (dropped at the end)")
	fs.StringVar(&o.out, "out", "", "also write the report to this `file`")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile to this `file` (to check the client stays cheap)")
	fs.StringVar(&o.sekisho, "sekisho", "", "use this sekisho `binary` instead of building ./cmd/sekisho")
	fs.IntVar(&o.users, "users", 100_000, "users in the workspace whose admin list and policy change are measured")
	fs.IntVar(&o.sessions, "sessions", 1000, "distinct sessions the session checks go round")
	fs.IntVar(&o.signinUsers, "signin-users", 3000, "users of each kind (password, password+TOTP) the sign-ins go round; a TOTP user signs in at most once per 30 s")
	fs.IntVar(&o.requests, "requests", 200, "requests per admin-list measurement and per size for Require MFA")
	conns := fs.String("connections", "1,32,256", "keep-alive connections of the session-check loads")
	clients := fs.String("clients", "1,4,64", "concurrent clients of the sign-in loads")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./cmd/bench [flags]\n\n"+
			"Builds sekisho, runs `sekisho serve` on SQLite and on PostgreSQL, measures it and prints\n"+
			"a Markdown report. See docs/benchmarks.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, b := range splitList(*backends) {
		if backendNames[b] == "" {
			return nil, fmt.Errorf("-backends: unknown backend %q (want sqlite, postgres)", b)
		}
		if !slices.Contains(o.backends, b) {
			o.backends = append(o.backends, b)
		}
	}
	o.only = map[string]bool{}
	for _, s := range splitList(*only) {
		if !slices.Contains(sections, s) {
			return nil, fmt.Errorf("-only: unknown section %q (want %s)", s, strings.Join(sections, ", "))
		}
		o.only[s] = true
	}
	if len(o.only) == 0 {
		return nil, errors.New("-only: name at least one section")
	}
	if len(o.backends) == 0 && o.needs("session", "signin", "list", "policy", "scaleout") {
		return nil, errors.New("-backends: name at least one backend")
	}
	var err error
	if o.connections, err = intList("connections", *conns); err != nil {
		return nil, err
	}
	if o.clients, err = intList("clients", *clients); err != nil {
		return nil, err
	}
	switch {
	case o.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case o.users < 2:
		return nil, errors.New("-users must be at least 2 (the admin and one member)")
	case o.sessions < 1 || o.signinUsers < 1 || o.requests < 1:
		return nil, errors.New("-sessions, -signin-users and -requests must be at least 1")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func intList(name, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", name, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: give at least one number", name)
	}
	return out, nil
}

// run is the whole command; the report goes to stdout, progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := benchmark(ctx, o, stderr)
	if err != nil {
		return err
	}
	md := rep.markdown()
	if _, err := io.WriteString(stdout, md); err != nil {
		return err
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if n := rep.serverErrors(); n > 0 {
		fmt.Fprintf(stderr, "bench: the servers logged %d errors; see the report\n", n)
	}
	if n := rep.errorCount(); n > 0 {
		return fmt.Errorf("%d requests failed; see the report", n)
	}
	return nil
}

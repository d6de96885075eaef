package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
)

// testCLI runs sekisho in-process against one data folder, with an
// environment of its own so that SEKISHO_* variables of the machine running
// the tests change nothing.
type testCLI struct {
	t       *testing.T
	dataDir string
	env     map[string]string
	extra   []string // flags appended to every command, after --data-dir
}

func newTestCLI(t *testing.T) *testCLI {
	return &testCLI{t: t, dataDir: t.TempDir(), env: map[string]string{"USER": "alice"}}
}

// run runs `sekisho args… --data-dir D extra…` and returns its output.
func (c *testCLI) run(args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errOut lockedBuffer
	all := append([]string{"sekisho"}, args...)
	if len(args) > 0 && args[0] != "help" {
		all = append(all, "--data-dir", c.dataDir)
		all = append(all, c.extra...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, all, func(k string) string { return c.env[k] }, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (c *testCLI) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("sekisho %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fail runs a command that must fail and returns its error.
func (c *testCLI) fail(args ...string) error {
	c.t.Helper()
	out, _, err := c.run(args...)
	if err == nil {
		c.t.Fatalf("sekisho %s succeeded, want an error; stdout:\n%s", strings.Join(args, " "), out)
	}
	return err
}

// config returns the configuration the commands of c use.
func (c *testCLI) config() *config {
	c.t.Helper()
	f := newFlagSet("test", "", "", false)
	if err := f.Parse(append([]string{"--data-dir", c.dataDir}, c.extra...)); err != nil {
		c.t.Fatal(err)
	}
	cfg, err := f.config.load(func(k string) string { return c.env[k] })
	if err != nil {
		c.t.Fatal(err)
	}
	return cfg
}

// app opens the application over c's data folder, for tests that drive
// the service directly; it is closed when the test ends.
func (c *testCLI) app() *app {
	c.t.Helper()
	a, err := openApp(context.Background(), c.config(), io.Discard)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { a.close() })
	return a
}

// lockedBuffer is a bytes.Buffer that serve's goroutines and the test may
// use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var invitationLink = regexp.MustCompile(`(?m)^(\S+)/invitations/([A-Za-z0-9_-]{43})$`)

// link returns the invitation link's base and token in out, failing the
// test when there is none.
func link(t *testing.T, out string) (base, token string) {
	t.Helper()
	m := invitationLink.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no invitation link in output:\n%s", out)
	}
	return m[1], m[2]
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func TestUsage(t *testing.T) {
	c := newTestCLI(t)

	out := c.ok("help")
	for _, cmd := range []string{"serve", "migrate", "workspaces", "users", "audit", "keys"} {
		if !strings.Contains(out, "\n  "+cmd+" ") {
			t.Errorf("help does not list %s:\n%s", cmd, out)
		}
	}

	out = c.ok("users", "create", "-h")
	for _, want := range []string{"Usage: sekisho users create --workspace S --email E", "--reason", "--data-dir", "SEKISHO_DATA_DIR"} {
		if !strings.Contains(out, want) {
			t.Errorf("users create -h lacks %q:\n%s", want, out)
		}
	}
	if out2 := c.ok("help", "users", "create"); out2 != out {
		t.Errorf("help users create differs from users create -h:\n%s", out2)
	}
	if out := c.ok("help", "users"); !strings.Contains(out, "reset-mfa") {
		t.Errorf("help users does not list reset-mfa:\n%s", out)
	}
	if out := c.ok("serve", "-h"); !strings.Contains(out, "--trusted-proxies") || !strings.Contains(out, "same keys") {
		t.Errorf("serve -h lacks --trusted-proxies or the shared-keys note:\n%s", out)
	}
	if out := c.ok("users", "list", "-h"); strings.Contains(out, "  --addr ") {
		t.Errorf("--addr is offered outside serve:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "needs a command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"users"}, "reset-mfa"},
		{[]string{"users", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"users", "list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"users", "list"}, "--workspace is required"},
		{[]string{"users", "list", "--workspace", "x", "extra"}, `unexpected argument "extra"`},
		{[]string{"workspaces", "list", "--session-idle", "soon"}, `invalid value "soon" for flag -session-idle`},
		{[]string{"workspaces", "set-policy", "--workspace", "x", "--reason", "r"}, "nothing to change"},
	} {
		var err error
		if tc.args == nil {
			err = run(context.Background(), []string{"sekisho"}, func(string) string { return "" }, nil, io.Discard, io.Discard)
		} else {
			_, _, err = c.run(tc.args...)
		}
		if !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sekisho %v: got %v, want a usage error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// Every flag can come from its environment variable; a flag given on the
// command line wins over it.
func TestConfigFlagAndEnvironment(t *testing.T) {
	c := newTestCLI(t)
	c.env["SEKISHO_BASE_URL"] = "https://env.example.com/"
	out := c.ok("workspaces", "create", "--slug", "one", "--name", "One", "--admin-email", "a@one.example", "--reason", "test")
	if base, _ := link(t, out); base != "https://env.example.com" {
		t.Errorf("base URL from the environment: link base %q", base)
	}
	out = c.ok("users", "create", "--workspace", "one", "--email", "b@one.example", "--reason", "test", "--base-url", "https://flag.example.com")
	if base, _ := link(t, out); base != "https://flag.example.com" {
		t.Errorf("flag should win over the environment: link base %q", base)
	}

	// Without a base URL, links point at the listen address.
	delete(c.env, "SEKISHO_BASE_URL")
	c.env["SEKISHO_ADDR"] = "0.0.0.0:9000"
	out = c.ok("users", "create", "--workspace", "one", "--email", "c@one.example", "--reason", "test")
	if base, _ := link(t, out); base != "http://localhost:9000" {
		t.Errorf("base URL from a wildcard SEKISHO_ADDR: %q", base)
	}

	for _, tc := range []struct{ env, value, want string }{
		{"SEKISHO_SESSION_IDLE", "0s", "positive duration"},
		// last_seen_at moves once a minute: a shorter idle would end sessions in use.
		{"SEKISHO_SESSION_IDLE", "90s", "too short: use at least 5m0s"},
		{"SEKISHO_SESSION_IDLE", "4m59s", "too short: use at least 5m0s"},
		{"SEKISHO_SESSION_ABSOLUTE", "10m", "longer than the absolute"},
		{"SEKISHO_HASH_CONCURRENCY", "0", "positive number"},
		{"SEKISHO_LOG_LEVEL", "loud", "debug, info, warn or error"},
		{"SEKISHO_BASE_URL", "ftp://x", "base URL"},
		{"SEKISHO_DATABASE_URL", "mysql://x", "postgres://"},
	} {
		c.env[tc.env] = tc.value
		err := c.fail("workspaces", "list")
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want it to mention %q", tc.env, tc.value, err, tc.want)
		}
		delete(c.env, tc.env)
	}
	c.env["SEKISHO_SESSION_IDLE"] = "5m"
	c.ok("workspaces", "list")
	delete(c.env, "SEKISHO_SESSION_IDLE")
}

func TestParseCIDRs(t *testing.T) {
	got, err := parseCIDRs(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,,10.1.2.3/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Errorf("%d: got %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := parseCIDRs("10.0.0.0/33"); err == nil {
		t.Error("10.0.0.0/33 accepted")
	}
}

func TestMigrate(t *testing.T) {
	c := newTestCLI(t)
	out := c.ok("migrate")
	if !regexp.MustCompile(`Schema version [1-9]\d* \(migrated from 0\)`).MatchString(out) {
		t.Errorf("first migrate: %q", out)
	}
	if out := c.ok("migrate"); !strings.Contains(out, "nothing to migrate") {
		t.Errorf("second migrate: %q", out)
	}
}

// Errors of the service reach the operator with the command that failed.
func TestErrorsNameTheCommand(t *testing.T) {
	c := newTestCLI(t)
	err := c.fail("users", "list", "--workspace", "nope")
	if isUsage(err) || !strings.HasPrefix(err.Error(), "sekisho users list: ") || !strings.Contains(err.Error(), `no workspace has the slug "nope"`) {
		t.Errorf("got %v", err)
	}
}

// Operator actions are recorded under the OS user.
func TestOperatorName(t *testing.T) {
	if name := operatorName(func(string) string { return "" }); name == "" {
		t.Error("empty operator name")
	}
	a := (&cli{getenv: func(string) string { return "" }}).operator("  why  ")
	if a.Kind != sekisho.ActorOperator || a.Reason != "why" {
		t.Errorf("operator actor: %+v", a)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"日本語":            "日本語",
		"a\tb":           `a\u0009b`,
		"\x1b[31mred":    `\u001b[31mred`,
		"evil\u202etxt":  `evil\u202etxt`,
		"line\nbreak":    `line\u000abreak`,
		"\u0085nextline": `\u0085nextline`,
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// cli is what every command gets from run: the environment and the output
// streams, never os.* directly, so that tests run commands in-process.
type cli struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one word of the command line: it either runs, or groups
// subcommands (then run is nil).
type command struct {
	summary string
	run     func(ctx context.Context, c *cli, name string, args []string) error
	subs    map[string]*command
}

// usageError is a mistake on the command line; main exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// dispatch runs the command args[0] of cmds. name is the command line so
// far ("sekisho users"), for messages. "help", "-h" and "--help" list the
// commands; "help X …" shows X's help.
func (c *cli) dispatch(ctx context.Context, name string, cmds map[string]*command, args []string) error {
	if len(args) == 0 {
		return usagef("%s needs a command.\n\n%s", name, listing(name, cmds))
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if args[0] == "help" && len(args) > 1 {
			return c.dispatch(ctx, name, cmds, append(slices.Clone(args[1:]), "-h"))
		}
		fmt.Fprint(c.stdout, listing(name, cmds))
		return flag.ErrHelp
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return usagef("%s: unknown command %q.\n\n%s", name, args[0], listing(name, cmds))
	}
	name += " " + args[0]
	if cmd.subs != nil {
		return c.dispatch(ctx, name, cmd.subs, args[1:])
	}
	err := cmd.run(ctx, c, name, args[1:])
	var u *usageError
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &u) {
		// Usage errors name their command already; the rest get it here,
		// so that every message says which command failed.
		err = fmt.Errorf("%s: %w", name, err)
	}
	return err
}

// listing is the help of a group of commands.
func listing(name string, cmds map[string]*command) string {
	var b strings.Builder
	if name == "sekisho" {
		b.WriteString("sekisho is a self-hosted sign-in service.\n\n")
	}
	fmt.Fprintf(&b, "Usage: %s <command> [flags]\n\nCommands:\n", name)
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(cmds)) {
		fmt.Fprintf(tw, "  %s\t%s\n", k, cmds[k].summary)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nRun '%s <command> -h' for a command's flags.\n", name)
	if name == "sekisho" {
		b.WriteString("Every common flag (--data-dir, --database-url, …) can also be set by an environment\n" +
			"variable SEKISHO_…; a flag given on the command line wins.\n")
	}
	return b.String()
}

// flagSet is one command's flags: its own and the common ones, with the
// help text that -h prints.
type flagSet struct {
	*flag.FlagSet
	name     string // "sekisho users create"
	synopsis string // the flags after the name, as in the help's usage line
	about    string
	config   *configFlags
	required []string
}

// newFlagSet returns the flag set of command name. The flag package's own
// error output is silenced: parse reports errors once, through run's caller.
func newFlagSet(name, synopsis, about string, serve bool) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, name: name, synopsis: synopsis, about: about, config: addConfigFlags(fs, serve)}
}

// requiredString defines a string flag that must be given.
func (f *flagSet) requiredString(name, usage string) *string {
	f.required = append(f.required, name)
	return f.String(name, "", usage+" (required)")
}

// reason defines --reason, which every state-changing operator command
// needs: the service refuses operator actions without one, and asking here
// fails before anything is opened.
func (f *flagSet) reason() *string {
	f.required = append(f.required, "reason")
	return f.String("reason", "", "why you are doing this, e.g. a ticket number; recorded in the audit log (required)")
}

// parse parses args. On -h it prints the help to stdout and returns
// flag.ErrHelp, which run turns into success.
func (f *flagSet) parse(c *cli, args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help(c.stdout)
			return flag.ErrHelp
		}
		return usagef("%s: %v\nRun '%s -h' for help.", f.name, err, f.name)
	}
	if f.NArg() > 0 {
		return usagef("%s: unexpected argument %q\nRun '%s -h' for help.", f.name, f.Arg(0), f.name)
	}
	for _, name := range f.required {
		if strings.TrimSpace(f.Lookup(name).Value.String()) != "" {
			continue
		}
		if name == "reason" {
			return usagef("%s: --reason is required: say why (a ticket number, a request); it is recorded in the audit log", f.name)
		}
		return usagef("%s: --%s is required\nRun '%s -h' for help.", f.name, name, f.name)
	}
	return nil
}

// given returns the names of the flags set on the command line.
func (f *flagSet) given() map[string]bool {
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}

// load returns the configuration from the parsed flags and the environment.
func (f *flagSet) load(c *cli) (*config, error) {
	cfg, err := f.config.load(c.getenv)
	if err != nil {
		return nil, &usageError{f.name + ": " + err.Error()}
	}
	return cfg, nil
}

// help prints the command's usage line, description and flags, its own
// first and the common ones after.
func (f *flagSet) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", f.name, f.synopsis, f.about)
	var own, common []*flag.Flag
	f.VisitAll(func(fl *flag.Flag) {
		if f.config.isCommon(fl.Name) {
			common = append(common, fl)
		} else {
			own = append(own, fl)
		}
	})
	if len(own) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, own)
	}
	fmt.Fprint(w, "\nCommon flags (each also an environment variable; a flag given here wins):\n")
	printFlags(w, common)
}

// printFlags prints flags like flag.PrintDefaults, with the double dash
// that the usage lines use.
func printFlags(w io.Writer, flags []*flag.Flag) {
	for _, fl := range flags {
		valueName, usage := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if valueName != "" {
			line += " " + valueName
		}
		switch fl.DefValue {
		case "", "0", "0s", "false":
		default:
			usage += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "%s\n%s\n", line, wrap(usage, "        ", 88))
	}
}

// wrap breaks text into lines of at most width columns, each indented.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
			b.WriteString(indent)
			n = len(indent)
		case n+1+len(word) > width:
			b.WriteString("\n" + indent)
			n = len(indent)
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// withApp loads the configuration, opens the application, runs fn and
// closes the application again.
func (c *cli) withApp(ctx context.Context, f *flagSet, fn func(a *app) error) error {
	cfg, err := f.load(c)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, c.stderr)
	if err != nil {
		return err
	}
	return errors.Join(fn(a), a.close())
}

// operator returns the actor of an operator command: the OS user, who is
// the person at the keyboard of the machine with database access.
func (c *cli) operator(reason string) sekisho.Actor {
	return sekisho.Operator(operatorName(c.getenv), strings.TrimSpace(reason))
}

func operatorName(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := getenv("USER"); name != "" {
		return name
	}
	return "operator"
}

// workspace returns the workspace with slug, with a message that says what
// was looked for when there is none.
func workspace(ctx context.Context, svc *auth.Service, slug string) (*sekisho.Workspace, error) {
	w, err := svc.WorkspaceBySlug(ctx, slug)
	if sekisho.KindOf(err) == sekisho.KindNotFound {
		return nil, fmt.Errorf("no workspace has the slug %q (see 'sekisho workspaces list')", slug)
	}
	return w, err
}

// userByEmail returns the user with email in workspace w.
func userByEmail(ctx context.Context, svc *auth.Service, a sekisho.Actor, w *sekisho.Workspace, email string) (*sekisho.User, error) {
	u, err := svc.UserByEmail(ctx, a, w.ID, email)
	if sekisho.KindOf(err) == sekisho.KindNotFound {
		return nil, fmt.Errorf("workspace %s has no user with the email %q (see 'sekisho users list --workspace %s')", w.Slug, email, w.Slug)
	}
	return u, err
}

// table writes aligned columns of text.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row writes one line. Cells are cleaned: names, user agents and details
// come from users, and a control character in them must neither break the
// columns (a tab) nor reach the operator's terminal (an escape sequence).
func (t *table) row(cells ...string) {
	for i, s := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		if s == "" {
			s = "-"
		}
		io.WriteString(t.tw, clean(s))
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// clean replaces control and bidirectional-formatting characters with
// visible escapes.
func clean(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// onOff spells a setting for tables.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

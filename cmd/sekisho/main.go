// Command sekisho is a self-hosted sign-in service: `sekisho serve` runs the
// web server, and the other subcommands are the operator's CLI, working on
// the database directly. Run `sekisho help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, stop catching them: a second Ctrl-C during
	// the graceful shutdown then ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var u *usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// commands are sekisho's subcommands; each lives in the file of its name.
// A command either runs or groups further subcommands.
var commands = map[string]*command{
	"serve":      serveCommand,
	"migrate":    migrateCommand,
	"workspaces": workspacesCommand,
	"users":      usersCommand,
	"audit":      auditCommand,
	"keys":       keysCommand,
	"backup":     backupCommand,
}

// run is the whole program with its dependencies passed in, so that tests
// call it as main does. No command reads stdin: every operator action takes
// its input as flags, so it can be scripted and its reason recorded.
func run(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		args = args[1:] // the program's name
	}
	err := c.dispatch(ctx, "sekisho", commands, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil // help was asked for and printed
	}
	return err
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
)

// buildServer compiles the sekisho binary into dir.
func buildServer(ctx context.Context, dir string, out io.Writer) (string, error) {
	bin := filepath.Join(dir, "sekisho")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sekisho/sekisho/cmd/sekisho")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build sekisho: %w", err)
	}
	return bin, nil
}

// childEnv is the environment of the child processes, without SEKISHO_
// variables: every setting comes from the flags given here.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEKISHO_") {
			env = append(env, kv)
		}
	}
	return env
}

// server is one `sekisho serve` process after another over the same data
// folder (the SQLite file and the key file) and database.
type server struct {
	bin, dir, dbURL, addr string
	log                   *os.File // the servers' stderr, appended

	cmd  *exec.Cmd
	done chan error
}

func (s *server) args(cmd ...string) []string {
	args := append(cmd, "--data-dir", s.dir)
	if s.dbURL != "" {
		args = append(args, "--database-url", s.dbURL)
	}
	return args
}

// cli runs an operator command to completion and returns its output.
func (s *server) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, s.args(args...)...)
	cmd.Env = append(childEnv(), "SEKISHO_ADDR="+s.addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, s.log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sekisho %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// start starts the server and waits until /readyz answers.
func (s *server) start(ctx context.Context) (time.Duration, error) {
	begin := time.Now()
	cmd := exec.Command(s.bin, s.args("serve", "--addr", s.addr, "--log-level", "warn")...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-s.done:
			s.cmd = nil
			return 0, fmt.Errorf("sekisho serve exited before it was ready: %v (see %s)", err, s.log.Name())
		case <-ctx.Done():
			s.kill()
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		res, err := hc.Get("http://" + s.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(begin), nil
			}
		}
	}
	s.kill()
	return 0, fmt.Errorf("sekisho serve was not ready after 60s (see %s)", s.log.Name())
}

// kill ends the server with SIGKILL: no shutdown, no cleanup.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// stop shuts the server down gracefully, as an operator would.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.cmd = nil
		return err
	case <-time.After(40 * time.Second):
		s.kill()
		return errors.New("sekisho serve did not stop within 40s of SIGTERM")
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// createPostgres creates a fresh database on the server of adminURL and
// returns its URL, and a function that drops it.
func createPostgres(ctx context.Context, adminURL string) (dbURL, name string, drop func() error, err error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", "", nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("PostgreSQL is required and did not answer at %s: %w (start it, or pass -postgres-url)", redact(adminURL), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name = "sekisho_crash_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("create database: %w", err)
	}
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	drop = func() error {
		defer admin.Close()
		_, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		return err
	}
	return u.String(), name, drop, nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

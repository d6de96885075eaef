package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// buildSekisho builds cmd/sekisho of the module the current directory is
// in, into dir.
func buildSekisho(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the bench from inside the sekisho module (or give -sekisho BINARY)")
	}
	bin := filepath.Join(dir, "sekisho")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sekisho")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sekisho: %w\n%s", err, out)
	}
	return bin, nil
}

// server is one `sekisho serve` child process (or the HTTP floor's).
type server struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	logs    *logSink
	done    chan struct{} // closed once the process has exited
	waitErr error
}

// serverArgs are the flags every instance gets besides its database. The
// sign-in clients pose as users behind a load balancer: each sends its own
// X-Forwarded-For address, believed from 127.0.0.1, so that the per-IP
// throttle sees many users, as it would in production.
var serverArgs = []string{"serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "127.0.0.1/32"}

// startServer starts bin serve on a free port over dbURL ("" for SQLite in
// dataDir) with the encryption keys, and waits until /readyz answers.
func startServer(ctx context.Context, bin, dataDir, dbURL, keys string) (*server, error) {
	args := append(append([]string(nil), serverArgs...), "--data-dir", dataDir)
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	cmd := exec.Command(bin, args...)
	dieWithBench(cmd)
	// The operator's SEKISHO_ settings (an SMTP server, a log level) must
	// not change what is measured.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEKISHO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SEKISHO_ENCRYPTION_KEYS="+keys)
	return launch(ctx, cmd, "sekisho serve")
}

// launch starts cmd, a server that logs a JSON line {"msg":"listening",
// "addr":…} and answers GET /readyz, and waits until it is ready; name
// says which server in errors.
func launch(ctx context.Context, cmd *exec.Cmd, name string) (*server, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	s := &server{name: name, cmd: cmd, logs: newLogSink(r), done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	fail := func(err error) (*server, error) {
		s.stop()
		return nil, fmt.Errorf("%w\nlast lines of its log:\n%s", err, s.logs.tail())
	}
	select {
	case s.addr = <-s.logs.listening:
	case <-s.done:
		<-s.logs.done
		return nil, fmt.Errorf("%s exited at start: %v\nlast lines of its log:\n%s", name, s.waitErr, s.logs.tail())
	case <-time.After(time.Minute):
		return fail(fmt.Errorf("%s did not log its address within a minute", name))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%s at %s not ready within a minute (last: %v)", name, s.addr, err))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server as an operator would (SIGTERM, a graceful
// shutdown), killing it if that takes over a minute.
func (s *server) stop() error {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			s.cmd.Process.Kill()
			<-s.done
			<-s.logs.done
			return fmt.Errorf("%s did not stop within a minute of SIGTERM and was killed", s.name)
		}
	}
	<-s.logs.done
	if s.waitErr != nil {
		return fmt.Errorf("%s: %v\nlast lines of its log:\n%s", s.name, s.waitErr, s.logs.tail())
	}
	return nil
}

// logSink drains a server's output (its JSON log, one line per request,
// and the mail it prints for want of an SMTP server), counting what the
// report needs and keeping the last lines for error messages. Nothing is
// written to disk, and no line is kept beyond the last few.
type logSink struct {
	listening chan string
	done      chan struct{}
	lines     atomic.Int64
	errors    atomic.Int64 // "level":"ERROR"
	warnings  atomic.Int64
	mails     atomic.Int64

	mu       sync.Mutex
	ring     [40][]byte
	next     int
	firstErr []string
}

func newLogSink(r *os.File) *logSink {
	s := &logSink{listening: make(chan string, 1), done: make(chan struct{})}
	go s.read(r)
	return s
}

var (
	mailMark    = []byte(`"msg":"mail not sent (no --smtp-url)"`)
	errorMark   = []byte(`"level":"ERROR"`)
	warnMark    = []byte(`"level":"WARN"`)
	listenMark  = []byte(`"msg":"listening"`)
	maxErrLines = 5
)

// logPoll is how often the sink reads the server's output. Reading what
// piled up in a bigger pipe every few milliseconds, instead of waking up
// for every log line, keeps the sink's share of the CPU negligible.
const logPoll = 5 * time.Millisecond

func (s *logSink) read(r *os.File) {
	defer close(s.done)
	defer r.Close()
	growPipe(r)
	buf := make([]byte, 1<<20)
	n := 0 // bytes of an incomplete line kept at the start of buf
	listened := false
	for {
		m, err := r.Read(buf[n:])
		n += m
		rest := buf[:n]
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			s.line(rest[:i+1], &listened)
			rest = rest[i+1:]
		}
		if len(rest) == len(buf) { // a line longer than the buffer
			s.line(rest, &listened)
			rest = rest[:0]
		}
		n = copy(buf, rest)
		if err != nil {
			if n > 0 {
				s.line(buf[:n], &listened)
			}
			return
		}
		time.Sleep(logPoll)
	}
}

func (s *logSink) line(line []byte, listened *bool) {
	s.lines.Add(1)
	switch {
	case bytes.Contains(line, mailMark):
		s.mails.Add(1)
	case bytes.Contains(line, errorMark):
		s.errors.Add(1)
		s.mu.Lock()
		if len(s.firstErr) < maxErrLines {
			s.firstErr = append(s.firstErr, string(bytes.TrimSpace(line)))
		}
		s.mu.Unlock()
	case bytes.Contains(line, warnMark):
		s.warnings.Add(1)
	case !*listened && bytes.Contains(line, listenMark):
		var l struct{ Addr string }
		if json.Unmarshal(line, &l) == nil && l.Addr != "" {
			*listened = true
			s.listening <- l.Addr
		}
	}
	s.mu.Lock()
	s.ring[s.next] = append(s.ring[s.next][:0], line...)
	s.next = (s.next + 1) % len(s.ring)
	s.mu.Unlock()
}

// tail returns the last lines the server wrote.
func (s *logSink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i := range len(s.ring) {
		l := s.ring[(s.next+i)%len(s.ring)]
		if len(l) > 0 {
			b.Write(l)
			if l[len(l)-1] != '\n' {
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func (s *logSink) errorLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.firstErr...)
}

// procStatus returns VmRSS and VmHWM of pid, in KiB.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rss, _ = strconv.ParseInt(f[0], 10, 64)
		case "VmHWM":
			hwm, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return rss, hwm, nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs on.
const clockTick = 100

// procCPU returns the CPU time pid has used (user and system).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing one. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bad /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+st) * time.Second / clockTick, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sampler watches server processes during a load: the peak resident set
// of each (VmRSS every 100 ms) and the CPU time they and the client use.
type sampler struct {
	pids       []int
	start      time.Time
	cpu0       []time.Duration
	self0      time.Duration
	peak       []int64
	stopc, don chan struct{}
}

func startSampler(pids []int) *sampler {
	s := &sampler{pids: pids, start: time.Now(), peak: make([]int64, len(pids)),
		stopc: make(chan struct{}), don: make(chan struct{})}
	for _, p := range pids {
		c, _ := procCPU(p)
		s.cpu0 = append(s.cpu0, c)
	}
	s.self0 = selfCPU()
	go func() {
		defer close(s.don)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopc:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	for i, p := range s.pids {
		if rss, _, err := procStatus(p); err == nil {
			s.peak[i] = max(s.peak[i], rss)
		}
	}
}

// usage is what a sampler saw.
type usage struct {
	peakRSS   []int64 // KiB, per server
	serverCPU float64 // cores busy on average, all servers together
	clientCPU float64 // cores busy in this process
}

func (s *sampler) stop() usage {
	close(s.stopc)
	<-s.don
	wall := time.Since(s.start)
	u := usage{peakRSS: s.peak}
	for i, p := range s.pids {
		if c, err := procCPU(p); err == nil {
			u.serverCPU += float64(c-s.cpu0[i]) / float64(wall)
		}
	}
	u.clientCPU = float64(selfCPU()-s.self0) / float64(wall)
	return u
}

// postgresDB is a database created for one run and dropped after it.
type postgresDB struct {
	admin *sql.DB
	name  string
	url   string
}

func createPostgresDB(ctx context.Context, adminURL string) (*postgresDB, error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil, err
	}
	// Hold no idle connection while the servers run: three instances use
	// 96 of PostgreSQL's default 100.
	admin.SetMaxIdleConns(0)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w (start it, give -postgres-url, or -backends sqlite)", redact(adminURL), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "sekisho_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		admin.Close()
		return nil, err
	}
	u.Path = "/" + name
	return &postgresDB{admin: admin, name: name, url: u.String()}, nil
}

// analyze gathers the statistics that autovacuum would within a minute of
// the bulk load the seeding is. Without them PostgreSQL plans the first
// pages of a fresh 100,000-user list as a bitmap scan of every match and a
// sort (50–80 ms a page instead of 2), which no running service would see
// for long.
func (p *postgresDB) analyze(ctx context.Context) error {
	db, err := sql.Open("pgx", p.url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "ANALYZE")
	return err
}

func (p *postgresDB) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := p.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+p.name+" WITH (FORCE)")
	return errors.Join(err, p.admin.Close())
}

// postgresVersion returns the server's version, "" if it can't be asked.
func postgresVersion(ctx context.Context, adminURL string) string {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	if db.QueryRowContext(ctx, "SHOW server_version").Scan(&v) != nil {
		return ""
	}
	return v
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// growPipe asks for a 1 MiB pipe buffer, so that the server never waits
// for the sink between two polls; without it the default 64 KiB is enough
// for about ten thousand log lines a second.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		const setPipeSize = 1031 // F_SETPIPE_SZ, Linux only; elsewhere it fails harmlessly
		rc.Control(func(fd uintptr) { syscall.Syscall(syscall.SYS_FCNTL, fd, setPipeSize, 1<<20) })
	}
}

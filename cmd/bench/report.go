package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// machine describes where the run happened.
type machine struct {
	cpu      string
	cores    int
	memGiB   float64
	os       string
	kernel   string
	goVer    string
	postgres string
	commit   string
}

func describeMachine(ctx context.Context, o *options) machine {
	m := machine{cpu: "unknown", cores: runtime.NumCPU(), os: runtime.GOOS, goVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseFloat(f[1], 64)
				m.memGiB = kib / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				m.os = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.goVer = strings.TrimSpace(string(out)) // the toolchain that builds the server
	}
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	if slices.Contains(o.backends, "postgres") && o.needs("session", "signin", "list", "policy", "scaleout") {
		m.postgres = postgresVersion(ctx, o.postgresURL)
	}
	return m
}

// command is the command line that reproduces the run.
func (o *options) command() string {
	parts := []string{"go run ./cmd/bench"}
	for _, a := range o.args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// markdown renders the report.
func (r *report) markdown() string {
	o := r.opts
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.machine
	p("# sekisho benchmark, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("Command: `%s`  \n", o.command())
	if m.commit != "" {
		p("Commit: `%s`  \n", m.commit)
	}
	p("Took %s.\n\n", r.took.Round(time.Second))
	p("| machine | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n", m.cpu, m.cores)
	p("| memory | %.1f GiB |\n", m.memGiB)
	p("| OS | %s, kernel %s |\n", m.os, m.kernel)
	p("| Go | %s |\n", m.goVer)
	if m.postgres != "" {
		p("| PostgreSQL | %s, at %s |\n", m.postgres, redact(o.postgresURL))
	}
	p("\nThe client runs on the same machine as the server and the database, sharing their cores.\n")
	if len(r.backends) > 0 {
		p("Each backend gets a fresh database seeded through the store package, and `sekisho serve %s`\n"+
			"(otherwise defaults: hash concurrency = cores, request log at info, mail printed to the log, which\n"+
			"the bench reads and discards); sign-in clients each send their own `X-Forwarded-For`, like users behind a\n"+
			"load balancer.\n", strings.Join(serverArgs[1:], " "))
	}

	if a := r.argon; a != nil {
		p("\n## Raw argon2id\n\nThe server's parameters and Hasher, %d goroutines for %s.\n\n", a.goroutines, a.elapsed.Round(10*time.Millisecond))
		p("| parameters | goroutines | hashes | hashes/s |\n|---|---|---|---|\n")
		p("| m=%d KiB, t=%d, p=%d | %d | %d | %s |\n", a.params.Memory, a.params.Time, a.params.Threads, a.goroutines, a.hashes, rate(a.rate()))
	}

	if len(r.floor) > 0 || r.any(func(b *backendResult) bool { return len(b.sessions) > 0 }) {
		p("\n## Session checks\n\n`GET /api/v1/session` with `Authorization: Bearer <token>`, %s distinct sessions round-robin over\n"+
			"keep-alive connections; each load runs %s, of which the first %s warms up and is not counted. CPU is\n"+
			"the average number of cores busy; RSS is the server's peak VmRSS during the load. The HTTP floor is\n"+
			"net/http alone in a process of its own, answering every request with a fixed answer of the same size and\n"+
			"headers: what this client, these cores and these connections allow at best.\n\n",
			count(o.sessions), o.duration, warmUp(o.duration))
		p("| backend | connections | requests/s | p50 | p90 | p99 | max | errors | server CPU | client CPU | server RSS |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(name string, l *loadResult) {
			p("| %s | %d | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |\n", name, l.clients, rate(l.rate()),
				ms(l.hist.quantile(0.5)), ms(l.hist.quantile(0.9)), ms(l.hist.quantile(0.99)), ms(l.hist.max),
				errorList(l.errors), l.use.serverCPU, l.use.clientCPU, mib(slices.Max(l.use.peakRSS)))
		}
		for _, l := range r.floor {
			row("HTTP floor", l)
		}
		for _, be := range r.backends {
			for _, l := range be.sessions {
				row(backendNames[be.name], l)
			}
		}
	}

	if r.any(func(b *backendResult) bool { return len(b.signins) > 0 }) {
		p("\n## Sign-ins\n\nPassword: `POST /api/v1/sign-in` → `signed_in`. Password + TOTP: then `POST /api/v1/sign-in/mfa` with\n"+
			"the current code → `signed_in`; latency is the whole sign-in. %s users of each kind round-robin, every\n"+
			"TOTP user at most once per 30-second step (codes are single-use). Each load runs %s; a client starts\n"+
			"no sign-in after that, and the rate counts until the last answer. \"÷ argon2id\" divides by the raw rate above.\n\n",
			count(o.signinUsers), o.duration)
		p("| backend | sign-in | clients | sign-ins/s | ÷ argon2id | p50 | p90 | p99 | max | errors | server CPU | server RSS |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, be := range r.backends {
			for _, l := range be.signins {
				p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %.2f | %s |\n", backendNames[be.name], l.kind, l.clients, rate(l.rate()),
					r.ratio(l.rate()), ms(l.hist.quantile(0.5)), ms(l.hist.quantile(0.9)), ms(l.hist.quantile(0.99)), ms(l.hist.max),
					errorList(l.errors), l.use.serverCPU, mib(slices.Max(l.use.peakRSS)))
				if l.waits > 0 {
					p("| | | | ↑ clients waited %d times for the next TOTP step: raise -signin-users | | | | | | | | |\n", l.waits)
				}
			}
		}
	}

	if r.any(func(b *backendResult) bool { return len(b.list) > 0 }) {
		p("\n## Admin user list\n\n`GET /api/v1/admin/users` as the workspace admin (aal2) of a workspace of %s users, a third with\n"+
			"MFA; one client, one request at a time. The walks follow `next_cursor` from the first page to the last;\n"+
			"the other rows repeat one request %s times (the search %s times), deep pages with a cursor from the walk.\n\n",
			count(o.users), count(o.requests), count(max(o.requests/10, 3)))
		p("| backend | request | requests | users a page | p50 | p99 | max | errors |\n|---|---|---|---|---|---|---|---|\n")
		for _, be := range r.backends {
			for _, l := range be.list {
				p("| %s | %s | %d | %d | %s | %s | %s | %s |\n", backendNames[be.name], l.what, l.hist.n, l.rows,
					ms(l.hist.quantile(0.5)), ms(l.hist.quantile(0.99)), ms(l.hist.max), errorList(l.errors))
			}
		}
	}

	if r.any(func(b *backendResult) bool { return len(b.policy) > 0 }) {
		p("\n## Require MFA\n\n`PATCH /api/v1/admin/workspace {\"require_mfa\": true}` by the workspace admin, then `false` again,\n"+
			"%s per workspace. Turning it on answers with the count of users without MFA and emails each of\n"+
			"them in the background; \"emailed in\" is how long after the answer the server had printed the last\n"+
			"of those emails (the slowest of the runs).\n\n", times(policyToggles(o.requests)))
		p("| backend | users | without MFA | turn on p50 | turn on max | turn off p50 | turn off max | emailed in | errors |\n")
		p("|---|---|---|---|---|---|---|---|---|\n")
		for _, be := range r.backends {
			for _, pr := range be.policy {
				mailed := ms(pr.mailTook)
				if pr.mailMissed {
					mailed = fmt.Sprintf("only %d seen in %s", pr.mailed, notifyTimeout)
				}
				p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", backendNames[be.name], count(pr.users), count(pr.withoutMFA),
					ms(pr.on.quantile(0.5)), ms(pr.on.max), ms(pr.off.quantile(0.5)), ms(pr.off.max), mailed, errorList(pr.errors))
			}
		}
	}

	if r.any(func(b *backendResult) bool { return len(b.hwm) > 0 }) {
		p("\n## Server memory\n\nPeak VmRSS of the server process, sampled every 100 ms during the loads, and VmHWM (the\n" +
			"kernel's high-water mark since the process started) at its end.\n\n")
		p("| backend | session checks | sign-ins | VmHWM at the end |\n|---|---|---|---|\n")
		for _, be := range r.backends {
			if len(be.hwm) == 0 {
				continue
			}
			p("| %s | %s | %s | %s |\n", backendNames[be.name], mib(peak(be.sessions)), mib(peak(be.signins)), mib(be.hwm[0]))
		}
	}

	for _, be := range r.backends {
		if len(be.scaleout) == 0 {
			continue
		}
		p("\n## Scale-out on PostgreSQL\n\nOne, then three `sekisho serve` instances on the same database, the client's connections\n"+
			"spread round-robin over them; everything shares the machine's %d cores, so more instances add no CPU.\n\n", m.cores)
		p("| instances | load | clients | per second | p50 | p99 | errors | server CPU | peak RSS per instance |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range be.scaleout {
			var rss []string
			for _, k := range l.use.peakRSS {
				rss = append(rss, mib(k))
			}
			p("| %d | %s | %d | %s | %s | %s | %s | %.2f | %s |\n", l.instances, l.kind, l.clients, rate(l.rate()),
				ms(l.hist.quantile(0.5)), ms(l.hist.quantile(0.99)), errorList(l.errors), l.use.serverCPU, strings.Join(rss, ", "))
		}
	}

	if len(r.backends) > 0 {
		p("\n## Server logs and seeding\n\n| backend | server | log lines | errors | warnings | emails printed |\n|---|---|---|---|---|---|\n")
		for _, be := range r.backends {
			for _, l := range be.logs {
				p("| %s | %s | %s | %d | %d | %s |\n", backendNames[be.name], l.server, count(int(l.lines)), l.errors, l.warnings, count(int(l.mails)))
			}
		}
		if r.serverErrors() > 0 {
			p("\nThe first error lines of each server follow. \"mail: queue full; message dropped\" is logged when the\n" +
				"background Require MFA notification fills the mail queue; that sender waits and retries (the\n" +
				"Require MFA table shows whether every email came out).\n")
		}
		for _, be := range r.backends {
			for _, l := range be.logs {
				for _, e := range l.errorLines {
					p("\n%s server error: `%s`\n", backendNames[be.name], strings.ReplaceAll(e, "`", "'"))
				}
			}
		}
		p("\n| backend | seeded | took |\n|---|---|---|\n")
		for _, be := range r.backends {
			for _, s := range be.seed {
				p("| %s | %s | %s |\n", backendNames[be.name], s.what, s.took.Round(time.Millisecond))
			}
		}
	}
	return b.String()
}

func (r *report) any(f func(*backendResult) bool) bool { return slices.ContainsFunc(r.backends, f) }

func (r *report) ratio(v float64) string {
	if r.argon == nil || r.argon.rate() == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/r.argon.rate())
}

func peak(loads []*loadResult) int64 {
	var k int64
	for _, l := range loads {
		k = max(k, slices.Max(l.use.peakRSS))
	}
	return k
}

// ms formats a latency in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case v < 1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	case v < 10000:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f s", v/1000)
}

func rate(v float64) string {
	if v >= 100 {
		return count(int(v + 0.5))
	}
	return fmt.Sprintf("%.1f", v)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return count(n) + " times"
}

// count formats n with thousands separators.
func count(n int) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(kib int64) string {
	if kib <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", float64(kib)/1024)
}

// errorList is "0", or the total and each kind of failure.
func errorList(errs map[string]int) string {
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		total += errs[k]
		parts = append(parts, fmt.Sprintf("%s ×%d", strings.ReplaceAll(k, "|", "/"), errs[k]))
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d**: %s", total, strings.Join(parts, ", "))
}

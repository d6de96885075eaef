package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store/storetest"
)

// TestBenchSmoke runs the whole command with tiny loads on both backends:
// a functional test of the tool (every section runs, every request
// succeeds, the report has every table), never of the timings.
func TestBenchSmoke(t *testing.T) {
	o, err := parseOptions([]string{
		"-duration", "200ms", "-users", "500", "-sessions", "50", "-signin-users", "40", "-requests", "5",
		"-connections", "1,8", "-clients", "1,4", "-postgres-url", storetest.PostgresURL(),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	rep, err := benchmark(t.Context(), o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	md := rep.markdown()
	t.Log("\n" + progress.String() + "\n" + md)

	for _, h := range []string{"## Raw argon2id", "## Session checks", "## Sign-ins", "## Admin user list",
		"## Require MFA", "## Server memory", "## Scale-out on PostgreSQL", "## Server logs"} {
		if !strings.Contains(md, h) {
			t.Errorf("the report has no %q", h)
		}
	}
	if rep.argon == nil || rep.argon.hashes == 0 {
		t.Error("no argon2id hashes")
	}
	if len(rep.floor) != 2 || rep.floor[1].count == 0 {
		t.Errorf("the HTTP floor: %d loads, want 2 that measured something", len(rep.floor))
	} else if !strings.Contains(md, "| HTTP floor | 8 |") {
		t.Error("the session table has no HTTP floor row at 8 connections")
	}
	if n := rep.errorCount(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
	if n := rep.serverErrors(); n != 0 {
		t.Errorf("the servers logged %d errors", n)
	}
	if len(rep.backends) != 2 {
		t.Fatalf("%d backends measured, want 2", len(rep.backends))
	}
	for _, b := range rep.backends {
		if len(b.sessions) != 2 || len(b.signins) != 4 || len(b.list) == 0 || len(b.policy) != 2 {
			t.Errorf("%s: %d session loads, %d sign-in loads, %d list rows, %d policy rows",
				b.name, len(b.sessions), len(b.signins), len(b.list), len(b.policy))
		}
		for _, l := range append(append(append([]*loadResult(nil), b.sessions...), b.signins...), b.scaleout...) {
			if l.count == 0 || l.rate() <= 0 || l.hist.n == 0 {
				t.Errorf("%s: %s with %d clients on %d instances measured nothing", b.name, l.kind, l.clients, l.instances)
			}
			if len(l.use.peakRSS) == 0 || l.use.peakRSS[0] == 0 {
				t.Errorf("%s: %s: no RSS sampled", b.name, l.kind)
			}
		}
		for _, p := range b.policy {
			if p.on.n == 0 || p.off.n == 0 || p.mailMissed {
				t.Errorf("%s: Require MFA on %d users: %d on, %d off, emails missed %v", b.name, p.users, p.on.n, p.off.n, p.mailMissed)
			}
		}
		for _, l := range b.logs {
			if l.lines == 0 {
				t.Errorf("%s: a server logged nothing", b.name)
			}
		}
	}
	if pg := rep.backends[1]; len(pg.scaleout) != 4 {
		t.Errorf("postgres: %d scale-out loads, want 4", len(pg.scaleout))
	}
}

func TestOptionsRefuseNonsense(t *testing.T) {
	for _, args := range [][]string{
		{"-backends", "mysql"},
		{"-only", "everything"},
		{"-duration", "0s"},
		{"-connections", "1,x"},
		{"-users", "1"},
		{"extra"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(c.q)
		if d := got - c.want; d < -c.want/50 || d > c.want/50 {
			t.Errorf("p%v = %v, want %v ± 2 %%", c.q*100, got, c.want)
		}
	}
	if h.max != 10*time.Millisecond || h.min != time.Microsecond || h.n != 10000 {
		t.Errorf("min %v, max %v, n %d", h.min, h.max, h.n)
	}
	// Small values are exact; huge ones land in the last bucket.
	var s histogram
	s.record(3)
	s.record(time.Hour)
	if s.quantile(0.5) != 3 || s.quantile(1) != time.Hour {
		t.Errorf("p50 %v, p100 %v", s.quantile(0.5), s.quantile(1))
	}
}

// TestMain lets the test binary serve as the HTTP floor, as the bench
// binary does: the floor section starts os.Executable() again.
func TestMain(m *testing.M) {
	if os.Getenv(floorEnv) != "" {
		if err := serveFloor(); err != nil {
			fmt.Fprintln(os.Stderr, "the HTTP floor:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

package main

import (
	"context"
	"testing"
	"time"
)

// TestCrashShort is the crash test's short form for CI: a few kills on each
// backend. PostgreSQL is required (SEKISHO_TEST_POSTGRES_URL overrides the
// default server); the test fails, never skips, without it.
func TestCrashShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"-db", "both", "-cycles", "5", "-users", "9", "-workers", "3", "-max-kill", "300ms", "-v"}
	if err := run(ctx, args, t.Output()); err != nil {
		t.Fatal(err)
	}
}

// A mail record that a kill cut short runs on into the next server's first
// record: that one still counts, and the cut one does not.
func TestParseMailLine(t *testing.T) {
	mailLine := `{"time":"2026-12-04T10:00:00Z","level":"INFO","msg":"mail not sent (no --smtp-url)","to":"a@crash.test","subject":"S","body":"x"}`
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{mailLine + "\n", true},
		{mailLine[:60] + mailLine + "\n", true},
		{mailLine[:60] + `{"time":"x","level":"WARN","msg":"other"}` + "\n", false},
		{mailLine[:60] + "\n", false},
		{"panic: oops\n", false},
	} {
		rec, ok := parseMailLine([]byte(c.line))
		if ok != c.ok || (ok && (rec.To != "a@crash.test" || rec.Subject != "S")) {
			t.Errorf("parseMailLine(%q) = %+v, %v; want ok %v", c.line, rec, ok, c.ok)
		}
	}
}

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

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// On PostgreSQL an instance without keys makes a key file only for a
// database no instance has used: a second instance, started later with an
// empty data folder, refuses to start instead of making a key of its own
// that could not open the first one's secrets.
func TestPostgresSecondInstanceWithoutKeysRefuses(t *testing.T) {
	url := storetest.URL(t, store.Postgres)
	first := newTestCLI(t)
	first.extra = []string{"--database-url", url}
	_, stderr, err := first.run("workspaces", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "every other instance must use the same key") {
		t.Errorf("no warning about the new key file:\n%s", stderr)
	}
	keyFile := filepath.Join(first.dataDir, "keys")

	second := newTestCLI(t)
	second.extra = first.extra
	err = second.fail("workspaces", "list")
	if msg := err.Error(); !strings.Contains(msg, "SEKISHO_ENCRYPTION_KEYS") || !strings.Contains(msg, "made key") {
		t.Errorf("second instance without keys: %v", err)
	}
	if _, err := os.Stat(filepath.Join(second.dataDir, "keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused instance left a key file: %v", err)
	}

	// With the first instance's key file it starts; the first keeps its own.
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second.dataDir, "keys"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	second.ok("workspaces", "list")
	first.ok("workspaces", "list")
}

// A database that holds a TOTP secret sealed with keys given in the
// environment refuses an instance that has none, too.
func TestPostgresWithSecretsRefusesToMakeAKey(t *testing.T) {
	url := storetest.URL(t, store.Postgres)
	key := make([]byte, 32)
	rand.Read(key)
	withKeys := newTestCLI(t)
	withKeys.extra = []string{"--database-url", url}
	withKeys.env["SEKISHO_ENCRYPTION_KEYS"] = "shared:" + base64.StdEncoding.EncodeToString(key)
	newWorkspace(t, withKeys)
	startTOTP(t, withKeys.app())

	without := newTestCLI(t)
	without.extra = withKeys.extra
	if err := without.fail("workspaces", "list"); !strings.Contains(err.Error(), "holds 1 TOTP secrets") {
		t.Errorf("instance without keys on a database in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(without.dataDir, "keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was made: %v", err)
	}
}

// Instances starting at once on a new database: exactly one makes a key.
func TestPostgresInstancesStartingTogetherMakeOneKey(t *testing.T) {
	url := storetest.URL(t, store.Postgres)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		c := newTestCLI(t)
		c.extra = []string{"--database-url", url}
		cfg := c.config()
		wg.Go(func() {
			a, err := openApp(context.Background(), cfg, io.Discard)
			if err == nil {
				a.close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	started := 0
	for _, err := range errs {
		if err == nil {
			started++
		} else if !strings.Contains(err.Error(), "made key") {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if started != 1 {
		t.Errorf("%d instances started with a key of their own, want 1", started)
	}
}

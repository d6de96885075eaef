package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/store"
)

const backupPassword = "correct horse battery staple 4"

// TestBackupWhileWriting backs up while another connection keeps creating
// users, then restores the copy with the key file into a new data folder
// and signs in there.
func TestBackupWhileWriting(t *testing.T) {
	c := newTestCLI(t)
	token := newWorkspace(t, c)
	a := c.app()
	if _, err := a.svc.AcceptInvitation(t.Context(), sekisho.Anonymous("", ""), token, backupPassword); err != nil {
		t.Fatal(err)
	}
	w, err := workspace(t.Context(), a.svc, "acme")
	if err != nil {
		t.Fatal(err)
	}

	// The writer runs until the backup is done, and at least until it has
	// committed some users after the backup began.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var created atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	var writeErr error // read after wg.Wait
	// waitFor waits until the writer has committed n users, or failed.
	waitFor := func(n int64) {
		for created.Load() < n && !failed.Load() {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Go(func() {
		op := sekisho.Operator("tester", "load during backup")
		for i := 0; ctx.Err() == nil; i++ {
			_, _, err := a.svc.CreateUser(ctx, op, w.ID, auth.NewUser{Email: fmt.Sprintf("u%d@acme.example", i)})
			if err != nil {
				if ctx.Err() == nil {
					writeErr = err
					failed.Store(true)
				}
				return
			}
			created.Add(1)
		}
	})
	waitFor(3)

	to := filepath.Join(t.TempDir(), "copy.db")
	out := c.ok("backup", "--to", to)
	if !strings.Contains(out, to) || !strings.Contains(out, filepath.Join(c.dataDir, "keys")) {
		t.Errorf("backup output names neither the copy nor the key file:\n%s", out)
	}
	during := created.Load()
	waitFor(during + 3)
	cancel()
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writing during the backup: %v", writeErr)
	}

	fi, err := os.Stat(to)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := c.fail("backup", "--to", to); !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
	if after, _ := os.Stat(to); after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Error("the refused backup changed the existing file")
	}

	raw, err := sql.Open("sqlite", "file:"+to+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var users int
	err = raw.QueryRow("PRAGMA integrity_check").Scan(&check)
	if err == nil {
		err = raw.QueryRow("SELECT count(*) FROM users").Scan(&users)
	}
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Errorf("integrity_check of the copy: %q", check)
	}
	// The admin plus the users committed before the copy began, not those
	// after it.
	if users < 1+3 || int64(users-1) >= created.Load() {
		t.Errorf("copy has %d users; %d were created in all, at least 3 before the backup", users, created.Load())
	}

	// Restore: the copy as the database of a new data folder, with the
	// key file, which the copy does not contain.
	r := newTestCLI(t)
	if err := os.Rename(to, filepath.Join(r.dataDir, store.SQLiteFile)); err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile(filepath.Join(c.dataDir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dataDir, "keys"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := r.app().svc.SignIn(t.Context(), sekisho.Anonymous("192.0.2.1", "test"), auth.Credentials{Workspace: "acme", Email: "admin@acme.example", Password: backupPassword})
	if err != nil {
		t.Fatalf("sign-in on the restored copy: %v", err)
	}
	if res.State != sekisho.StepSignedIn || res.SessionToken == "" {
		t.Errorf("sign-in on the restored copy: state %q", res.State)
	}
}

func TestBackupRefuses(t *testing.T) {
	c := newTestCLI(t)
	if err := c.fail("backup"); !isUsage(err) || !strings.Contains(err.Error(), "--to") {
		t.Errorf("without --to: %v", err)
	}
	// No database in the data folder: a wrong --data-dir, not an empty copy.
	to := filepath.Join(t.TempDir(), "copy.db")
	if err := c.fail("backup", "--to", to); !strings.Contains(err.Error(), "no database") {
		t.Errorf("empty data folder: %v", err)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Errorf("a refused backup left %s: %v", to, err)
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, store.SQLiteFile)); !os.IsNotExist(err) {
		t.Errorf("a refused backup created the database: %v", err)
	}
}

package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// startTOTP gives acme's admin a pending TOTP authenticator through the
// service, as account settings would, and returns it.
func startTOTP(t *testing.T, a *app) *auth.TOTPEnrollment {
	t.Helper()
	w, err := a.svc.WorkspaceBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.svc.UserByEmail(t.Context(), sekisho.Operator("test", ""), w.ID, "admin@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	actor := sekisho.Actor{Kind: sekisho.ActorUser, UserID: u.ID, WorkspaceID: w.ID, Role: u.Role, AuthTime: time.Now()}
	e, err := a.svc.StartTOTP(t.Context(), actor, "phone", "")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sealedSecret returns authenticator id's sealed secret and the AD it is
// bound to, read from the database.
func sealedSecret(t *testing.T, c *testCLI, id string) (string, []byte) {
	t.Helper()
	db, err := openDB(t.Context(), c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed string
	var ad []byte
	err = db.View(t.Context(), func(tx *store.Tx) error {
		rows, err := tx.AllAuthenticatorSecrets()
		for _, r := range rows {
			if r[0] == id {
				sealed, ad = r[3], secret.AD(r[1], r[2], r[0])
			}
		}
		return err
	})
	if err != nil || sealed == "" {
		t.Fatalf("authenticator %s: %q, %v", id, sealed, err)
	}
	return sealed, ad
}

func keyLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

func TestKeysRotateReencrypts(t *testing.T) {
	c := newTestCLI(t)
	newWorkspace(t, c)
	a := c.app()
	enrollment := startTOTP(t, a)
	oldKeys := a.keys
	a.close()

	keyFile := filepath.Join(c.dataDir, "keys")
	if n := keyLines(t, keyFile); n != 1 {
		t.Fatalf("key file has %d keys before rotating", n)
	}
	if err := c.fail("keys", "rotate"); !isUsage(err) {
		t.Errorf("rotate without --reason: %v", err)
	}
	if n := keyLines(t, keyFile); n != 1 {
		t.Fatalf("a refused rotate changed the key file: %d keys", n)
	}

	out := c.ok("keys", "rotate", "--reason", "yearly rotation SEC-9")
	if !strings.Contains(out, "Re-encrypted 1 TOTP secrets") {
		t.Errorf("rotate output:\n%s", out)
	}
	if n := keyLines(t, keyFile); n != 2 {
		t.Fatalf("key file has %d keys after rotating, want 2", n)
	}
	newKeys, err := secret.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if newKeys.CurrentID() == oldKeys.CurrentID() {
		t.Fatal("the current key did not change")
	}

	sealed, ad := sealedSecret(t, c, enrollment.ID)
	if !strings.HasPrefix(sealed, newKeys.CurrentID()+":") {
		t.Errorf("secret is sealed as %q, want it under the new key %s", sealed[:20], newKeys.CurrentID())
	}
	seed, err := newKeys.Open(sealed, ad)
	if err != nil {
		t.Fatalf("re-encrypted secret does not open: %v", err)
	}
	if got := totp.EncodeSecret(seed); got != enrollment.Secret {
		t.Errorf("re-encrypted secret is %q, want the enrolled %q", got, enrollment.Secret)
	}
	// The key ring loaded before the rotation follows the file.
	if got, err := oldKeys.Open(sealed, ad); err != nil || totp.EncodeSecret(got) != enrollment.Secret {
		t.Errorf("the key ring loaded before rotating does not open the re-encrypted secret: %v", err)
	}
	// It stays bound to its row.
	if _, err := newKeys.Open(sealed, secret.AD("other", "row", enrollment.ID)); err == nil {
		t.Error("re-encrypted secret opens with another row's AD")
	}

	// The service, started again on the rotated key file, still reads the
	// factor: the pending authenticator confirms with a code of its seed.
	b := c.app()
	w, err := b.svc.WorkspaceBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.svc.UserByEmail(t.Context(), sekisho.Operator("test", ""), w.ID, "admin@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	actor := sekisho.Actor{Kind: sekisho.ActorUser, UserID: u.ID, WorkspaceID: w.ID, Role: u.Role, AuthTime: time.Now()}
	res, err := b.svc.ConfirmTOTP(t.Context(), actor, enrollment.ID, totp.Code(seed, totp.StepAt(time.Now())))
	if err != nil || len(res.RecoveryCodes) == 0 {
		t.Fatalf("confirming the re-encrypted authenticator: %v (%+v)", err, res)
	}
	b.close()

	// The rotation is an operator action in the audit log.
	db, err := openDB(t.Context(), c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var events []*sekisho.AuditEvent
	err = db.View(t.Context(), func(tx *store.Tx) error {
		events, err = tx.AuditEvents(store.AuditFilter{WorkspaceID: "", Type: "keys.rotated", Limit: 10})
		return err
	})
	if err != nil || len(events) != 1 {
		t.Fatalf("keys.rotated events: %v, %v", events, err)
	}
	if e := events[0]; e.ActorKind != sekisho.ActorOperator || e.Reason != "yearly rotation SEC-9" || e.Details["key_id"] != newKeys.CurrentID() || e.Details["reencrypted"] != "1" {
		t.Errorf("keys.rotated event: %+v", e)
	}
}

// A wrong --data-dir must not create a key file and rotate an empty ring.
func TestKeysRotateNeedsAKeyFile(t *testing.T) {
	c := newTestCLI(t)
	err := c.fail("keys", "rotate", "--reason", "x")
	if !strings.Contains(err.Error(), "no key file") {
		t.Errorf("rotate without a key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotate created a key file: %v", err)
	}
}

// With keys in SEKISHO_ENCRYPTION_KEYS nothing is written: the operator
// puts a new key first, and rotate re-encrypts what is under older keys.
func TestKeysRotateWithEnvironmentKeys(t *testing.T) {
	key := func() string {
		b := make([]byte, secret.KeySize)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	old := "old:" + key()
	c := newTestCLI(t)
	c.env["SEKISHO_ENCRYPTION_KEYS"] = old
	newWorkspace(t, c)
	a := c.app()
	enrollment := startTOTP(t, a)
	a.close()
	if out := c.ok("keys", "rotate", "--reason", "nothing new"); !strings.Contains(out, "Re-encrypted 0 TOTP secrets under key old") {
		t.Errorf("rotate with the same keys:\n%s", out)
	}

	c.env["SEKISHO_ENCRYPTION_KEYS"] = "new:" + key() + "," + old
	if out := c.ok("keys", "rotate", "--reason", "new key"); !strings.Contains(out, "Re-encrypted 1 TOTP secrets under key new") {
		t.Errorf("rotate with a new first key:\n%s", out)
	}
	sealed, ad := sealedSecret(t, c, enrollment.ID)
	keys, err := secret.ParseKeyring(c.env["SEKISHO_ENCRYPTION_KEYS"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "new:") {
		t.Errorf("sealed under %q", sealed[:4])
	}
	if _, err := keys.Open(sealed, ad); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written although keys come from the environment: %v", err)
	}

	// Dropping the old key before re-encrypting fails and changes nothing.
	c.env["SEKISHO_ENCRYPTION_KEYS"] = "newer:" + key()
	if err := c.fail("keys", "rotate", "--reason", "too early"); !errors.Is(err, secret.ErrUnknownKey) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("rotate without the old key: %v", err)
	}
	if again, _ := sealedSecret(t, c, enrollment.ID); again != sealed {
		t.Error("a failed rotate changed the secret")
	}
}

package secret_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/secret"
)

// A server's key ring picks up a key that `keys rotate` (another process)
// appended to the file, the first time it meets a value sealed with it, and
// from then on seals with it too.
func TestKeyringReloadsKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	server, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ad := secret.AD("ws", "user", "auth")
	before := mustSeal(t, server, seed, ad)

	// The operator's process: append a key, load the file and re-seal.
	newID, err := secret.AddKeyToFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := secret.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	after := mustSeal(t, rotated, seed, ad)

	// Many requests meet the new key at once; all open it.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := server.Open(after, ad)
			if err != nil || !bytes.Equal(got, seed) {
				t.Errorf("the running key ring opens the re-sealed value: %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if server.CurrentID() != newID {
		t.Errorf("current key after reload = %s, want the file's %s", server.CurrentID(), newID)
	}
	if s := mustSeal(t, server, seed, ad); !rotated.IsCurrent(s) {
		t.Errorf("after reload the server seals with %q, want the new key %s", s[:len(newID)], newID)
	}
	// Values under the old key still open.
	if got, err := server.Open(before, ad); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("old value after reload: %q, %v", got, err)
	}
}

// An unknown key id reads the file at most once per interval, so a corrupt
// row requested in a loop cannot turn into a file read per request; and a
// key ring given as a list (--encryption-keys) never reads anything.
func TestKeyringReloadIsRateLimited(t *testing.T) {
	defer secret.SetReloadInterval(time.Hour)()
	path := filepath.Join(t.TempDir(), "keys")
	k, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	later := randomKey(t)
	other := mustKeyring(t, map[string][]byte{"later": later}, "later")
	sealed := mustSeal(t, other, seed, nil)

	if _, err := k.Open(sealed, nil); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("Open under a key in no file: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("later " + base64.StdEncoding.EncodeToString(later) + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Within the interval the file is not read again.
	if _, err := k.Open(sealed, nil); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("Open re-read the file within the interval: %v", err)
	}
	// Once the interval allows it, the key is found.
	secret.SetReloadInterval(0)
	if got, err := k.Open(sealed, nil); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("Open after the interval: %q, %v", got, err)
	}

	fixed, err := secret.ParseKeyring("only:" + base64.StdEncoding.EncodeToString(randomKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixed.Open(sealed, nil); !errors.Is(err, secret.ErrUnknownKey) {
		t.Errorf("a key list opened a value under another key: %v", err)
	}
}

package secret_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/secret"
)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, secret.KeySize)
	rand.Read(k)
	return k
}

func mustKeyring(t testing.TB, keys map[string][]byte, current string) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(keys, current)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func mustSeal(t testing.TB, k *secret.Keyring, plaintext, ad []byte) string {
	t.Helper()
	s, err := k.Seal(plaintext, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

// A TOTP seed is 20 random bytes.
var seed = []byte("12345678901234567890")

func TestKeyringRoundTrip(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	ad := secret.AD("ws1", "user1", "auth1")
	for _, plaintext := range [][]byte{seed, {}, bytes.Repeat([]byte{0xff}, 1000)} {
		sealed := mustSeal(t, k, plaintext, ad)
		if !strings.HasPrefix(sealed, "k1:") {
			t.Errorf("sealed = %q, want prefix k1:", sealed)
		}
		if strings.Contains(sealed, string(seed)) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := k.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("Open = %x, want %x", got, plaintext)
		}
	}
}

func TestKeyringSealFormat(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k-1_A": randomKey(t)}, "k-1_A")
	sealed := mustSeal(t, k, seed, nil)
	id, b64, ok := strings.Cut(sealed, ":")
	if !ok || id != "k-1_A" {
		t.Fatalf("sealed = %q, want k-1_A:...", sealed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("payload is not unpadded base64url: %v", err)
	}
	// 12-byte nonce, ciphertext as long as the plaintext, 16-byte tag.
	if want := 12 + len(seed) + 16; len(raw) != want {
		t.Errorf("payload is %d bytes, want %d", len(raw), want)
	}
}

func TestKeyringWrongADFails(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	sealed := mustSeal(t, k, seed, secret.AD("ws1", "alice", "auth1"))

	// The same ciphertext copied into rows that belong to someone else.
	for _, ad := range [][]byte{
		secret.AD("ws1", "mallory", "auth1"),
		secret.AD("ws2", "alice", "auth1"),
		secret.AD("ws1", "alice", "auth2"),
		secret.AD("ws1", "alice"),
		secret.AD("ws1alice", "auth1"),
		nil,
	} {
		got, err := k.Open(sealed, ad)
		if !errors.Is(err, secret.ErrOpen) {
			t.Errorf("Open with ad %q: err = %v, want ErrOpen", ad, err)
		}
		if got != nil {
			t.Errorf("Open with ad %q returned plaintext", ad)
		}
	}
}

func TestADIsUnambiguous(t *testing.T) {
	lists := [][]string{
		{},
		{""},
		{"", ""},
		{"a"},
		{"a", ""},
		{"", "a"},
		{"ab", "c"},
		{"a", "bc"},
		{"abc"},
		{"a", "b", "c"},
		{"\x00\x00\x00\x01a"},
		{"a", "\x00\x00\x00\x00"},
	}
	seen := make(map[string][]string)
	for _, parts := range lists {
		ad := string(secret.AD(parts...))
		if prev, dup := seen[ad]; dup {
			t.Errorf("AD(%q) == AD(%q)", parts, prev)
		}
		seen[ad] = parts
	}
	if !bytes.Equal(secret.AD("w", "u", "a"), secret.AD("w", "u", "a")) {
		t.Error("AD is not deterministic")
	}
}

func TestKeyringTamperedCiphertextFails(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	ad := secret.AD("ws1", "user1", "auth1")
	sealed := mustSeal(t, k, seed, ad)
	b64 := strings.TrimPrefix(sealed, "k1:")
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one bit in every byte: nonce, ciphertext and tag alike.
	for i := range raw {
		tampered := bytes.Clone(raw)
		tampered[i] ^= 0x01
		if _, err := k.Open("k1:"+base64.RawURLEncoding.EncodeToString(tampered), ad); !errors.Is(err, secret.ErrOpen) {
			t.Errorf("byte %d flipped: err = %v, want ErrOpen", i, err)
		}
	}
	// Truncated and extended.
	for _, bad := range [][]byte{raw[:len(raw)-1], raw[:16], raw[:0], append(bytes.Clone(raw), 0)} {
		if _, err := k.Open("k1:"+base64.RawURLEncoding.EncodeToString(bad), ad); !errors.Is(err, secret.ErrOpen) {
			t.Errorf("%d bytes: err = %v, want ErrOpen", len(bad), err)
		}
	}
}

func TestKeyringOpenRefusesMalformed(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	good := mustSeal(t, k, seed, nil)
	payload := strings.TrimPrefix(good, "k1:")
	for _, sealed := range []string{
		"",
		":",
		"k1",
		"k1:",
		payload,
		":" + payload,
		"k1:" + payload + "=",
		"k1:" + payload + "!",
		"k1:" + payload[:5] + "+" + payload[6:],
		"k1:" + payload[:5] + "\n" + payload[5:],
		"k1 :" + payload,
		"k1:" + payload + "\n",
		"K1:" + payload,
		"k1:k1:" + payload,
		strings.Repeat("k", 33) + ":" + payload,
	} {
		got, err := k.Open(sealed, nil)
		if !errors.Is(err, secret.ErrOpen) || got != nil {
			t.Errorf("Open(%q) = %x, %v; want ErrOpen", sealed, got, err)
		}
	}
}

func TestKeyringSealsDiffer(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	ad := secret.AD("ws1", "user1", "auth1")
	seen := make(map[string]bool)
	for range 100 {
		s := mustSeal(t, k, seed, ad)
		if seen[s] {
			t.Fatalf("two seals of the same plaintext gave %q", s)
		}
		seen[s] = true
	}
}

func TestKeyringRotation(t *testing.T) {
	oldKey, newKey := randomKey(t), randomKey(t)
	before := mustKeyring(t, map[string][]byte{"old": oldKey}, "old")
	ad := secret.AD("ws1", "user1", "auth1")
	oldSealed := mustSeal(t, before, seed, ad)

	after := mustKeyring(t, map[string][]byte{"old": oldKey, "new": newKey}, "new")
	if after.CurrentID() != "new" {
		t.Errorf("CurrentID = %q, want new", after.CurrentID())
	}
	got, err := after.Open(oldSealed, ad)
	if err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("old value after rotation: %x, %v", got, err)
	}
	if after.IsCurrent(oldSealed) {
		t.Error("IsCurrent(old value) = true after rotation")
	}
	newSealed := mustSeal(t, after, got, ad)
	if !strings.HasPrefix(newSealed, "new:") || !after.IsCurrent(newSealed) {
		t.Errorf("re-sealed value %q is not under the current key", newSealed)
	}
	if !before.IsCurrent(oldSealed) {
		t.Error("IsCurrent = false for a value sealed with the current key")
	}
	for _, s := range []string{"", "new", "newx:abc", ":new"} {
		if after.IsCurrent(s) {
			t.Errorf("IsCurrent(%q) = true", s)
		}
	}

	// A ring that dropped the old key says which key is missing.
	dropped := mustKeyring(t, map[string][]byte{"new": newKey}, "new")
	_, err = dropped.Open(oldSealed, ad)
	if !errors.Is(err, secret.ErrUnknownKey) || !errors.Is(err, secret.ErrOpen) {
		t.Errorf("Open with the key removed: err = %v, want ErrUnknownKey", err)
	}
	if err != nil && !strings.Contains(err.Error(), `"old"`) {
		t.Errorf("error %q does not name the missing key", err)
	}

	// Another key under the same id does not open it either.
	impostor := mustKeyring(t, map[string][]byte{"old": randomKey(t)}, "old")
	if _, err := impostor.Open(oldSealed, ad); !errors.Is(err, secret.ErrOpen) {
		t.Errorf("Open with a different key of the same id: err = %v", err)
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	good := randomKey(t)
	for name, tc := range map[string]struct {
		keys    map[string][]byte
		current string
	}{
		"no keys":         {map[string][]byte{}, "k1"},
		"nil keys":        {nil, ""},
		"current missing": {map[string][]byte{"k1": good}, "k2"},
		"short key":       {map[string][]byte{"k1": good[:16]}, "k1"},
		"long key":        {map[string][]byte{"k1": append(bytes.Clone(good), 0)}, "k1"},
		"empty id":        {map[string][]byte{"": good}, ""},
		"colon in id":     {map[string][]byte{"k:1": good}, "k:1"},
		"space in id":     {map[string][]byte{"k 1": good}, "k 1"},
		"id too long":     {map[string][]byte{strings.Repeat("k", 33): good}, strings.Repeat("k", 33)},
	} {
		if k, err := secret.NewKeyring(tc.keys, tc.current); err == nil {
			t.Errorf("%s: NewKeyring = %v, want an error", name, k)
		}
	}
	id32 := strings.Repeat("k", 32)
	if _, err := secret.NewKeyring(map[string][]byte{id32: good}, id32); err != nil {
		t.Errorf("32-character id refused: %v", err)
	}
}

func TestKeyringStringHidesKeys(t *testing.T) {
	key := randomKey(t)
	k := mustKeyring(t, map[string][]byte{"k1": key, "k2": randomKey(t)}, "k2")
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, k)
		if !strings.Contains(out, "k1") || !strings.Contains(out, "current: k2") {
			t.Errorf("%s = %q, want key ids", format, out)
		}
		if strings.Contains(out, base64.StdEncoding.EncodeToString(key)) || strings.Contains(out, fmt.Sprintf("%x", key[:8])) {
			t.Errorf("%s shows key material", format)
		}
	}
}

func TestKeyringConcurrentUse(t *testing.T) {
	k := mustKeyring(t, map[string][]byte{"k1": randomKey(t)}, "k1")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ad := secret.AD("ws", fmt.Sprint(i))
			for range 100 {
				s, err := k.Seal(seed, ad)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := k.Open(s, ad); err != nil || !bytes.Equal(got, seed) {
					t.Errorf("Open = %x, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func b64(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

func TestParseKeyring(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	k, err := secret.ParseKeyring("new:" + b64(k2) + ", old:" + b64(k1))
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	if k.CurrentID() != "new" {
		t.Errorf("CurrentID = %q, want the first key, new", k.CurrentID())
	}
	old := mustKeyring(t, map[string][]byte{"old": k1}, "old")
	sealed := mustSeal(t, old, seed, nil)
	if got, err := k.Open(sealed, nil); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("Open of a value sealed with the second key: %x, %v", got, err)
	}

	single, err := secret.ParseKeyring("k1:" + b64(k1))
	if err != nil || single.CurrentID() != "k1" {
		t.Errorf("single key: %v, %v", single, err)
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	key := randomKey(t)
	for _, spec := range []string{
		"",
		" ",
		"k1",
		b64(key),
		"k1:" + b64(key) + ",",
		"k1:" + b64(key) + ",k1:" + b64(randomKey(t)),
		"k1:" + b64(key[:31]),
		"k1:" + b64(append(bytes.Clone(key), 1)),
		"k1:" + base64.RawStdEncoding.EncodeToString(key[:30]) + "!!",
		"k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		"k 1:" + b64(key),
		":" + b64(key),
		"k1:" + b64(key) + ":x",
	} {
		k, err := secret.ParseKeyring(spec)
		if err == nil {
			t.Errorf("ParseKeyring(%q) = %v, want an error", spec, k)
			continue
		}
		if strings.Contains(err.Error(), b64(key)) || strings.Contains(err.Error(), b64(key)[:20]) {
			t.Errorf("error %q quotes the key", err)
		}
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is cut by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyFile(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	path := filepath.Join(t.TempDir(), "keys")
	writeFile(t, path, "# sekisho keys\n\n  k1 "+b64(k1)+"\n# rotated\nk2\t"+b64(k2), 0o600)
	k, err := secret.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile: %v", err)
	}
	if k.CurrentID() != "k2" {
		t.Errorf("CurrentID = %q, want the last key, k2", k.CurrentID())
	}
	sealed := mustSeal(t, mustKeyring(t, map[string][]byte{"k1": k1}, "k1"), seed, nil)
	if got, err := k.Open(sealed, nil); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("Open with the first key of the file: %x, %v", got, err)
	}
	writeFile(t, path, "k1 "+b64(k1)+"\n", 0o400)
	if _, err := secret.LoadKeyFile(path); err != nil {
		t.Errorf("read-only 0400 file refused: %v", err)
	}
}

func TestLoadKeyFileRefusesOpenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601} {
		writeFile(t, path, "k1 "+b64(randomKey(t))+"\n", mode)
		k, err := secret.LoadKeyFile(path)
		if err == nil {
			t.Errorf("mode %04o: LoadKeyFile = %v, want an error", mode, k)
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) {
			t.Errorf("mode %04o: error %q does not say what is wrong and how to fix it", mode, err)
		}
	}
}

func TestLoadKeyFileRefusesBadContent(t *testing.T) {
	key := b64(randomKey(t))
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":         "",
		"only comments": "# nothing here\n\n",
		"one field":     "k1\n",
		"three fields":  "k1 " + key + " extra\n",
		"colon format":  "k1:" + key + "\n",
		"short key":     "k1 " + b64(randomKey(t)[:16]) + "\n",
		"duplicate id":  "k1 " + key + "\nk1 " + b64(randomKey(t)) + "\n",
		"bad id":        "k/1 " + key + "\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		writeFile(t, path, content, 0o600)
		k, err := secret.LoadKeyFile(path)
		if err == nil {
			t.Errorf("%s: LoadKeyFile = %v, want an error", name, k)
			continue
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q quotes the key", name, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := secret.LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	if _, err := secret.LoadKeyFile(dir); err == nil {
		t.Error("a directory was accepted as a key file")
	}
}

var generatedID = regexp.MustCompile(`^k[0-9]{8}-[0-9a-f]{4}$`)

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "sekisho")
	path := filepath.Join(dir, "keys")
	k, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKeyFile: %v", err)
	}
	if !generatedID.MatchString(k.CurrentID()) {
		t.Errorf("CurrentID = %q, want k<yyyymmdd>-<4 hex>", k.CurrentID())
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700, filepath.Dir(dir): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", p, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only the key file", entries, err)
	}

	ad := secret.AD("ws1", "user1", "auth1")
	sealed := mustSeal(t, k, seed, ad)
	for range 3 {
		again, err := secret.LoadOrCreateKeyFile(path)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if again.CurrentID() != k.CurrentID() {
			t.Errorf("reload: CurrentID = %q, want %q", again.CurrentID(), k.CurrentID())
		}
		if got, err := again.Open(sealed, ad); err != nil || !bytes.Equal(got, seed) {
			t.Errorf("reload: Open = %x, %v", got, err)
		}
	}
	loaded, err := secret.LoadKeyFile(path)
	if err != nil || loaded.CurrentID() != k.CurrentID() {
		t.Errorf("LoadKeyFile of the created file: %v, %v", loaded, err)
	}

	// An existing file with open permissions is refused, not replaced.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secret.LoadOrCreateKeyFile(path); err == nil {
		t.Error("LoadOrCreateKeyFile accepted a 0644 key file")
	}
}

func TestLoadOrCreateKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	const n = 8
	rings := make([]*secret.Keyring, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := secret.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Errorf("LoadOrCreateKeyFile: %v", err)
			}
			rings[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sealed := mustSeal(t, rings[0], seed, nil)
	for i, k := range rings {
		if k.CurrentID() != rings[0].CurrentID() {
			t.Errorf("process %d got key %q, process 0 got %q", i, k.CurrentID(), rings[0].CurrentID())
		}
		if _, err := k.Open(sealed, nil); err != nil {
			t.Errorf("process %d cannot open process 0's value: %v", i, err)
		}
	}
}

func TestAddKeyToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	k, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ad := secret.AD("ws1", "user1", "auth1")
	oldSealed := mustSeal(t, k, seed, ad)

	ids := map[string]bool{k.CurrentID(): true}
	var last string
	for range 3 {
		id, err := secret.AddKeyToFile(path)
		if err != nil {
			t.Fatalf("AddKeyToFile: %v", err)
		}
		if !generatedID.MatchString(id) || ids[id] {
			t.Errorf("AddKeyToFile = %q, want a new k<yyyymmdd>-<4 hex> id", id)
		}
		ids[id] = true
		last = id
	}
	rotated, err := secret.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile after rotation: %v", err)
	}
	if rotated.CurrentID() != last {
		t.Errorf("CurrentID = %q, want the added key %q", rotated.CurrentID(), last)
	}
	if got, err := rotated.Open(oldSealed, ad); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("value sealed before rotation: %x, %v", got, err)
	}
	if rotated.IsCurrent(oldSealed) {
		t.Error("value sealed before rotation reported current")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after rotation: %v, %v", fi, err)
	}
	content, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(content), "#") {
		t.Errorf("the header comment was lost:\n%s", content)
	}
}

func TestAddKeyToFileWithoutFinalNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	writeFile(t, path, "k1 "+b64(randomKey(t)), 0o600)
	id, err := secret.AddKeyToFile(path)
	if err != nil {
		t.Fatalf("AddKeyToFile: %v", err)
	}
	k, err := secret.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile: %v", err)
	}
	if k.CurrentID() != id {
		t.Errorf("CurrentID = %q, want %q", k.CurrentID(), id)
	}
}

func TestAddKeyToFileRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := secret.AddKeyToFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("AddKeyToFile created a missing file")
	}
	open := filepath.Join(dir, "open")
	content := "k1 " + b64(randomKey(t)) + "\n"
	writeFile(t, open, content, 0o644)
	if _, err := secret.AddKeyToFile(open); err == nil {
		t.Error("AddKeyToFile accepted a 0644 key file")
	}
	broken := filepath.Join(dir, "broken")
	writeFile(t, broken, "garbage\n", 0o600)
	if _, err := secret.AddKeyToFile(broken); err == nil {
		t.Error("AddKeyToFile appended to a malformed key file")
	}
	if got, _ := os.ReadFile(open); string(got) != content {
		t.Errorf("0644 file was changed: %q", got)
	}
	if got, _ := os.ReadFile(broken); string(got) != "garbage\n" {
		t.Errorf("malformed file was changed: %q", got)
	}
}

func FuzzKeyringOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, secret.KeySize)
	k, err := secret.NewKeyring(map[string][]byte{"k1": key}, "k1")
	if err != nil {
		f.Fatal(err)
	}
	ad := secret.AD("ws", "user", "auth")
	sealed, _ := k.Seal(seed, ad)
	f.Add(sealed)
	f.Add("k1:")
	f.Add("k1:AAAA")
	f.Add("k2:" + strings.TrimPrefix(sealed, "k1:"))
	f.Add(":::")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := k.Open(s, ad)
		if err != nil {
			if got != nil || !errors.Is(err, secret.ErrOpen) {
				t.Errorf("Open(%q) = %x, %v", s, got, err)
			}
			return
		}
		// Forging a value is out of reach: only a seal of seed under k1
		// opens. (Fuzz workers each make their own seal, so compare the
		// plaintext, not the sealed string.)
		if !strings.HasPrefix(s, "k1:") || !bytes.Equal(got, seed) {
			t.Errorf("Open(%q) = %x, a forgery", s, got)
		}
	})
}

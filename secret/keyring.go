package secret

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeySize is the length of every key in a Keyring: AES-256.
const KeySize = 32

// maxKeyIDLen keeps key ids short because every sealed value repeats one.
const maxKeyIDLen = 32

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

var (
	// ErrOpen is wrapped by every error of Keyring.Open. A sealed value that
	// does not open means a corrupt row, a value copied from another row, or
	// a missing key: never the user's fault, so callers treat it as internal.
	ErrOpen = errors.New("secret: cannot open sealed value")

	// ErrUnknownKey tells an operator that a key was removed from the ring
	// while values sealed with it remain; it also matches ErrOpen.
	ErrUnknownKey = fmt.Errorf("%w: its key is not in the key ring", ErrOpen)
)

// Keyring encrypts small secrets (TOTP seeds) with AES-256-GCM under one of
// several keys. Keeping the old keys next to the current one lets an operator
// rotate: new values are sealed with the current key while values sealed
// earlier still open, until they are re-sealed (see IsCurrent).
//
// A Keyring loaded from a key file follows that file: when asked to open a
// value under a key id it does not hold, it reads the file again (at most
// once per reloadInterval) and adopts its keys and its current key. That is
// what lets `sekisho keys rotate` append a key and re-seal every value while
// servers run: the first value they meet under the new key makes them load
// it. Values under known keys never touch the file.
//
// A Keyring is safe for concurrent use. It does not keep the raw key bytes,
// only the ciphers built from them.
type Keyring struct {
	ring atomic.Pointer[ring]
	path string // the key file to re-read; "" for a fixed ring

	reloadMu   sync.Mutex
	lastReload time.Time // when path was last re-read, under reloadMu
}

// ring is one immutable set of keys; a Keyring swaps it whole on reload, so
// Seal and Open read a consistent current key and cipher map without a lock.
type ring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// reloadInterval bounds how often a value under an unknown key id (a
// corrupt row, or a key really missing) can make the Keyring read its file.
var reloadInterval = time.Second

// NewKeyring builds a key ring from keys by id; current is the id used to
// seal. Every key must be exactly KeySize bytes, so a truncated or mistyped
// key fails at startup instead of weakening encryption.
func NewKeyring(keys map[string][]byte, current string) (*Keyring, error) {
	r, err := newRing(keys, current)
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	k.ring.Store(r)
	return k, nil
}

func newRing(keys map[string][]byte, current string) (*ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret: the key ring has no keys")
	}
	k := &ring{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("secret: key %q is %d bytes, want %d", id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: %w", id, err)
		}
		// The random-nonce mode draws a fresh 96-bit nonce per Seal and
		// prepends it, so a nonce is never chosen (or reused) by our code.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: %w", id, err)
		}
		k.aeads[id] = aead
	}
	if _, ok := k.aeads[current]; !ok {
		return nil, fmt.Errorf("secret: the current key %q is not in the key ring", current)
	}
	return k, nil
}

func checkKeyID(id string) error {
	if !keyIDPattern.MatchString(id) {
		return fmt.Errorf("secret: invalid key id %q: use 1 to %d of A-Z, a-z, 0-9, '_' and '-'", id, maxKeyIDLen)
	}
	return nil
}

// ParseKeyring parses "id1:base64key,id2:base64key" as given in
// SEKISHO_ENCRYPTION_KEYS or --encryption-keys; each key is the standard
// base64 of 32 bytes (as from `openssl rand -base64 32`). The first key is
// current, so rotating means putting a new key in front and keeping the rest.
func ParseKeyring(spec string) (*Keyring, error) {
	keys := make(map[string][]byte)
	var current string
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("secret: encryption key %d: want id:base64key", i+1)
		}
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		key, err := decodeKey(id, b64, keys)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i+1, err)
		}
		keys[id] = key
		if i == 0 {
			current = id
		}
	}
	return NewKeyring(keys, current)
}

// decodeKey checks one id and key of a key list. Its errors never quote the
// key material, since they end up in logs.
func decodeKey(id, b64 string, seen map[string][]byte) ([]byte, error) {
	if err := checkKeyID(id); err != nil {
		return nil, err
	}
	if _, dup := seen[id]; dup {
		return nil, fmt.Errorf("secret: key id %q appears twice", id)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("secret: key %q is not standard base64", id)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key %q is %d bytes, want %d", id, len(key), KeySize)
	}
	return key, nil
}

// LoadKeyFile reads a key file: one "id base64key" per line, blank lines and
// lines starting with '#' ignored. The last key is current, so rotation
// appends a line (AddKeyToFile). A file that group or others may read is
// refused: it holds the only thing standing between a copied database and
// every user's TOTP seed. The Keyring re-reads the file when it meets a key
// id it does not hold (see Keyring).
func LoadKeyFile(path string) (*Keyring, error) {
	r, _, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k := &Keyring{path: path}
	k.ring.Store(r)
	return k, nil
}

// readKeyFile returns the keys and the file's raw content, read through
// one open file so the permission check and the content cannot disagree.
func readKeyFile(path string) (*ring, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secret: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("secret: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	// Windows has no such permission bits; os reports 0666 for every file.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, nil, fmt.Errorf("secret: key file %s has mode %04o, so group or others can read it; run: chmod 600 %s", path, perm, path)
	}
	content, err := readAllLimited(f, 1<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	k, err := parseKeyFile(content)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, content, nil
}

// readAllLimited refuses absurdly large files: a key file is a few lines,
// and a wrong path (a log, a device) should fail fast.
func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("too large for a key file")
	}
	return b, nil
}

func parseKeyFile(content []byte) (*ring, error) {
	keys := make(map[string][]byte)
	var current string
	sc := bufio.NewScanner(bytes.NewReader(content))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"id base64key\"", line)
		}
		key, err := decodeKey(fields[0], fields[1], keys)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		keys[fields[0]] = key
		current = fields[0]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("secret: the key file has no keys")
	}
	return newRing(keys, current)
}

// keyFileHeader is written at the top of a new key file for the operator
// who finds it later.
const keyFileHeader = `# sekisho encryption keys: one "id base64key" per line; the last line is the
# current key. Keep older keys until every value sealed with them is re-sealed.
`

// LoadOrCreateKeyFile loads the key file at path or, when there is none,
// creates it (mode 0600, parent directories 0700) with one new random key, so
// a first start needs no setup and still keeps the key out of the database.
// When two processes race to create it, both end up with the same file.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	k, err := LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret: key file directory: %w", err)
	}
	id, line := newKeyLine(nil)
	if err := createExclusive(path, []byte(keyFileHeader+line)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKeyFile(path) // another process won the race
		}
		return nil, err
	}
	k, err = LoadKeyFile(path)
	if err == nil && k.CurrentID() != id {
		return nil, fmt.Errorf("secret: key file %s changed while it was being created", path)
	}
	return k, err
}

// createExclusive writes content to a temporary file beside path and links
// it into place only when complete: a crash never leaves a half-written key
// file, and an existing file is never replaced.
func createExclusive(path string, content []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable. It is best effort: some
// systems cannot fsync a directory, and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// AddKeyToFile appends a new random key to the key file at path, which makes
// it the current key, and returns its id (`sekisho keys rotate`). The file is
// validated first and then appended to in place, with one write, so that its
// owner and mode stay as the operator set them: rewriting it through a
// temporary file would hand it to whoever ran the command (often root), and
// the server could no longer read it.
func AddKeyToFile(path string) (string, error) {
	k, content, err := readKeyFile(path)
	if err != nil {
		return "", err
	}
	id, line := newKeyLine(k)
	if len(content) > 0 && content[len(content)-1] != '\n' {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return "", fmt.Errorf("secret: key file: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return "", fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret: key file %s: %w", path, err)
	}
	return id, nil
}

// newKeyLine makes a new random key and its key file line. The id names the
// day it was made, which tells an operator how old each key is; the random
// suffix keeps two keys made the same day apart.
func newKeyLine(existing *ring) (id, line string) {
	for {
		var suffix [2]byte
		rand.Read(suffix[:])
		id = "k" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(suffix[:])
		if existing == nil || existing.aeads[id] == nil {
			break
		}
	}
	key := make([]byte, KeySize)
	rand.Read(key)
	return id, id + " " + base64.StdEncoding.EncodeToString(key) + "\n"
}

// CurrentID returns the id of the key that Seal uses.
func (k *Keyring) CurrentID() string { return k.ring.Load().current }

// String names the keys, never their material, so a key ring that ends up
// in a log line or an error message gives nothing away.
func (k *Keyring) String() string {
	r := k.ring.Load()
	ids := make([]string, 0, len(r.aeads))
	for id := range r.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return fmt.Sprintf("secret.Keyring{current: %s, keys: %s}", r.current, strings.Join(ids, " "))
}

// GoString keeps %#v from printing the ciphers' internals.
func (k *Keyring) GoString() string { return k.String() }

// Seal encrypts plaintext with the current key, bound to ad: the caller
// passes AD(workspaceID, userID, authenticatorID), so that a value copied
// into another row fails to open there. The result is "keyid:" followed by
// the unpadded base64url of nonce||ciphertext||tag, a plain string that fits
// any text column.
func (k *Keyring) Seal(plaintext, ad []byte) (string, error) {
	r := k.ring.Load()
	out := r.aeads[r.current].Seal(nil, nil, plaintext, ad)
	return r.current + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with any key of the ring. A value that
// is malformed, tampered with, sealed with another ad or under an unknown
// key returns an error wrapping ErrOpen.
func (k *Keyring) Open(sealed string, ad []byte) ([]byte, error) {
	id, b64, ok := strings.Cut(sealed, ":")
	if !ok || !keyIDPattern.MatchString(id) {
		return nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	aead, ok := k.ring.Load().aeads[id]
	if !ok {
		var err error
		if aead, err = k.reload(id); err != nil {
			return nil, err
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(b64)
	// The decoder skips CR and LF; refuse them so each value has one spelling.
	if err != nil || base64.RawURLEncoding.EncodedLen(len(raw)) != len(b64) {
		return nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	if len(raw) < aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	plaintext, err := aead.Open(nil, nil, raw, ad)
	if err != nil {
		// Deliberately vague: tampering and a foreign ad look the same.
		return nil, fmt.Errorf("%w: authentication failed (key %q)", ErrOpen, id)
	}
	return plaintext, nil
}

// IsCurrent reports whether sealed was made with the current key; values for
// which it is false are the ones to re-seal after a rotation.
func (k *Keyring) IsCurrent(sealed string) bool {
	id, _, ok := strings.Cut(sealed, ":")
	return ok && id == k.ring.Load().current
}

// reload re-reads the key file for a value sealed under id, which the ring
// does not hold: `sekisho keys rotate` in another process may have added it
// and re-sealed the value. Keys already held stay as they are (an id names
// one key for good, and values this process sealed must keep opening even if
// the file lost a line); new ids are added and the file's current key
// becomes the one Seal uses. Callers waiting here while another reloads find
// the key without reading the file again.
func (k *Keyring) reload(id string) (cipher.AEAD, error) {
	if k.path == "" {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	old := k.ring.Load()
	if aead, ok := old.aeads[id]; ok {
		return aead, nil
	}
	now := time.Now()
	if now.Sub(k.lastReload) < reloadInterval {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	k.lastReload = now
	fresh, _, err := readKeyFile(k.path)
	if err != nil {
		return nil, fmt.Errorf("%w %q, and re-reading the key file failed: %v", ErrUnknownKey, id, err)
	}
	merged := &ring{current: fresh.current, aeads: make(map[string]cipher.AEAD, len(fresh.aeads)+len(old.aeads))}
	maps.Copy(merged.aeads, fresh.aeads)
	maps.Copy(merged.aeads, old.aeads)
	k.ring.Store(merged)
	aead, ok := merged.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q (nor in the key file %s)", ErrUnknownKey, id, k.path)
	}
	return aead, nil
}

// AD builds additional data from parts so that different lists never give
// the same bytes: each part is preceded by its length. Plain concatenation
// would let ("ab", "c") and ("a", "bc") share a ciphertext binding.
func AD(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

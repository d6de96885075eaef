package secret

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. They are stored inside every hash,
// so they can be raised later without invalidating existing passwords.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's argon2id minimum (see SECURITY.md): about 19 MiB
// and a few tens of milliseconds per hash, cheap enough to serve sign-in
// floods through a Hasher's queue and costly enough to slow offline guessing.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters that a Hasher uses or accepts from a stored hash.
// A corrupted or planted row must not make one Verify allocate gigabytes or
// run for minutes, and a hash shorter than minKeyLen (at worst empty) would
// match any password.
const (
	maxMemory     = 1 << 20 // KiB: 1 GiB
	maxTime       = 32
	minSaltLen    = 8 // the argon2 specification's minimum
	maxSaltLen    = 1024
	minKeyLen     = 16
	maxKeyLen     = 1024
	maxEncodedLen = 4096 // more than the longest string the bounds above allow
)

// ErrMalformedHash is wrapped by every error that Verify returns for a stored
// hash it cannot use. The stored value comes from our own database, so this
// is never the user's fault: callers treat it as internal.
var ErrMalformedHash = errors.New("secret: malformed password hash")

// phcBase64 is the PHC string format's base64: standard alphabet, no padding.
// Strict decoding refuses non-canonical trailing bits, so each hash has
// exactly one accepted spelling.
var phcBase64 = base64.RawStdEncoding.Strict()

// Hasher bounds how many hashes run at once so that a flood of sign-ins
// queues instead of exhausting memory: each argon2id computation holds
// Params.Memory KiB until it ends. Create it with NewHasher; it is safe for
// concurrent use.
type Hasher struct {
	params Params
	slots  chan struct{} // one token per running hash
	dummy  string        // a hash with params that no password matches, for VerifyDummy
}

// NewHasher returns a Hasher that runs at most maxConcurrent hashes at once
// (runtime.GOMAXPROCS(0) when maxConcurrent <= 0: argon2id with one thread is
// CPU-bound, so more would only add memory, not throughput). Peak memory is
// about maxConcurrent × p.Memory KiB.
//
// It panics if p is outside the bounds that Verify accepts, so that a
// misconfiguration fails at startup rather than producing hashes that can
// never be verified.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if err := p.check(); err != nil {
		panic(fmt.Sprintf("secret: NewHasher: invalid params %+v: %v", p, err))
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Hasher{
		params: p,
		slots:  make(chan struct{}, maxConcurrent),
		// An all-zero key: argon2id producing it is as likely as guessing a
		// random KeyLen-byte value.
		dummy: encodePHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen)),
	}
}

// Hash returns password's argon2id hash as a PHC string with a new random
// salt. The password is hashed as its exact UTF-8 bytes: never truncated,
// normalized or case-folded, so every character counts. Whether a password
// is acceptable is CheckPassword's decision, not Hash's.
//
// Hash waits for a free slot and returns ctx.Err() if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: reading salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, a PHC string from Hash.
// needsRehash is true when encoded used weaker params than h's (so the caller
// re-hashes after a successful sign-in); it is only ever true together with
// ok, because re-hashing needs the right password.
//
// A stored hash that is not a well-formed argon2id PHC string, or whose
// parameters are out of bounds, yields an error wrapping ErrMalformedHash
// without any hashing. Verify waits for a free slot and returns ctx.Err() if
// ctx ends first.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	// Constant time, so the response time does not reveal how many leading
	// bytes of a guess's hash were right.
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.params), nil
}

// VerifyDummy spends the same time as a real Verify, for unknown accounts, so
// timing does not reveal whether an email exists. It goes through the same
// parsing, queue and hashing as Verify, against a hash with h's params.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	_, _, _ = h.Verify(ctx, h.dummy, password)
}

// derive runs argon2id once a slot is free. A context that has already ended
// wins over a free slot, so a cancelled request never starts a hash.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// check reports why p is outside the bounds that Hash may use and Verify
// accepts; the same bounds on both sides mean every hash we write verifies.
func (p Params) check() error {
	switch {
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time must be between 1 and %d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 needs 8 KiB per thread; below that x/crypto silently
		// raises the memory, and the stored m would not be what ran.
		return fmt.Errorf("memory must be between 8×threads and %d KiB", maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt must be %d to %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key must be %d to %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether any of p's parameters is below cur's. A hash
// with some parameters above and others below is still upgraded, so that
// after one sign-in every parameter meets the current policy.
func (p Params) weakerThan(cur Params) bool {
	return p.Memory < cur.Memory || p.Time < cur.Time || p.Threads < cur.Threads ||
		p.SaltLen < cur.SaltLen || p.KeyLen < cur.KeyLen
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		phcBase64.EncodeToString(salt), phcBase64.EncodeToString(key))
}

// parsePHC reads exactly the form encodePHC writes. Anything else (another
// algorithm or version, extra or reordered fields, odd numbers) is refused
// rather than guessed at, since a stored hash is never user input and an
// unexpected shape means corruption.
func parsePHC(encoded string) (p Params, salt, key []byte, err error) {
	malformed := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(encoded) > maxEncodedLen {
		return malformed("too long")
	}
	// The base64 decoder skips line breaks; the format has none.
	if strings.ContainsAny(encoded, "\r\n") {
		return malformed("contains a line break")
	}
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" {
		return malformed("not a PHC string with five fields")
	}
	if f[1] != "argon2id" {
		return malformed("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return malformed("version is not " + strconv.Itoa(argon2.Version))
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return malformed("parameters are not m=…,t=…,p=…")
	}
	m, err1 := phcUint(ps[0], "m=", 32)
	t, err2 := phcUint(ps[1], "t=", 32)
	th, err3 := phcUint(ps[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return malformed(err.Error())
	}
	if salt, err = phcBase64.DecodeString(f[4]); err != nil {
		return malformed("salt is not unpadded base64")
	}
	if key, err = phcBase64.DecodeString(f[5]); err != nil {
		return malformed("hash is not unpadded base64")
	}
	// The lengths fit in uint32: encoded is at most maxEncodedLen bytes.
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th),
		SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.check(); err != nil {
		return malformed(err.Error())
	}
	return p, salt, key, nil
}

// phcUint parses "name=decimal" as the PHC format writes it: digits only,
// without sign or leading zeros.
func phcUint(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("want %sN, got %q", prefix, s)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s is not a number in range: %q", prefix, v)
	}
	return n, nil
}

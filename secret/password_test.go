package secret

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fastParams keep tests quick; one test below pins DefaultParams.
var fastParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashDefaultParamsPHCString(t *testing.T) {
	h := NewHasher(DefaultParams, 0)
	enc, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("Hash = %q, want prefix %q", enc, prefix)
	}
	f := strings.Split(strings.TrimPrefix(enc, prefix), "$")
	if len(f) != 2 {
		t.Fatalf("Hash = %q: want salt$hash after the prefix", enc)
	}
	salt, err1 := phcBase64.DecodeString(f[0])
	key, err2 := phcBase64.DecodeString(f[1])
	if err1 != nil || err2 != nil || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("Hash = %q: salt %d bytes (%v), hash %d bytes (%v); want 16 and 32 in unpadded base64",
			enc, len(salt), err1, len(key), err2)
	}
	ok, rehash, err := h.Verify(t.Context(), enc, "correct horse battery staple")
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

// Vectors from the argon2 reference implementation's command-line tool
// (Debian package argon2), e.g.
// printf %s 'correct horse battery staple' | argon2 sekisho-salt-16b -id -t 2 -k 19456 -p 1 -l 32 -e
// so that our hashes interoperate with other implementations, in both
// directions.
var referenceVectors = []struct {
	password, encoded string
}{
	{"correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$c2VraXNoby1zYWx0LTE2Yg$9vd352vPjVDcZQ817AZ/uLfGTcqD7DY2hci58imzN8s"},
	{"correct horse battery staple", "$argon2id$v=19$m=1024,t=2,p=1$c2VraXNoby1zYWx0LTE2Yg$fhV5dcx5pYqVJEqzvOw9eoWhsiBQlJqFxEmyVk3AXJI"},
	{"パスワード", "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$q1Twz/M8F+3MVXSVeuQqjQ"},
}

func TestVerifyReferenceVectors(t *testing.T) {
	h := NewHasher(fastParams, 0)
	for _, v := range referenceVectors {
		ok, _, err := h.Verify(t.Context(), v.encoded, v.password)
		if !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v; want true, nil", v.encoded, v.password, ok, err)
		}
		ok, _, err = h.Verify(t.Context(), v.encoded, v.password+"x")
		if ok || err != nil {
			t.Errorf("Verify(%q, wrong password) = %v, %v; want false, nil", v.encoded, ok, err)
		}
	}
	// The same salt and parameters through Hash's own encoder give the
	// reference string back.
	p, salt, key, err := parsePHC(referenceVectors[0].encoded)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodePHC(p, salt, key); got != referenceVectors[0].encoded {
		t.Errorf("encodePHC = %q, want %q", got, referenceVectors[0].encoded)
	}
}

func TestHashVerify(t *testing.T) {
	h := NewHasher(fastParams, 2)
	ctx := t.Context()
	enc, err := h.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	enc2, err := h.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if enc == enc2 {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", enc)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{"a long enough password", true},
		{"A long enough password", false}, // never case-folded
		{"a long enough password ", false},
		{"a long enough passwor", false},
		{"", false},
	} {
		ok, rehash, err := h.Verify(ctx, enc, tc.password)
		if ok != tc.want || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", tc.password, ok, rehash, err, tc.want)
		}
	}
}

func TestVerifyDoesNotTruncate(t *testing.T) {
	h := NewHasher(fastParams, 0)
	long := strings.Repeat("0123456789", 10) // bcrypt would keep only 72 bytes
	enc, err := h.Hash(t.Context(), long)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(t.Context(), enc, long[:72]); ok || err != nil {
		t.Errorf("Verify(first 72 of a 100-character password) = %v, %v; want false, nil", ok, err)
	}
	if ok, _, err := h.Verify(t.Context(), enc, long); !ok || err != nil {
		t.Errorf("Verify(100-character password) = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := t.Context()
	weak, err := NewHasher(fastParams, 0).Hash(ctx, "upgrade me please")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasher(DefaultParams, 0)
	ok, rehash, err := h.Verify(ctx, weak, "upgrade me please")
	if !ok || !rehash || err != nil {
		t.Errorf("Verify(weaker hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	// A wrong password never asks for a re-hash: the caller could not do it.
	ok, rehash, err = h.Verify(ctx, weak, "wrong password!")
	if ok || rehash || err != nil {
		t.Errorf("Verify(weaker hash, wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}

	cur := Params{Memory: 256, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	for _, tc := range []struct {
		name string
		p    Params
		want bool
	}{
		{"same", cur, false},
		{"stronger", Params{Memory: 512, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}, false},
		{"less memory", Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"fewer passes", Params{Memory: 256, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"fewer threads", Params{Memory: 256, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{Memory: 256, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 32}, true},
		{"shorter key", Params{Memory: 256, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 16}, true},
		{"more memory, fewer passes", Params{Memory: 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
	} {
		enc, err := NewHasher(tc.p, 0).Hash(ctx, "some password here")
		if err != nil {
			t.Fatal(err)
		}
		ok, rehash, err := NewHasher(cur, 0).Verify(ctx, enc, "some password here")
		if !ok || rehash != tc.want || err != nil {
			t.Errorf("%s: Verify = %v, %v, %v; want true, %v, nil", tc.name, ok, rehash, err, tc.want)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	const (
		salt = "c2VraXNoby1zYWx0LTE2Yg"                      // 16 bytes
		key  = "fhV5dcx5pYqVJEqzvOw9eoWhsiBQlJqFxEmyVk3AXJI" // 32 bytes
	)
	long := func(n int) string { return phcBase64.EncodeToString(make([]byte, n)) }
	for _, enc := range []string{
		"",
		"$",
		"password",
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt, // no hash
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key + "$",                  // extra field
		"argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key,                         // no leading $
		"$argon2i$v=19$m=1024,t=2,p=1$" + salt + "$" + key,                         // other algorithm
		"$argon2d$v=19$m=1024,t=2,p=1$" + salt + "$" + key,                         // other algorithm
		"$argon2id$v=16$m=1024,t=2,p=1$" + salt + "$" + key,                        // old version
		"$argon2id$m=1024,t=2,p=1$" + salt + "$" + key,                             // version missing
		"$argon2id$v=19$t=2,m=1024,p=1$" + salt + "$" + key,                        // reordered
		"$argon2id$v=19$m=1024,t=2$" + salt + "$" + key,                            // p missing
		"$argon2id$v=19$m=1024,t=2,p=1,keyid=x$" + salt + "$" + key,                // extra parameter
		"$argon2id$v=19$m=01024,t=2,p=1$" + salt + "$" + key,                       // leading zero
		"$argon2id$v=19$m=+1024,t=2,p=1$" + salt + "$" + key,                       // sign
		"$argon2id$v=19$m=,t=2,p=1$" + salt + "$" + key,                            // empty number
		"$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key,                        // no passes
		"$argon2id$v=19$m=1024,t=2,p=0$" + salt + "$" + key,                        // no threads
		"$argon2id$v=19$m=1024,t=2,p=256$" + salt + "$" + key,                      // p overflows uint8
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,                           // below 8 KiB per thread
		"$argon2id$v=19$m=1048577,t=2,p=1$" + salt + "$" + key,                     // memory > 1 GiB
		"$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key,                  // memory 4 TiB
		"$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,                  // overflows uint32
		"$argon2id$v=19$m=1024,t=4294967295,p=1$" + salt + "$" + key,               // absurd time
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + long(1025),                 // key > 1024 bytes
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + long(100000),               // far too long
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$",                              // empty hash matches anything
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + long(8),                    // short hash
		"$argon2id$v=19$m=1024,t=2,p=1$$" + key,                                    // empty salt
		"$argon2id$v=19$m=1024,t=2,p=1$" + long(4) + "$" + key,                     // short salt
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key + "=",                  // padded base64
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key[:42] + "J",             // non-canonical trailing bits
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key[:20] + "-_" + key[22:], // URL alphabet
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + key + "\n",
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt[:10] + "\r\n" + salt[10:] + "$" + key,
	} {
		h := NewHasher(fastParams, 0)
		ok, rehash, err := h.Verify(t.Context(), enc, "correct horse battery staple")
		if ok || rehash || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%.80q) = %v, %v, %v; want false, false, ErrMalformedHash", enc, ok, rehash, err)
		}
	}
}

func TestNewHasher(t *testing.T) {
	if got, want := cap(NewHasher(fastParams, 0).slots), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("NewHasher(p, 0) allows %d concurrent hashes, want GOMAXPROCS = %d", got, want)
	}
	if got := cap(NewHasher(fastParams, -1).slots); got != runtime.GOMAXPROCS(0) {
		t.Errorf("NewHasher(p, -1) allows %d concurrent hashes, want GOMAXPROCS", got)
	}
	if got := cap(NewHasher(fastParams, 3).slots); got != 3 {
		t.Errorf("NewHasher(p, 3) allows %d concurrent hashes, want 3", got)
	}
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 2 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 0, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 4},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 2048},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", p)
				}
			}()
			NewHasher(p, 1)
		}()
	}
}

// TestHasherConcurrencyBound holds the only slot of a Hasher, as a running
// hash would, and checks that other hashes wait for it and give up when
// their context ends.
func TestHasherConcurrencyBound(t *testing.T) {
	h := NewHasher(fastParams, 1)
	enc, err := h.Hash(t.Context(), "a password to verify")
	if err != nil {
		t.Fatal(err)
	}
	h.slots <- struct{}{} // the slot is now taken

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Hash(ctx, "a password to hash"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled ctx, slot held) error = %v, want context.Canceled", err)
	}
	if ok, _, err := h.Verify(ctx, enc, "a password to verify"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify(cancelled ctx, slot held) = %v, %v; want false, context.Canceled", ok, err)
	}
	h.VerifyDummy(ctx, "a password to verify") // must return, not block

	short, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	if _, err := h.Hash(short, "a password to hash"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash(ctx with deadline, slot held) error = %v, want context.DeadlineExceeded", err)
	}

	// A waiting hash proceeds once the slot is released.
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(t.Context(), "a password to hash")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Hash finished (err %v) while the only slot was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	<-h.slots
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Hash after the slot was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Hash still waiting after the slot was released")
	}

	// With a free slot, an ended context still prevents the hash.
	if _, err := h.Hash(ctx, "a password to hash"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled ctx, slot free) error = %v, want context.Canceled", err)
	}
	if len(h.slots) != 0 {
		t.Errorf("%d slots still held after every call returned", len(h.slots))
	}
}

// TestHasherConcurrentUse runs more hashes than slots at once; with -race it
// also checks the Hasher for data races.
func TestHasherConcurrentUse(t *testing.T) {
	h := NewHasher(fastParams, 2)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			pw := strings.Repeat(string(rune('a'+i)), 12)
			enc, err := h.Hash(t.Context(), pw)
			if err == nil {
				var ok bool
				if ok, _, err = h.Verify(t.Context(), enc, pw); err == nil && !ok {
					err = errors.New("own hash did not verify")
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(h.slots) != 0 {
		t.Errorf("%d slots still held after every call returned", len(h.slots))
	}
}

func TestVerifyDummy(t *testing.T) {
	p := Params{Memory: 2048, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(p, 1)
	got, _, _, err := parsePHC(h.dummy)
	if err != nil || got != p {
		t.Fatalf("dummy hash %q has params %+v (err %v), want %+v", h.dummy, got, err, p)
	}
	if ok, _, err := h.Verify(t.Context(), h.dummy, ""); ok || err != nil {
		t.Errorf("Verify(dummy hash, \"\") = %v, %v; want false, nil", ok, err)
	}

	// VerifyDummy runs Verify on that hash: same parameters, so the same
	// work as for a real account. (No timing assertion: timings belong in
	// benchmarks, not in a suite that runs on a busy CI machine.)
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

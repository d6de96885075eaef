package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

func attempt(t testing.TB, db *store.DB, key string, now time.Time, r store.ThrottleRule) (time.Duration, int) {
	t.Helper()
	var wait time.Duration
	var failures int
	update(t, db, func(tx *store.Tx) (err error) { wait, failures, err = tx.ThrottleAttempt(key, now, r); return err })
	return wait, failures
}

func failuresOf(t testing.TB, db *store.DB, key string) int {
	t.Helper()
	var n int
	view(t, db, func(tx *store.Tx) (err error) { n, err = tx.ThrottleFailures(key); return err })
	return n
}

func TestThrottleBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rule := store.ThrottleRule{Free: 5, Base: time.Second, Max: time.Minute}
		key := "password:user-1"
		if n := failuresOf(t, db, key); n != 0 {
			t.Errorf("ThrottleFailures(unknown key) = %d", n)
		}
		now := t0
		// The first five attempts pass at once.
		for i := range 5 {
			wait, failures := attempt(t, db, key, now, rule)
			if wait != 0 || failures != i {
				t.Fatalf("attempt %d: wait %v after %d failures; want 0 after %d", i+1, wait, failures, i)
			}
		}
		// Then each evaluated attempt imposes a delay that doubles up to Max;
		// attempts during the delay are refused and not counted.
		wantDelays := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
		for i, d := range wantDelays {
			d *= time.Second
			for _, early := range []time.Duration{0, d / 2, d - time.Millisecond} {
				wait, failures := attempt(t, db, key, now.Add(early), rule)
				if wait != d-early || failures != 5+i {
					t.Fatalf("delay %d, %v in: wait %v after %d failures; want %v after %d", i, early, wait, failures, d-early, 5+i)
				}
			}
			now = now.Add(d)
			wait, failures := attempt(t, db, key, now, rule)
			if wait != 0 || failures != 5+i {
				t.Fatalf("delay %d over: wait %v after %d failures; want 0 after %d", i, wait, failures, 5+i)
			}
		}
		if n := failuresOf(t, db, key); n != 5+len(wantDelays) {
			t.Errorf("ThrottleFailures = %d, want %d (refused attempts are not counted)", n, 5+len(wantDelays))
		}

		// Keys are independent.
		if wait, failures := attempt(t, db, "password:user-2", now, rule); wait != 0 || failures != 0 {
			t.Errorf("another key: wait %v after %d failures; want 0, 0", wait, failures)
		}

		// A success clears the key: the next attempt passes at once.
		update(t, db, func(tx *store.Tx) error { return tx.ThrottleReset(key) })
		if n := failuresOf(t, db, key); n != 0 {
			t.Errorf("ThrottleFailures after reset = %d", n)
		}
		if wait, failures := attempt(t, db, key, now, rule); wait != 0 || failures != 0 {
			t.Errorf("after reset: wait %v after %d failures; want 0, 0", wait, failures)
		}
		if n := failuresOf(t, db, "password:user-2"); n != 1 {
			t.Errorf("reset of one key changed another: %d failures, want 1", n)
		}
	})
}

func TestThrottlePerHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rule := store.ThrottleRule{Free: 1000, Base: time.Second, Max: time.Minute, PerHour: 10}
		key := "totp:user-1"
		// Ten attempts spread over the hour pass; the eleventh waits until
		// the hour from the first is over.
		for i := range 10 {
			if wait, _ := attempt(t, db, key, t0.Add(time.Duration(i)*time.Minute), rule); wait != 0 {
				t.Fatalf("attempt %d: wait %v, want 0", i+1, wait)
			}
		}
		at := t0.Add(20 * time.Minute)
		if wait, failures := attempt(t, db, key, at, rule); wait != 40*time.Minute || failures != 10 {
			t.Errorf("11th attempt in the hour: wait %v after %d failures; want 40m after 10", wait, failures)
		}
		if wait, _ := attempt(t, db, key, t0.Add(time.Hour-time.Millisecond), rule); wait != time.Millisecond {
			t.Errorf("just before the hour: wait %v, want 1ms", wait)
		}
		// A new window: ten more.
		for i := range 10 {
			if wait, _ := attempt(t, db, key, t0.Add(time.Hour+time.Duration(i)*time.Second), rule); wait != 0 {
				t.Fatalf("new window, attempt %d: wait %v, want 0", i+1, wait)
			}
		}
		// The new window began at the first attempt after the old one ended.
		if wait, _ := attempt(t, db, key, t0.Add(time.Hour+time.Minute), rule); wait != 59*time.Minute {
			t.Errorf("11th attempt of the second window: wait %v, want 59m", wait)
		}
		if n := failuresOf(t, db, key); n != 20 {
			t.Errorf("ThrottleFailures = %d, want 20", n)
		}

		// Attempts 7 minutes apart: at most nine in any window, never capped.
		slow := "totp:user-2"
		for i := range 30 {
			if wait, _ := attempt(t, db, slow, t0.Add(time.Duration(i)*7*time.Minute), rule); wait != 0 {
				t.Fatalf("attempt %d every 7 minutes: wait %v", i+1, wait)
			}
		}

		// The cap and the backoff combine: the longer wait wins.
		both := store.ThrottleRule{Free: 2, Base: time.Minute, Max: time.Minute, PerHour: 3}
		for _, at := range []time.Duration{0, 0, time.Minute} {
			if wait, _ := attempt(t, db, "both", t0.Add(at), both); wait != 0 {
				t.Fatalf("attempt at +%v: wait %v", at, wait)
			}
		}
		if wait, _ := attempt(t, db, "both", t0.Add(2*time.Minute), both); wait != 58*time.Minute {
			t.Errorf("after the third attempt in the hour: wait %v, want 58m (the hour cap, not the 1m backoff)", wait)
		}
	})
}

// 200 parallel wrong guesses on one key, each in its own transaction: every
// attempt that was let through was counted, and no more than Free+1 got
// through before the backoff (Keycloak PR #31998).
func TestThrottleParallel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rule := store.ThrottleRule{Free: 5, Base: time.Second, Max: time.Minute, PerHour: 100}
		for _, key := range []string{"password:victim", "totp:victim"} {
			var passed, refused atomic.Int32
			parallel(200, func(i int) {
				var wait time.Duration
				err := db.Update(ctx, func(tx *store.Tx) (err error) {
					wait, _, err = tx.ThrottleAttempt(key, t0.Add(time.Duration(i%3)*time.Millisecond), rule)
					return err
				})
				switch {
				case err != nil:
					t.Errorf("attempt %d: %v", i, err)
				case wait == 0:
					passed.Add(1)
				default:
					refused.Add(1)
				}
			})
			n := failuresOf(t, db, key)
			p := int(passed.Load())
			if p != n {
				t.Errorf("%s: %d attempts passed but %d failures counted", key, p, n)
			}
			if p < 1 || p > rule.Free+1 {
				t.Errorf("%s: %d attempts passed, want 1..%d", key, p, rule.Free+1)
			}
			if int(refused.Load())+p != 200 {
				t.Errorf("%s: %d passed + %d refused != 200", key, p, refused.Load())
			}
		}
	})
}

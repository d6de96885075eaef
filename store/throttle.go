package store

import (
	"time"
)

// ThrottleRule says how failures under one key slow the next attempt.
type ThrottleRule struct {
	Free      int           // consecutive failures allowed before backing off
	Base, Max time.Duration // first delay after Free failures, doubling up to Max
	PerHour   int           // most attempts evaluated per rolling hour (0: no cap)
	// ForgetAfter forgives the failures of a key left quiet this long (0:
	// never), for keys that no success clears, such as a client IP.
	ForgetAfter time.Duration
}

// delay returns the wait imposed after failures consecutive failures.
func (r ThrottleRule) delay(failures int) time.Duration {
	if failures < r.Free {
		return 0
	}
	d := r.Base
	for i := r.Free; i < failures && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// ThrottleAttempt reserves one attempt under key before the caller checks
// the credential, and returns how long to wait if the key is throttled
// (the attempt is then not evaluated) and how many consecutive failures
// came before. The attempt counts as a failure until ThrottleReset clears
// it on success: counting before checking is what keeps parallel guesses
// from outrunning the counter.
func (tx *Tx) ThrottleAttempt(key string, now time.Time, r ThrottleRule) (wait time.Duration, failures int, err error) {
	n := ms(now)
	var windowStart, blockedUntil, updated int64
	var windowCount int
	if tx.db.dialect == Postgres {
		// One statement inserts the row or locks the existing one. An
		// INSERT … DO NOTHING followed by a SELECT … FOR UPDATE finds no
		// row when a parallel success (ThrottleReset) deletes it in
		// between, which READ COMMITTED allows.
		err = tx.queryRow(`INSERT INTO throttles (key, window_start, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET updated_at = throttles.updated_at
			RETURNING failures, window_start, window_count, blocked_until, updated_at`, key, n, n).
			Scan(&failures, &windowStart, &windowCount, &blockedUntil, &updated)
	} else {
		// SQLite runs one write transaction at a time: nothing comes
		// between the two statements.
		_, err = tx.exec(`INSERT OR IGNORE INTO throttles (key, window_start, updated_at) VALUES (?, ?, ?)`, key, n, n)
		if err == nil {
			err = tx.queryRow(`SELECT failures, window_start, window_count, blocked_until, updated_at FROM throttles WHERE key = ?`, key).
				Scan(&failures, &windowStart, &windowCount, &blockedUntil, &updated)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	if blockedUntil > n {
		return time.Duration(blockedUntil-n) * time.Millisecond, failures, nil
	}
	if n-windowStart >= time.Hour.Milliseconds() {
		windowStart, windowCount = n, 0
	}
	if r.ForgetAfter > 0 && n-updated >= r.ForgetAfter.Milliseconds() {
		failures = 0
	}
	windowCount++
	blockedUntil = 0
	if d := r.delay(failures + 1); d > 0 {
		blockedUntil = n + d.Milliseconds()
	}
	if r.PerHour > 0 && windowCount >= r.PerHour {
		blockedUntil = max(blockedUntil, windowStart+time.Hour.Milliseconds())
	}
	_, err = tx.exec(`UPDATE throttles SET failures = ?, window_start = ?, window_count = ?, blocked_until = ?, updated_at = ? WHERE key = ?`,
		failures+1, windowStart, windowCount, blockedUntil, n, key)
	return 0, failures, err
}

// ThrottleRelease takes back the attempt ThrottleAttempt reserved under
// key, after a success that must not clear the key's other failures: a
// sign-in to one's own account does not forgive the IP's guesses at others.
func (tx *Tx) ThrottleRelease(key string) error {
	_, err := tx.exec(`UPDATE throttles SET failures = failures - 1, window_count = window_count - 1
		WHERE key = ? AND failures > 0 AND window_count > 0`, key)
	return err
}

// ThrottleReset clears key after a success.
func (tx *Tx) ThrottleReset(key string) error {
	_, err := tx.exec(`DELETE FROM throttles WHERE key = ?`, key)
	return err
}

// ThrottleFailures returns the consecutive failures recorded under key.
func (tx *Tx) ThrottleFailures(key string) (int, error) {
	var n int
	err := tx.queryRow(`SELECT failures FROM throttles WHERE key = ?`, key).Scan(&n)
	if err := mapErr(err); err == ErrNotFound {
		return 0, nil
	}
	return n, err
}

package store

import (
	"time"
)

// ThrottleRule says how failures under one key slow the next attempt.
type ThrottleRule struct {
	Free      int           // consecutive failures allowed before backing off
	Base, Max time.Duration // first delay after Free failures, doubling up to Max
	PerHour   int           // most attempts evaluated per rolling hour (0: no cap)
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
	if tx.db.dialect == Postgres {
		_, err = tx.exec(`INSERT INTO throttles (key, window_start, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`, key, n, n)
	} else {
		_, err = tx.exec(`INSERT OR IGNORE INTO throttles (key, window_start, updated_at) VALUES (?, ?, ?)`, key, n, n)
	}
	if err != nil {
		return 0, 0, err
	}
	query := `SELECT failures, window_start, window_count, blocked_until FROM throttles WHERE key = ?`
	if tx.db.dialect == Postgres {
		query += ` FOR UPDATE`
	}
	var windowStart, blockedUntil int64
	var windowCount int
	if err := tx.queryRow(query, key).Scan(&failures, &windowStart, &windowCount, &blockedUntil); err != nil {
		return 0, 0, err
	}
	if blockedUntil > n {
		return time.Duration(blockedUntil-n) * time.Millisecond, failures, nil
	}
	if n-windowStart >= time.Hour.Milliseconds() {
		windowStart, windowCount = n, 0
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

package store

import "context"

// PollEvery is pollEvery, for tests of how soon other processes' writes
// are seen.
const PollEvery = pollEvery

// TryLockName reports whether PostgreSQL would grant LockName(name) to
// this transaction at once, without waiting for it.
func (tx *Tx) TryLockName(name string) (bool, error) {
	var ok bool
	err := tx.queryRow(`SELECT pg_try_advisory_xact_lock(hashtext(?))`, name).Scan(&ok)
	return ok, err
}

// MigrateTo applies the migrations up to version, for tests of a later
// migration on a database that has rows already.
func (db *DB) MigrateTo(ctx context.Context, version int) error { return db.migrate(ctx, version) }

package store_test

import (
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestLockName: on PostgreSQL a named lock is held by one transaction at a
// time, until it ends; another name is free meanwhile. (SQLite runs one
// write transaction at a time, so LockName has nothing to do there.)
func TestLockName(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	try := func(name string) bool {
		t.Helper()
		var ok bool
		update(t, db, func(tx *store.Tx) (err error) { ok, err = tx.TryLockName(name); return err })
		return ok
	}
	update(t, db, func(tx *store.Tx) error {
		if err := tx.LockName("first key"); err != nil {
			return err
		}
		if try("first key") {
			t.Error("another transaction took the lock while it was held")
		}
		if !try("another name") {
			t.Error("a lock of another name was refused")
		}
		return nil
	})
	if !try("first key") {
		t.Error("the lock was still held after its transaction ended")
	}
}

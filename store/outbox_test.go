package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// The outbox hands a due message to one taker at a time: taking leases it
// and counts the attempt, a leased message is not due again until its
// lease runs out, and a deleted one is gone.
func TestOutbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := t0.UnixMilli()
		update(t, db, func(tx *store.Tx) error {
			for i, due := range []int64{now, now + 10, now - 5} {
				if err := tx.AddOutboxMail(now, due, store.OutboxMail{ID: fmt.Sprint("m", i), Sealed: fmt.Sprint("sealed", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		take := func(at, until int64, limit int) []store.OutboxMail {
			t.Helper()
			var got []store.OutboxMail
			update(t, db, func(tx *store.Tx) (err error) { got, err = tx.TakeOutboxMail(at, until, limit); return err })
			slices.SortFunc(got, func(a, b store.OutboxMail) int { return strings.Compare(a.ID, b.ID) })
			return got
		}
		ids := func(ms []store.OutboxMail) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.ID)
			}
			return out
		}
		// Oldest due first, within the limit.
		if got := take(now, now+100, 1); !slices.Equal(ids(got), []string{"m2"}) || got[0].Attempts != 1 || got[0].Sealed != "sealed2" || got[0].CreatedAt != now {
			t.Fatalf("first take = %+v, want m2, attempt 1", got)
		}
		if got := take(now, now+100, 10); !slices.Equal(ids(got), []string{"m0"}) {
			t.Fatalf("second take = %v, want m0 (m1 not due, m2 leased)", ids(got))
		}
		update(t, db, func(tx *store.Tx) error { return tx.DeleteOutboxMail("m0", "no such id") })
		update(t, db, func(tx *store.Tx) error { return tx.DeleteOutboxMail() })
		got := take(now+100, now+200, 10)
		if !slices.Equal(ids(got), []string{"m1", "m2"}) || got[0].Attempts != 1 || got[1].Attempts != 2 {
			t.Fatalf("take after the lease = %+v, want m1 (attempt 1) and m2 (attempt 2)", got)
		}
		var n int
		if err := db.View(ctx, func(tx *store.Tx) (err error) { n, err = tx.OutboxLen(); return err }); err != nil || n != 2 {
			t.Fatalf("OutboxLen = %d, %v; want 2", n, err)
		}
		// A message still being sent keeps its lease.
		update(t, db, func(tx *store.Tx) error { return tx.LeaseOutboxMail(now+10_000, "m1", "no such id") })
		if got := take(now+300, now+400, 10); !slices.Equal(ids(got), []string{"m2"}) {
			t.Fatalf("take after m1's lease was renewed = %v, want m2", ids(got))
		}
	})
}

// Takers racing for the same rows never share one.
func TestOutboxConcurrentTakers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := t0.UnixMilli()
		const rows = 200
		update(t, db, func(tx *store.Tx) error {
			var ms []store.OutboxMail
			for i := range rows {
				ms = append(ms, store.OutboxMail{ID: fmt.Sprintf("m%03d", i), Sealed: "x"})
			}
			return tx.AddOutboxMail(now, now, ms...)
		})
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					var got []store.OutboxMail
					err := db.Update(ctx, func(tx *store.Tx) (err error) { got, err = tx.TakeOutboxMail(now, now+1000, 7); return err })
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						seen[m.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != rows {
			t.Fatalf("%d rows taken, want %d", len(seen), rows)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s taken %d times", id, n)
			}
		}
	})
}

// A mail batch is leased like an outbox row, moves forward page by page,
// and a new batch of the same kind for the workspace replaces the old one.
func TestMailBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "globex")
		now := t0.UnixMilli()
		update(t, db, func(tx *store.Tx) error {
			if err := tx.AddMailBatch("b1", w.ID, "mfa_required", now, now+10); err != nil {
				return err
			}
			return tx.AddMailBatch("b2", other.ID, "mfa_required", now, now+20)
		})
		lock := func(id string) (*store.MailBatch, error) {
			var b *store.MailBatch
			err := db.Update(ctx, func(tx *store.Tx) (err error) { b, err = tx.LockMailBatch(id); return err })
			return b, err
		}
		if b, err := lock("b1"); err != nil || *b != (store.MailBatch{ID: "b1", WorkspaceID: w.ID, Kind: "mfa_required"}) {
			t.Fatalf("LockMailBatch = %+v, %v", b, err)
		}
		take := func(at, until int64) []string {
			t.Helper()
			var ids []string
			update(t, db, func(tx *store.Tx) (err error) { ids, err = tx.TakeMailBatches(at, until, 10); return err })
			slices.Sort(ids)
			return ids
		}
		if ids := take(now+5, now+100); len(ids) != 0 {
			t.Fatalf("batches taken within their lease: %v", ids)
		}
		if ids := take(now+10, now+100); !slices.Equal(ids, []string{"b1"}) {
			t.Fatalf("taken at now+10: %v, want b1", ids)
		}
		update(t, db, func(tx *store.Tx) error { return tx.AdvanceMailBatch("b1", "u42", now+200) })
		if b, err := lock("b1"); err != nil || b.AfterID != "u42" {
			t.Fatalf("after AdvanceMailBatch: %+v, %v", b, err)
		}
		if ids := take(now+150, now+300); !slices.Equal(ids, []string{"b2"}) {
			t.Fatalf("taken at now+150: %v, want b2 (b1's lease was extended)", ids)
		}
		// A new batch of the kind starts over, alone.
		update(t, db, func(tx *store.Tx) error { return tx.AddMailBatch("b3", w.ID, "mfa_required", now, now) })
		if _, err := lock("b1"); !isErr(err, store.ErrNotFound) {
			t.Fatalf("the replaced batch: %v, want ErrNotFound", err)
		}
		update(t, db, func(tx *store.Tx) error { return tx.DeleteMailBatch("b2") })
		if ids := take(now+1000, now+2000); !slices.Equal(ids, []string{"b3"}) {
			t.Fatalf("left: %v, want b3", ids)
		}
	})
}

// BenchmarkOutbox measures what the outbox adds to each notification: the
// row written inside the change's transaction (here a transaction of its
// own, an upper bound) and the transaction that deletes it once the mail
// server has the message.
func BenchmarkOutbox(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			sealed := strings.Repeat("x", 1200) // a sealed invitation is about this long
			now := t0.UnixMilli()
			b.ReportAllocs()
			for b.Loop() {
				id := store.NewID()
				if err := db.Update(ctx, func(tx *store.Tx) error {
					return tx.AddOutboxMail(now, now+1, store.OutboxMail{ID: id, Sealed: sealed})
				}); err != nil {
					b.Fatal(err)
				}
				if err := db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteOutboxMail(id) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

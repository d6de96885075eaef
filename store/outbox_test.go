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
				if err := tx.AddOutboxMail(fmt.Sprint("m", i), fmt.Sprint("sealed", i), now, due); err != nil {
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
		update(t, db, func(tx *store.Tx) error { return tx.DeleteOutboxMail("m0") })
		got := take(now+100, now+200, 10)
		if !slices.Equal(ids(got), []string{"m1", "m2"}) || got[0].Attempts != 1 || got[1].Attempts != 2 {
			t.Fatalf("take after the lease = %+v, want m1 (attempt 1) and m2 (attempt 2)", got)
		}
		var n int
		if err := db.View(ctx, func(tx *store.Tx) (err error) { n, err = tx.OutboxLen(); return err }); err != nil || n != 2 {
			t.Fatalf("OutboxLen = %d, %v; want 2", n, err)
		}
	})
}

// Takers racing for the same rows never share one.
func TestOutboxConcurrentTakers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := t0.UnixMilli()
		const rows = 200
		update(t, db, func(tx *store.Tx) error {
			for i := range rows {
				if err := tx.AddOutboxMail(fmt.Sprintf("m%03d", i), "x", now, now); err != nil {
					return err
				}
			}
			return nil
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
				if err := db.Update(ctx, func(tx *store.Tx) error { return tx.AddOutboxMail(id, sealed, now, now+1) }); err != nil {
					b.Fatal(err)
				}
				if err := db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteOutboxMail(id) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

func TestAuditEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		type ev struct {
			typ, actor, target string
			at                 time.Duration
		}
		events := []ev{
			{"user.sign_in", "alice", "alice", 0},
			{"user.sign_in_failed", "", "alice", 1 * time.Minute},
			{"mfa.enroll", "alice", "alice", 2 * time.Minute},
			{"mfa.reset", "admin", "alice", 3 * time.Minute},
			{"mfa.reset", "admin", "bob", 4 * time.Minute},
			{"mfaX.other", "admin", "bob", 5 * time.Minute}, // not under "mfa."
			{"a_b.c", "admin", "", 6 * time.Minute},
			{"axb.c", "admin", "", 7 * time.Minute}, // not under "a_b."
			{"policy.update", "admin", "", 8 * time.Minute},
		}
		update(t, db, func(tx *store.Tx) error {
			for _, e := range events {
				if err := tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0.Add(e.at), WorkspaceID: w.ID, Type: e.typ, Result: sekisho.ResultSuccess,
					ActorKind: sekisho.ActorUser, ActorID: e.actor, TargetID: e.target}); err != nil {
					return err
				}
			}
			// The same kinds of event in another workspace never show.
			return tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0, WorkspaceID: other.ID, Type: "mfa.reset", Result: sekisho.ResultSuccess,
				ActorKind: sekisho.ActorUser, ActorID: "admin", TargetID: "alice"})
		})
		list := func(f store.AuditFilter) []*sekisho.AuditEvent {
			t.Helper()
			if f.WorkspaceID == "" {
				f.WorkspaceID = w.ID
			}
			if f.Limit == 0 {
				f.Limit = 100
			}
			var out []*sekisho.AuditEvent
			view(t, db, func(tx *store.Tx) (err error) { out, err = tx.AuditEvents(f); return err })
			return out
		}
		types := func(es []*sekisho.AuditEvent) []string {
			var out []string
			for _, e := range es {
				out = append(out, fmt.Sprintf("%s@%d", e.Type, e.Time.Sub(t0)/time.Minute))
			}
			return out
		}
		want := func(idx ...int) []string { // indexes into events, given newest first
			var out []string
			for _, i := range idx {
				out = append(out, fmt.Sprintf("%s@%d", events[i].typ, events[i].at/time.Minute))
			}
			return out
		}

		all := list(store.AuditFilter{})
		equal(t, "all, newest first", types(all), want(8, 7, 6, 5, 4, 3, 2, 1, 0))
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Errorf("ids not descending: %d then %d", all[i-1].ID, all[i].ID)
			}
		}
		for _, c := range []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{"actor", store.AuditFilter{ActorID: "alice"}, want(2, 0)},
			{"target", store.AuditFilter{TargetID: "bob"}, want(5, 4)},
			{"actor and target", store.AuditFilter{ActorID: "admin", TargetID: "alice"}, want(3)},
			{"exact type", store.AuditFilter{Type: "user.sign_in"}, want(0)},
			{"exact type, no prefix match", store.AuditFilter{Type: "mfa"}, nil},
			{"type prefix", store.AuditFilter{Type: "mfa."}, want(4, 3, 2)},
			{"type prefix with underscore", store.AuditFilter{Type: "a_b."}, want(6)},
			{"type prefix and target", store.AuditFilter{Type: "mfa.", TargetID: "alice"}, want(3, 2)},
			{"since inclusive", store.AuditFilter{Since: t0.Add(7 * time.Minute).UnixMilli()}, want(8, 7)},
			{"until exclusive", store.AuditFilter{Until: t0.Add(2 * time.Minute).UnixMilli()}, want(1, 0)},
			{"since and until", store.AuditFilter{Since: t0.Add(3 * time.Minute).UnixMilli(), Until: t0.Add(5 * time.Minute).UnixMilli()}, want(4, 3)},
			{"limit", store.AuditFilter{Limit: 2}, want(8, 7)},
			{"other workspace", store.AuditFilter{WorkspaceID: other.ID, Type: "mfa."}, []string{"mfa.reset@0"}},
			{"unknown workspace", store.AuditFilter{WorkspaceID: store.NewID()}, nil},
		} {
			if got := types(list(c.f)); !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}

		// Before pages newest first, every event once.
		for _, limit := range []int{1, 2, 4, 9, 20} {
			var got []*sekisho.AuditEvent
			var before int64
			for page := 0; ; page++ {
				if page > 20 {
					t.Fatalf("limit %d: paging does not end", limit)
				}
				es := list(store.AuditFilter{Before: before, Limit: limit})
				if len(es) == 0 {
					break
				}
				got = append(got, es...)
				before = es[len(es)-1].ID
			}
			equal(t, fmt.Sprintf("pages of %d", limit), types(got), types(all))
		}
		// A cursor combines with the filters.
		mfa := list(store.AuditFilter{Type: "mfa.", Before: all[4].ID}) // all[4] is mfa.reset@4
		equal(t, "mfa. before mfa.reset@4", types(mfa), want(3, 2))
	})
}

func TestAuditEventFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		at := time.Date(2026, 3, 1, 18, 30, 0, 123_987_654, jst)
		e := &sekisho.AuditEvent{
			Time: at, WorkspaceID: "ws-1", Type: "mfa.reset", Result: sekisho.ResultDenied,
			ActorKind: sekisho.ActorOperator, ActorID: "root", TargetID: "user-1",
			IP: "2001:db8::2", UserAgent: "sekisho-cli", Reason: "ticket #42 ‘lost phone’",
			Details: map[string]string{"method": "totp", "名前": "値", "quote": `"'\`},
		}
		plain := &sekisho.AuditEvent{Time: at, Type: "server.start", Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem}
		update(t, db, func(tx *store.Tx) error {
			if err := tx.AddAuditEvent(e); err != nil {
				return err
			}
			return tx.AddAuditEvent(plain)
		})
		var got []*sekisho.AuditEvent
		view(t, db, func(tx *store.Tx) (err error) {
			got, err = tx.AuditEvents(store.AuditFilter{WorkspaceID: "ws-1", Limit: 10})
			return err
		})
		if len(got) != 1 {
			t.Fatalf("%d events, want 1", len(got))
		}
		if got[0].ID <= 0 {
			t.Errorf("ID = %d, want a positive id", got[0].ID)
		}
		wantE := *e
		wantE.ID, wantE.Time = got[0].ID, msUTC(at)
		equal(t, "event", got[0], &wantE)

		// Events outside any workspace live under "".
		view(t, db, func(tx *store.Tx) (err error) {
			got, err = tx.AuditEvents(store.AuditFilter{WorkspaceID: "", Limit: 10})
			return err
		})
		if len(got) != 1 || got[0].Type != "server.start" || got[0].Details != nil {
			t.Errorf("system events = %+v, want one server.start with no details", got)
		}
	})
}

// The audit log is append-only in the database itself: even SQL that goes
// around the store cannot change or remove an event.
func TestAuditAppendOnly(t *testing.T) {
	eachURL(t, func(t *testing.T, d store.Dialect, url string) {
		db := openURL(t, url)
		update(t, db, func(tx *store.Tx) error {
			for i := range 3 {
				if err := tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0, WorkspaceID: "ws", Type: fmt.Sprintf("e.%d", i),
					Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem}); err != nil {
					return err
				}
			}
			return nil
		})
		raw := rawDB(t, d, url)
		for _, q := range []string{
			"UPDATE audit_events SET type = 'forged'",
			"UPDATE audit_events SET result = 'success' WHERE type = 'e.1'",
			"DELETE FROM audit_events",
			"DELETE FROM audit_events WHERE type = 'e.2'",
		} {
			_, err := raw.Exec(q)
			if err == nil {
				t.Errorf("%s: succeeded on an append-only table", q)
				continue
			}
			if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v; want the append-only trigger's error", q, err)
			}
		}
		var n int
		var forged int
		if err := raw.QueryRow("SELECT COUNT(*), COUNT(CASE WHEN type = 'forged' THEN 1 END) FROM audit_events").Scan(&n, &forged); err != nil {
			t.Fatal(err)
		}
		if n != 3 || forged != 0 {
			t.Errorf("after the refused changes: %d events, %d forged; want 3, 0", n, forged)
		}
		// Appending still works.
		update(t, db, func(tx *store.Tx) error {
			return tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0, WorkspaceID: "ws", Type: "e.3", Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem})
		})
	})
}

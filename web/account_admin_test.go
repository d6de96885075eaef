package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// acctListUsers reads every page of GET /admin/users?query and returns the
// ids in the order given, failing on a page larger than limit.
func acctListUsers(e *env, adminToken, query string, limit int) []string {
	e.t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		q := query + fmt.Sprintf("&limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.call("GET", "/api/v1/admin/users?"+q, adminToken, nil).must(e.t, 200)
		users := r.Body["users"].([]any)
		if len(users) > limit {
			e.t.Fatalf("%s: page of %d", q, len(users))
		}
		for _, u := range users {
			ids = append(ids, u.(map[string]any)["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return ids
		}
		if len(users) != limit {
			e.t.Fatalf("%s: short page of %d with a next cursor", q, len(users))
		}
		cursor = next
	}
	e.t.Fatal("user list cursor never ends")
	return nil
}

// TestAccountUserList covers the admin user list: its filters, and keyset
// pagination that gives each user exactly once.
func TestAccountUserList(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctUserList(t, d) })
	}
}

func acctUserList(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	adminID := acctUserID(e, admin)

	type user struct {
		id, email, name, role, status string
		mfa                           bool
	}
	users := []user{{id: adminID, email: "admin@acme.test", role: "workspace_admin", status: "active"}}
	names := map[int]string{3: "Taro YAMADA", 7: "山田 花子", 11: "ÖZGÜR Şahin", 12: "100% Real_Name"}
	for i := range 25 {
		u := user{email: fmt.Sprintf("user%02d@acme.test", i), name: names[i], role: "member", status: "invited"}
		if i%5 == 0 {
			u.role = "user_admin"
		}
		var token string
		u.id, token = acctCreate(e, admin, u.email, u.name, u.role)
		if i%3 == 0 {
			acctAccept(e, token, fmt.Sprintf("plover %02d gazebo lantern", i)).must(t, 200)
			u.status = "active"
		}
		users = append(users, u)
	}
	for _, i := range []int{6, 9} {
		users[i+1].status = "disabled"
		e.call("PATCH", "/api/v1/admin/users/"+users[i+1].id, admin, map[string]string{"status": "disabled"}).must(t, 200)
	}
	users[4].mfa = true // user03
	u03 := e.signIn("acme", "user03@acme.test", "plover 03 gazebo lantern")
	e.enroll(&u03, "phone")

	idsOf := func(keep func(u user) bool) []string {
		var ids []string
		for _, u := range users {
			if keep(u) {
				ids = append(ids, u.id)
			}
		}
		sort.Strings(ids)
		return ids
	}
	all := idsOf(func(user) bool { return true })

	// Ten at a time, every user comes exactly once, in id order.
	got := acctListUsers(e, admin, "", 10)
	if !slices.Equal(got, all) {
		t.Fatalf("paged list:\n%v\nwant\n%v", got, all)
	}
	if got := acctListUsers(e, admin, "", 26); !slices.Equal(got, all) {
		t.Fatalf("one full page: %v", got)
	}

	for _, c := range []struct {
		query string
		keep  func(u user) bool
	}{
		{"role=user_admin", func(u user) bool { return u.role == "user_admin" }},
		{"role=member&status=active", func(u user) bool { return u.role == "member" && u.status == "active" }},
		{"status=invited", func(u user) bool { return u.status == "invited" }},
		{"status=disabled", func(u user) bool { return u.status == "disabled" }},
		{"mfa=enabled", func(u user) bool { return u.mfa }},
		{"mfa=disabled", func(u user) bool { return !u.mfa }},
		{"mfa=disabled&status=active&role=member", func(u user) bool { return !u.mfa && u.status == "active" && u.role == "member" }},
		{"q=user1", func(u user) bool { return strings.HasPrefix(u.email, "user1") }},
		{"q=USER2", func(u user) bool { return strings.HasPrefix(u.email, "user2") }},
		{"q=yamada", func(u user) bool { return u.name == "Taro YAMADA" }},
		{"q=" + url.QueryEscape("山田"), func(u user) bool { return u.name == "山田 花子" }},
		{"q=" + url.QueryEscape("özgür"), func(u user) bool { return u.name == "ÖZGÜR Şahin" }},
		// LIKE wildcards in q are plain characters.
		{"q=" + url.QueryEscape("%"), func(u user) bool { return u.name == "100% Real_Name" }},
		{"q=" + url.QueryEscape("_"), func(u user) bool { return u.name == "100% Real_Name" }},
		{"q=" + url.QueryEscape("t%t"), func(u user) bool { return false }},
		{"q=" + url.QueryEscape("e_l"), func(u user) bool { return false }},
		{"q=nobody", func(u user) bool { return false }},
	} {
		want := idsOf(c.keep)
		if got := acctListUsers(e, admin, c.query, 3); !slices.Equal(got, want) {
			t.Errorf("%s: %d users %v, want %d %v", c.query, len(got), got, len(want), want)
		}
	}

	for _, c := range []struct{ query, code string }{
		{"role=boss", "invalid_role"},
		{"status=gone", "invalid_status"},
		{"mfa=maybe", "invalid_mfa"},
		{"limit=201", "invalid_limit"},
		{"limit=-1", "invalid_limit"},
		{"limit=ten", "invalid_limit"},
		{"cursor=" + url.QueryEscape("not a cursor!"), "invalid_cursor"},
	} {
		acctWantError(t, e.call("GET", "/api/v1/admin/users?"+c.query, admin, nil), 400, c.code)
	}
}

// TestAccountAudit checks the audit log API: newest first, cursor
// pagination without gaps or repeats, each filter, and the NDJSON export.
func TestAccountAudit(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctAuditLog(t, d) })
	}
}

func acctAuditLog(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	wsID, admin := e.workspace("acme")
	adminID := acctUserID(e, admin)
	const password = "thimble granite waltz 4"

	// A minute between actions, so that since and until can split them.
	step := func() { e.clock.Add(time.Minute) }
	step()
	bobID := e.invite(admin, "bob@acme.test", "member", password)
	step()
	bob := e.signIn("acme", "bob@acme.test", password)
	step()
	acctSignIn(e, "acme", "bob@acme.test", "wrong password 123").must(t, 401)
	step()
	middle := e.clock.Now()
	e.call("PUT", "/api/v1/me/password", bob, map[string]string{"current_password": password, "new_password": password + "!"}).must(t, 204)
	step()
	e.call("PATCH", "/api/v1/admin/users/"+bobID, admin, map[string]string{"status": "disabled"}).must(t, 200)
	step()
	e.call("PATCH", "/api/v1/admin/users/"+bobID, admin, map[string]string{"status": "active"}).must(t, 200)
	step()
	carolID := e.invite(admin, "carol@acme.test", "member", password)
	step()
	e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "carol@acme.test"}).must(t, 202)

	all := acctAudit(e, admin, "limit=200")
	if len(all) < 12 {
		t.Fatalf("only %d events: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID || all[i].Time.After(all[i-1].Time) {
			t.Fatalf("not newest first at %d: %+v then %+v", i, all[i-1], all[i])
		}
	}
	if all[0].Type != "password.reset_requested" || all[0].TargetID != carolID {
		t.Fatalf("newest event: %+v", all[0])
	}
	for _, limit := range []int{1, 3, 5} {
		if paged := acctAudit(e, admin, fmt.Sprintf("limit=%d", limit)); !reflect.DeepEqual(paged, all) {
			t.Fatalf("pages of %d differ from the whole log:\n%+v\n%+v", limit, paged, all)
		}
	}

	filter := func(keep func(ev acctEvent) bool) []acctEvent {
		var out []acctEvent
		for _, ev := range all {
			if keep(ev) {
				out = append(out, ev)
			}
		}
		return out
	}
	since, until := url.QueryEscape(middle.Format(time.RFC3339)), url.QueryEscape(middle.Add(2*time.Minute).Format(time.RFC3339))
	for _, c := range []struct {
		query string
		keep  func(ev acctEvent) bool
	}{
		{"actor=" + adminID, func(ev acctEvent) bool { return ev.ActorID == adminID }},
		{"target=" + bobID, func(ev acctEvent) bool { return ev.TargetID == bobID }},
		{"actor=" + bobID + "&target=" + bobID, func(ev acctEvent) bool { return ev.ActorID == bobID && ev.TargetID == bobID }},
		{"type=user.", func(ev acctEvent) bool { return strings.HasPrefix(ev.Type, "user.") }},
		{"type=user.sign_in", func(ev acctEvent) bool { return ev.Type == "user.sign_in" }},
		{"type=user", func(ev acctEvent) bool { return false }}, // a prefix ends in a dot
		{"type=" + url.QueryEscape("use_."), func(ev acctEvent) bool { return false }},
		{"type=" + url.QueryEscape("%."), func(ev acctEvent) bool { return false }},
		{"since=" + since, func(ev acctEvent) bool { return !ev.Time.Before(middle) }},
		{"until=" + since, func(ev acctEvent) bool { return ev.Time.Before(middle) }},
		{"since=" + since + "&until=" + until, func(ev acctEvent) bool {
			return !ev.Time.Before(middle) && ev.Time.Before(middle.Add(2*time.Minute))
		}},
		{"type=user.&target=" + bobID + "&since=" + since, func(ev acctEvent) bool {
			return strings.HasPrefix(ev.Type, "user.") && ev.TargetID == bobID && !ev.Time.Before(middle)
		}},
	} {
		want := filter(c.keep)
		if got := acctAudit(e, admin, c.query+"&limit=2"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d events, want %d:\n%+v", c.query, len(got), len(want), got)
		}
	}
	// The filters found what they were meant to find.
	if n := len(filter(func(ev acctEvent) bool { return strings.HasPrefix(ev.Type, "user.") })); n < 6 {
		t.Fatalf("%d user.* events", n)
	}
	if len(filter(func(ev acctEvent) bool { return ev.Type == "password.changed" && ev.ActorID == bobID })) != 1 {
		t.Fatal("no password.changed by bob")
	}

	for _, c := range []struct{ query, code string }{
		{"since=yesterday", "invalid_since"},
		{"until=2026-13-01T00:00:00Z", "invalid_until"},
		{"cursor=xyz", "invalid_cursor"},
		{"limit=1000", "invalid_limit"},
	} {
		acctWantError(t, e.call("GET", "/api/v1/admin/audit-events?"+c.query, admin, nil), 400, c.code)
	}

	// The export streams the whole log, also past its own page size of 200.
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		for i := range 250 {
			if err := tx.AddAuditEvent(&sekisho.AuditEvent{Time: e.clock.Now(), WorkspaceID: wsID, Type: "test.bulk",
				Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem, Details: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all = acctAudit(e, admin, "limit=200")
	if got := acctExport(e, admin, ""); !reflect.DeepEqual(got, all) {
		t.Fatalf("export has %d events, the API %d", len(got), len(all))
	}
	if got, want := acctExport(e, admin, "type=user."), acctAudit(e, admin, "type=user."); !reflect.DeepEqual(got, want) || len(got) == 0 {
		t.Fatalf("filtered export has %d events, the API %d", len(got), len(want))
	}
}

// acctExport reads the NDJSON audit export: one JSON object per line.
func acctExport(e *env, adminToken, query string) []acctEvent {
	e.t.Helper()
	r := e.call("GET", "/api/v1/admin/audit-events/export?"+query, adminToken, nil).must(e.t, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		e.t.Fatalf("export Content-Type %q", ct)
	}
	var out []acctEvent
	sc := bufio.NewScanner(strings.NewReader(r.Raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev acctEvent
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&ev); err != nil || dec.More() {
			e.t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	if !strings.HasSuffix(r.Raw, "\n") {
		e.t.Fatal("export does not end with a newline")
	}
	return out
}

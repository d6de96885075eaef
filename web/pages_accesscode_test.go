package web_test

import (
	"html"
	"net/url"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
)

// TestPagesAccessCodeExpired: a member whose admin reset left an access
// code that has since expired is told so on the enrollment page at once,
// in their language, before they look for a code that can't work.
func TestPagesAccessCodeExpired(t *testing.T) {
	w := seedOpen(t, store.SQLite, seedPolicies[1]) // required: enrollment comes at sign-in
	t, e := w.t, w.e
	u := w.enrolled("member", "erin")
	w.applyPolicy()
	e.call("PATCH", "/api/v1/admin/workspace", w.adminTok(), map[string]any{"reset_requires_access_code": true, "password": adminPassword}).must(t, 200)
	w.reset(w.admin, u).must(t, 200)

	signIn := func(lang string) pgResp {
		c := newPgClient(t, e.srv.URL)
		c.header.Set("Accept-Language", lang)
		c.post("/w/acme/sign-in", url.Values{"email": {u.email}, "password": {u.password}}).redirectsTo(t, "/w/acme/sign-in/enroll")
		return c.get("/w/acme/sign-in/enroll").must(t, 200)
	}
	const en, ja = "This access code has expired.", "このアクセスコードは有効期限が切れています。"
	signIn("en").lacks(t, en)
	e.clock.Add(24*time.Hour + time.Minute)
	signIn("en").contains(t, html.EscapeString(en))
	signIn("ja").contains(t, ja)
}

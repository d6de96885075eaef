package web_test

import "testing"

// TestMalformedQueryRefused: a query string that does not parse (a bad
// percent escape, a semicolon separator) is refused with 400 invalid_query
// rather than read without the pairs it could not decode — a page cursor
// that vanished would answer with the first page.
func TestMalformedQueryRefused(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		_, admin := e.workspace("acme")
		for _, path := range []string{
			"/api/v1/admin/users?cursor=%%%zz",
			"/api/v1/admin/users?mfa=disabled&cursor=%zz",
			"/api/v1/admin/users?role=member;cursor=x",
			"/api/v1/admin/audit-events?type=%e",
			"/api/v1/session?x=%",
		} {
			if r := e.call("GET", path, admin, nil); r.Status != 400 || r.code() != "invalid_query" {
				t.Errorf("GET %s: %d %s, want 400 invalid_query", path, r.Status, r.Raw)
			}
		}
		for _, path := range []string{"/api/v1/session", "/api/v1/admin/users?mfa=disabled&q=%25", "/api/v1/admin/users?q=a+b"} {
			e.call("GET", path, admin, nil).must(t, 200)
		}
	})
}

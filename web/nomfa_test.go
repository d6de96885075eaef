package web_test

import (
	"fmt"
	"slices"
	"testing"
)

// TestPolicyListsWhomMFAAffects: the workspace policy answer, before and
// after Require MFA goes on, names the first 20 users its count covers —
// active and invited users without MFA, never disabled ones — in the
// users list's order, with the full count beside it.
func TestPolicyListsWhomMFAAffects(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		_, admin := e.workspace("acme")
		e.enroll(&admin, "admin phone")
		var ids []string
		for i := range 23 {
			ids = append(ids, e.invite(admin, fmt.Sprintf("u%02d@acme.test", i), "member", adminPassword))
		}
		// One invited user who has not accepted, and one disabled user.
		invited := e.call("POST", "/api/v1/admin/users", admin, map[string]string{"email": "new@acme.test"}).must(t, 201).Body["user"].(map[string]any)["id"].(string)
		disabled := ids[0]
		e.call("PATCH", "/api/v1/admin/users/"+disabled, admin, map[string]string{"status": "disabled"}).must(t, 200)
		want := append(slices.Clone(ids[1:]), invited)
		slices.Sort(want)

		check := func(r resp) {
			t.Helper()
			if r.Body["users_without_mfa"] != float64(len(want)) {
				t.Fatalf("users_without_mfa: %s, want %d", r.Raw, len(want))
			}
			var got []string
			for _, u := range r.Body["users_without_mfa_list"].([]any) {
				m := u.(map[string]any)
				if m["status"] == "disabled" || m["email"] == "" || m["role"] != "member" {
					t.Fatalf("listed %v", m)
				}
				got = append(got, m["id"].(string))
			}
			if !slices.Equal(got, want[:20]) {
				t.Fatalf("users_without_mfa_list %v, want the first 20 of %v", got, want)
			}
		}
		check(e.call("GET", "/api/v1/admin/workspace", admin, nil).must(t, 200))
		check(e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 7}).must(t, 200))

		// The users list pages in the same order.
		l := e.call("GET", "/api/v1/admin/users?mfa=disabled&status=active&limit=3", admin, nil).must(t, 200)
		var first []string
		for _, u := range l.Body["users"].([]any) {
			first = append(first, u.(map[string]any)["id"].(string))
		}
		if !slices.Equal(first, want[:3]) {
			t.Fatalf("users list %v, want %v", first, want[:3])
		}
	})
}

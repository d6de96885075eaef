package web_test

import (
	"testing"

	"github.com/sekisho/sekisho/store/storetest"
)

// TestDeniedAdminActionsAudited: a refused admin action is a denial, and
// every denial is an audit event with its actor (SECURITY.md).
func TestDeniedAdminActionsAudited(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			_, admin := e.workspace("acme")
			memberID := e.invite(admin, "mel@acme.test", "member", "tulip marmalade orbit 7")
			uaID := e.invite(admin, "uma@acme.test", "user_admin", "tulip marmalade orbit 8")
			member := e.signIn("acme", "mel@acme.test", "tulip marmalade orbit 7")
			ua := e.signIn("acme", "uma@acme.test", "tulip marmalade orbit 8")

			e.call("GET", "/api/v1/admin/users", member, nil).must(t, 403)
			e.call("PATCH", "/api/v1/admin/workspace", ua, map[string]any{"require_mfa": false}).must(t, 403)
			adminID := e.call("GET", "/api/v1/session", admin, nil).must(t, 200).Body["user"].(map[string]any)["id"].(string)
			e.call("DELETE", "/api/v1/admin/users/"+adminID+"/mfa", ua, nil).must(t, 403)
			// Refused, and nothing but the record changed: the admin keeps
			// their session.
			e.call("GET", "/api/v1/session", admin, nil).must(t, 200)

			events := e.call("GET", "/api/v1/admin/audit-events", admin, nil).must(t, 200).Body["events"].([]any)
			want := map[string]string{"users.list": memberID, "workspace.policy_changed": uaID, "mfa.reset": uaID}
			for _, x := range events {
				ev := x.(map[string]any)
				if ev["result"] != "denied" {
					continue
				}
				if actor, ok := want[ev["type"].(string)]; ok && ev["actor_id"] == actor {
					delete(want, ev["type"].(string))
				}
			}
			if len(want) > 0 {
				t.Fatalf("denials not audited: %v", want)
			}
		})
	}
}

package web_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestLastInvitedAdmin: a new workspace's only admin is still invited; the
// operator can't demote, disable or delete them and leave the workspace
// with no admin at all, but can once another admin exists.
func TestLastInvitedAdmin(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			ctx := context.Background()
			w, admin, _, err := e.svc.CreateWorkspace(ctx, operator, "initech", "Initech", "boss@initech.test")
			if err != nil {
				t.Fatal(err)
			}
			member, disabled := "member", "disabled"
			if _, err := e.svc.UpdateUser(ctx, operator, w.ID, admin.ID, auth.UserUpdate{Role: &member}); sekisho.CodeOf(err) != "last_workspace_admin" {
				t.Fatalf("demote the only (invited) admin: %v", err)
			}
			if _, err := e.svc.UpdateUser(ctx, operator, w.ID, admin.ID, auth.UserUpdate{Status: &disabled}); sekisho.CodeOf(err) != "last_workspace_admin" {
				t.Fatalf("disable the only (invited) admin: %v", err)
			}
			if err := e.svc.DeleteUser(ctx, operator, w.ID, admin.ID); sekisho.CodeOf(err) != "last_workspace_admin" {
				t.Fatalf("delete the only (invited) admin: %v", err)
			}
			if _, _, err := e.svc.CreateUser(ctx, operator, w.ID, auth.NewUser{Email: "second@initech.test", Role: "workspace_admin"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UpdateUser(ctx, operator, w.ID, admin.ID, auth.UserUpdate{Role: &member}); err != nil {
				t.Fatalf("demote with another admin invited: %v", err)
			}
		})
	}
}

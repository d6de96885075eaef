package main

import (
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
)

func TestWorkspacesCreateAndList(t *testing.T) {
	c := newTestCLI(t)
	c.extra = []string{"--base-url", "https://id.example.com"}

	out := c.ok("workspaces", "create", "--slug", "acme", "--name", "Acme 株式会社", "--admin-email", "Admin@Acme.example", "--reason", "TICKET-1")
	base, token := link(t, out)
	if base != "https://id.example.com" {
		t.Errorf("link base %q", base)
	}
	// The link works: it is the admin's invitation.
	inv, err := c.app().svc.Invitation(t.Context(), token)
	if err != nil {
		t.Fatalf("the printed invitation does not open: %v", err)
	}
	if inv.User.Email != "admin@acme.example" || inv.User.Role != sekisho.RoleWorkspaceAdmin || inv.Workspace.Slug != "acme" {
		t.Errorf("invitation is for %+v in %+v", inv.User, inv.Workspace)
	}

	out = c.ok("workspaces", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SLUG") {
		t.Fatalf("workspaces list:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "acme" || f[1] != "Acme" || f[2] != "株式会社" || f[3] != "off" {
		t.Errorf("workspaces list row: %q", lines[1])
	}

	// A taken slug is refused and creates nothing.
	err = c.fail("workspaces", "create", "--slug", "acme", "--name", "Other", "--admin-email", "x@other.example", "--reason", "TICKET-2")
	if sekisho.CodeOf(err) != "slug_taken" {
		t.Errorf("duplicate slug: %v", err)
	}

	// Without --reason nothing is created, and the error says why.
	_, _, err = c.run("workspaces", "create", "--slug", "beta", "--name", "Beta", "--admin-email", "b@beta.example")
	if !isUsage(err) || !strings.Contains(err.Error(), "--reason is required") {
		t.Errorf("missing --reason: %v", err)
	}
	_, _, err = c.run("workspaces", "create", "--slug", "beta", "--name", "Beta", "--admin-email", "b@beta.example", "--reason", "   ")
	if !isUsage(err) {
		t.Errorf("blank --reason: %v", err)
	}
	if out := c.ok("workspaces", "list"); strings.Contains(out, "beta") || strings.Contains(out, "Other") {
		t.Errorf("a refused create left a workspace:\n%s", out)
	}
}

func TestWorkspacesSetPolicy(t *testing.T) {
	c := newTestCLI(t)
	c.ok("workspaces", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.example", "--reason", "setup")

	out := c.ok("workspaces", "set-policy", "--workspace", "acme", "--require-mfa", "--grace-days", "14", "--reason", "customer asked")
	if !strings.Contains(out, "require MFA on, grace days 14") || !strings.Contains(out, "1 users have no second factor") {
		t.Errorf("set-policy output:\n%s", out)
	}
	// Settings not given stay.
	c.ok("workspaces", "set-policy", "--workspace", "acme", "--reset-requires-access-code=true", "--reason", "hardening")
	w, err := c.app().svc.WorkspaceBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !w.RequireMFA || w.MFAGraceDays != 14 || !w.ResetRequiresAccessCode {
		t.Errorf("policy after two changes: %+v", w)
	}
	c.ok("workspaces", "set-policy", "--workspace", "acme", "--require-mfa=false", "--reason", "rollback")
	if out := c.ok("workspaces", "list"); !strings.Contains(out, "acme  Acme  off          14          on") {
		t.Errorf("workspaces list after turning MFA off:\n%s", out)
	}

	if err := c.fail("workspaces", "set-policy", "--workspace", "acme", "--grace-days", "91", "--reason", "x"); sekisho.CodeOf(err) != "invalid_grace_days" {
		t.Errorf("grace days 91: %v", err)
	}
	if err := c.fail("workspaces", "set-policy", "--workspace", "acme", "--require-mfa"); !isUsage(err) {
		t.Errorf("set-policy without reason: %v", err)
	}
	if err := c.fail("workspaces", "set-policy", "--workspace", "nope", "--require-mfa", "--reason", "x"); !strings.Contains(err.Error(), `no workspace has the slug "nope"`) {
		t.Errorf("unknown workspace: %v", err)
	}
}

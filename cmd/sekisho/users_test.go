package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

// newWorkspace creates workspace acme through the CLI and returns the
// token of its admin's invitation.
func newWorkspace(t *testing.T, c *testCLI) string {
	t.Helper()
	out := c.ok("workspaces", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.example", "--reason", "onboarding ACME-1")
	_, token := link(t, out)
	return token
}

// userRow returns the fields of email's line in `users list` output.
func userRow(t *testing.T, out, email string) []string {
	t.Helper()
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == email {
			return f
		}
	}
	t.Fatalf("%s not in users list:\n%s", email, out)
	return nil
}

func TestUsersCommandsAreAudited(t *testing.T) {
	c := newTestCLI(t)
	newWorkspace(t, c)

	out := c.ok("users", "create", "--workspace", "acme", "--email", "bob@acme.example", "--name", "Bob", "--role", "user_admin", "--reason", "hire HR-7")
	if _, token := link(t, out); token == "" {
		t.Fatal("no token")
	}
	c.ok("users", "create", "--workspace", "acme", "--email", "carol@acme.example", "--reason", "hire HR-8")

	out = c.ok("users", "list", "--workspace", "acme")
	if f := userRow(t, out, "bob@acme.example"); f[1] != "Bob" || f[2] != "user_admin" || f[3] != "invited" || f[4] != "disabled" {
		t.Errorf("bob's row: %q", f)
	}
	if f := userRow(t, out, "carol@acme.example"); f[1] != "-" || f[2] != "member" {
		t.Errorf("carol's row: %q", f)
	}
	out = c.ok("users", "list", "--workspace", "acme", "--role", "member")
	if strings.Contains(out, "bob@") || !strings.Contains(out, "carol@") {
		t.Errorf("--role member:\n%s", out)
	}
	out = c.ok("users", "list", "--workspace", "acme", "--q", "bo", "--mfa", "disabled")
	if !strings.Contains(out, "bob@") || strings.Contains(out, "carol@") || strings.Contains(out, "admin@") {
		t.Errorf("--q bo:\n%s", out)
	}
	if err := c.fail("users", "list", "--workspace", "acme", "--mfa", "maybe"); sekisho.CodeOf(err) != "invalid_mfa" {
		t.Errorf("--mfa maybe: %v", err)
	}

	out = c.ok("users", "set-role", "--workspace", "acme", "--email", "bob@acme.example", "--role", "member", "--reason", "role review RR-1")
	if !strings.Contains(out, "role member") {
		t.Errorf("set-role output: %q", out)
	}
	// An invited user becomes active by accepting; set the status through
	// the invitation, then disable and re-enable.
	_, token := link(t, c.ok("users", "create", "--workspace", "acme", "--email", "dave@acme.example", "--reason", "hire HR-9"))
	if _, err := c.app().svc.AcceptInvitation(t.Context(), sekisho.Anonymous("", ""), token, "correct horse battery staple 9"); err != nil {
		t.Fatal(err)
	}
	c.ok("users", "set-status", "--workspace", "acme", "--email", "dave@acme.example", "--status", "disabled", "--reason", "left the company OFF-1")
	if f := userRow(t, c.ok("users", "list", "--workspace", "acme"), "dave@acme.example"); f[3] != "disabled" {
		t.Errorf("dave after disabling: %q", f)
	}
	c.ok("users", "set-status", "--workspace", "acme", "--email", "dave@acme.example", "--status", "active", "--reason", "came back OFF-2")
	if err := c.fail("users", "set-status", "--workspace", "acme", "--email", "dave@acme.example", "--status", "gone", "--reason", "x"); sekisho.CodeOf(err) != "invalid_status" {
		t.Errorf("--status gone: %v", err)
	}

	out = c.ok("users", "reset-mfa", "--workspace", "acme", "--email", "dave@acme.example", "--reason", "lost phone SUP-1")
	if strings.Contains(out, "Access code") {
		t.Errorf("reset without the access-code policy printed a code:\n%s", out)
	}
	c.ok("workspaces", "set-policy", "--workspace", "acme", "--reset-requires-access-code", "--reason", "hardening SEC-1")
	out = c.ok("users", "reset-mfa", "--workspace", "acme", "--email", "dave@acme.example", "--reason", "lost phone again SUP-2")
	if !regexp.MustCompile(`Access code.*\n\S+\n$`).MatchString(out) {
		t.Errorf("reset under the access-code policy printed no code:\n%s", out)
	}

	err := c.fail("users", "reset-mfa", "--workspace", "acme", "--email", "nobody@acme.example", "--reason", "x")
	if !strings.Contains(err.Error(), `no user with the email "nobody@acme.example"`) {
		t.Errorf("unknown user: %v", err)
	}
	for _, args := range [][]string{
		{"users", "create", "--workspace", "acme", "--email", "eve@acme.example"},
		{"users", "set-role", "--workspace", "acme", "--email", "bob@acme.example", "--role", "user_admin"},
		{"users", "set-status", "--workspace", "acme", "--email", "dave@acme.example", "--status", "disabled"},
		{"users", "reset-mfa", "--workspace", "acme", "--email", "dave@acme.example"},
	} {
		if err := c.fail(args...); !isUsage(err) || !strings.Contains(err.Error(), "--reason is required") {
			t.Errorf("%v without --reason: %v", args, err)
		}
	}

	// Every operator action above is in the export, as the operator, with
	// its reason; the refused ones are not.
	events := exportAudit(t, c)
	want := map[string]string{
		"hire HR-7":              "user.invited",
		"hire HR-8":              "user.invited",
		"role review RR-1":       "user.role_changed",
		"left the company OFF-1": "user.disabled",
		"came back OFF-2":        "user.enabled",
		"lost phone SUP-1":       "mfa.reset",
		"lost phone again SUP-2": "mfa.reset",
		"hardening SEC-1":        "workspace.policy_changed",
		"onboarding ACME-1":      "workspace.created",
	}
	seen := map[string]bool{}
	for _, e := range events {
		reason, _ := e["reason"].(string)
		if typ, ok := want[reason]; ok && e["type"] == typ {
			seen[reason] = true
			if e["actor_kind"] != "operator" || e["actor_id"] == "" || e["workspace_id"] == "" || e["time"] == "" {
				t.Errorf("event %v: want actor_kind operator with an actor_id, a workspace and a time", e)
			}
		}
		if e["result"] != "success" && e["actor_kind"] == "operator" {
			t.Errorf("refused action recorded: %v", e)
		}
	}
	for reason, typ := range want {
		if !seen[reason] {
			t.Errorf("no %s event with reason %q in the export", typ, reason)
		}
	}

	out = c.ok("audit", "list", "--workspace", "acme", "--type", "mfa.", "--limit", "1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "mfa.reset") || !strings.Contains(lines[1], "operator:") || !strings.Contains(lines[1], "lost phone again SUP-2") {
		t.Errorf("audit list --type mfa. --limit 1:\n%s", out)
	}
}

// exportAudit runs `audit export` for acme and parses every line.
func exportAudit(t *testing.T, c *testCLI) []map[string]any {
	t.Helper()
	out := c.ok("audit", "export", "--workspace", "acme")
	var events []map[string]any
	for line := range strings.Lines(out) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q is not JSON: %v", line, err)
		}
		events = append(events, e)
	}
	return events
}

// The export pages through the whole log, and the list stops at --limit.
func TestAuditExportReadsEveryPage(t *testing.T) {
	c := newTestCLI(t)
	newWorkspace(t, c)
	a := c.app()
	w, err := a.svc.WorkspaceBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	const n = 450 // more than two pages of 200
	for i := range n {
		_, _, err := a.svc.CreateUser(t.Context(), sekisho.Operator("test", "bulk"), w.ID, auth.NewUser{Email: fmt.Sprintf("u%03d@acme.example", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	events := exportAudit(t, c)
	// workspace.created, the admin's user.invited, and one per user.
	if len(events) != n+2 {
		t.Fatalf("exported %d events, want %d", len(events), n+2)
	}
	ids := map[float64]bool{}
	for i, e := range events {
		id := e["id"].(float64)
		if ids[id] {
			t.Fatalf("event %v exported twice", id)
		}
		ids[id] = true
		if i > 0 && id >= events[i-1]["id"].(float64) {
			t.Fatalf("events not newest first at %d", i)
		}
	}

	out := c.ok("audit", "list", "--workspace", "acme", "--limit", "250")
	if got := strings.Count(out, "\n"); got != 251 {
		t.Errorf("audit list --limit 250 printed %d lines, want 251", got)
	}
	out = c.ok("users", "list", "--workspace", "acme")
	if got := strings.Count(out, "\n"); got != n+2 {
		t.Errorf("users list printed %d lines, want %d (header, admin, users)", got, n+2)
	}
}

// The last active workspace admin keeps the role: the CLI is no way around
// the rule.
func TestLastAdminCannotBeDemoted(t *testing.T) {
	c := newTestCLI(t)
	token := newWorkspace(t, c)
	if _, err := c.app().svc.AcceptInvitation(t.Context(), sekisho.Anonymous("", ""), token, "correct horse battery staple 1"); err != nil {
		t.Fatal(err)
	}
	err := c.fail("users", "set-role", "--workspace", "acme", "--email", "admin@acme.example", "--role", "member", "--reason", "mistake")
	if !strings.Contains(err.Error(), "last_workspace_admin") || !strings.Contains(err.Error(), "at least one active workspace admin") {
		t.Errorf("demoting the last admin: %v", err)
	}
	err = c.fail("users", "set-status", "--workspace", "acme", "--email", "admin@acme.example", "--status", "disabled", "--reason", "mistake")
	if sekisho.CodeOf(err) != "last_workspace_admin" {
		t.Errorf("disabling the last admin: %v", err)
	}
	if f := userRow(t, c.ok("users", "list", "--workspace", "acme"), "admin@acme.example"); f[2] != "workspace_admin" || f[3] != "active" {
		t.Errorf("the admin changed: %q", f)
	}
	for _, e := range exportAudit(t, c) {
		if e["reason"] == "mistake" {
			t.Errorf("refused change recorded: %v", e)
		}
	}
}

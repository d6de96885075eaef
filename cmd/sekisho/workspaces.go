package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/auth"
)

var workspacesCommand = &command{
	summary: "create, list and configure workspaces",
	subs: map[string]*command{
		"create":     {summary: "create a workspace and invite its first admin", run: runWorkspacesCreate},
		"list":       {summary: "list every workspace with its security policy", run: runWorkspacesList},
		"set-policy": {summary: "change a workspace's MFA policy", run: runWorkspacesSetPolicy},
	},
}

func runWorkspacesCreate(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--slug S --name N --admin-email E --reason R",
		"Creates a workspace and invites its first workspace admin, printing the invitation\n"+
			"link (it is also emailed). The admin sets a password by opening it.", false)
	slug := f.requiredString("slug", "URL name of the workspace: lower-case letters, digits and dashes")
	wsName := f.requiredString("name", "display name of the workspace")
	email := f.requiredString("admin-email", "email `address` of the first workspace admin")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		w, u, link, err := a.svc.CreateWorkspace(ctx, c.operator(*reason), *slug, *wsName, *email)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Created workspace %s (%s).\nInvitation link for its admin %s:\n%s\n",
			w.Slug, clean(w.Name), u.Email, link)
		return nil
	})
}

func runWorkspacesList(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "", "Lists every workspace with its security policy.", false)
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		ws, err := a.svc.Workspaces(ctx, c.operator(""))
		if err != nil {
			return err
		}
		t := newTable(c.stdout, "SLUG", "NAME", "REQUIRE MFA", "GRACE DAYS", "RESET NEEDS CODE", "CREATED", "ID")
		for _, w := range ws {
			t.row(w.Slug, w.Name, onOff(w.RequireMFA), fmt.Sprint(w.MFAGraceDays), onOff(w.ResetRequiresAccessCode),
				w.CreatedAt.UTC().Format(time.DateOnly), w.ID)
		}
		return t.flush()
	})
}

func runWorkspacesSetPolicy(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name,
		"--workspace S [--require-mfa=true|false] [--grace-days N] [--reset-requires-access-code=true|false] --reason R",
		"Changes a workspace's security policy; settings not given stay as they are.\n"+
			"With --require-mfa=true, users without a second factor have --grace-days from now\n"+
			"(or from joining) before sign-in makes them enroll one.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	requireMFA := f.Bool("require-mfa", false, "require a second factor of every user")
	graceDays := f.Int("grace-days", 0, "`days` users without MFA may still sign in without it once it is required (0–90)")
	resetCode := f.Bool("reset-requires-access-code", false, "make an MFA reset hand out a one-time access code the user needs to enroll again")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	// Only the settings given on the command line change; the flag
	// package's zero values must not overwrite the others.
	var p auth.PolicyUpdate
	given := f.given()
	if given["require-mfa"] {
		p.RequireMFA = requireMFA
	}
	if given["grace-days"] {
		p.MFAGraceDays = graceDays
	}
	if given["reset-requires-access-code"] {
		p.ResetRequiresAccessCode = resetCode
	}
	if p == (auth.PolicyUpdate{}) {
		return usagef("%s: nothing to change: give --require-mfa, --grace-days or --reset-requires-access-code", name)
	}
	return c.withApp(ctx, f, func(a *app) error {
		op := c.operator(*reason)
		w, err := workspace(ctx, a.svc, *slug)
		if err != nil {
			return err
		}
		pol, err := a.svc.UpdateWorkspace(ctx, op, w.ID, p)
		if err != nil {
			return err
		}
		w = pol.Workspace
		fmt.Fprintf(c.stdout, "Workspace %s: require MFA %s, grace days %d, MFA reset needs an access code %s.\n",
			w.Slug, onOff(w.RequireMFA), w.MFAGraceDays, onOff(w.ResetRequiresAccessCode))
		if w.RequireMFA {
			fmt.Fprintf(c.stdout, "%d users have no second factor yet.\n", pol.UsersWithoutMFA)
		}
		return nil
	})
}

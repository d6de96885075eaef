package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
)

var usersCommand = &command{
	summary: "list, invite and manage the users of a workspace",
	subs: map[string]*command{
		"list":       {summary: "list a workspace's users with their MFA status", run: runUsersList},
		"create":     {summary: "invite a user and print their invitation link", run: runUsersCreate},
		"reset-mfa":  {summary: "remove a user's second factors so they can enroll again", run: runUsersResetMFA},
		"set-role":   {summary: "change a user's role", run: runUsersSetRole},
		"set-status": {summary: "disable or re-enable a user", run: runUsersSetStatus},
	},
}

func runUsersList(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S [--role R] [--status S] [--mfa enabled|disabled] [--q text]",
		"Lists the users of a workspace, by creation.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	role := f.String("role", "", "only users with this `role`: workspace_admin, user_admin or member")
	status := f.String("status", "", "only users with this `status`: invited, active or disabled")
	mfa := f.String("mfa", "", "only users whose MFA is `enabled` or disabled")
	q := f.String("q", "", "only users whose email or name contains this `text`")
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		op := c.operator("")
		w, err := workspace(ctx, a.svc, *slug)
		if err != nil {
			return err
		}
		t := newTable(c.stdout, "EMAIL", "NAME", "ROLE", "STATUS", "MFA", "JOINED", "ID")
		query := auth.UserQuery{Role: *role, Status: *status, MFA: *mfa, Q: *q, Limit: 200}
		for {
			page, err := a.svc.ListUsers(ctx, op, w.ID, query)
			if err != nil {
				return err
			}
			for _, u := range page.Users {
				joined := ""
				if !u.JoinedAt.IsZero() {
					joined = u.JoinedAt.UTC().Format(time.DateOnly)
				}
				mfa := "disabled"
				if u.HasMFA {
					mfa = "enabled"
				}
				t.row(u.Email, u.Name, string(u.Role), string(u.Status), mfa, joined, u.ID)
			}
			if page.NextCursor == "" {
				return t.flush()
			}
			query.Cursor = page.NextCursor
		}
	})
}

func runUsersCreate(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S --email E [--name N] [--role R] --reason R",
		"Invites a user into a workspace and prints their invitation link (it is also\n"+
			"emailed). The user sets a password by opening it.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	email := f.requiredString("email", "the user's email `address`")
	userName := f.String("name", "", "the user's display `name`")
	role := f.String("role", string(sekisho.RoleMember), "`role`: workspace_admin, user_admin or member")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		op := c.operator(*reason)
		w, err := workspace(ctx, a.svc, *slug)
		if err != nil {
			return err
		}
		u, link, err := a.svc.CreateUser(ctx, op, w.ID, auth.NewUser{Email: *email, Name: *userName, Role: *role})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Invited %s to %s as %s.\nInvitation link:\n%s\n", u.Email, w.Slug, u.Role, link)
		return nil
	})
}

func runUsersResetMFA(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S --email E --reason R",
		"Removes all of a user's second factors and recovery codes and signs them out\n"+
			"everywhere; the workspace's policy stays. When the workspace requires it, prints\n"+
			"a one-time access code the user needs to enroll again: give it to them through\n"+
			"a channel you trust, not the email account an attacker may hold.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	email := f.requiredString("email", "the user's email `address`")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		op := c.operator(*reason)
		w, u, err := workspaceUser(ctx, a, op, *slug, *email)
		if err != nil {
			return err
		}
		code, err := a.svc.ResetMFA(ctx, op, w.ID, u.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Reset the MFA of %s in %s; they are signed out everywhere.\n", u.Email, w.Slug)
		if code != "" {
			fmt.Fprintf(c.stdout, "Access code for enrolling again (single use):\n%s\n", code)
		}
		return nil
	})
}

func runUsersSetRole(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S --email E --role R --reason R",
		"Changes a user's role and signs them out everywhere. The last active workspace\n"+
			"admin of a workspace keeps that role.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	email := f.requiredString("email", "the user's email `address`")
	role := f.requiredString("role", "new `role`: workspace_admin, user_admin or member")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.updateUser(ctx, f, *slug, *email, *reason, auth.UserUpdate{Role: role})
}

func runUsersSetStatus(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S --email E --status active|disabled --reason R",
		"Disables a user (they are signed out everywhere and can't sign in) or enables\n"+
			"them again. The last active workspace admin of a workspace can't be disabled.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	email := f.requiredString("email", "the user's email `address`")
	status := f.requiredString("status", "new `status`: active or disabled")
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.updateUser(ctx, f, *slug, *email, *reason, auth.UserUpdate{Status: status})
}

// updateUser applies p to the user with email in workspace slug and prints
// the result.
func (c *cli) updateUser(ctx context.Context, f *flagSet, slug, email, reason string, p auth.UserUpdate) error {
	return c.withApp(ctx, f, func(a *app) error {
		op := c.operator(reason)
		w, u, err := workspaceUser(ctx, a, op, slug, email)
		if err != nil {
			return err
		}
		u, err = a.svc.UpdateUser(ctx, op, w.ID, u.ID, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s in %s: role %s, status %s.\n", u.Email, w.Slug, u.Role, u.Status)
		return nil
	})
}

// workspaceUser resolves a workspace slug and a user's email.
func workspaceUser(ctx context.Context, a *app, op sekisho.Actor, slug, email string) (*sekisho.Workspace, *sekisho.User, error) {
	w, err := workspace(ctx, a.svc, slug)
	if err != nil {
		return nil, nil, err
	}
	u, err := userByEmail(ctx, a.svc, op, w, email)
	if err != nil {
		return nil, nil, err
	}
	return w, u, nil
}

package main

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/totp"
)

// A server started before `keys rotate` keeps accepting correct codes after
// the rotation re-sealed every secret under a key it did not start with: its
// key ring reads the key file again when it meets the new key id.
func TestKeysRotateWhileServing(t *testing.T) {
	c := newTestCLI(t)
	invitation := newWorkspace(t, c)
	server := c.app() // stands for a running `sekisho serve`
	ctx := t.Context()
	const password = "vellum orchard kestrel 58"
	if _, err := server.svc.AcceptInvitation(ctx, sekisho.Anonymous("192.0.2.1", "test"), invitation, password); err != nil {
		t.Fatal(err)
	}
	enrollment := startTOTP(t, server)
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enrollment.Secret)
	if err != nil {
		t.Fatal(err)
	}
	w, err := server.svc.WorkspaceBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := server.svc.UserByEmail(ctx, sekisho.Operator("test", ""), w.ID, "admin@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	actor := sekisho.Actor{Kind: sekisho.ActorUser, UserID: u.ID, WorkspaceID: w.ID, Role: u.Role, AuthTime: now}
	// Confirm with the previous step's code so that the current one stays
	// unused for the sign-in below.
	if _, err := server.svc.ConfirmTOTP(ctx, actor, enrollment.ID, totp.Code(seed, totp.StepAt(now)-1)); err != nil {
		t.Fatal(err)
	}

	oldKey := server.keys.CurrentID()
	c.ok("keys", "rotate", "--reason", "rotation while serving")
	if sealed, _ := sealedSecret(t, c, enrollment.ID); strings.HasPrefix(sealed, oldKey+":") {
		t.Fatalf("rotate left the secret under the old key %s", oldKey)
	}

	first, err := server.svc.SignIn(ctx, sekisho.Anonymous("192.0.2.1", "test"),
		auth.Credentials{Workspace: "acme", Email: "admin@acme.example", Password: password})
	if err != nil || first.State != sekisho.StepMFARequired {
		t.Fatalf("password step: %+v, %v", first, err)
	}
	res, err := server.svc.SignInMFA(ctx, sekisho.Anonymous("192.0.2.1", "test"),
		auth.SecondFactor{FlowToken: first.FlowToken, Code: totp.Code(seed, totp.StepAt(now))})
	if err != nil || res.SessionToken == "" {
		t.Fatalf("a correct code after the rotation: %+v, %v", res, err)
	}
	if server.keys.CurrentID() == oldKey {
		t.Error("the running server still seals with the old key after meeting the new one")
	}
}

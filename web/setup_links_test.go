package web_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// Every instance on a shared database, and every restart, prints a setup
// link; none of them replaces the others, so the one the operator copied
// works whichever instance printed it. The first one used creates the
// workspace, and then none works any more.
func TestSetupLinksOfSeveralInstances(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			other := newEnvOn(t, e.db, e.dbURL, e)
			ctx := context.Background()
			var tokens []string
			for _, svc := range []*env{e, other, e} { // two instances, then a restart
				link, err := svc.svc.SetupLink(ctx)
				m := acctSetupToken.FindStringSubmatch(link)
				if err != nil || m == nil {
					t.Fatalf("SetupLink = %q, %v", link, err)
				}
				tokens = append(tokens, m[1])
			}
			if tokens[0] == tokens[1] || tokens[1] == tokens[2] || tokens[0] == tokens[2] {
				t.Fatalf("setup tokens repeat: %q", tokens)
			}
			for i, tok := range tokens {
				if !setupTokenStored(t, e, tok) {
					t.Errorf("setup link %d was deleted by a later one", i+1)
				}
			}

			body := func(token string) map[string]string {
				return map[string]string{"token": token, "workspace_slug": "kaisha", "workspace_name": "Kaisha Example",
					"email": "root@kaisha.test", "name": "Root", "password": "lantern quarry mosaic 42"}
			}
			// The oldest link, printed by the first instance, still works.
			other.call("POST", "/api/v1/setup", "", body(tokens[0])).must(t, 201)
			for _, tok := range tokens[1:] {
				acctWantError(t, e.call("POST", "/api/v1/setup", "", body(tok)), 404, "invalid_token")
				if setupTokenStored(t, e, tok) {
					t.Error("a setup token outlived the creation of the first workspace")
				}
			}
		})
	}
}

// A workspace the operator creates ends the first run too.
func TestSetupLinksEndWithAnOperatorWorkspace(t *testing.T) {
	e := newEnv(t, store.SQLite)
	link, err := e.svc.SetupLink(context.Background())
	if err != nil || link == "" {
		t.Fatalf("SetupLink = %q, %v", link, err)
	}
	tok := acctSetupToken.FindStringSubmatch(link)[1]
	if _, _, _, err := e.svc.CreateWorkspace(context.Background(), sekisho.Operator("op", "ticket 1"), "acme", "Acme", "admin@acme.test"); err != nil {
		t.Fatal(err)
	}
	if setupTokenStored(t, e, tok) {
		t.Error("the setup token outlived the operator's workspace")
	}
}

// setupTokenStored reports whether the setup token is in the database,
// unused and unexpired.
func setupTokenStored(t *testing.T, e *env, token string) bool {
	t.Helper()
	var found bool
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		_, err := tx.TokenUser(secret.HashToken(token), store.PurposeSetup, e.clock.Now().UnixMilli())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

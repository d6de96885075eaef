package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// TestRehashAtSignIn: a password hashed under weaker argon2id parameters
// (as every hash is once the parameters are raised) is hashed again under
// the server's at the next successful sign-in, and only then: a wrong
// password leaves it as it was.
func TestRehashAtSignIn(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			wsID, _ := e.workspace("acme")
			weaker := testParams
			weaker.Memory /= 2
			old, err := secret.NewHasher(weaker, 1).Hash(context.Background(), adminPassword)
			if err != nil {
				t.Fatal(err)
			}
			stored := func() string {
				t.Helper()
				var hash string
				if err := e.db.View(context.Background(), func(tx *store.Tx) error {
					_, hash, err = tx.UserByEmail(wsID, "admin@acme.test")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return hash
			}
			if err := e.db.Update(context.Background(), func(tx *store.Tx) error {
				u, _, err := tx.UserByEmail(wsID, "admin@acme.test")
				if err != nil {
					return err
				}
				return tx.SetPasswordHash(u.ID, old)
			}); err != nil {
				t.Fatal(err)
			}

			e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "admin@acme.test", "password": "not the password at all"}).must(t, 401)
			if got := stored(); got != old {
				t.Fatalf("a wrong password changed the hash: %s", got)
			}
			e.signIn("acme", "admin@acme.test", adminPassword)
			got := stored()
			want := "$argon2id$v=19$m=1024,t=1,p=1$"
			if got == old || !strings.HasPrefix(got, want) {
				t.Fatalf("after sign-in the hash is %s, want one starting %s", got, want)
			}
			e.signIn("acme", "admin@acme.test", adminPassword) // the new hash verifies
			if again := stored(); again != got {
				t.Fatalf("hashed again at a sign-in that needed none: %s", again)
			}
		})
	}
}

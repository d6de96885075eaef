package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// mfaSeedForms are the ways a seed could sit in a database in clear.
func mfaSeedForms(seed []byte) [][]byte {
	b32 := totp.EncodeSecret(seed)
	return [][]byte{
		seed,
		[]byte(b32),
		[]byte(strings.ToLower(b32)),
		[]byte(hex.EncodeToString(seed)),
		[]byte(strings.ToUpper(hex.EncodeToString(seed))),
		[]byte(base64.StdEncoding.EncodeToString(seed)),
		[]byte(base64.RawURLEncoding.EncodeToString(seed)),
	}
}

// mfaDatabaseBytes returns everything the database holds: on SQLite the
// bytes of the database file and its WAL, on PostgreSQL the text of every
// row of every table.
func mfaDatabaseBytes(t *testing.T, e *env) []byte {
	t.Helper()
	if path, ok := strings.CutPrefix(e.dbURL, "sqlite:"); ok {
		var all []byte
		for _, p := range []string{path, path + "-wal", path + "-journal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if len(all) == 0 {
			t.Fatalf("no database file at %s", path)
		}
		return all
	}
	db, err := sql.Open("pgx", e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("tables: %v", tables)
	}
	var all bytes.Buffer
	var sawSealed bool
	for _, table := range tables {
		rows, err := db.Query(`SELECT t::text FROM "` + table + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			all.WriteString(s + "\n")
			sawSealed = sawSealed || table == "authenticators"
		}
		rows.Close()
	}
	if !sawSealed {
		t.Fatal("no rows in authenticators: the test reads the wrong database")
	}
	return all.Bytes()
}

// TestMFASecretsAtRest: after enrollment, neither the seed nor its base32
// form is anywhere in the database, in any common encoding.
func TestMFASecretsAtRest(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		_, pending := mfaStart(e, m.token, "pending", nil)
		m.signInTOTP(seed)
		raw := mfaDatabaseBytes(t, e)
		if !bytes.Contains(raw, []byte(m.email)) {
			t.Fatal("the database dump does not even hold the user's email")
		}
		for _, s := range [][]byte{seed, pending} {
			for _, form := range mfaSeedForms(s) {
				if bytes.Contains(raw, form) {
					t.Fatalf("the database holds a seed in clear (%q)", form)
				}
			}
		}
	})
}

// TestMFASealedSecretBoundToRow: a sealed seed copied into another user's
// authenticator row does not decrypt there, and sign-in fails cleanly.
func TestMFASealedSecretBoundToRow(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		wsID, admin := e.workspace("acme")
		alice := mfaJoin(e, "acme", wsID, admin, "alice")
		bob := mfaJoin(e, "acme", wsID, admin, "bob")
		aliceSeed, _ := e.enroll(&alice.token, "phone")
		bobSeed, bobCodes := e.enroll(&bob.token, "phone")
		aliceAuth, bobAuth := mfaAuthID(e, alice.token, "phone"), mfaAuthID(e, bob.token, "phone")

		ctx := context.Background()
		err := e.db.Update(ctx, func(tx *store.Tx) error {
			all, err := tx.AllAuthenticatorSecrets()
			if err != nil {
				return err
			}
			for _, r := range all {
				if r[0] == aliceAuth {
					return tx.SetAuthenticatorSecret(bobAuth, r[3])
				}
			}
			t.Fatal("alice's authenticator is not in the store")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		for _, seed := range [][]byte{aliceSeed, bobSeed} {
			r := bob.second(bob.passwordStep(), e.code(seed))
			if r.Status != 401 || r.code() != "invalid_code" {
				t.Fatalf("bob with a copied seed: %d %s, want 401 invalid_code", r.Status, r.Raw)
			}
		}
		// Alice's own row is untouched, and bob still has his way back.
		alice.signInTOTP(aliceSeed)
		bob.recover(bob.passwordStep(), bobCodes[0]).must(t, 200)
	})
}

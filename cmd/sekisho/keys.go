package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

var keysCommand = &command{
	summary: "rotate the key that encrypts TOTP secrets",
	subs: map[string]*command{
		"rotate": {summary: "add a new current key and re-encrypt every TOTP secret under it", run: runKeysRotate},
	},
}

func runKeysRotate(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--reason R",
		"Adds a new key to the key file <data-dir>/keys, which makes it the current key, and\n"+
			"re-encrypts every TOTP secret in the database under it, in one transaction.\n"+
			"Servers reading that key file may keep running: the first secret they meet under\n"+
			"the new key makes them read the file again, and from then on they seal with it.\n"+
			"The older keys stay in the file, for backups and for values sealed meanwhile.\n"+
			"Instances on other machines, with their own copy of the key file, do not see the\n"+
			"new key: use --encryption-keys for them (below).\n\n"+
			"With --encryption-keys (SEKISHO_ENCRYPTION_KEYS) no file is written. Rotate in\n"+
			"two steps, so that no instance ever meets a key it does not hold:\n"+
			"  1. append the new key to the list (old key still first) on every instance and\n"+
			"     restart them;\n"+
			"  2. move the new key first on every instance and restart them, then run this\n"+
			"     command with that list: it re-encrypts the secrets not under the first key.", false)
	reason := f.reason()
	if err := f.parse(c, args); err != nil {
		return err
	}
	cfg, err := f.load(c)
	if err != nil {
		return err
	}
	op := c.operator(*reason)

	// The old key ring must exist: creating one here would mean a wrong
	// --data-dir, and its fresh key could open none of the secrets.
	var oldKeys *secret.Keyring
	if cfg.EncryptionKeys != "" {
		oldKeys, err = secret.ParseKeyring(cfg.EncryptionKeys)
	} else if oldKeys, err = secret.LoadKeyFile(cfg.keyFile()); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("there is no key file at %s, so nothing to rotate: is --data-dir right?", cfg.keyFile())
	}
	if err != nil {
		return err
	}
	// Open the database before touching the key file, so that an
	// unreachable database leaves the file as it was.
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	newKeys := oldKeys
	if cfg.EncryptionKeys == "" {
		id, err := secret.AddKeyToFile(cfg.keyFile())
		if err != nil {
			return err
		}
		if newKeys, err = secret.LoadKeyFile(cfg.keyFile()); err != nil {
			return err
		}
		if newKeys.CurrentID() != id {
			return fmt.Errorf("key file %s: the key just added (%s) is not the current one (%s); was the file edited meanwhile?", cfg.keyFile(), id, newKeys.CurrentID())
		}
		fmt.Fprintf(c.stdout, "Added key %s to %s; it is now the current key.\n", id, cfg.keyFile())
	}
	n, err := reseal(ctx, db, oldKeys, newKeys, op)
	if err != nil {
		if cfg.EncryptionKeys == "" {
			// The new key stays: it is current in the file, and every value
			// still opens with the older keys kept beside it.
			return fmt.Errorf("re-encrypting, nothing was changed in the database (the new key stays in the key file): %w", err)
		}
		return fmt.Errorf("re-encrypting, nothing was changed in the database: %w", err)
	}
	fmt.Fprintf(c.stdout, "Re-encrypted %d TOTP secrets under key %s.\n", n, newKeys.CurrentID())
	if cfg.EncryptionKeys == "" {
		fmt.Fprintln(c.stdout, "Servers reading this key file pick the new key up by themselves; copy the file to every\n"+
			"instance that has its own copy, and to the backups. Keep the older keys in the file.")
	} else {
		fmt.Fprintln(c.stdout, "Every instance must have the new key first in its --encryption-keys now; keep the older keys after it.")
	}
	return nil
}

// reseal re-encrypts, in one transaction, every TOTP secret not yet under
// newKeys' current key: opened with oldKeys, sealed with newKeys, bound to
// the same row identity. A secret that does not open aborts the whole
// transaction, so the database never holds a mix of a half-done rotation
// and an unexplained failure. The rotation is recorded in the audit log,
// outside any workspace.
func reseal(ctx context.Context, db *store.DB, oldKeys, newKeys *secret.Keyring, op sekisho.Actor) (int, error) {
	var n int
	err := db.Update(ctx, func(tx *store.Tx) error {
		n = 0
		rows, err := tx.AllAuthenticatorSecrets()
		if err != nil {
			return err
		}
		for _, r := range rows {
			id, workspaceID, userID, sealed := r[0], r[1], r[2], r[3]
			if newKeys.IsCurrent(sealed) {
				continue
			}
			ad := secret.AD(workspaceID, userID, id)
			seed, err := oldKeys.Open(sealed, ad)
			if err != nil {
				return fmt.Errorf("authenticator %s of user %s: %w", id, userID, err)
			}
			resealed, err := newKeys.Seal(seed, ad)
			clear(seed)
			if err != nil {
				return err
			}
			if err := tx.SetAuthenticatorSecret(id, resealed); err != nil {
				return err
			}
			n++
		}
		return tx.AddAuditEvent(&sekisho.AuditEvent{
			Time: time.Now().UTC(), Type: "keys.rotated", Result: sekisho.ResultSuccess,
			ActorKind: op.Kind, ActorID: op.Operator, Reason: op.Reason,
			Details: map[string]string{"key_id": newKeys.CurrentID(), "reencrypted": strconv.Itoa(n)},
		})
	})
	return n, err
}

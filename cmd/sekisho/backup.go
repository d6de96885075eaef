package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sekisho/sekisho/store"
)

var backupCommand = &command{
	summary: "copy the SQLite database to a file while the server runs",
	run:     runBackup,
}

// runBackup writes a consistent copy of the SQLite database with VACUUM
// INTO. It neither migrates nor stops anything: a running `serve` goes on
// answering while the copy is made.
func runBackup(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--to FILE",
		"Writes a consistent copy of the SQLite database to FILE while the server keeps running.\n"+
			"FILE must not exist yet; it is created readable by its owner only. To restore, stop\n"+
			"the server and put the copy in the data folder as "+store.SQLiteFile+".\n\n"+
			"The encryption keys are NOT in the copy: back up the key file <data-dir>/keys (or\n"+
			"SEKISHO_ENCRYPTION_KEYS) separately, and keep it apart from the database backups.\n"+
			"Without it no TOTP secret in the copy can be opened.\n\n"+
			"On PostgreSQL use pg_dump and pg_restore instead.", false)
	to := f.requiredString("to", "the file to write the copy to")
	if err := f.parse(c, args); err != nil {
		return err
	}
	cfg, err := f.load(c)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		// Opening would create an empty database: a wrong --data-dir would
		// then "back up" nothing, successfully.
		dbFile := filepath.Join(cfg.DataDir, store.SQLiteFile)
		if _, err := os.Stat(dbFile); err != nil {
			return fmt.Errorf("there is no database at %s: is --data-dir right?", dbFile)
		}
	}
	if _, err := os.Lstat(*to); err == nil {
		return fmt.Errorf("%s exists already; give a new file name (backup never overwrites)", *to)
	}
	db, err := store.OpenNoMigrate(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	err = db.BackupTo(ctx, *to)
	if err = errors.Join(err, db.Close()); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already; give a new file name (backup never overwrites)", *to)
		}
		return err
	}
	fmt.Fprintf(c.stdout, "Wrote a copy of the database to %s.\n", *to)
	if cfg.EncryptionKeys == "" {
		fmt.Fprintf(c.stdout, "The encryption keys are not in it: back up %s separately.\n", cfg.keyFile())
	} else {
		fmt.Fprintln(c.stdout, "The encryption keys are not in it: keep SEKISHO_ENCRYPTION_KEYS backed up separately.")
	}
	return nil
}

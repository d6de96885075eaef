package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BackupTo writes a consistent copy of the SQLite database to path, while
// the server keeps running: VACUUM INTO reads one snapshot in a read
// transaction, so writers go on meanwhile and the copy holds every
// transaction committed before it began and none after. path must not
// exist; the file is created readable by its owner only, like the database.
// The copy is a complete sekisho.db, without the WAL beside it.
//
// The encryption keys of the TOTP secrets are not in the database: back up
// the key file (or SEKISHO_ENCRYPTION_KEYS) separately.
//
// On PostgreSQL BackupTo returns an error: use pg_dump there.
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if db.dialect != SQLite {
		return errors.New("backup copies SQLite databases only; on PostgreSQL use pg_dump (and restore with pg_restore), and keep the encryption keys with it")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// O_EXCL both refuses to overwrite and creates the file 0600: SQLite
	// writes VACUUM INTO's output into an existing empty file, keeping its
	// permissions, where a file it created would follow the umask.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup: %w", err)
	}
	// Not on the read pool: query_only refuses VACUUM INTO as well. Outside
	// an explicit transaction the statement takes no write lock, so other
	// connections and processes (a running server) write on meanwhile; in
	// this process, the writer connection is busy until the copy is done.
	if _, err := db.write.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

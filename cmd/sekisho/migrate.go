package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sekisho/sekisho/store"
)

var migrateCommand = &command{
	summary: "apply pending database migrations and print the schema version",
	run:     runMigrate,
}

// runMigrate migrates without starting a server, for deployments that
// upgrade the schema in a separate step before rolling out new instances.
// (serve migrates on start too.)
func runMigrate(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "", "Applies the database migrations this binary has and the database lacks, then prints\n"+
		"the schema version. `sekisho serve` does the same when it starts.", false)
	if err := f.parse(c, args); err != nil {
		return err
	}
	cfg, err := f.load(c)
	if err != nil {
		return err
	}
	if err := makeDataDir(cfg); err != nil {
		return err
	}
	db, err := store.OpenNoMigrate(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	before, _, err := db.SchemaVersion(ctx)
	if err == nil {
		err = db.Migrate(ctx)
	}
	var after int
	if err == nil {
		after, _, err = db.SchemaVersion(ctx)
	}
	if err = errors.Join(err, db.Close()); err != nil {
		return err
	}
	if after == before {
		fmt.Fprintf(c.stdout, "Schema version %d; nothing to migrate.\n", after)
	} else {
		fmt.Fprintf(c.stdout, "Schema version %d (migrated from %d).\n", after, before)
	}
	return nil
}

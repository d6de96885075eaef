// Package store keeps sekisho's state in SQL: SQLite (embedded, the default)
// or PostgreSQL (several instances sharing one database). One implementation
// serves both dialects; the differences are placeholders, a few DDL types and
// how a write transaction takes its locks.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a supported database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a connection to sekisho's database.
type DB struct {
	dialect Dialect
	// On SQLite, write holds a single connection so that writers queue in
	// Go instead of failing with "database is locked", and read is a pool
	// of readers that WAL lets run beside it. On PostgreSQL both are the
	// same pool.
	write *sql.DB
	read  *sql.DB

	rebound sync.Map // query with ? → query with $n (PostgreSQL)
	stmts   sync.Map // query → *sql.Stmt on the read pool (SQLite)

	url     string // PostgreSQL, for the invalidation listener
	readDSN string // SQLite, for the invalidation poller
	inval   *Invalidations
	log     atomic.Pointer[slog.Logger]
}

// SetLogger sets where the database's background work (the invalidation
// listener) logs; slog.Default() until then.
func (db *DB) SetLogger(l *slog.Logger) { db.log.Store(l) }

func (db *DB) logger() *slog.Logger {
	if l := db.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// SQLiteFile is the database file's name inside the data folder.
const SQLiteFile = "sekisho.db"

// Open connects to databaseURL, or to the SQLite file in dataDir when
// databaseURL is empty, and applies pending migrations.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	db, err := open(databaseURL, dataDir)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenNoMigrate connects without migrating, for `sekisho migrate` and tests.
func OpenNoMigrate(databaseURL, dataDir string) (*DB, error) { return open(databaseURL, dataDir) }

func open(databaseURL, dataDir string) (*DB, error) {
	switch {
	case databaseURL == "" || strings.HasPrefix(databaseURL, "sqlite:") || strings.HasPrefix(databaseURL, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "file:")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create data folder: %w", err)
			}
			path = filepath.Join(dataDir, SQLiteFile)
		}
		return openSQLite(path)
	case strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://"):
		databaseURL, maxConns, err := poolSize(databaseURL)
		if err != nil {
			return nil, err
		}
		pool, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		pool.SetMaxOpenConns(maxConns)
		pool.SetMaxIdleConns(maxConns)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		return newDB(&DB{dialect: Postgres, write: pool, read: pool, url: databaseURL}), nil
	default:
		return nil, fmt.Errorf("database URL must start with postgres:// or sqlite: (got %q)", redactURL(databaseURL))
	}
}

// DefaultPoolSize is how many connections an instance opens to PostgreSQL
// at most, besides its invalidation listener, unless the database URL says
// otherwise with pool_max_conns. Session checks are answered from memory,
// so the pool serves sign-ins and admin work: a few connections per core
// keep PostgreSQL busy without queueing inside it.
const DefaultPoolSize = 16

// poolSize takes pool_max_conns (the name pgxpool uses) out of a
// PostgreSQL URL, where the server would take it for a setting it does not
// know.
func poolSize(databaseURL string) (string, int, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", 0, fmt.Errorf("database URL: %s", redactURL(databaseURL))
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return databaseURL, DefaultPoolSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return "", 0, fmt.Errorf("database URL: pool_max_conns must be a number from 1 to 1000 (got %q)", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

func openSQLite(path string) (*DB, error) {
	// synchronous=FULL: with NORMAL a power cut can undo a committed
	// transaction, and with it the spending of a recovery code. The pragmas
	// run in order as each connection opens: the busy timeout first, so that
	// it covers the others (but see firstConn).
	params := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		params.Add("_pragma", p)
	}
	readDSN := "file:" + path + "?" + params.Encode() + "&_pragma=query_only(1)"
	params.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + params.Encode()
	// Create the file ourselves so that it is never world-readable.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite file: %w", err)
	}
	f.Close()
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := firstConn(write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite file: %w", err)
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return newDB(&DB{dialect: SQLite, write: write, read: read, readDSN: readDSN}), nil
}

// firstConn opens the writer's connection. Switching a new file to WAL
// takes a lock that SQLite does not wait for through the busy timeout, so
// processes opening a new file together (serve and a CLI command) can be
// refused at once; the first connection is retried for as long as that
// timeout instead. Later connections find the file in WAL mode already.
func firstConn(write *sql.DB) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := write.Ping()
		if err == nil || !errors.Is(unavailable(err), ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newDB(db *DB) *DB {
	db.inval = &Invalidations{db: db}
	return db
}

// Dialect reports which database db talks to.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes every connection.
func (db *DB) Close() error {
	err := db.inval.close()
	db.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping reports whether the database answers, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Stats returns the connection pool statistics of the writer pool.
func (db *DB) Stats() sql.DBStats { return db.write.Stats() }

// Tx is one database transaction; every store method that reads or writes
// sekisho's tables hangs off it, so that a service's whole change commits
// or rolls back as one.
type Tx struct {
	db  *DB
	tx  *sql.Tx
	ctx context.Context
}

// Update runs fn in a read-write transaction and commits it if fn returns
// nil. On SQLite the transaction begins IMMEDIATE, so it holds the write
// lock from its first statement and never fails midway on a lock upgrade.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return db.run(ctx, db.write, nil, true, fn)
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(tx *Tx) error) error {
	var opts *sql.TxOptions
	if db.dialect == Postgres {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	// SQLite's read pool is query_only and begins deferred transactions.
	return db.run(ctx, db.read, opts, false, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, write bool, fn func(tx *Tx) error) error {
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return failed(ctx, fmt.Errorf("begin: %w", err))
	}
	tx := &Tx{db: db, tx: sqlTx, ctx: ctx}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return failed(ctx, err)
	}
	var e *echo
	if write {
		if e, err = db.inval.expect(ctx, sqlTx); err != nil {
			sqlTx.Rollback()
			return failed(ctx, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		db.inval.forget(e)
		return failed(ctx, fmt.Errorf("commit: %w", err))
	}
	if write {
		db.inval.committed()
	}
	db.inval.await(ctx, e)
	return nil
}

// Context returns the transaction's context.
func (tx *Tx) Context() context.Context { return tx.ctx }

// prepared returns the read pool's prepared statement for query,
// preparing it once, for the hot lookups made outside any transaction:
// SQLite spends most of such a lookup parsing its SQL (database/sql then
// prepares it again once per connection). It returns nil on PostgreSQL,
// whose pgx driver already caches statements per connection by text.
// Never call it inside a transaction: preparing takes a connection of its
// own, and on SQLite's single writer that would wait forever.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if db.dialect != SQLite {
		return nil, nil
	}
	if v, ok := db.stmts.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if v, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close() // another goroutine prepared it first
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string {
	if db.dialect != Postgres {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	db.rebound.Store(query, b.String())
	return b.String()
}

func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(tx.ctx, tx.db.q(query), args...)
}

// LockName holds a lock called name until the transaction ends, for work
// that has no row to lock yet (the first encryption key of a new
// PostgreSQL database). SQLite needs none: it runs one write transaction
// at a time.
func (tx *Tx) LockName(name string) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	_, err := tx.exec(`SELECT pg_advisory_xact_lock(hashtext(?))`, name)
	return err
}

// execOne runs a statement that must change exactly one row, and returns
// false when it changed none: the conditional updates behind single use.
func (tx *Tx) execOne(query string, args ...any) (bool, error) {
	res, err := tx.exec(query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.ctx, tx.db.q(query), args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(tx.ctx, tx.db.q(query), args...)
}

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable wraps errors that say the database can't be reached or
// can't take the work now (no connection, too many clients, shutting
// down, SQLite's lock still held after the busy timeout): worth retrying,
// unlike a bug.
var ErrUnavailable = errors.New("store: database unavailable")

// failed names why a transaction failed. When ctx has ended, that is the
// cause, whatever the driver said: database/sql rolls the transaction back
// the moment ctx ends, and a later statement or Commit then reports only
// sql.ErrTxDone, which callers would take for a fault of ours rather than
// a client that went away.
func failed(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return unavailable(err)
}

// unavailable wraps err in ErrUnavailable when it is such an error.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var sqliteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 53300: too many connections;
		// 57P01–57P03: the server is shutting down or starting.
		if !strings.HasPrefix(pgErr.Code, "08") && pgErr.Code != "53300" && !strings.HasPrefix(pgErr.Code, "57P0") {
			return err
		}
	case errors.As(err, &connErr), pgconn.SafeToRetry(err):
	case errors.As(err, &sqliteErr):
		if c := sqliteErr.Code() & 0xff; c != sqlite3.SQLITE_BUSY && c != sqlite3.SQLITE_LOCKED {
			return err
		}
	default:
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// ErrDuplicate is returned when an insert or update breaks a unique
// constraint (a slug or an email that is taken).
var ErrDuplicate = errors.New("store: duplicate")

// mapErr turns driver errors the services act on into store errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err := unavailable(err); errors.Is(err, ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrDuplicate
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) && (sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return ErrDuplicate
	}
	return err
}

// NewID returns a new time-ordered unique id (UUIDv7), so that ordering by
// id is ordering by creation and keyset pagination needs no second column.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Times are stored as Unix milliseconds in BIGINT columns: one format that
// both dialects compare and index the same way.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := "migrations/" + string(db.dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion returns the newest migration the database has and the
// newest this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (have, want int, err error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, 0, err
	}
	want = ms[len(ms)-1].version
	err = db.read.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have)
	if err != nil {
		return 0, want, nil // no table yet: an empty database
	}
	return have, want, nil
}

// Migrate applies the migrations the database lacks, each in its own
// transaction with its schema_migrations row. Instances that start together
// on PostgreSQL take turns through an advisory lock. A database newer than
// this binary is refused: an old binary must not run on a schema it does
// not know.
func (db *DB) Migrate(ctx context.Context) error { return db.migrate(ctx, math.MaxInt) }

// migrate applies the migrations the database lacks up to version upTo:
// all of them but in tests of a migration, which begin before it.
func (db *DB) migrate(ctx context.Context, upTo int) error {
	ms, err := db.migrations()
	if err != nil {
		return err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if db.dialect == Postgres {
		// The key is arbitrary but fixed: "sekisho" in ASCII, as a number.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(32481134326802543)"); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(32481134326802543)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if latest := ms[len(ms)-1].version; have > latest {
		return fmt.Errorf("the database schema is at version %d, newer than this sekisho binary knows (%d): run a newer sekisho", have, latest)
	}
	for _, m := range ms {
		if m.version <= have || m.version > upTo {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		// Check again inside the transaction: on SQLite (no advisory lock)
		// another process may have applied it since have was read, and the
		// IMMEDIATE transaction now holds the write lock.
		var applied int
		if err := tx.QueryRowContext(ctx, db.q("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&applied); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if applied > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, db.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

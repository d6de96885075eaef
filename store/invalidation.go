package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invalidation says that what an instance remembers of session checks may
// be stale: those of one user, or, when WorkspaceID is set, every session
// of that workspace. Triggers write one for every change that can alter a
// session check (migration 0002), whichever process makes it.
type Invalidation struct {
	Seq         int64
	UserID      string
	WorkspaceID string
}

// invalidationRetention is how long invalidation rows are kept: far longer
// than any instance takes to read them.
const invalidationRetention = time.Hour

// pollEvery is how stale an SQLite instance may be about other processes'
// writes.
const pollEvery = time.Millisecond

// echoTimeout bounds how long a PostgreSQL write waits for the instances
// to acknowledge its invalidations.
const echoTimeout = 2 * time.Second

// Invalidations delivers the invalidations committed to the database, by
// this process or any other, to the subscribers: the session caches.
//
// On SQLite, Sync reads PRAGMA data_version on a connection of its own
// (any commit by another connection changes it) and then the rows it has
// not seen. It does so whenever this process has committed a write since,
// so a cache consulted after Sync is exactly as fresh as the database for
// this process's own writes; writes of other processes (the CLI) are seen
// within pollEvery, since the read costs file-lock system calls that every
// request should not pay. Concurrent calls share one check that began
// after they did.
//
// On PostgreSQL, a listener connection receives each row by NOTIFY as its
// transaction commits, applies it and acknowledges it; a write transaction
// that invalidated something returns only once every listening instance
// has acknowledged, so a revocation is in force on all of them before the
// request that made it is answered. While the listener is down, or has not
// heard from the server for trustFor, Sync reports false and caches must
// not be trusted.
type Invalidations struct {
	db *DB

	mu      sync.Mutex
	subs    []subscriber
	started bool

	// SQLite: a check is numbered when it starts; a caller that arrived
	// before check n began is served by any check ≥ n.
	checks   atomic.Uint64
	checked  uint64 // last completed check, under mu
	conn     *sql.DB
	dataVer  int64
	lastSeq  int64
	dirty    atomic.Bool  // this process committed a write since the last check began
	polled   atomic.Int64 // when the last check began (Unix ns)
	polledOK atomic.Bool  // whether the last check succeeded

	// PostgreSQL.
	id        string       // this instance, in acknowledgements
	listening atomic.Bool  // the listener holds its LISTENs
	alive     atomic.Int64 // when the listener last heard from the server (Unix ns)
	stop      context.CancelFunc
	done      chan struct{}
	waiters   map[int64]*echo
}

type subscriber struct {
	fn   func(Invalidation)
	lost func()
}

func newInstanceID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Invalidations returns the database's invalidation feed.
func (db *DB) Invalidations() *Invalidations { return db.inval }

// Subscribe delivers every invalidation committed from now on to fn, and
// calls lost whenever some may have been missed (the listener reconnects):
// the subscriber must then forget everything. On PostgreSQL the first
// subscriber starts the listener, which runs until the database is closed.
func (iv *Invalidations) Subscribe(fn func(Invalidation), lost func()) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.subs = append(iv.subs, subscriber{fn, lost})
	if iv.db.dialect == Postgres && !iv.started {
		iv.started = true
		ctx, cancel := context.WithCancel(context.Background())
		iv.stop, iv.done = cancel, make(chan struct{})
		iv.waiters = make(map[int64]*echo)
		iv.id = newInstanceID()
		go iv.listen(ctx)
	}
}

// Sync reports whether the subscribers have been given every invalidation
// committed before it was called. When it returns false, what they cached
// must not be used.
func (iv *Invalidations) Sync(ctx context.Context) bool {
	if iv.db.dialect == Postgres {
		return iv.listening.Load() && time.Since(time.Unix(0, iv.alive.Load())) < trustFor
	}
	if !iv.dirty.Load() && time.Now().UnixNano()-iv.polled.Load() < pollEvery.Nanoseconds() {
		return iv.polledOK.Load()
	}
	ticket := iv.checks.Load()
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.checked > ticket {
		return iv.polledOK.Load()
	}
	iv.checked = iv.checks.Add(1)
	// Cleared before the check: a write committed while it runs leaves the
	// flag set for the next caller.
	iv.dirty.Store(false)
	iv.polled.Store(time.Now().UnixNano())
	ok := iv.pollSQLite(ctx) == nil
	iv.polledOK.Store(ok)
	return ok
}

// committed notes a write this process committed, which the next Sync
// must read (SQLite).
func (iv *Invalidations) committed() {
	if iv.db.dialect == SQLite {
		iv.dirty.Store(true)
	}
}

// pollSQLite delivers the rows committed since the last poll. iv.mu is held.
func (iv *Invalidations) pollSQLite(ctx context.Context) error {
	first := iv.conn == nil
	if first {
		conn, err := sql.Open("sqlite", iv.db.readDSN)
		if err != nil {
			return err
		}
		conn.SetMaxOpenConns(1)
		conn.SetMaxIdleConns(1)
		conn.SetConnMaxIdleTime(0)
		iv.conn = conn
	}
	var ver int64
	if err := iv.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&ver); err != nil {
		return err
	}
	if first {
		// Nothing is cached yet: start from the newest row.
		iv.dataVer = ver
		return iv.conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM session_invalidations").Scan(&iv.lastSeq)
	}
	if ver == iv.dataVer {
		return nil
	}
	rows, err := iv.conn.QueryContext(ctx, `SELECT seq, COALESCE(user_id, ''), COALESCE(workspace_id, '')
		FROM session_invalidations WHERE seq > ? ORDER BY seq`, iv.lastSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var inv Invalidation
		if err := rows.Scan(&inv.Seq, &inv.UserID, &inv.WorkspaceID); err != nil {
			return err
		}
		iv.deliver(inv)
		iv.lastSeq = inv.Seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	iv.dataVer = ver
	return nil
}

func (iv *Invalidations) deliver(inv Invalidation) {
	for _, s := range iv.subs {
		s.fn(inv)
	}
}

func (iv *Invalidations) lose() {
	for _, s := range iv.subs {
		s.lost()
	}
}

// The NOTIFY channels: migration 0002's triggers send each invalidation
// on the first; listeners acknowledge on the second once they have
// applied it.
const (
	invalidationChannel = "sekisho_session_invalidations"
	ackChannel          = "sekisho_session_invalidation_acks"
	// listenerAppName marks listener connections in pg_stat_activity: the
	// instances a writer waits for.
	listenerAppName = "sekisho-listener "
	// heartbeat is how often a quiet listener checks its connection, and
	// trustFor how long without word from it its cache stays trusted.
	heartbeat = 5 * time.Second
	trustFor  = 3 * heartbeat
)

// listen keeps a LISTEN connection open until ctx ends, reconnecting with
// backoff. Whenever it is not listening, subscribers are told they may
// have lost invalidations.
func (iv *Invalidations) listen(ctx context.Context) {
	defer close(iv.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := iv.listenOnce(ctx)
		iv.listening.Store(false)
		iv.mu.Lock()
		iv.lose()
		iv.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		iv.db.logger().Warn("session invalidation listener lost; session checks go to the database until it is back", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (iv *Invalidations) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, iv.db.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The name is set only once both LISTENs hold, so that a writer that
	// sees this connection can count on it being notified.
	for _, q := range []string{"LISTEN " + invalidationChannel, "LISTEN " + ackChannel,
		"SET application_name = '" + listenerAppName + iv.id + "'"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	// Anything committed before LISTEN took effect was never sent to us.
	iv.mu.Lock()
	iv.lose()
	iv.mu.Unlock()
	iv.alive.Store(time.Now().UnixNano())
	iv.listening.Store(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && wctx.Err() != nil {
			// Quiet for a while: make sure the connection still works.
			pctx, cancel := context.WithTimeout(ctx, heartbeat)
			_, err = conn.Exec(pctx, "SELECT 1")
			cancel()
			if err == nil {
				iv.alive.Store(time.Now().UnixNano())
				continue
			}
		}
		if err != nil {
			return err
		}
		iv.alive.Store(time.Now().UnixNano())
		if n.Channel == ackChannel {
			iv.acked(n.Payload)
			continue
		}
		inv, err := parseInvalidation(n.Payload)
		if err != nil {
			return err
		}
		iv.mu.Lock()
		iv.deliver(inv)
		iv.mu.Unlock()
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", ackChannel, iv.id+" "+strconv.FormatInt(inv.Seq, 10)); err != nil {
			return err
		}
	}
}

func parseInvalidation(payload string) (Invalidation, error) {
	f := strings.SplitN(payload, " ", 3)
	if len(f) != 3 {
		return Invalidation{}, fmt.Errorf("malformed invalidation %q", payload)
	}
	seq, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Invalidation{}, fmt.Errorf("malformed invalidation %q", payload)
	}
	return Invalidation{Seq: seq, UserID: f[1], WorkspaceID: f[2]}, nil
}

// acked records an instance's acknowledgement ("<instance> <seq>").
func (iv *Invalidations) acked(payload string) {
	id, seqText, ok := strings.Cut(payload, " ")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil {
		return
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if e := iv.waiters[seq]; e != nil {
		e.acks[id] = true
		select {
		case e.ack <- struct{}{}:
		default:
		}
	}
}

// echo is what a PostgreSQL write transaction waits for after commit: an
// acknowledgement from every listening instance that it has applied the
// last invalidation the transaction wrote (and so all before it).
type echo struct {
	seq  int64
	acks map[string]bool // under iv.mu
	ack  chan struct{}   // a new acknowledgement came
}

// expect registers, before commit, the seq a PostgreSQL write transaction
// will be notified of; nil when no listener runs here or the transaction
// invalidated nothing.
func (iv *Invalidations) expect(ctx context.Context, tx *sql.Tx) (*echo, error) {
	if iv.db.dialect != Postgres || !iv.listening.Load() {
		return nil, nil
	}
	var s sql.NullString
	if err := tx.QueryRowContext(ctx, "SELECT current_setting('sekisho.invalidation_seq', true)").Scan(&s); err != nil {
		return nil, err
	}
	if s.String == "" {
		return nil, nil
	}
	seq, err := strconv.ParseInt(s.String, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalidation seq %q: %w", s.String, err)
	}
	e := &echo{seq: seq, acks: make(map[string]bool), ack: make(chan struct{}, 1)}
	iv.mu.Lock()
	iv.waiters[seq] = e
	iv.mu.Unlock()
	return e, nil
}

// forget drops a registration.
func (iv *Invalidations) forget(e *echo) {
	if e == nil {
		return
	}
	iv.mu.Lock()
	delete(iv.waiters, e.seq)
	iv.mu.Unlock()
}

// await returns once every instance listening on the database has
// acknowledged e, so that a revocation is in force everywhere before the
// request that made it is answered. An instance silent past echoTimeout is
// named in the log and not waited for: its own heartbeat stops it trusting
// its cache if its connection is what failed.
func (iv *Invalidations) await(ctx context.Context, e *echo) {
	if e == nil {
		return
	}
	defer iv.forget(e)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), echoTimeout)
	defer cancel()
	rows, err := iv.db.write.QueryContext(ctx, `SELECT substr(application_name, $1) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE $2`, len(listenerAppName)+1, listenerAppName+"%")
	if err != nil {
		iv.db.logger().Warn("list session invalidation listeners", "err", err)
		return
	}
	var want []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			want = append(want, id)
		}
	}
	rows.Close()
	for {
		iv.mu.Lock()
		var missing []string
		for _, id := range want {
			if !e.acks[id] {
				missing = append(missing, id)
			}
		}
		iv.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-e.ack:
		case <-ctx.Done():
			iv.db.logger().Warn("instances did not acknowledge a session invalidation in time", "seq", e.seq, "instances", missing, "timeout", echoTimeout.String())
			return
		}
	}
}

func (iv *Invalidations) close() error {
	iv.mu.Lock()
	stop, done, conn := iv.stop, iv.done, iv.conn
	iv.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if conn != nil {
		return conn.Close()
	}
	return nil
}

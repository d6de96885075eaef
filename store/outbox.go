package store

import "context"

// OutboxMail is a notification waiting in the outbox.
type OutboxMail struct {
	ID        string
	CreatedAt int64
	Attempts  int    // how many times a sender has taken it
	Sealed    string // the message, sealed by the caller
}

// AddOutboxMail puts a sealed message in the outbox, leased until dueAt to
// the process that is about to send it.
func (tx *Tx) AddOutboxMail(id, sealed string, now, dueAt int64) error {
	_, err := tx.exec(`INSERT INTO mail_outbox (id, created_at, due_at, message) VALUES (?, ?, ?, ?)`, id, now, dueAt, sealed)
	return mapErr(err)
}

// TakeOutboxMail leases up to limit messages that are due at now to the
// caller until leaseUntil, counting the attempt, oldest due first. On
// PostgreSQL, rows that another instance is taking at the same moment are
// skipped rather than waited for.
func (tx *Tx) TakeOutboxMail(now, leaseUntil int64, limit int) ([]OutboxMail, error) {
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := tx.query(`UPDATE mail_outbox SET due_at = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM mail_outbox WHERE due_at <= ? ORDER BY due_at, id LIMIT ?`+lock+`)
		RETURNING id, created_at, attempts, message`, leaseUntil, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxMail
	for rows.Next() {
		var m OutboxMail
		if err := rows.Scan(&m.ID, &m.CreatedAt, &m.Attempts, &m.Sealed); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteOutboxMail removes a message that was delivered or given up on.
func (tx *Tx) DeleteOutboxMail(id string) error {
	_, err := tx.exec(`DELETE FROM mail_outbox WHERE id = ?`, id)
	return err
}

// OutboxLen is how many messages wait in the outbox.
func (tx *Tx) OutboxLen() (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM mail_outbox`).Scan(&n)
	return n, err
}

// OutboxLen is how many messages wait in the outbox, for the metrics.
func (db *DB) OutboxLen(ctx context.Context) (n int, err error) {
	err = db.View(ctx, func(tx *Tx) error { n, err = tx.OutboxLen(); return err })
	return n, err
}

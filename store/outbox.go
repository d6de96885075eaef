package store

import (
	"context"
	"database/sql"
	"encoding/json"
)

// OutboxMail is a notification waiting in the outbox.
type OutboxMail struct {
	ID        string
	CreatedAt int64
	Attempts  int    // how many times a sender has taken it
	Sealed    string // the message, sealed by the caller
}

// AddOutboxMail puts sealed messages (ID and Sealed of each row) in the
// outbox, leased until dueAt to the process that is about to send them. One
// statement for them all, the rows as one JSON array: a batch writes
// hundreds at once.
func (tx *Tx) AddOutboxMail(now, dueAt int64, rows ...OutboxMail) error {
	if len(rows) == 0 {
		return nil
	}
	type row struct {
		ID     string `json:"id"`
		Sealed string `json:"m"`
	}
	list := make([]row, len(rows))
	for i, r := range rows {
		list[i] = row{r.ID, r.Sealed}
	}
	js, err := json.Marshal(list)
	if err != nil {
		return err
	}
	q := `INSERT INTO mail_outbox (id, created_at, due_at, message)
		SELECT json_extract(value, '$.id'), ?, ?, json_extract(value, '$.m') FROM json_each(?)`
	if tx.db.dialect == Postgres {
		q = `INSERT INTO mail_outbox (id, created_at, due_at, message)
		SELECT r.id, ?, ?, r.m FROM jsonb_to_recordset(?::jsonb) AS r (id TEXT, m TEXT)`
	}
	_, err = tx.exec(q, now, dueAt, string(js))
	return mapErr(err)
}

// TakeOutboxMail leases up to limit messages that are due at now to the
// caller until leaseUntil, counting the attempt, oldest due first.
func (tx *Tx) TakeOutboxMail(now, leaseUntil int64, limit int) ([]OutboxMail, error) {
	var out []OutboxMail
	err := tx.takeDue("mail_outbox", "attempts = attempts + 1", "id, created_at, attempts, message", now, leaseUntil, limit,
		func(rows *sql.Rows) error {
			var m OutboxMail
			err := rows.Scan(&m.ID, &m.CreatedAt, &m.Attempts, &m.Sealed)
			out = append(out, m)
			return err
		})
	return out, err
}

// takeDue leases to the caller, until leaseUntil, up to limit rows of table
// whose lease (due_at) ran out at now, oldest first, also applying set, and
// scans the returning columns of each. On PostgreSQL, rows that another
// instance is taking at the same moment are skipped rather than waited for.
func (tx *Tx) takeDue(table, set, returning string, now, leaseUntil int64, limit int, scan func(*sql.Rows) error) error {
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	if set != "" {
		set = ", " + set
	}
	rows, err := tx.query(`UPDATE `+table+` SET due_at = ?`+set+`
		WHERE id IN (SELECT id FROM `+table+` WHERE due_at <= ? ORDER BY due_at, id LIMIT ?`+lock+`)
		RETURNING `+returning, leaseUntil, now, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeleteOutboxMail removes messages that were delivered or given up on.
func (tx *Tx) DeleteOutboxMail(ids ...string) error {
	return tx.execIDs(`DELETE FROM mail_outbox WHERE id IN (`, nil, ids)
}

// LeaseOutboxMail extends to until the leases of messages still being
// sent.
func (tx *Tx) LeaseOutboxMail(until int64, ids ...string) error {
	return tx.execIDs(`UPDATE mail_outbox SET due_at = ? WHERE id IN (`, []any{until}, ids)
}

// execIDs runs query, which ends in "IN (", with the ids as one JSON array
// after args, so that the statement is the same however many there are
// (the drivers cache statements by their text).
func (tx *Tx) execIDs(query string, args []any, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if tx.db.dialect == Postgres {
		query += `SELECT jsonb_array_elements_text(?::jsonb))`
	} else {
		query += `SELECT value FROM json_each(?))`
	}
	_, err = tx.exec(query, append(args, string(list))...)
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

// MailBatch is mail to many users of a workspace, sent a page at a time.
type MailBatch struct {
	ID          string
	WorkspaceID string
	Kind        string
	AfterID     string // the last user done; "" before the first page
}

// AddMailBatch starts a batch of kind for workspaceID, leased until dueAt
// to the process that is about to run it. A batch of the same kind still
// running for the workspace is replaced: the new one tells everyone anew.
func (tx *Tx) AddMailBatch(id, workspaceID, kind string, now, dueAt int64) error {
	if _, err := tx.exec(`DELETE FROM mail_batches WHERE workspace_id = ? AND kind = ?`, workspaceID, kind); err != nil {
		return err
	}
	_, err := tx.exec(`INSERT INTO mail_batches (id, workspace_id, kind, created_at, due_at) VALUES (?, ?, ?, ?, ?)`,
		id, workspaceID, kind, now, dueAt)
	return mapErr(err)
}

// LockMailBatch returns a batch, locked until the transaction ends so that
// two senders of the same batch take turns and each sees where the other
// stopped; ErrNotFound when it is done or was replaced.
func (tx *Tx) LockMailBatch(id string) (*MailBatch, error) {
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var b MailBatch
	err := tx.queryRow(`SELECT id, workspace_id, kind, after_id FROM mail_batches WHERE id = ?`+lock, id).
		Scan(&b.ID, &b.WorkspaceID, &b.Kind, &b.AfterID)
	if err != nil {
		return nil, mapErr(err)
	}
	return &b, nil
}

// AdvanceMailBatch records that the batch is done up to user afterID and
// extends its lease to dueAt.
func (tx *Tx) AdvanceMailBatch(id, afterID string, dueAt int64) error {
	_, err := tx.exec(`UPDATE mail_batches SET after_id = ?, due_at = ? WHERE id = ?`, afterID, dueAt, id)
	return err
}

// DeleteMailBatch removes a finished batch.
func (tx *Tx) DeleteMailBatch(id string) error {
	_, err := tx.exec(`DELETE FROM mail_batches WHERE id = ?`, id)
	return err
}

// TakeMailBatches leases to the caller, until leaseUntil, the ids of up
// to limit batches whose sender's lease ran out at now.
func (tx *Tx) TakeMailBatches(now, leaseUntil int64, limit int) ([]string, error) {
	var ids []string
	err := tx.takeDue("mail_batches", "", "id", now, leaseUntil, limit, func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		ids = append(ids, id)
		return err
	})
	return ids, err
}

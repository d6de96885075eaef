package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// The outbox keeps a notification from being lost between the commit of
// the change it tells of and its delivery. update writes each message,
// sealed, in the change's own transaction, leased for outboxLease to this
// process; once the change commits, the message goes to the mailer, and its
// row is deleted when the mailer is done with it. A row still there when
// its lease runs out — the process died, the queue was full or closed, the
// mail server was down through every retry — is sent again by
// SendOutbox, which serve runs every outboxEvery. So delivery is at least
// once: a process that dies after sending and before deleting sends again.
const (
	// outboxLease must outlast the queue's own handling of a message (its
	// retries take under a minute) with room for a backlog.
	outboxLease = 10 * time.Minute
	outboxEvery = time.Minute
	// outboxMaxAttempts is how many leases a message gets (about two hours)
	// before it is dropped and logged.
	outboxMaxAttempts = 12
	outboxBatch       = 100
)

// outboxMail is a message with the id of its outbox row.
type outboxMail struct {
	id string
	m  mail.Message
}

func outboxAD(id string) []byte { return secret.AD("mail_outbox", id) }

// addOutbox writes the messages of a change into the outbox, in the
// change's transaction.
func (s *Service) addOutbox(tx *store.Tx, now time.Time, msgs []mail.Message) ([]outboxMail, error) {
	out := make([]outboxMail, 0, len(msgs))
	for _, m := range msgs {
		id := store.NewID()
		m.ID = id // one Message-ID however often the message goes out
		plain, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		sealed, err := s.keys.Seal(plain, outboxAD(id))
		if err != nil {
			return nil, err
		}
		if err := tx.AddOutboxMail(id, sealed, now.UnixMilli(), now.Add(outboxLease).UnixMilli()); err != nil {
			return nil, err
		}
		out = append(out, outboxMail{id, m})
	}
	return out, nil
}

// send hands an outbox message to the mailer and deletes its row once the
// mailer is done with it: delivered, or refused for good. Otherwise the row
// stays for SendOutbox.
func (s *Service) send(ctx context.Context, om outboxMail) {
	ctx = context.WithoutCancel(ctx)
	done := func(err error) {
		if err != nil && !mail.Permanent(err) {
			// Not err itself: a mail server's reply may quote the address.
			// The queue has logged it, redacted.
			why := "mail server"
			switch {
			case errors.Is(err, mail.ErrQueueFull):
				why = "queue full"
			case errors.Is(err, mail.ErrQueueClosed):
				why = "shutting down"
			}
			s.log.WarnContext(ctx, "notification kept in the outbox for a later try", "outbox_id", om.id, "reason", why)
			return
		}
		if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteOutboxMail(om.id) }); err != nil {
			// Sent, and sent again after the lease: at least once.
			s.log.ErrorContext(ctx, "delete a sent notification from the outbox", "outbox_id", om.id, "err", err)
		}
	}
	if t, ok := s.mailer.(mail.Tracker); ok {
		if err := t.SendTracked(ctx, om.m, done); err != nil {
			done(err)
		}
		return
	}
	done(s.mailer.Send(ctx, om.m))
}

// SendOutbox sends the outbox messages whose lease has run out, in batches,
// until none is due; serve runs it at start and every minute. It returns
// how many it handed to the mailer. Several instances may run it at once:
// each takes its own rows.
func (s *Service) SendOutbox(ctx context.Context) (int, error) {
	n := 0
	for {
		now := s.now()
		var batch []store.OutboxMail
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			var err error
			batch, err = tx.TakeOutboxMail(now.UnixMilli(), now.Add(outboxLease).UnixMilli(), outboxBatch)
			return err
		})
		if err != nil {
			return n, err
		}
		for _, row := range batch {
			m, err := s.openOutbox(row)
			if err == nil && row.Attempts > outboxMaxAttempts {
				err = errors.New("too many attempts")
			}
			if err != nil {
				s.log.ErrorContext(ctx, "notification dropped from the outbox", "outbox_id", row.ID,
					"created_at", time.UnixMilli(row.CreatedAt).UTC(), "attempts", row.Attempts, "err", err)
				if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteOutboxMail(row.ID) }); err != nil {
					return n, err
				}
				continue
			}
			s.send(ctx, outboxMail{row.ID, m})
			n++
		}
		if len(batch) < outboxBatch {
			return n, nil
		}
	}
}

// openOutbox unseals an outbox row's message.
func (s *Service) openOutbox(row store.OutboxMail) (mail.Message, error) {
	var m mail.Message
	plain, err := s.keys.Open(row.Sealed, outboxAD(row.ID))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(plain, &m)
	clear(plain)
	return m, err
}

// RunOutbox calls SendOutbox at once and then every minute until ctx ends.
func (s *Service) RunOutbox(ctx context.Context) {
	t := time.NewTicker(outboxEvery)
	defer t.Stop()
	for {
		if _, err := s.SendOutbox(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "send the outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

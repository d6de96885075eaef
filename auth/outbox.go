package auth

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
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
// Mail to many users at once goes through the outbox a page at a time
// (runBatch).
const (
	// outboxLease must outlast the queue's own handling of a message (its
	// retries take under a minute) with room for a backlog.
	outboxLease = 10 * time.Minute
	outboxEvery = time.Minute
	// outboxMaxAttempts is how many leases a message gets (about two hours)
	// before it is dropped and logged.
	outboxMaxAttempts = 12
	outboxBatch       = 100 // rows, or batches, a sweep takes at once
)

// outboxMail is a message with the id of its outbox row.
type outboxMail struct {
	id string
	m  mail.Message
}

func outboxAD(id string) []byte { return secret.AD("mail_outbox", id) }

// OpenOutboxMail unseals the message of outbox row id with keys, for tools
// that read the outbox beside the server (the crash test).
func OpenOutboxMail(keys *secret.Keyring, id, sealed string) (mail.Message, error) {
	var m mail.Message
	plain, err := keys.Open(sealed, outboxAD(id))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(plain, &m)
	clear(plain)
	return m, err
}

// addOutbox writes the messages of a change into the outbox, in the
// change's transaction.
func (s *Service) addOutbox(tx *store.Tx, now time.Time, msgs []mail.Message) ([]outboxMail, error) {
	out := make([]outboxMail, 0, len(msgs))
	rows := make([]store.OutboxMail, 0, len(msgs))
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
		rows = append(rows, store.OutboxMail{ID: id, Sealed: sealed})
		out = append(out, outboxMail{id, m})
	}
	return out, tx.AddOutboxMail(now.UnixMilli(), now.Add(outboxLease).UnixMilli(), rows...)
}

// send hands an outbox message to the mailer and deletes its row once the
// mailer is done with it: delivered, or refused for good. Otherwise the row
// stays for SendOutbox. A patient send waits while the mail queue is busy,
// as background mail does, so that it neither fills the queue nor spends
// its attempts on a full one.
func (s *Service) send(ctx context.Context, om outboxMail, patient bool) {
	ctx = context.WithoutCancel(ctx)
	s.handOver(ctx, om, patient, func(err error) {
		if !s.kept(ctx, om.id, err) {
			s.deleteOutbox(ctx, om.id)
		}
	})
}

// handOver gives om to the mailer and calls done with how its delivery
// ended, once it has. Until then the message is in flight: RunOutbox
// keeps its lease fresh and the sweeps pass it by, so that none sends it
// again meanwhile, however long the queue ahead of it.
func (s *Service) handOver(ctx context.Context, om outboxMail, patient bool, done func(error)) {
	s.inflight.Store(om.id, struct{}{})
	finish := func(err error) {
		s.inflight.Delete(om.id)
		done(err)
	}
	t, ok := s.mailer.(mail.Tracker)
	if !ok {
		finish(s.mailer.Send(ctx, om.m))
		return
	}
	for {
		for patient && t.Busy() && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		err := t.SendTracked(ctx, om.m, finish)
		if err == nil {
			return
		}
		if !patient || !errors.Is(err, mail.ErrQueueFull) {
			finish(err)
			return
		}
	}
}

// kept reports whether a delivery that ended with err leaves its message
// in the outbox for a later try: it failed, but not for good.
func (s *Service) kept(ctx context.Context, id string, err error) bool {
	if err == nil || mail.Permanent(err) {
		return false
	}
	// Not err itself: a mail server's reply may quote the address. The
	// queue has logged it, redacted.
	why := "mail server"
	switch {
	case errors.Is(err, mail.ErrQueueFull):
		why = "queue full"
	case errors.Is(err, mail.ErrQueueClosed), errors.Is(err, context.Canceled):
		why = "shutting down"
	}
	s.log.WarnContext(ctx, "notification kept in the outbox for a later try", "outbox_id", id, "reason", why)
	return true
}

// deleteOutbox removes the rows of messages the mailer is done with, even
// when ctx has ended: left, they would go out again.
func (s *Service) deleteOutbox(ctx context.Context, ids ...string) {
	if len(ids) == 0 {
		return
	}
	// Bounded: on the queue's worker, a database that does not answer
	// must not hold up the mail behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteOutboxMail(ids...) }); err != nil {
		// Sent, and sent again after the lease: at least once.
		s.log.ErrorContext(ctx, "delete sent notifications from the outbox", "outbox_ids", ids, "err", err)
	}
}

// Batches: mail to many users at once, the notice that Require MFA is on.
const (
	batchMFARequired = "mfa_required"
	batchPage        = 500
)

// runBatch sends a batch a page at a time: each page's messages go into
// the outbox in the transaction that moves the batch past them, so that a
// crash resumes after the last page done and tells nobody twice. It
// returns when the batch is done, when ctx ends or on an error, which it
// logs: the batch is then resumed by SendOutbox once its lease runs out.
func (s *Service) runBatch(ctx context.Context, id string) {
	for ctx.Err() == nil {
		var msgs []outboxMail
		more := false
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			msgs, more = nil, false
			b, err := tx.LockMailBatch(id)
			if errors.Is(err, store.ErrNotFound) {
				return nil // done, or replaced by a newer batch
			} else if err != nil {
				return err
			}
			var lastID string
			var page []mail.Message
			switch b.Kind {
			case batchMFARequired:
				lastID, more, page, err = s.mfaRequiredPage(tx, b)
			default: // from a newer sekisho, perhaps: this one can't send it
				s.log.ErrorContext(ctx, "mail batch of an unknown kind dropped", "batch_id", id, "kind", b.Kind)
				return tx.DeleteMailBatch(id)
			}
			if err != nil {
				return err
			}
			now := s.now()
			if msgs, err = s.addOutbox(tx, now, page); err != nil {
				return err
			}
			if !more {
				return tx.DeleteMailBatch(id)
			}
			return tx.AdvanceMailBatch(id, lastID, now.Add(outboxLease).UnixMilli())
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "send a mail batch", "batch_id", id, "err", err)
			}
			return
		}
		if !s.sendPage(ctx, msgs) || !more {
			return
		}
	}
}

// sendPage hands a batch's page to the mailer and deletes the rows of the
// messages it is done with in one transaction, not one each: a batch may
// be tens of thousands. It reports false when ctx ended first: then each
// message still in flight deletes its own row when it is done, and what
// was not handed over waits for a sweep.
func (s *Service) sendPage(ctx context.Context, msgs []outboxMail) bool {
	if len(msgs) == 0 {
		return ctx.Err() == nil
	}
	var (
		mu        sync.Mutex
		sent      []string
		abandoned bool
		left      = len(msgs)
		all       = make(chan struct{})
	)
	for _, om := range msgs { // in flight already while the first wait for room
		s.inflight.Store(om.id, struct{}{})
	}
	for _, om := range msgs {
		s.handOver(ctx, om, true, func(err error) {
			gone := !s.kept(ctx, om.id, err)
			mu.Lock()
			alone := gone && abandoned
			if gone && !abandoned {
				sent = append(sent, om.id)
			}
			left--
			last := left == 0
			mu.Unlock()
			if alone {
				s.deleteOutbox(ctx, om.id)
			}
			if last {
				close(all)
			}
		})
	}
	select {
	case <-all:
		s.deleteOutbox(ctx, sent...)
		return true
	case <-ctx.Done():
		mu.Lock()
		abandoned = true
		done := sent
		mu.Unlock()
		s.deleteOutbox(ctx, done...)
		return false
	}
}

// SendOutbox resumes the batches and sends the outbox messages whose lease
// has run out, until none is due; serve runs it at start and every minute.
// It returns how many outbox messages it handed to the mailer, besides the
// batches'. Several instances may run it at once: each takes its own rows.
func (s *Service) SendOutbox(ctx context.Context) (int, error) {
	// One batch at a time, so that those waiting keep their leases for
	// whichever instance is free first.
	for ctx.Err() == nil {
		now := s.now()
		var ids []string
		err := s.db.Update(ctx, func(tx *store.Tx) (err error) {
			ids, err = tx.TakeMailBatches(now.UnixMilli(), now.Add(outboxLease).UnixMilli(), 1)
			return err
		})
		if err != nil {
			return 0, err
		}
		if len(ids) == 0 {
			break
		}
		s.runBatch(ctx, ids[0])
	}
	n := 0
	for {
		now := s.now()
		var rows []store.OutboxMail
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			var err error
			rows, err = tx.TakeOutboxMail(now.UnixMilli(), now.Add(outboxLease).UnixMilli(), outboxBatch)
			return err
		})
		if err != nil {
			return n, err
		}
		for _, row := range rows {
			if _, busy := s.inflight.Load(row.ID); busy {
				continue // in this process's queue, behind a long wait: not again
			}
			m, err := OpenOutboxMail(s.keys, row.ID, row.Sealed)
			if err == nil && row.Attempts > outboxMaxAttempts {
				err = errors.New("too many attempts")
			}
			if err != nil {
				s.log.ErrorContext(ctx, "notification dropped from the outbox", "outbox_id", row.ID,
					"created_at", time.UnixMilli(row.CreatedAt).UTC(), "attempts", row.Attempts, "err", err)
				s.deleteOutbox(ctx, row.ID)
				continue
			}
			s.send(ctx, outboxMail{row.ID, m}, true)
			n++
		}
		if len(rows) < outboxBatch {
			return n, nil
		}
	}
}

// renewLeases extends the leases of the messages this process has in
// flight, so that neither its own sweeps nor another instance's send them
// again while they wait in its queue.
func (s *Service) renewLeases(ctx context.Context) error {
	var ids []string
	s.inflight.Range(func(id, _ any) bool {
		ids = append(ids, id.(string))
		return true
	})
	if len(ids) == 0 {
		return nil
	}
	until := s.now().Add(outboxLease).UnixMilli()
	return s.db.Update(ctx, func(tx *store.Tx) error { return tx.LeaseOutboxMail(until, ids...) })
}

// RunOutbox calls SendOutbox at once and then every minute until ctx ends,
// and, beside it, renews the leases of the messages in flight every
// minute, however long a sweep takes.
func (s *Service) RunOutbox(ctx context.Context) {
	var renewer sync.WaitGroup
	defer renewer.Wait()
	renewer.Go(func() {
		t := time.NewTicker(outboxEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.renewLeases(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "renew the leases of the mail in flight", "err", err)
			}
		}
	})
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

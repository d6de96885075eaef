-- The mail outbox: a notification is written in the transaction of the
-- change it tells of, so that a crash between the commit and the delivery
-- delays it instead of losing it. The message is sealed with the keyring
-- (invitation and reset links carry tokens). due_at is when a sender may
-- take the row: a row being sent is leased to its sender until then, and
-- a row whose sender died is taken again once its lease runs out.
-- Keep in step with ../postgres/0005_outbox.sql.

CREATE TABLE mail_outbox (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    message    TEXT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (due_at);

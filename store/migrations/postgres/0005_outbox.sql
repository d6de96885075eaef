-- The mail outbox: a notification is written in the transaction of the
-- change it tells of, so that a crash between the commit and the delivery
-- delays it instead of losing it. The message is sealed with the keyring
-- (invitation and reset links carry tokens). due_at is when a sender may
-- take the row: a row being sent is leased to its sender until then, and
-- a row whose sender died is taken again once its lease runs out.
-- Keep in step with ../sqlite/0005_outbox.sql.

CREATE TABLE mail_outbox (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    message    TEXT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (due_at);

-- Mail to many users at once (turning Require MFA on tells every user
-- without MFA): one row per batch, written in the change's transaction. A
-- sender pages through the users, writing each page's messages to the
-- outbox and the batch's position (after_id, the last user done) in one
-- transaction, so that a crash resumes where it stopped and tells nobody
-- twice. due_at leases the batch to its sender, as in mail_outbox.
CREATE TABLE mail_batches (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    after_id     TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    due_at       BIGINT NOT NULL
);
CREATE INDEX mail_batches_due ON mail_batches (due_at);
CREATE INDEX mail_batches_workspace ON mail_batches (workspace_id, kind);

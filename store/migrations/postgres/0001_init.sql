-- sekisho schema, PostgreSQL. Times are Unix milliseconds; ids are UUIDv7 text.
-- Keep in step with ../sqlite/0001_init.sql.

CREATE TABLE workspaces (
    id                         TEXT PRIMARY KEY,
    slug                       TEXT NOT NULL UNIQUE,
    name                       TEXT NOT NULL,
    require_mfa                BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_grace_days             INTEGER NOT NULL DEFAULT 0,
    mfa_enforced_since         BIGINT,
    reset_requires_access_code BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                 BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    locale        TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    status        TEXT NOT NULL,
    password_hash TEXT,
    -- has_mfa mirrors "at least one confirmed authenticator"; it is kept in
    -- the same transaction as every factor change so that listing users
    -- without MFA is an index scan, and turning the policy on touches no row.
    has_mfa       BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_reset_at  BIGINT,
    joined_at     BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, email)
);
CREATE INDEX users_workspace ON users (workspace_id, id);
CREATE INDEX users_workspace_mfa ON users (workspace_id, has_mfa, id);
CREATE INDEX users_workspace_role ON users (workspace_id, role, id);
CREATE INDEX users_workspace_status ON users (workspace_id, status, id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    aal          TEXT NOT NULL,
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- A sign-in between the password and the second factor (or forced enrollment).
CREATE TABLE signin_flows (
    token_hash       TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    authenticator_id TEXT,
    failures         INTEGER NOT NULL DEFAULT 0,
    ip               TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX signin_flows_user ON signin_flows (user_id);

CREATE TABLE authenticators (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    secret         TEXT NOT NULL, -- sealed with the key ring, never clear text
    last_used_step BIGINT NOT NULL DEFAULT 0,
    confirmed_at   BIGINT,
    last_used_at   BIGINT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT -- pending ones only
);
CREATE INDEX authenticators_user ON authenticators (user_id);

-- All codes of a set share one salt, so checking an attempt costs one hash
-- and the database finds the matching row by its hash.
CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    salt       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id, hash);

-- Single-use links and codes: invitations, password resets, first-run
-- setup, access codes after an MFA reset.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX tokens_user ON tokens (user_id, purpose);

-- Failure counters for throttling, shared by every instance.
CREATE TABLE throttles (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL DEFAULT 0,
    window_start  BIGINT NOT NULL DEFAULT 0,
    window_count  INTEGER NOT NULL DEFAULT 0,
    blocked_until BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);

-- Append-only: no foreign keys, so events outlive what they describe.
CREATE TABLE audit_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time         BIGINT NOT NULL,
    workspace_id TEXT NOT NULL DEFAULT '',
    type         TEXT NOT NULL,
    result       TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL DEFAULT '',
    target_id    TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL DEFAULT '',
    details      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_workspace ON audit_events (workspace_id, id);
CREATE INDEX audit_workspace_actor ON audit_events (workspace_id, actor_id, id);
CREATE INDEX audit_workspace_target ON audit_events (workspace_id, target_id, id);
CREATE INDEX audit_workspace_type ON audit_events (workspace_id, type, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

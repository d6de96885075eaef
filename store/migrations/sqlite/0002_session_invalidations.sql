-- Session invalidations: instances cache session checks in memory, and
-- every change that can alter a cached check leaves a row here, written by
-- triggers so that no code path (nor the CLI, nor a manual fix in SQL) can
-- forget it. An instance polls PRAGMA data_version and reads the rows past
-- the last it saw. Keep in step with ../postgres/0002_session_invalidations.sql.

CREATE TABLE session_invalidations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after pruning
    user_id      TEXT,  -- the user's cached sessions are stale
    workspace_id TEXT,  -- or, when set, every session of the workspace
    created_at   BIGINT NOT NULL
);
CREATE INDEX session_invalidations_created ON session_invalidations (created_at);

-- Touching a session (last_seen_at) is not a change: it only pushes the
-- idle timeout back, and instances re-read a session before they let it
-- idle out.
CREATE TRIGGER sessions_invalidate_update AFTER UPDATE OF user_id, aal, auth_time, expires_at ON sessions
BEGIN
    INSERT INTO session_invalidations (user_id, created_at) VALUES (OLD.user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER sessions_invalidate_delete AFTER DELETE ON sessions
BEGIN
    INSERT INTO session_invalidations (user_id, created_at) VALUES (OLD.user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER users_invalidate_update AFTER UPDATE ON users
BEGIN
    INSERT INTO session_invalidations (user_id, created_at) VALUES (OLD.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER users_invalidate_delete AFTER DELETE ON users
BEGIN
    INSERT INTO session_invalidations (user_id, created_at) VALUES (OLD.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER workspaces_invalidate_update AFTER UPDATE ON workspaces
BEGIN
    INSERT INTO session_invalidations (workspace_id, created_at) VALUES (OLD.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER workspaces_invalidate_delete AFTER DELETE ON workspaces
BEGIN
    INSERT INTO session_invalidations (workspace_id, created_at) VALUES (OLD.id, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- Session invalidations: instances cache session checks in memory, and
-- every change that can alter a cached check leaves a row here, written by
-- triggers so that no code path (nor the CLI, nor a manual fix in SQL) can
-- forget it. Each row is also sent with NOTIFY on commit to every instance
-- that listens, and its seq is kept in the transaction's settings so the
-- writing instance can wait until its own listener has seen it.
-- Keep in step with ../sqlite/0002_session_invalidations.sql.

CREATE TABLE session_invalidations (
    seq          BIGSERIAL PRIMARY KEY,
    user_id      TEXT,  -- the user's cached sessions are stale
    workspace_id TEXT,  -- or, when set, every session of the workspace
    created_at   BIGINT NOT NULL
);
CREATE INDEX session_invalidations_created ON session_invalidations (created_at);

CREATE FUNCTION session_invalidations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sekisho_session_invalidations',
        NEW.seq || ' ' || COALESCE(NEW.user_id, '') || ' ' || COALESCE(NEW.workspace_id, ''));
    PERFORM set_config('sekisho.invalidation_seq', NEW.seq::text, true);
    RETURN NULL;
END $$;
CREATE TRIGGER session_invalidations_notify AFTER INSERT ON session_invalidations
FOR EACH ROW EXECUTE FUNCTION session_invalidations_notify();

CREATE FUNCTION invalidate_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- users rows name the user in id, sessions rows in user_id; each branch
    -- is planned only when it runs.
    IF TG_TABLE_NAME = 'users' THEN
        INSERT INTO session_invalidations (user_id, created_at)
        VALUES (OLD.id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    ELSE
        INSERT INTO session_invalidations (user_id, created_at)
        VALUES (OLD.user_id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION invalidate_workspace_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_invalidations (workspace_id, created_at)
    VALUES (OLD.id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    RETURN NULL;
END $$;

-- Touching a session (last_seen_at) is not a change: it only pushes the
-- idle timeout back, and instances re-read a session before they let it
-- idle out.
CREATE TRIGGER sessions_invalidate_update AFTER UPDATE OF user_id, aal, auth_time, expires_at ON sessions
FOR EACH ROW EXECUTE FUNCTION invalidate_user_sessions();
CREATE TRIGGER sessions_invalidate_delete AFTER DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION invalidate_user_sessions();
CREATE TRIGGER users_invalidate AFTER UPDATE OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION invalidate_user_sessions();
CREATE TRIGGER workspaces_invalidate AFTER UPDATE OR DELETE ON workspaces
FOR EACH ROW EXECUTE FUNCTION invalidate_workspace_sessions();

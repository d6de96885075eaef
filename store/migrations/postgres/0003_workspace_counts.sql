-- How many users each workspace has without MFA (active or invited, not
-- disabled), kept by triggers so that the admin console shows it, and
-- turning Require MFA on answers with it, without counting 100,000 rows.
-- Keep in step with ../sqlite/0003_workspace_counts.sql.

CREATE TABLE workspace_counts (
    workspace_id      TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    users_without_mfa INTEGER NOT NULL DEFAULT 0
);
INSERT INTO workspace_counts (workspace_id, users_without_mfa)
SELECT w.id, (SELECT COUNT(*) FROM users u WHERE u.workspace_id = w.id AND NOT u.has_mfa AND u.status <> 'disabled')
FROM workspaces w;

CREATE FUNCTION workspaces_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workspace_counts (workspace_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER workspaces_count_insert AFTER INSERT ON workspaces
FOR EACH ROW EXECUTE FUNCTION workspaces_count_insert();

-- counts_without_mfa reports whether a users row counts.
CREATE FUNCTION counts_without_mfa(has_mfa BOOLEAN, status TEXT) RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN NOT has_mfa AND status <> 'disabled' THEN 1 ELSE 0 END $$;

CREATE FUNCTION users_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta INTEGER := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        delta := delta + counts_without_mfa(NEW.has_mfa, NEW.status);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        delta := delta - counts_without_mfa(OLD.has_mfa, OLD.status);
    END IF;
    IF delta <> 0 THEN
        UPDATE workspace_counts SET users_without_mfa = users_without_mfa + delta
        WHERE workspace_id = COALESCE(NEW.workspace_id, OLD.workspace_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_count AFTER INSERT OR DELETE OR UPDATE OF has_mfa, status ON users
FOR EACH ROW EXECUTE FUNCTION users_count();

-- How many users each workspace has without MFA (active or invited, not
-- disabled), kept by triggers so that the admin console shows it, and
-- turning Require MFA on answers with it, without counting 100,000 rows.
-- Keep in step with ../postgres/0003_workspace_counts.sql.

CREATE TABLE workspace_counts (
    workspace_id      TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    users_without_mfa INTEGER NOT NULL DEFAULT 0
);
INSERT INTO workspace_counts (workspace_id, users_without_mfa)
SELECT w.id, (SELECT COUNT(*) FROM users u WHERE u.workspace_id = w.id AND NOT u.has_mfa AND u.status <> 'disabled')
FROM workspaces w;

CREATE TRIGGER workspaces_count_insert AFTER INSERT ON workspaces
BEGIN
    INSERT INTO workspace_counts (workspace_id) VALUES (NEW.id);
END;
CREATE TRIGGER users_count_insert AFTER INSERT ON users
WHEN NOT NEW.has_mfa AND NEW.status <> 'disabled'
BEGIN
    UPDATE workspace_counts SET users_without_mfa = users_without_mfa + 1 WHERE workspace_id = NEW.workspace_id;
END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users
WHEN NOT OLD.has_mfa AND OLD.status <> 'disabled'
BEGIN
    UPDATE workspace_counts SET users_without_mfa = users_without_mfa - 1 WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER users_count_update AFTER UPDATE OF has_mfa, status ON users
WHEN (NOT OLD.has_mfa AND OLD.status <> 'disabled') <> (NOT NEW.has_mfa AND NEW.status <> 'disabled')
BEGIN
    UPDATE workspace_counts
    SET users_without_mfa = users_without_mfa + CASE WHEN NOT NEW.has_mfa AND NEW.status <> 'disabled' THEN 1 ELSE -1 END
    WHERE workspace_id = NEW.workspace_id;
END;

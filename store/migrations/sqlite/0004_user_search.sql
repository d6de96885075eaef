-- The admin list's substring search (UserFilter.Query) by index instead of
-- reading the whole workspace: a trigram full-text table over every user's
-- email and name, which Users asks first for queries of three characters
-- or more (a trigram index knows nothing shorter), keeping its LIKE as the
-- exact filter. Keep in step with ../postgres/0004_user_search.sql.
--
-- The table holds the text as the search compares it, lowered by
-- sekisho_lower (Go's strings.ToLower, registered in user.go), and the
-- tokenizer folds nothing itself (case_sensitive 1): FTS5 folds case by
-- its own Unicode tables, which differ from Go's for a few letters (İ),
-- and then a match it missed would be a user missing from the list. So
-- every user whose lowered email or name contains the lowered query is a
-- match here. The triggers need sekisho_lower, as the search does: writing
-- users from outside sekisho (the sqlite3 shell) fails with "no such
-- function".
--
-- Contentless (content=''): the users table has the text; this one only
-- indexes it, by the user's rowid. users has no INTEGER PRIMARY KEY, but
-- SQLite keeps the rowids of a table with indexes through VACUUM and
-- VACUUM INTO (the backup); TestUserSearchBackup checks it.
CREATE VIRTUAL TABLE users_search USING fts5 (
    email, name,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO users_search (rowid, email, name)
SELECT rowid, sekisho_lower(email), sekisho_lower(name) FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users
BEGIN
    INSERT INTO users_search (rowid, email, name) VALUES (NEW.rowid, sekisho_lower(NEW.email), sekisho_lower(NEW.name));
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users
BEGIN
    DELETE FROM users_search WHERE rowid = OLD.rowid;
END;
-- UpdateUser writes every column: reindex only when the text changed.
CREATE TRIGGER users_search_update AFTER UPDATE OF email, name ON users
WHEN OLD.email IS NOT NEW.email OR OLD.name IS NOT NEW.name
BEGIN
    DELETE FROM users_search WHERE rowid = OLD.rowid;
    INSERT INTO users_search (rowid, email, name) VALUES (NEW.rowid, sekisho_lower(NEW.email), sekisho_lower(NEW.name));
END;

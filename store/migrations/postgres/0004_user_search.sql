-- The admin list's substring search (UserFilter.Query) by index instead of
-- reading the whole workspace: trigram indexes on email and LOWER(name),
-- the two sides of its OR, which the planner combines (BitmapOr) and
-- rechecks against the LIKE; for a query too short to have a trigram, or
-- one that matches most of the workspace, it keeps walking users_workspace
-- in id order. The indexes span every workspace: workspace_id is checked
-- on the rows they yield. Keep in step with ../sqlite/0004_user_search.sql.
--
-- pg_trgm ships with PostgreSQL (contrib) and is trusted since PostgreSQL
-- 13: a role with CREATE on the database, as its owner has, may create it
-- without being superuser. Where the role may not, a superuser runs
-- CREATE EXTENSION pg_trgm in the database once, and this migration finds
-- it there. It must be in a schema on the search path (public, usually).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_search_email ON users USING gin (email gin_trgm_ops);
CREATE INDEX users_search_name ON users USING gin (LOWER(name) gin_trgm_ops);

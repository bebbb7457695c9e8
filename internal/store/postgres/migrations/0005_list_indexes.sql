-- deskhub schema, version 5 (PostgreSQL dialect): session and bookmark lists done by the database.
-- Keep in step with ../../sqlite/migrations/0005_list_indexes.sql: same tables, columns, indexes;
-- only dialect differences (REAL vs DOUBLE PRECISION, WITHOUT ROWID vs INCLUDE). Never edit this file once released: add 0006_*.sql.

-- One row per session parameter (the JSON column sessions.params stays the record): session/list
-- matches and sorts on parameters through these. num is the value as a number when it is one (Go's
-- strconv.ParseFloat, not NaN), else NULL; deskhub writes the rows with the session and fills them in
-- for older sessions when it opens the database (the parsing is Go's, so this file does not copy).
CREATE TABLE session_params (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    num        DOUBLE PRECISION,
    PRIMARY KEY (session_id, name) INCLUDE (value) -- a filter reads the value off the index
);
CREATE INDEX session_params_name_value ON session_params (name, value, session_id);

-- A user's list and the all-users list in list order (started ones by start time, then the others,
-- by id, byte-wise) and in "started" order (the start time, else the scheduled time; unset first), so
-- that a page is read off an index instead of sorting every row. The expressions are those of the
-- queries, ties included (SQLite sorts every row when the index orders only a prefix of the ORDER BY).
-- The state index goes: the listed states are most rows, and SQLite (no statistics) would prefer it
-- to the ordered indexes.
DROP INDEX sessions_user_id;
DROP INDEX sessions_state;
CREATE INDEX sessions_user_order ON sessions (user_id, (started_at IS NULL), started_at, id COLLATE "C");
CREATE INDEX sessions_user_started ON sessions (user_id, COALESCE(started_at, scheduled_at) NULLS FIRST, (started_at IS NULL), started_at, id COLLATE "C");
CREATE INDEX sessions_order ON sessions ((started_at IS NULL), started_at, id COLLATE "C");
CREATE INDEX sessions_started ON sessions (COALESCE(started_at, scheduled_at) NULLS FIRST, (started_at IS NULL), started_at, id COLLATE "C");

-- bookmark/list: a user's bookmarks or history, most recently updated first.
CREATE INDEX bookmarks_user_kind_updated ON bookmarks (user_id, kind, updated_at, id);

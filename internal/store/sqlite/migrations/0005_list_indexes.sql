-- deskhub schema, version 5 (SQLite dialect): session and bookmark lists done by the database.
-- Keep in step with ../../postgres/migrations/0005_list_indexes.sql: same tables, columns, indexes;
-- only dialect differences (REAL vs DOUBLE PRECISION). Never edit this file once released: add 0006_*.sql.

-- One row per session parameter (the JSON column sessions.params stays the record): session/list
-- matches and sorts on parameters through these. num is the value as a number when it is one (Go's
-- strconv.ParseFloat, not NaN), else NULL; deskhub writes the rows with the session and fills them in
-- for older sessions when it opens the database (the parsing is Go's, so this file does not copy).
CREATE TABLE session_params (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    num        REAL,
    PRIMARY KEY (session_id, name)
);
CREATE INDEX session_params_name_value ON session_params (name, value, session_id);

-- A user's list and the all-users list, in list order (started_at, id) within a user or a state.
DROP INDEX sessions_user_id;
CREATE INDEX sessions_user_started ON sessions (user_id, started_at, id);
DROP INDEX sessions_state;
CREATE INDEX sessions_state_started ON sessions (state, started_at, id);

-- bookmark/list: a user's bookmarks or history, most recently updated first.
CREATE INDEX bookmarks_user_kind_updated ON bookmarks (user_id, kind, updated_at, id);

-- deskhub schema, version 6 (PostgreSQL dialect). Keep in step with ../../sqlite/migrations/0006_change_version.sql.
-- Never edit this file once released: add 0007_*.sql.

-- bookmark/list reads its page in index order instead of sorting the user's entries on every call:
-- both kinds at once (ORDER BY updated_at DESC, kind, id) and one kind (ORDER BY updated_at DESC, id).
DROP INDEX bookmarks_user_kind_updated;
CREATE INDEX bookmarks_user_updated ON bookmarks (user_id, updated_at DESC, kind, id);
CREATE INDEX bookmarks_user_kind_updated ON bookmarks (user_id, kind, updated_at DESC, id);

-- The change version (store.Versioner): one row, bumped in the transaction of every statement that
-- writes a table the cached reads use, so that it commits (and becomes visible) with the write itself,
-- whoever writes: this broker, another replica, the deskhub CLI. The trigger runs BEFORE each statement,
-- so a transaction takes the row's lock before any row lock of that statement (writers that touch
-- these tables queue on it until they commit; they are short).
CREATE TABLE change_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  BIGINT NOT NULL
);
INSERT INTO change_version (id, v) VALUES (1, 1);

CREATE FUNCTION deskhub_bump_change_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_version SET v = v + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_change_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION deskhub_bump_change_version();
CREATE TRIGGER tokens_change_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION deskhub_bump_change_version();
CREATE TRIGGER sessions_change_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION deskhub_bump_change_version();
CREATE TRIGGER session_params_change_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON session_params
    FOR EACH STATEMENT EXECUTE FUNCTION deskhub_bump_change_version();
CREATE TRIGGER bookmarks_change_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON bookmarks
    FOR EACH STATEMENT EXECUTE FUNCTION deskhub_bump_change_version();

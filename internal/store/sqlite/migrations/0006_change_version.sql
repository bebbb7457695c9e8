-- deskhub schema, version 6 (SQLite dialect). Keep in step with ../../postgres/migrations/0006_change_version.sql.
-- Never edit this file once released: add 0007_*.sql.

-- bookmark/list reads its page in index order instead of sorting the user's entries on every call:
-- both kinds at once (ORDER BY updated_at DESC, kind, id) and one kind (ORDER BY updated_at DESC, id).
DROP INDEX bookmarks_user_kind_updated;
CREATE INDEX bookmarks_user_updated ON bookmarks (user_id, updated_at DESC, kind, id);
CREATE INDEX bookmarks_user_kind_updated ON bookmarks (user_id, kind, updated_at DESC, id);

-- The change version (store.Versioner) needs nothing in the file on SQLite: PRAGMA data_version on a
-- connection that never writes changes whenever another connection commits.

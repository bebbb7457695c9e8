-- deskhub schema, version 3 (SQLite dialect): share keys hashed at rest.
-- Keep in step with ../../postgres/migrations/0003_share_key_hash.sql: same
-- columns and constraints; only dialect differences. Never edit this file
-- once released: add 0004_*.sql.
--
-- A share key is a bearer credential: only its SHA-256 (key_hash) is kept,
-- like tokens. Each share gets a public, non-secret id that logs, share/list
-- and share/delete name it by. SQLite has no SHA-256 function, so the keys of
-- rows from before this version stay in legacy_key until the store's Open
-- hashes them (sqlstore.BackfillShareKeys) and clears it, and then vacuums
-- the file; key_hash is NULL only in between.
CREATE TABLE shares_v3 (
    id         TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key_hash   BLOB    UNIQUE,
    legacy_key TEXT,
    perms      TEXT    NOT NULL DEFAULT '[]',
    timeout    INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL
);
INSERT INTO shares_v3 (id, session_id, key_hash, legacy_key, perms, timeout, created_by, created_at)
    SELECT lower(hex(randomblob(6))), session_id, NULL, key, perms, timeout, created_by, created_at FROM shares;
DROP TABLE shares;
ALTER TABLE shares_v3 RENAME TO shares;
CREATE INDEX shares_session_id ON shares (session_id);

-- deskhub schema, version 3 (PostgreSQL dialect): share keys hashed at rest.
-- Keep in step with ../../sqlite/migrations/0003_share_key_hash.sql: same
-- columns and constraints; only dialect differences. Never edit this file
-- once released: add 0004_*.sql.
--
-- A share key is a bearer credential: only its SHA-256 (key_hash) is kept,
-- like tokens. Each share gets a public, non-secret id that logs, share/list
-- and share/delete name it by. PostgreSQL hashes the existing keys here;
-- legacy_key exists for SQLite's sake (no SHA-256 there: the store's Open
-- hashes those rows) and stays NULL.
CREATE TABLE shares_v3 (
    id         TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key_hash   BYTEA   UNIQUE,
    legacy_key TEXT,
    perms      TEXT    NOT NULL DEFAULT '[]',
    timeout    INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL
);
INSERT INTO shares_v3 (id, session_id, key_hash, legacy_key, perms, timeout, created_by, created_at)
    SELECT substr(md5(random()::text || clock_timestamp()::text || key), 1, 12), session_id,
           sha256(convert_to(key, 'UTF8')), NULL, perms, timeout, created_by, created_at FROM shares;
DROP TABLE shares;
ALTER TABLE shares_v3 RENAME TO shares;
CREATE INDEX shares_session_id ON shares (session_id);

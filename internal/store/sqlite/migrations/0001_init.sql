-- deskhub schema, version 1 (SQLite dialect).
-- Keep in step with ../../postgres/migrations/0001_init.sql: same tables,
-- columns and constraints; only dialect differences (INTEGER PRIMARY KEY vs
-- identity columns, BLOB vs BYTEA). Timestamps are BIGINT unix microseconds
-- UTC, NULL = unset. Never edit this file once released: add 0002_*.sql.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    login           TEXT    NOT NULL UNIQUE,
    email           TEXT    UNIQUE,
    name            TEXT    NOT NULL DEFAULT '',
    password_hash   TEXT    NOT NULL DEFAULT '',
    provider        TEXT    NOT NULL DEFAULT 'local',
    admin           BOOLEAN NOT NULL DEFAULT FALSE,
    password_locked BOOLEAN NOT NULL DEFAULT FALSE,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL UNIQUE,
    type         TEXT   NOT NULL,
    hash         BLOB   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE codes (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL,
    hash       BLOB   NOT NULL UNIQUE,
    email      TEXT   NOT NULL DEFAULT '',
    data       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    used_at    BIGINT
);
CREATE INDEX codes_user_id ON codes (user_id);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL DEFAULT '',
    public_key  TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (user_id, fingerprint)
);

CREATE TABLE webauthn_credentials (
    id               INTEGER PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id    BLOB   NOT NULL UNIQUE,
    public_key       BLOB,
    attestation_type TEXT   NOT NULL DEFAULT '',
    aaguid           BLOB,
    sign_count       BIGINT NOT NULL DEFAULT 0,
    transports       TEXT   NOT NULL DEFAULT '',
    name             TEXT   NOT NULL DEFAULT '',
    data             TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT
);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

CREATE TABLE servers (
    id               INTEGER PRIMARY KEY,
    owner_id         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    name             TEXT    NOT NULL UNIQUE,
    provider         TEXT    NOT NULL,
    protocol         TEXT    NOT NULL DEFAULT '',
    host             TEXT    NOT NULL DEFAULT '',
    port             INTEGER NOT NULL DEFAULT 0,
    path             TEXT    NOT NULL DEFAULT '',
    cert_fingerprint TEXT    NOT NULL DEFAULT '',
    state            TEXT    NOT NULL DEFAULT '',
    config           TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id       BIGINT  REFERENCES servers (id) ON DELETE SET NULL,
    login           TEXT    NOT NULL DEFAULT '',
    name            TEXT    NOT NULL DEFAULT '',
    command         TEXT    NOT NULL DEFAULT '',
    display         TEXT    NOT NULL DEFAULT '',
    geometry        TEXT    NOT NULL DEFAULT '',
    window_mode     TEXT    NOT NULL DEFAULT '',
    params          TEXT    NOT NULL DEFAULT '{}',
    state           TEXT    NOT NULL,
    app_pid         INTEGER NOT NULL DEFAULT 0,
    server_pid      INTEGER NOT NULL DEFAULT 0,
    hostname        TEXT    NOT NULL DEFAULT '',
    runtime         TEXT    NOT NULL DEFAULT '',
    started_at      BIGINT,
    ended_at        BIGINT,
    last_connect    BIGINT,
    last_disconnect BIGINT,
    scheduled_at    BIGINT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_server_id ON sessions (server_id);
CREATE INDEX sessions_state ON sessions (state);

CREATE TABLE bookmarks (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    name       TEXT   NOT NULL DEFAULT '',
    command    TEXT   NOT NULL DEFAULT '',
    geometry   TEXT   NOT NULL DEFAULT '',
    tags       TEXT   NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, id)
);

CREATE TABLE shares (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL UNIQUE,
    perms      TEXT    NOT NULL DEFAULT '[]',
    timeout    INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (session_id, key)
);

-- No foreign key on user_id: audit entries outlive the users they mention.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    user_id     BIGINT,
    actor       TEXT   NOT NULL DEFAULT '',
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL DEFAULT '',
    detail      TEXT   NOT NULL DEFAULT '',
    remote_addr TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);

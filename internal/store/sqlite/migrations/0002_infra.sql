-- deskhub schema, version 2 (SQLite dialect): LXD infrastructure.
-- Keep in step with ../../postgres/migrations/0002_infra.sql: same tables,
-- columns and constraints; only dialect differences (INTEGER PRIMARY KEY vs
-- identity columns). Timestamps are BIGINT unix microseconds UTC, NULL =
-- unset. Never edit this file once released: add 0003_*.sql.

-- deskhub's handle on an LXD instance: a stable id and the user it was
-- created for. Rows go with their server; deleting the owner keeps the row.
CREATE TABLE instances (
    id         INTEGER PRIMARY KEY,
    server_id  BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    owner_id   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX instances_server_id_name ON instances (server_id, name);
CREATE INDEX instances_owner_id ON instances (owner_id);

-- Asynchronous infrastructure calls. No foreign key on instance_id: instance
-- rows are deleted with the instance, the operation that deleted it stays.
CREATE TABLE operations (
    id            TEXT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id     BIGINT REFERENCES servers (id) ON DELETE SET NULL,
    instance_id   BIGINT,
    instance_name TEXT   NOT NULL DEFAULT '',
    kind          TEXT   NOT NULL,
    action        TEXT   NOT NULL DEFAULT '',
    request_id    TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL,
    error         TEXT   NOT NULL DEFAULT '',
    lxd_operation TEXT   NOT NULL DEFAULT '',
    spec          TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    reported_at   BIGINT
);
CREATE INDEX operations_user_id ON operations (user_id);
CREATE INDEX operations_server_id ON operations (server_id);
CREATE INDEX operations_status ON operations (status);

-- Small named values deskhub keeps for itself.
CREATE TABLE settings (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

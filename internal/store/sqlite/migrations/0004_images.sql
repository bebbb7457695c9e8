-- deskhub schema, version 4 (SQLite dialect): the simplestreams image server.
-- Keep in step with ../../postgres/migrations/0004_images.sql: same tables,
-- columns and constraints; only dialect differences (INTEGER PRIMARY KEY vs
-- identity columns). Timestamps are BIGINT unix microseconds UTC. Never edit
-- this file once released: add 0005_*.sql.

-- A product: one image line, id "os:release:arch:variant". aliases keeps the
-- list as given (comma-separated); image_aliases makes each alias unique
-- across products.
CREATE TABLE image_products (
    id            TEXT   PRIMARY KEY,
    os            TEXT   NOT NULL,
    release_name  TEXT   NOT NULL,
    arch          TEXT   NOT NULL,
    variant       TEXT   NOT NULL,
    release_title TEXT   NOT NULL DEFAULT '',
    aliases       TEXT   NOT NULL DEFAULT '',
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE image_aliases (
    alias      TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES image_products (id) ON DELETE CASCADE
);
CREATE INDEX image_aliases_product_id ON image_aliases (product_id);

-- A version (serial) of a product; its files go with it.
CREATE TABLE image_versions (
    product_id TEXT   NOT NULL REFERENCES image_products (id) ON DELETE CASCADE,
    serial     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, serial)
);

-- The files of a version: at most one per name and one per type (ftype).
CREATE TABLE image_files (
    id                        INTEGER PRIMARY KEY,
    product_id                TEXT   NOT NULL,
    serial                    TEXT   NOT NULL,
    name                      TEXT   NOT NULL,
    ftype                     TEXT   NOT NULL,
    path                      TEXT   NOT NULL,
    size                      BIGINT NOT NULL,
    sha256                    TEXT   NOT NULL,
    combined_squashfs_sha256  TEXT   NOT NULL DEFAULT '',
    combined_disk_kvm_sha256  TEXT   NOT NULL DEFAULT '',
    uploaded_by               BIGINT REFERENCES users (id) ON DELETE SET NULL,
    uploaded_at               BIGINT NOT NULL,
    FOREIGN KEY (product_id, serial) REFERENCES image_versions (product_id, serial) ON DELETE CASCADE
);
CREATE UNIQUE INDEX image_files_version_name ON image_files (product_id, serial, name);
CREATE UNIQUE INDEX image_files_version_ftype ON image_files (product_id, serial, ftype);

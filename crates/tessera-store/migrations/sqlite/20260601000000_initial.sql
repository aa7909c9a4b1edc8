-- Tessera's schema for SQLite.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC): they compare and
-- sort numerically, which TEXT timestamps of varying precision would not.
-- Ids are time-sortable base62 text; SQLite's default BINARY collation
-- compares them bytewise, which is the order lists and cursors rely on.
-- JSON lists (permissions, last_used_ips) and audit details are TEXT.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'removed')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE workspaces (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) STRICT;

CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE tokens (
    id                   TEXT    NOT NULL PRIMARY KEY,
    kind                 TEXT    NOT NULL,
    user_id              TEXT    REFERENCES users (id),
    workspace_id         TEXT    REFERENCES workspaces (id),
    name                 TEXT    NOT NULL,
    display_prefix       TEXT    NOT NULL,
    last4                TEXT    NOT NULL,
    permissions          TEXT,
    role                 TEXT,
    created_at           INTEGER NOT NULL,
    created_by           TEXT,
    expires_at           INTEGER,
    last_used_at         INTEGER,
    last_used_ip         TEXT,
    last_used_user_agent TEXT,
    last_used_ips        TEXT    NOT NULL DEFAULT '[]',
    revoked_at           INTEGER,
    revoked_by           TEXT,
    revoked_reason       TEXT,
    rotated_at           INTEGER
) STRICT;

-- With the id in the index, "this user's tokens, newest first" is an index scan.
CREATE INDEX tokens_by_user ON tokens (user_id, id);
CREATE INDEX tokens_by_workspace ON tokens (workspace_id, id);

-- A token's current secret has no retires_at; secrets replaced by a rotation
-- keep working until their retires_at, and are recognised after it (reuse).
CREATE TABLE token_secrets (
    digest     BLOB    NOT NULL PRIMARY KEY,
    key_id     TEXT,
    token_id   TEXT    NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    retires_at INTEGER
) STRICT;

CREATE INDEX token_secrets_by_token ON token_secrets (token_id);

CREATE TABLE sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);

-- No foreign keys: the record of what happened outlives what it happened to.
CREATE TABLE audit_events (
    id             TEXT    NOT NULL PRIMARY KEY,
    at             INTEGER NOT NULL,
    action         TEXT    NOT NULL,
    actor_user_id  TEXT,
    actor_token_id TEXT,
    actor_label    TEXT,
    workspace_id   TEXT,
    target_type    TEXT,
    target_id      TEXT,
    client_ip      TEXT,
    user_agent     TEXT,
    details        TEXT    NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX audit_by_workspace ON audit_events (workspace_id, id);

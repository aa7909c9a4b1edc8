-- Tessera's schema for PostgreSQL.
--
-- Ids are time-sortable base62 text, and lists are ordered by id with the
-- last id seen as the cursor. That only works if ids compare bytewise, so
-- every id column is COLLATE "C": under a linguistic collation (en_US, ICU)
-- 'tok_…a' sorts before 'tok_…Z' and pages would skip and repeat rows.
--
-- Times are TIMESTAMPTZ. The store's code exchanges them as microseconds
-- since the Unix epoch (the same rows decode for SQLite and PostgreSQL, and
-- no precision is lost); these two functions convert at the boundary.

CREATE FUNCTION tessera_ts(us BIGINT) RETURNS TIMESTAMPTZ
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    -- Adding only microseconds is independent of the session's time zone.
    AS $$ SELECT TIMESTAMPTZ 'epoch' + us * INTERVAL '1 microsecond' $$;

CREATE FUNCTION tessera_us(t TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (EXTRACT(EPOCH FROM t) * 1000000)::BIGINT $$;

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT        NOT NULL UNIQUE,
    display_name  TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    is_admin      BOOLEAN     NOT NULL,
    status        TEXT        NOT NULL CHECK (status IN ('active', 'suspended', 'removed')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE tokens (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    kind                 TEXT        NOT NULL,
    user_id              TEXT COLLATE "C" REFERENCES users (id),
    workspace_id         TEXT COLLATE "C" REFERENCES workspaces (id),
    name                 TEXT        NOT NULL,
    display_prefix       TEXT        NOT NULL,
    last4                TEXT        NOT NULL,
    permissions          JSONB,
    role                 TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    created_by           TEXT COLLATE "C",
    expires_at           TIMESTAMPTZ,
    last_used_at         TIMESTAMPTZ,
    last_used_ip         TEXT,
    last_used_user_agent TEXT,
    last_used_ips        JSONB       NOT NULL DEFAULT '[]',
    revoked_at           TIMESTAMPTZ,
    revoked_by           TEXT COLLATE "C",
    revoked_reason       TEXT,
    rotated_at           TIMESTAMPTZ
);

-- With the id in the index, "this user's tokens, newest first" is an index scan.
CREATE INDEX tokens_by_user ON tokens (user_id, id);
CREATE INDEX tokens_by_workspace ON tokens (workspace_id, id);

-- A token's current secret has no retires_at; secrets replaced by a rotation
-- keep working until their retires_at, and are recognised after it (reuse).
CREATE TABLE token_secrets (
    digest     BYTEA PRIMARY KEY,
    key_id     TEXT,
    token_id   TEXT COLLATE "C" NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    retires_at TIMESTAMPTZ
);

CREATE INDEX token_secrets_by_token ON token_secrets (token_id);

CREATE TABLE sessions (
    id_hash    TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);

-- No foreign keys: the record of what happened outlives what it happened to.
CREATE TABLE audit_events (
    id             TEXT COLLATE "C" PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    action         TEXT        NOT NULL,
    actor_user_id  TEXT COLLATE "C",
    actor_token_id TEXT COLLATE "C",
    actor_label    TEXT,
    workspace_id   TEXT COLLATE "C",
    target_type    TEXT,
    target_id      TEXT COLLATE "C",
    client_ip      TEXT,
    user_agent     TEXT,
    details        JSONB       NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_by_workspace ON audit_events (workspace_id, id);

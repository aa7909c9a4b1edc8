-- Verifier credentials: who may ask about tokens on the verification
-- surfaces. Only the SHA-256 of the secret is kept; the lists (JSON text)
-- restrict the credential to some workspaces and kinds, empty for all.
-- Revoked credentials stay for the audit trail.
CREATE TABLE verifiers (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    workspace_ids TEXT NOT NULL DEFAULT '[]',
    kinds         TEXT NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT COLLATE "C" REFERENCES users (id) ON DELETE SET NULL,
    revoked_at    TIMESTAMPTZ
);

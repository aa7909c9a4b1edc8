-- Hand-off rotation (`"overlap": "until_first_use"`): the new secret is
-- marked until it is first used; the old secrets wait for it (retiring at a
-- stated maximum), and its first use retires them after a short grace.
ALTER TABLE token_secrets ADD COLUMN ends_handoff INTEGER NOT NULL DEFAULT 0;

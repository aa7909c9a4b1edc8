-- One-time form ids: a page form that shows a secret when posted carries a
-- random id, and the first post of it claims the id here. Kept in the
-- database (not in one process's memory) so that a resubmission is refused
-- by whichever instance it reaches. Ids go with their session, and rows older
-- than a day are pruned on every claim.
CREATE TABLE form_submissions (
    session_id_hash TEXT    NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    form_id         TEXT    NOT NULL,
    used_at         INTEGER NOT NULL,
    PRIMARY KEY (session_id_hash, form_id)
) STRICT;

CREATE INDEX form_submissions_by_age ON form_submissions (used_at);

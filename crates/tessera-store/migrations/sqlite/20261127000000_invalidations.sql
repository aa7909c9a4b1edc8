-- Changes published for other processes on the same database file (SQLite
-- has no NOTIFY): every server polls for rows newer than the last it saw and
-- drops what they make stale from its cache. Rows older than a minute are
-- pruned on publish; a process that falls that far behind forgets its whole
-- cache instead.
CREATE TABLE invalidations (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    message TEXT    NOT NULL,
    at      INTEGER NOT NULL
) STRICT;

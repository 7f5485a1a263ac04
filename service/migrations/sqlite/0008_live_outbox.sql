-- Live updates between processes on one SQLite file: a publisher writes each notification here
-- as well as to its own subscribers, and a running server reads what other processes (an
-- `atrium import` on the command line, say) wrote. Rows are cleared after ten minutes; ids are
-- never reused (AUTOINCREMENT), so a reader that remembers the last id it saw misses nothing.
-- Postgres carries the same notifications with LISTEN/NOTIFY and needs no table.

CREATE TABLE live_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX live_outbox_created ON live_outbox (created_at);

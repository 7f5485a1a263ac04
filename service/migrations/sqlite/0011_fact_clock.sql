-- The fact clock orders sales imports and rebate runs. Each takes its one row's lock first
-- thing in its transaction and stamps its writes with the time the row hands out, which only
-- goes forward. So they commit in the order of their stamps, and a statement's `computed_at`
-- tells exactly which sales it saw: those stamped before it.
-- Keep in step with the other database's folder.

CREATE TABLE fact_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);

INSERT INTO fact_clock (id, at) VALUES (1, 0);

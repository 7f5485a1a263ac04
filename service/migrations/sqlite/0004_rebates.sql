-- Rebate runs and statements (RULES.md §5). A statement is one partner, plan and period, with
-- its explanation lines (JSON) adding up to its total. Drafts are recomputed in place; approved
-- and paid statements never change. Keep in step with ../postgres.

CREATE TABLE rebate_runs (
    id INTEGER PRIMARY KEY,
    period TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    started_by INTEGER REFERENCES users (id),
    statements INTEGER NOT NULL,
    total_minor INTEGER NOT NULL
);

CREATE TABLE rebate_statements (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    plan_id TEXT NOT NULL,
    plan_name TEXT NOT NULL,
    period TEXT NOT NULL,
    tier_rank INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'approved', 'paid')),
    basis_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    run_id INTEGER REFERENCES rebate_runs (id),
    computed_at INTEGER NOT NULL,
    approved_at INTEGER,
    approved_by INTEGER REFERENCES users (id),
    paid_at INTEGER,
    paid_by INTEGER REFERENCES users (id),
    payout_reference TEXT,
    UNIQUE (partner_id, plan_id, period)
);
CREATE INDEX rebate_statements_period ON rebate_statements (period, status);

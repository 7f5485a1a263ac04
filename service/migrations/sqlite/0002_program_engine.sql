-- The channel program engine: program versions, the facts tiers are computed from, and each
-- partner's tier standing and history (RULES.md §2–4). Dates are ISO `YYYY-MM-DD` text (they
-- sort and compare as dates); money is integer minor units. Keep in step with ../postgres.

-- A program version applies from its effective date until the next version's. The document is
-- the validated TOML (docs/program-format.md), stored as written.
CREATE TABLE program_versions (
    id INTEGER PRIMARY KEY,
    effective_from TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users (id)
);

CREATE TABLE sales (
    id INTEGER PRIMARY KEY,
    -- Unique per source: re-importing an external id updates the row, never duplicates it.
    external_id TEXT NOT NULL UNIQUE,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    distributor_id INTEGER REFERENCES organisations (id),
    booked_on TEXT NOT NULL,
    product_line TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    customer_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sales_partner ON sales (partner_id, booked_on);
CREATE INDEX sales_distributor ON sales (distributor_id, booked_on);

CREATE TABLE certifications (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    person TEXT NOT NULL,
    code TEXT NOT NULL,
    earned_on TEXT NOT NULL,
    -- Exclusive: valid on D when earned_on <= D < expires_on.
    expires_on TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (earned_on < expires_on)
);
CREATE INDEX certifications_partner ON certifications (partner_id);

-- Won deals count towards `deals_won`. Deal registration writes here when a deal is won.
CREATE TABLE won_deals (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    reference TEXT NOT NULL UNIQUE,
    won_on TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX won_deals_partner ON won_deals (partner_id, won_on);

-- Where each partner stands between evaluations. organisations.tier_rank mirrors the
-- effective tier (override, else computed) for targeting and display.
CREATE TABLE tier_standings (
    partner_id INTEGER PRIMARY KEY REFERENCES organisations (id),
    computed_rank INTEGER NOT NULL,
    at_risk_until TEXT,
    override_rank INTEGER,
    override_reason TEXT,
    override_ends_on TEXT,
    evaluated_on TEXT NOT NULL
);

-- Append-only: every change of a partner's effective tier, why, and the values that decided it.
CREATE TABLE tier_history (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    changed_on TEXT NOT NULL,
    from_rank INTEGER NOT NULL,
    to_rank INTEGER NOT NULL,
    cause TEXT NOT NULL CHECK (cause IN ('upgrade', 'review', 'override', 'override_expired')),
    deciding_values TEXT NOT NULL,
    program_version_id INTEGER REFERENCES program_versions (id),
    recorded_at INTEGER NOT NULL
);
CREATE INDEX tier_history_partner ON tier_history (partner_id, changed_on);

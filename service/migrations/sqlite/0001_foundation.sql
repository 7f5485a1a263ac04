-- Foundation: tiers, organisations, people, sign-in, content and the audit log (SQLite).
-- Timestamps are Unix milliseconds (UTC); flags and lists are stored as plain values so the
-- same queries run on SQLite and Postgres. Keep this file in step with ../postgres.

CREATE TABLE tiers (
    rank INTEGER PRIMARY KEY CHECK (rank >= 0),
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('vendor', 'partner')),
    -- Partners only: how they sell, where, at which tier, and their distributor (tier two).
    partner_type TEXT CHECK (partner_type IN ('reseller', 'distributor', 'tier_two_reseller', 'msp', 'referral')),
    region TEXT CHECK (region IN ('na', 'latam', 'emea', 'apac')),
    tier_rank INTEGER,
    distributor_id INTEGER REFERENCES organisations (id),
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'vendor' AND partner_type IS NULL AND region IS NULL AND tier_rank IS NULL)
        OR (kind = 'partner' AND partner_type IS NOT NULL AND region IS NOT NULL AND tier_rank IS NOT NULL)),
    -- Only tier-two resellers sit under a distributor.
    CHECK ((partner_type = 'tier_two_reseller') = (distributor_id IS NOT NULL))
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('partner_admin', 'partner_user', 'vendor_admin', 'channel_manager', 'content_publisher', 'finance')),
    persona TEXT CHECK (persona IN ('sales', 'presales', 'marketing', 'post_sales')),
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX users_organisation ON users (organisation_id);

-- A session is known only by the SHA-256 of its cookie value, so a leaked table grants nothing.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins, counted per e-mail and per client address to slow down guessing.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, failed_at);
CREATE INDEX login_failures_ip ON login_failures (client_ip, failed_at);

CREATE TABLE content_items (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL CHECK (room IN ('sales', 'presales', 'marketing', 'post-sales')),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    -- Rendered and sanitised once on save; pages never render Markdown on the hot path.
    body_html TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    -- Targeting: comma-separated codes, empty meaning "everyone".
    audience_personas TEXT NOT NULL DEFAULT '',
    audience_partner_types TEXT NOT NULL DEFAULT '',
    audience_min_tier INTEGER NOT NULL DEFAULT 0,
    audience_regions TEXT NOT NULL DEFAULT '',
    author_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX content_items_room ON content_items (room, status, published_at);

-- Append-only: who changed what, when, with the value before and after (JSON).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    occurred_at INTEGER NOT NULL,
    actor_user_id INTEGER REFERENCES users (id),
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);

-- Deal registration on a general approval workflow with SLA timers, in-app notifications and an
-- e-mail outbox (RULES.md §6). Keep in step with ../postgres.

-- The channel manager who looks after a partner; deal decisions are assigned to them.
ALTER TABLE organisations ADD COLUMN channel_manager_id INTEGER REFERENCES users (id);

-- An approval workflow as data: who decides, within how long, when to remind and whom to
-- escalate to (JSON, see docs/deals.md).
CREATE TABLE workflow_definitions (
    workflow_key TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO workflow_definitions (workflow_key, document, updated_at) VALUES
('deal_registration', '{"name":"Deal registration","approver_role":"channel_manager","sla_hours":48,"reminder_percents":[50,100],"escalate_at_percent":100,"escalate_to_role":"vendor_admin"}', 0),
('deal_extension', '{"name":"Deal extension","approver_role":"channel_manager","sla_hours":48,"reminder_percents":[50,100],"escalate_at_percent":100,"escalate_to_role":"vendor_admin"}', 0);

-- One decision to take about one subject (e.g. a deal), with its due time.
CREATE TABLE workflow_instances (
    id INTEGER PRIMARY KEY,
    workflow_key TEXT NOT NULL REFERENCES workflow_definitions (workflow_key),
    subject_type TEXT NOT NULL,
    subject_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'approved', 'rejected', 'cancelled')),
    assignee_user_id INTEGER REFERENCES users (id),
    started_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    escalated_at INTEGER,
    decided_at INTEGER,
    decided_by INTEGER REFERENCES users (id),
    comment TEXT
);
CREATE INDEX workflow_instances_open ON workflow_instances (status, due_at);
CREATE INDEX workflow_instances_subject ON workflow_instances (subject_type, subject_id);

-- Reminders and escalations, each fired exactly once: settled_at is set in the same transaction
-- that acts on it (or when the decision makes it moot).
CREATE TABLE workflow_timers (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES workflow_instances (id),
    kind TEXT NOT NULL CHECK (kind IN ('reminder', 'escalation')),
    percent INTEGER NOT NULL,
    fire_at INTEGER NOT NULL,
    settled_at INTEGER,
    outcome TEXT CHECK (outcome IN ('fired', 'cancelled')),
    UNIQUE (instance_id, kind, percent)
);
CREATE INDEX workflow_timers_due ON workflow_timers (settled_at, fire_at);

-- Append-only: what happened to each workflow instance.
CREATE TABLE workflow_events (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES workflow_instances (id),
    occurred_at INTEGER NOT NULL,
    actor_user_id INTEGER REFERENCES users (id),
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX workflow_events_instance ON workflow_events (instance_id);

CREATE TABLE deals (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    registered_by_org_id INTEGER NOT NULL REFERENCES organisations (id),
    registered_by_user_id INTEGER NOT NULL REFERENCES users (id),
    customer_name TEXT NOT NULL,
    customer_domain TEXT,
    customer_key TEXT NOT NULL,
    country TEXT NOT NULL,
    -- Comma-separated, sorted product-line codes.
    product_lines TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency TEXT NOT NULL,
    expected_close_on TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected', 'won', 'lost', 'expired')),
    created_at INTEGER NOT NULL,
    submitted_at INTEGER,
    decided_at INTEGER,
    approved_on TEXT,
    -- First day no longer protected.
    expires_on TEXT,
    extended INTEGER NOT NULL DEFAULT 0,
    closed_on TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX deals_customer ON deals (customer_key);
CREATE INDEX deals_partner ON deals (partner_id, status);
CREATE INDEX deals_expiry ON deals (status, expires_on);

-- Append-only: every transition of every registration.
CREATE TABLE deal_history (
    id INTEGER PRIMARY KEY,
    deal_id INTEGER NOT NULL REFERENCES deals (id),
    occurred_at INTEGER NOT NULL,
    actor_user_id INTEGER REFERENCES users (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deal_history_deal ON deal_history (deal_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    read_at INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, read_at);

-- Mail waits here until the SMTP server accepts it; a failed send is retried with back-off.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

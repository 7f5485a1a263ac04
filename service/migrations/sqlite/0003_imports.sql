-- Imports: certifications are identified by person, code and date so that re-importing a file
-- never duplicates them; idempotency keys let API clients retry an import safely.
-- Keep in step with ../postgres.

CREATE UNIQUE INDEX certifications_identity ON certifications (partner_id, person, code, earned_on);

CREATE TABLE idempotency_keys (
    idempotency_key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (idempotency_key, endpoint)
);

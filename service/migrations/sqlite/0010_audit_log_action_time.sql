-- A statement's drill-down reads the sales changed since the statement was computed (their
-- `sale.update` entries after a time), and the audit page filters by action: both go to the
-- entries of one action in time order instead of every entry of the entity type.
-- Keep in step with the other database's folder.

CREATE INDEX audit_log_action_time ON audit_log (entity_type, action, occurred_at);

//! The audit log: every state change records who, when, what, and the value before and after.

use serde::Serialize;
use sqlx::AnyConnection;

/// One entry of the audit log.
pub struct AuditEntry<'a> {
    /// The user who acted; `None` for the system (demo loader, command line).
    pub actor_user_id: Option<i64>,
    /// What happened, e.g. `content.publish`.
    pub action: &'a str,
    /// The kind of thing changed, e.g. `content_item`.
    pub entity_type: &'a str,
    /// Its identifier.
    pub entity_id: String,
    /// The value before (JSON), when there was one.
    pub before: Option<serde_json::Value>,
    /// The value after (JSON), when there is one.
    pub after: Option<serde_json::Value>,
}

/// Serialises a value for the log.
pub fn snapshot<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Appends `entry`, inside the caller's transaction so that the change and its record commit
/// together.
pub async fn record(conn: &mut AnyConnection, at: i64, entry: AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (occurred_at, actor_user_id, action, entity_type, entity_id, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(at)
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.entity_type)
    .bind(entry.entity_id)
    .bind(entry.before.map(|v| v.to_string()))
    .bind(entry.after.map(|v| v.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

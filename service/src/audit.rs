//! The audit log: every state change records who, when, what, and the value before and after.

use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::portal::Portal;
use crate::web::{query_number, query_text};
use domain::audit::{AuditPage, AuditRecord};
use domain::identity::Role;
use domain::FieldError;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

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

/// Which entries to read; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Actions starting with this, e.g. `statement.` or `sales.import`.
    pub action: Option<String>,
    /// One kind of thing, e.g. `rebate_statement`.
    pub entity_type: Option<String>,
    /// One thing (with `entity_type`), e.g. a statement's id.
    pub entity_id: Option<String>,
    /// Only entries older than this id (the previous page's `older`).
    pub before: Option<i64>,
    /// How many entries (1 to [`MAX_AUDIT_PAGE`]; default [`DEFAULT_AUDIT_PAGE`]).
    pub limit: Option<i64>,
}

/// Entries on a page unless asked otherwise.
pub const DEFAULT_AUDIT_PAGE: i64 = 50;

/// The most entries one page holds.
pub const MAX_AUDIT_PAGE: i64 = 500;

impl AuditQuery {
    /// Reads the query from query-string values; empty values mean "any".
    pub fn parse(
        action: &str,
        entity_type: &str,
        entity_id: &str,
        before: &str,
        limit: &str,
    ) -> Result<Self, FieldError> {
        let text = |v: &str| query_text(v).map(str::to_owned);
        let limit = query_number::<i64>("limit", limit)?;
        if let Some(limit) = limit.filter(|l| !(1..=MAX_AUDIT_PAGE).contains(l)) {
            return Err(FieldError::new(
                "limit",
                format!("`{limit}` is not between 1 and {MAX_AUDIT_PAGE}"),
            ));
        }
        Ok(Self {
            action: text(action),
            entity_type: text(entity_type),
            entity_id: text(entity_id),
            before: query_number("before", before)?,
            limit,
        })
    }
}

impl Portal {
    /// The audit log, newest first (vendor admins and finance): who imported what, who
    /// approved and paid what, and every other change, with the values before and after.
    pub async fn audit_log(&self, actor: &Actor, query: &AuditQuery) -> ServiceResult<AuditPage> {
        if !matches!(actor.role, Role::VendorAdmin | Role::Finance) {
            return Err(ServiceError::Forbidden(
                "the audit log is for vendor admins and finance",
            ));
        }
        let limit = query.limit.unwrap_or(DEFAULT_AUDIT_PAGE);
        // Only the filters given are in the statement, so that the database can use the index
        // on the kind and id of a record (`$2 IS NULL OR …` would keep it from any index).
        let texts: Vec<(&str, &str)> = [
            ("substr(a.action, 1, length({p})) = {p}", query.action.as_deref()),
            ("a.entity_type = {p}", query.entity_type.as_deref()),
            ("a.entity_id = {p}", query.entity_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(condition, value)| value.map(|v| (condition, v)))
        .collect();
        let mut conditions: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, (condition, _))| condition.replace("{p}", &format!("${}", i + 1)))
            .collect();
        let mut next = texts.len() + 1;
        if query.before.is_some() {
            conditions.push(format!("a.id < ${next}"));
            next += 1;
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT a.id, a.occurred_at, u.email, a.action, a.entity_type, a.entity_id, a.before_json, a.after_json \
             FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id \
             {filter} ORDER BY a.id DESC LIMIT ${next}"
        );
        let mut statement = sqlx::query(&sql);
        for (_, value) in &texts {
            statement = statement.bind(*value);
        }
        if let Some(before) = query.before {
            statement = statement.bind(before);
        }
        // One more than asked for tells whether an older page exists.
        let rows = statement.bind(limit + 1).fetch_all(self.pool()).await?;
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        let mut entries = rows
            .iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    occurred_at: row.try_get("occurred_at")?,
                    actor: row.try_get("email")?,
                    action: row.try_get("action")?,
                    entity_type: row.try_get("entity_type")?,
                    entity_id: row.try_get("entity_id")?,
                    before: json(row.try_get("before_json")?),
                    after: json(row.try_get("after_json")?),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let older = (entries.len() as i64 > limit).then(|| {
            entries.truncate(usize::try_from(limit).unwrap_or(0));
            entries.last().map_or(0, |e| e.id)
        });
        Ok(AuditPage { entries, older })
    }
}

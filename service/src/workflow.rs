//! The approval workflow engine: definitions as data, one instance per decision with its due
//! time, reminder and escalation timers, decisions with comments and an append-only event
//! history. Deal registrations and their extensions use it; later approvals (funds,
//! applications, overrides) reuse it by adding a definition and a subject type.
//!
//! Timers fire exactly once: a timer is claimed by one `UPDATE … WHERE settled_at IS NULL`
//! (on Postgres over rows locked with `FOR UPDATE SKIP LOCKED`), and its effects are written in
//! the same transaction, so two schedulers on one database never both act on it.

use crate::audit::{self, AuditEntry};
use crate::error::{ServiceError, ServiceResult};
use crate::notify::Message;
use crate::portal::Portal;
use crate::store::Backend;
use domain::deals::{describe_due, hours, nearest_rank, Turnaround};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// An approval workflow, as stored in `workflow_definitions` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDefinition {
    /// Its name, for people.
    pub name: String,
    /// The role that decides (the subject's assigned user of that role when there is one).
    pub approver_role: String,
    /// Hours from start to the decision's due time.
    pub sla_hours: i64,
    /// Reminders to the approver, in percent of the SLA (e.g. `[50, 100]`).
    pub reminder_percents: Vec<i64>,
    /// When to escalate, in percent of the SLA.
    pub escalate_at_percent: i64,
    /// Who hears about an escalation.
    pub escalate_to_role: String,
}

/// What an instance decides about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subject {
    pub kind: &'static str,
    pub id: i64,
}

/// An open decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenDecision {
    pub instance_id: i64,
    pub workflow_key: String,
    pub due_at: i64,
    pub assignee: Option<String>,
}

/// How a decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Approved,
    Rejected,
    Cancelled,
}

impl Outcome {
    fn code(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
        }
    }
}

async fn event(
    conn: &mut AnyConnection,
    instance_id: i64,
    at: i64,
    actor: Option<i64>,
    event: &str,
    detail: &str,
) -> ServiceResult<()> {
    sqlx::query(
        "INSERT INTO workflow_events (instance_id, occurred_at, actor_user_id, event, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(instance_id)
    .bind(at)
    .bind(actor)
    .bind(event)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which approvals a turnaround report counts: those started in a time window (Unix
/// milliseconds, end excluded) for one of a set of partners.
#[derive(Debug, Clone)]
pub(crate) struct ApprovalScope {
    pub(crate) started_from: i64,
    pub(crate) started_before: i64,
    pub(crate) partners: std::collections::HashSet<i64>,
}

impl Portal {
    /// A workflow definition by key.
    pub async fn workflow_definition(&self, key: &str) -> ServiceResult<WorkflowDefinition> {
        Self::workflow_definition_in(&mut *self.pool().acquire().await?, key).await
    }

    /// [`Portal::workflow_definition`], read on a connection the caller already holds: a
    /// transaction that waited for a second connection of the pool could wait for ever once
    /// every connection is held by such a transaction.
    async fn workflow_definition_in(
        conn: &mut AnyConnection,
        key: &str,
    ) -> ServiceResult<WorkflowDefinition> {
        let document: Option<String> =
            sqlx::query_scalar("SELECT document FROM workflow_definitions WHERE workflow_key = $1")
                .bind(key)
                .fetch_optional(conn)
                .await?;
        let document = document.ok_or(ServiceError::NotFound("workflow"))?;
        serde_json::from_str(&document)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("workflow `{key}` is not valid: {e}")))
    }

    /// Starts a decision about `subject`, assigned to `assignee` (or, when `None`, to anyone
    /// with the approver role), with its timers. Returns the instance id.
    pub(crate) async fn start_workflow(
        &self,
        conn: &mut AnyConnection,
        key: &str,
        subject: Subject,
        assignee: Option<i64>,
        actor: Option<i64>,
    ) -> ServiceResult<i64> {
        let definition = Self::workflow_definition_in(&mut *conn, key).await?;
        let now = self.now();
        let sla_millis = definition.sla_hours * 3_600_000;
        let instance_id: i64 = sqlx::query_scalar(
            "INSERT INTO workflow_instances (workflow_key, subject_type, subject_id, status, assignee_user_id, \
             started_at, due_at) VALUES ($1, $2, $3, 'open', $4, $5, $6) RETURNING id",
        )
        .bind(key)
        .bind(subject.kind)
        .bind(subject.id)
        .bind(assignee)
        .bind(now)
        .bind(now + sla_millis)
        .fetch_one(&mut *conn)
        .await?;
        let timers = definition
            .reminder_percents
            .iter()
            .map(|p| ("reminder", *p))
            .chain(std::iter::once(("escalation", definition.escalate_at_percent)));
        for (kind, percent) in timers {
            sqlx::query(
                "INSERT INTO workflow_timers (instance_id, kind, percent, fire_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(instance_id)
            .bind(kind)
            .bind(percent)
            .bind(now + sla_millis * percent / 100)
            .execute(&mut *conn)
            .await?;
        }
        event(conn, instance_id, now, actor, "started", &definition.name).await?;
        Ok(instance_id)
    }

    /// The open decision about `subject`, if there is one.
    pub(crate) async fn open_decision(
        &self,
        conn: &mut AnyConnection,
        subject: Subject,
    ) -> ServiceResult<Option<OpenDecision>> {
        let row = sqlx::query(
            "SELECT i.id, i.workflow_key, i.due_at, u.display_name FROM workflow_instances i \
             LEFT JOIN users u ON u.id = i.assignee_user_id \
             WHERE i.subject_type = $1 AND i.subject_id = $2 AND i.status = 'open' ORDER BY i.id DESC LIMIT 1",
        )
        .bind(subject.kind)
        .bind(subject.id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(OpenDecision {
                instance_id: r.try_get("id")?,
                workflow_key: r.try_get("workflow_key")?,
                due_at: r.try_get("due_at")?,
                assignee: r.try_get("display_name")?,
            })
        })
        .transpose()
    }

    /// Closes an open decision and settles its remaining timers. Fails with a conflict when the
    /// decision was already taken (two deciders at once: the first wins).
    pub(crate) async fn close_workflow(
        &self,
        conn: &mut AnyConnection,
        instance_id: i64,
        outcome: Outcome,
        actor: Option<i64>,
        comment: &str,
    ) -> ServiceResult<()> {
        let now = self.now();
        let closed = sqlx::query(
            "UPDATE workflow_instances SET status = $1, decided_at = $2, decided_by = $3, comment = $4 \
             WHERE id = $5 AND status = 'open'",
        )
        .bind(outcome.code())
        .bind(now)
        .bind(actor)
        .bind(comment)
        .bind(instance_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if closed != 1 {
            return Err(ServiceError::Conflict(
                "this decision has already been taken".into(),
            ));
        }
        sqlx::query(
            "UPDATE workflow_timers SET settled_at = $1, outcome = 'cancelled' WHERE instance_id = $2 AND settled_at IS NULL",
        )
        .bind(now)
        .bind(instance_id)
        .execute(&mut *conn)
        .await?;
        event(conn, instance_id, now, actor, outcome.code(), comment).await
    }

    /// Fires every reminder and escalation that is due, each exactly once, also with several
    /// instances on one database. Returns how many fired.
    pub async fn run_workflow_timers(&self) -> ServiceResult<usize> {
        let skip_locked = match self.store().backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut fired = 0;
        loop {
            let now = self.now();
            let mut tx = self.pool().begin().await?;
            // Claiming is the transaction's first statement: on SQLite it takes the write lock
            // at once; on Postgres rows another scheduler holds are skipped, and a row that
            // was settled meanwhile no longer matches `settled_at IS NULL`.
            let claimed = sqlx::query(&format!(
                "UPDATE workflow_timers SET settled_at = $1, outcome = 'fired' WHERE settled_at IS NULL AND id IN \
                 (SELECT id FROM workflow_timers WHERE settled_at IS NULL AND fire_at <= $1 \
                 ORDER BY fire_at, id LIMIT 100{skip_locked}) RETURNING id, instance_id, kind, percent, fire_at"
            ))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let batch = claimed.len();
            let mut timers: Vec<(i64, i64, String, i64)> = claimed
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i64, _>("fire_at")?,
                        r.try_get::<i64, _>("instance_id")?,
                        r.try_get::<String, _>("kind")?,
                        r.try_get::<i64, _>("percent")?,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()?;
            timers.sort();
            for (_, instance_id, kind, percent) in timers {
                self.fire_timer(&mut tx, instance_id, &kind, percent, now).await?;
                fired += 1;
            }
            tx.commit().await?;
            if batch < 100 {
                break;
            }
        }
        Ok(fired)
    }

    async fn fire_timer(
        &self,
        conn: &mut AnyConnection,
        instance_id: i64,
        kind: &str,
        percent: i64,
        now: i64,
    ) -> ServiceResult<()> {
        let row = sqlx::query(
            "SELECT workflow_key, subject_type, subject_id, status, assignee_user_id, due_at FROM workflow_instances WHERE id = $1",
        )
        .bind(instance_id)
        .fetch_one(&mut *conn)
        .await?;
        let status: String = row.try_get("status")?;
        if status != "open" {
            return Ok(());
        }
        let key: String = row.try_get("workflow_key")?;
        let definition = Self::workflow_definition_in(&mut *conn, &key).await?;
        let subject_type: String = row.try_get("subject_type")?;
        let subject_id: i64 = row.try_get("subject_id")?;
        let due_at: i64 = row.try_get("due_at")?;
        let assignee: Option<i64> = row.try_get("assignee_user_id")?;
        let (what, link) = self.describe_subject(conn, &subject_type, subject_id).await?;
        let clock = describe_due(due_at, now);
        if kind == "escalation" {
            sqlx::query("UPDATE workflow_instances SET escalated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(instance_id)
                .execute(&mut *conn)
                .await?;
            let message = Message {
                kind: "workflow.escalation",
                title: format!("Escalated: {what}"),
                body: format!(
                    "{} for {what} has reached {percent}% of its {} h SLA without a decision ({clock}).",
                    definition.name, definition.sla_hours
                ),
                link,
            };
            let told = self
                .notify_role(conn, &definition.escalate_to_role, &message)
                .await?;
            event(
                conn,
                instance_id,
                now,
                None,
                "escalated",
                &format!(
                    "{percent}% of SLA; {told} {} notified",
                    definition.escalate_to_role
                ),
            )
            .await?;
        } else {
            let message = Message {
                kind: "workflow.reminder",
                title: format!("Reminder: {what}"),
                body: format!("{} waits for your decision: {clock}.", definition.name),
                link,
            };
            self.notify_assignee(conn, assignee, &definition.approver_role, &message)
                .await?;
            event(
                conn,
                instance_id,
                now,
                None,
                "reminded",
                &format!("{percent}% of SLA"),
            )
            .await?;
        }
        audit::record(
            conn,
            now,
            AuditEntry {
                actor_user_id: None,
                action: if kind == "escalation" { "workflow.escalate" } else { "workflow.remind" },
                entity_type: "workflow_instance",
                entity_id: instance_id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "percent": percent, "subject": subject_type, "subject_id": subject_id })),
            },
        )
        .await?;
        Ok(())
    }

    /// A subject in words and its page, for notifications.
    async fn describe_subject(
        &self,
        conn: &mut AnyConnection,
        subject_type: &str,
        subject_id: i64,
    ) -> ServiceResult<(String, String)> {
        match subject_type {
            "deal" => {
                let row = sqlx::query(
                    "SELECT d.customer_name, o.name FROM deals d JOIN organisations o ON o.id = d.partner_id WHERE d.id = $1",
                )
                .bind(subject_id)
                .fetch_one(&mut *conn)
                .await?;
                Ok((
                    format!(
                        "deal #{subject_id} {} ({})",
                        row.try_get::<String, _>("customer_name")?,
                        row.try_get::<String, _>("name")?
                    ),
                    format!("/deals/{subject_id}"),
                ))
            }
            other => Ok((format!("{other} #{subject_id}"), String::new())),
        }
    }

    /// Median and 90th-percentile hours to decision, and SLA breaches, per workflow: of every
    /// approval, or of those `scope` selects.
    pub(crate) async fn workflow_turnaround(
        &self,
        scope: Option<&ApprovalScope>,
    ) -> ServiceResult<Vec<Turnaround>> {
        let now = self.now();
        let rows = sqlx::query(
            "SELECT i.workflow_key, d.document, i.status, i.started_at, i.due_at, i.decided_at, deal.partner_id \
             FROM workflow_instances i JOIN workflow_definitions d ON d.workflow_key = i.workflow_key \
             LEFT JOIN deals deal ON i.subject_type = 'deal' AND deal.id = i.subject_id \
             WHERE i.status <> 'cancelled' ORDER BY i.workflow_key",
        )
        .fetch_all(self.pool())
        .await?;
        let mut report: Vec<(Turnaround, Vec<i64>)> = Vec::new();
        for row in rows {
            if let Some(scope) = scope {
                let started_at: i64 = row.try_get("started_at")?;
                let partner: Option<i64> = row.try_get("partner_id")?;
                let in_scope = (scope.started_from..scope.started_before).contains(&started_at)
                    && partner.is_some_and(|p| scope.partners.contains(&p));
                if !in_scope {
                    continue;
                }
            }
            let document: String = row.try_get("document")?;
            let name = serde_json::from_str::<WorkflowDefinition>(&document)
                .map(|d| d.name)
                .unwrap_or_else(|_| row.try_get("workflow_key").unwrap_or_default());
            if report.last().is_none_or(|(t, _)| t.workflow != name) {
                report.push((
                    Turnaround {
                        workflow: name,
                        ..Turnaround::default()
                    },
                    Vec::new(),
                ));
            }
            let (entry, durations) = report.last_mut().expect("pushed above");
            let due_at: i64 = row.try_get("due_at")?;
            match row.try_get::<Option<i64>, _>("decided_at")? {
                Some(decided_at) => {
                    entry.decided += 1;
                    durations.push(decided_at - row.try_get::<i64, _>("started_at")?);
                    if decided_at > due_at {
                        entry.breaches += 1;
                    }
                }
                None => {
                    entry.open += 1;
                    if now > due_at {
                        entry.breaches += 1;
                    }
                }
            }
        }
        Ok(report
            .into_iter()
            .map(|(mut entry, mut durations)| {
                durations.sort_unstable();
                entry.median_hours = nearest_rank(&durations, 50).map(hours);
                entry.p90_hours = nearest_rank(&durations, 90).map(hours);
                entry
            })
            .collect())
    }
}

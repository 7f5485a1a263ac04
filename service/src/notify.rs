//! Notifications: in-app (the bell) and e-mail through an outbox. A notification and its mail
//! are written in the caller's transaction, so a decision and the news of it commit together;
//! the outbox is then drained by [`Portal::deliver_mail`], which retries failed sends with
//! back-off and never drops a message.

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::ServiceResult;
use crate::portal::Portal;
use crate::store::Backend;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// One in-app notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// When (Unix ms).
    pub created_at: i64,
    /// What kind: `deal.submitted`, `workflow.reminder`, `workflow.escalation`, `deal.decided`, …
    pub kind: String,
    /// One line.
    pub title: String,
    /// Detail.
    pub body: String,
    /// Where to go (a path in the portal).
    pub link: String,
    /// Whether the user has read it.
    pub read: bool,
}

/// The bell: unread count and the latest notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// Unread notifications.
    pub unread: i64,
    /// The latest 50, newest first.
    pub items: Vec<Notification>,
}

/// A message for one user.
pub(crate) struct Message<'a> {
    pub kind: &'a str,
    pub title: String,
    pub body: String,
    pub link: String,
}

/// Where and how to hand mail over.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// SMTP server host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// The sender, e.g. `Atrium <atrium@example.com>`.
    pub from: String,
    /// User name and password, when the relay wants them.
    pub credentials: Option<(String, String)>,
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailRun {
    /// Messages the server accepted.
    pub sent: usize,
    /// Messages that failed and wait for a retry.
    pub failed: usize,
}

/// How long a claimed message is reserved for the instance sending it.
const SEND_LEASE_MILLIS: i64 = 10 * 60 * 1000;

/// Wait before attempt `n + 1`: one minute, doubling, at most an hour.
fn backoff_millis(attempts: i64) -> i64 {
    let minutes = 1i64 << attempts.clamp(0, 6);
    minutes.min(60) * 60_000
}

impl Portal {
    /// Tells `user_id` about something, in the app and (when mail is enabled) by e-mail, inside
    /// the caller's transaction.
    pub(crate) async fn notify(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        message: &Message<'_>,
    ) -> ServiceResult<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO notifications (user_id, created_at, kind, title, body, link) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_id)
        .bind(now)
        .bind(message.kind)
        .bind(&message.title)
        .bind(&message.body)
        .bind(&message.link)
        .execute(&mut *conn)
        .await?;
        if self.settings().mail_enabled {
            let email: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND disabled_at IS NULL")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some(email) = email {
                let body = format!(
                    "{}\n\n{}{}\n",
                    message.body,
                    self.settings().public_url.trim_end_matches('/'),
                    message.link
                );
                sqlx::query(
                    "INSERT INTO mail_outbox (to_address, subject, body, created_at, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(email)
                .bind(&message.title)
                .bind(body)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Notifies every active user with `role` (e.g. all vendor admins on escalation).
    pub(crate) async fn notify_role(
        &self,
        conn: &mut AnyConnection,
        role: &str,
        message: &Message<'_>,
    ) -> ServiceResult<usize> {
        let users: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE role = $1 AND disabled_at IS NULL ORDER BY id")
                .bind(role)
                .fetch_all(&mut *conn)
                .await?;
        for user in &users {
            self.notify(conn, *user, message).await?;
        }
        Ok(users.len())
    }

    /// Notifies the assigned user, or, when nobody is assigned, everyone with `role`.
    pub(crate) async fn notify_assignee(
        &self,
        conn: &mut AnyConnection,
        assignee: Option<i64>,
        role: &str,
        message: &Message<'_>,
    ) -> ServiceResult<()> {
        match assignee {
            Some(user) => self.notify(conn, user, message).await,
            None => self.notify_role(conn, role, message).await.map(|_| ()),
        }
    }

    /// The signed-in user's notifications, newest first, with the unread count.
    pub async fn inbox(&self, actor: &Actor) -> ServiceResult<Inbox> {
        let unread: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
                .bind(actor.user_id)
                .fetch_one(self.pool())
                .await?;
        let rows = sqlx::query(
            "SELECT id, created_at, kind, title, body, link, read_at FROM notifications WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 50",
        )
        .bind(actor.user_id)
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get("id")?,
                    created_at: r.try_get("created_at")?,
                    kind: r.try_get("kind")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    link: r.try_get("link")?,
                    read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Inbox { unread, items })
    }

    /// The unread count alone (the bell on every page).
    pub async fn unread_notifications(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
                .bind(actor.user_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Marks one notification (or, with `None`, all of them) read. Only the user's own: another
    /// user's id changes nothing. Returns how many were marked.
    pub async fn mark_notifications_read(&self, actor: &Actor, id: Option<i64>) -> ServiceResult<u64> {
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let marked = match id {
            Some(id) => sqlx::query(
                "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND id = $3 AND read_at IS NULL",
            )
            .bind(now)
            .bind(actor.user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?,
            None => {
                sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                    .bind(now)
                    .bind(actor.user_id)
                    .execute(&mut *tx)
                    .await?
            }
        }
        .rows_affected();
        if marked > 0 {
            audit::record(
                &mut tx,
                now,
                AuditEntry {
                    actor_user_id: Some(actor.user_id),
                    action: "notification.read",
                    entity_type: "notification",
                    entity_id: id.map_or_else(|| "all".to_owned(), |id| id.to_string()),
                    before: None,
                    after: Some(serde_json::json!({ "marked": marked })),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(marked)
    }

    /// Sends what is due in the outbox. Each message is first claimed with a lease (so two
    /// instances never send the same one at once); a failure is recorded and retried later with
    /// back-off; a crash mid-send lets the lease run out and the message is sent again.
    pub async fn deliver_mail(&self, smtp: &SmtpSettings) -> ServiceResult<MailRun> {
        use lettre::message::Mailbox;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

        let now = self.now();
        let skip_locked = match self.store().backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claimed = sqlx::query(&format!(
            "UPDATE mail_outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM mail_outbox \
             WHERE sent_at IS NULL AND next_attempt_at <= $2 ORDER BY id LIMIT 50{skip_locked}) \
             RETURNING id, to_address, subject, body, attempts"
        ))
        .bind(now + SEND_LEASE_MILLIS)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut run = MailRun::default();
        if claimed.is_empty() {
            return Ok(run);
        }
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("ATRIUM_SMTP_FROM `{}` is not a mailbox: {e}", smtp.from))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(std::time::Duration::from_secs(15)));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let transport = builder.build();
        for row in claimed {
            let id: i64 = row.try_get("id")?;
            let attempts: i64 = row.try_get("attempts")?;
            let to: String = row.try_get("to_address")?;
            let outcome = match to.parse::<Mailbox>() {
                Ok(to) => match lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(row.try_get::<String, _>("subject")?)
                    .body(row.try_get::<String, _>("body")?)
                {
                    Ok(message) => transport
                        .send(message)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(format!("bad recipient `{to}`: {e}")),
            };
            let done_at = self.now();
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE mail_outbox SET sent_at = $1, attempts = $2, last_error = NULL WHERE id = $3",
                    )
                    .bind(done_at)
                    .bind(attempts + 1)
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                    run.sent += 1;
                }
                Err(error) => {
                    tracing::warn!(id, attempts = attempts + 1, %error, "mail not sent; will retry");
                    sqlx::query(
                        "UPDATE mail_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
                    )
                    .bind(attempts + 1)
                    .bind(done_at + backoff_millis(attempts))
                    .bind(error)
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                    run.failed += 1;
                }
            }
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_millis;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_millis(0), 60_000);
        assert_eq!(backoff_millis(1), 120_000);
        assert_eq!(backoff_millis(5), 32 * 60_000);
        assert_eq!(backoff_millis(6), 60 * 60_000);
        assert_eq!(backoff_millis(40), 60 * 60_000);
    }
}

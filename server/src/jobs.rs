//! Background jobs. The daily tier evaluation runs at start-up and then every hour; it does
//! work only when the day has changed. With several instances on one Postgres database, an
//! advisory lock lets exactly one of them evaluate. The scheduler fires workflow reminders and
//! escalations, expires deal registrations and drains the mail outbox every few seconds; each
//! of those is safe to run on every instance at once (see `service::workflow`).

use anyhow::Context;
use service::notify::SmtpSettings;
use service::{Backend, Portal};
use sqlx::{Connection, Row};
use std::time::Duration;

/// Advisory lock key for the tier evaluation ("ATRM" in ASCII).
pub const TIER_EVALUATION_LOCK: i64 = 0x4154_524d;

/// Evaluates every partner for today unless another instance is doing it.
pub async fn evaluate_tiers_once(portal: &Portal) -> anyhow::Result<()> {
    let today = portal.today();
    match portal.store().backend() {
        Backend::Sqlite => {
            let changed = portal.evaluate_all(today).await?;
            tracing::info!(%today, changed, "tier evaluation finished");
        }
        Backend::Postgres => {
            // The lock belongs to this connection's session, held throughout the evaluation. It
            // is a connection of its own: one held from the pool would leave the evaluation,
            // which reads and writes through the pool, one fewer to share with every request.
            let url = portal
                .store()
                .postgres_url()
                .context("a Postgres store has a URL")?;
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind(TIER_EVALUATION_LOCK)
                .fetch_one(&mut conn)
                .await?
                .try_get("locked")?;
            if !locked {
                tracing::info!("tier evaluation is running on another instance");
                return Ok(());
            }
            let result = portal.evaluate_all(today).await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(TIER_EVALUATION_LOCK)
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            let changed = result?;
            tracing::info!(%today, changed, "tier evaluation finished");
        }
    }
    Ok(())
}

/// Runs [`evaluate_tiers_once`] now and every hour, for the life of the server.
pub async fn run_daily_tier_evaluation(portal: Portal) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        if let Err(e) = evaluate_tiers_once(&portal).await {
            tracing::error!(error = format!("{e:#}"), "tier evaluation failed");
        }
    }
}

/// How often the scheduler looks for due timers, expiries and mail.
const SCHEDULER_TICK: Duration = Duration::from_secs(15);

/// One pass of the scheduler: reminders and escalations, deal expiry, then mail.
pub async fn run_scheduler_once(portal: &Portal, smtp: Option<&SmtpSettings>) -> anyhow::Result<()> {
    // Today's date follows the program's time zone: pick up a version another instance
    // stored, for this pass and for the tier evaluation.
    portal.load_business_calendar().await?;
    let fired = portal.run_workflow_timers().await?;
    let expired = portal.expire_deals(portal.today()).await?;
    if fired + expired > 0 {
        tracing::info!(fired, expired, "scheduler pass");
    }
    if let Some(smtp) = smtp {
        let run = portal.deliver_mail(smtp).await?;
        if run.sent + run.failed > 0 {
            tracing::info!(sent = run.sent, failed = run.failed, "mail outbox pass");
        }
    }
    Ok(())
}

/// Runs [`run_scheduler_once`] every few seconds, for the life of the server.
pub async fn run_scheduler(portal: Portal, smtp: Option<SmtpSettings>) {
    let mut interval = tokio::time::interval(SCHEDULER_TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = run_scheduler_once(&portal, smtp.as_ref()).await {
            tracing::error!(error = format!("{e:#}"), "scheduler pass failed");
        }
    }
}

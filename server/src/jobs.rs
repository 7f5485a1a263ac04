//! Background jobs. The daily tier evaluation runs at start-up and then every hour; it does
//! work only when the day has changed. With several instances on one Postgres database, an
//! advisory lock lets exactly one of them evaluate.

use service::{Backend, Portal};
use sqlx::Row;
use std::time::Duration;

/// Advisory lock key for the tier evaluation ("ATRM" in ASCII).
const TIER_EVALUATION_LOCK: i64 = 0x4154_524d;

/// Evaluates every partner for today unless another instance is doing it.
pub async fn evaluate_tiers_once(portal: &Portal) -> anyhow::Result<()> {
    let today = portal.today();
    match portal.store().backend() {
        Backend::Sqlite => {
            let changed = portal.evaluate_all(today).await?;
            tracing::info!(%today, changed, "tier evaluation finished");
        }
        Backend::Postgres => {
            // The lock belongs to this connection's session: hold the connection throughout.
            let mut conn = portal.store().pool().acquire().await?;
            let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind(TIER_EVALUATION_LOCK)
                .fetch_one(&mut *conn)
                .await?
                .try_get("locked")?;
            if !locked {
                tracing::info!("tier evaluation is running on another instance");
                return Ok(());
            }
            let result = portal.evaluate_all(today).await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(TIER_EVALUATION_LOCK)
                .execute(&mut *conn)
                .await?;
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

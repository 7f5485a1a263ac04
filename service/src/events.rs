//! Live updates: when facts, deals, tiers or statements of a partner change, a [`PartnerEvent`]
//! goes to every open scorecard of that partner and of its distributor.
//!
//! One process: a broadcast channel. Several processes on one Postgres database: the event is
//! published with `pg_notify`, and every process (the publisher too) receives it through its
//! `LISTEN` connection and rebroadcasts it to its own subscribers. Events carry ids only; each
//! subscriber fetches the scorecard through the same authorisation as any other read.

use crate::error::ServiceResult;
use crate::portal::Portal;
use crate::store::Backend;
use domain::scorecard::PartnerEvent;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::broadcast;

/// The Postgres channel events travel on.
const CHANNEL: &str = "atrium_partner_events";

/// How many events a slow subscriber may fall behind before it is told to refetch.
const BUFFER: usize = 1024;

/// The in-process fan-out of partner events.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<PartnerEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl EventBus {
    /// A new subscription; it sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PartnerEvent> {
        self.sender.subscribe()
    }

    /// Open subscriptions (for metrics and benchmarks).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    fn deliver(&self, event: PartnerEvent) {
        // No subscriber is not an error: nobody has a scorecard open.
        let _ = self.sender.send(event);
    }
}

/// Microseconds since the Unix epoch, by the machine's clock (latency is measured against it).
pub fn wall_clock_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Portal {
    /// Tells every open scorecard of these partners (and of their distributors) to refresh.
    /// Called after the change has committed. A failure to publish is logged, never returned:
    /// the change itself has happened, and scorecards refetch on reconnect.
    pub async fn publish_partner_events(&self, partners: impl IntoIterator<Item = i64>, reason: &str) {
        let partners: BTreeSet<i64> = partners.into_iter().collect();
        if let Err(e) = self.try_publish(&partners, reason).await {
            tracing::warn!(error = format!("{e:#}"), "live update not published");
        }
    }

    async fn try_publish(&self, partners: &BTreeSet<i64>, reason: &str) -> ServiceResult<()> {
        for &partner_id in partners {
            let distributor_id: Option<Option<i64>> =
                sqlx::query_scalar("SELECT distributor_id FROM organisations WHERE id = $1")
                    .bind(partner_id)
                    .fetch_optional(self.pool())
                    .await?;
            let event = PartnerEvent {
                partner_id,
                distributor_id: distributor_id.flatten(),
                reason: reason.to_owned(),
                published_at_us: wall_clock_micros(),
            };
            match self.store().backend() {
                Backend::Sqlite => self.events().deliver(event),
                Backend::Postgres => {
                    let payload = serde_json::to_string(&event).map_err(anyhow::Error::from)?;
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(payload)
                        .execute(self.pool())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// On Postgres, starts the task that receives every instance's events and hands them to
    /// this instance's subscribers; it reconnects by itself. Does nothing on SQLite.
    pub fn start_event_listener(&self) {
        let Some(url) = self.store().postgres_url().map(str::to_owned) else {
            return;
        };
        let bus = self.events().clone();
        tokio::spawn(async move {
            loop {
                match listen(&url, &bus).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "event listener lost its connection; reconnecting"
                        );
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

async fn listen(url: &str, bus: &EventBus) -> anyhow::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        match serde_json::from_str::<PartnerEvent>(notification.payload()) {
            Ok(event) => bus.deliver(event),
            Err(e) => tracing::warn!(error = %e, "ignoring a malformed live update"),
        }
    }
}

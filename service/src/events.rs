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
use crate::store::{id_list, ID_CHUNK};
use domain::scorecard::PartnerEvent;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The Postgres channel events travel on.
const CHANNEL: &str = "atrium_partner_events";

/// How many events a slow subscriber may fall behind before it is told to refetch.
const BUFFER: usize = 1024;

/// Events per notification: each is at most about 120 bytes of JSON.
const NOTIFY_BATCH: usize = 40;

/// A published event as every subscriber receives it: one shared copy, its JSON encoded once
/// for all the streams that pass it on (thousands of open scorecards may watch one partner).
#[derive(Debug)]
pub struct LiveEvent {
    /// What changed.
    pub event: PartnerEvent,
    /// `event` as JSON.
    pub json: Box<str>,
}

impl LiveEvent {
    /// The event with its JSON.
    pub fn new(event: PartnerEvent) -> Self {
        let json = serde_json::to_string(&event).unwrap_or_default().into_boxed_str();
        Self { event, json }
    }
}

/// The in-process fan-out of partner events.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<LiveEvent>>,
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
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// Open subscriptions (for metrics and benchmarks).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    fn deliver(&self, event: PartnerEvent) {
        // No subscriber is not an error: nobody has a scorecard open.
        let _ = self.sender.send(Arc::new(LiveEvent::new(event)));
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
        let ids: Vec<i64> = partners.iter().copied().collect();
        // One query per few hundred partners, not one per partner: a rebate run touches thousands.
        let mut distributors: HashMap<i64, Option<i64>> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT id, distributor_id FROM organisations WHERE id IN ({})",
                id_list(chunk)
            );
            for row in sqlx::query(&sql).fetch_all(self.pool()).await? {
                distributors.insert(row.try_get("id")?, row.try_get("distributor_id")?);
            }
        }
        let events = ids.iter().map(|&partner_id| PartnerEvent {
            partner_id,
            distributor_id: distributors.get(&partner_id).copied().flatten(),
            reason: reason.to_owned(),
            published_at_us: wall_clock_micros(),
        });
        match self.store().backend() {
            Backend::Sqlite => events.for_each(|event| self.events().deliver(event)),
            Backend::Postgres => {
                // A notification carries a JSON array of events, well under Postgres's 8,000-byte
                // payload limit.
                let events: Vec<PartnerEvent> = events.collect();
                for batch in events.chunks(NOTIFY_BATCH) {
                    let payload = serde_json::to_string(batch).map_err(anyhow::Error::from)?;
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
        match serde_json::from_str::<Vec<PartnerEvent>>(notification.payload()) {
            Ok(events) => events.into_iter().for_each(|event| bus.deliver(event)),
            Err(e) => tracing::warn!(error = %e, "ignoring a malformed live update"),
        }
    }
}

//! Live updates: when facts, deals, tiers or statements of a partner change, a [`PartnerEvent`]
//! goes to every open scorecard of that partner and of its distributor.
//!
//! One process: a broadcast channel. Several processes on one Postgres database: the event is
//! published with `pg_notify`, and every process (the publisher too) receives it through its
//! `LISTEN` connection and rebroadcasts it to its own subscribers. On SQLite the publisher
//! delivers to its own subscribers and also writes the event to the `live_outbox` table, which
//! a server reads twice a second for what other processes (the command line) published.
//!
//! Events carry ids only; each subscriber fetches the scorecard through the same authorisation
//! as any other read.

use crate::error::ServiceResult;
use crate::portal::Portal;
use crate::store::Backend;
use crate::store::{id_list, ID_CHUNK};
use bytes::Bytes;
use domain::scorecard::PartnerEvent;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// The Postgres channel events travel on.
const CHANNEL: &str = "atrium_partner_events";

/// How many events a slow subscriber may fall behind before it is told to refetch.
const BUFFER: usize = 1024;

/// How often a server on SQLite reads the outbox for other processes' events.
const OUTBOX_POLL: Duration = Duration::from_millis(500);

/// Outbox rows are cleared once they are this old…
const OUTBOX_KEEP_MILLIS: i64 = 10 * 60 * 1000;

/// … checked every this many polls.
const OUTBOX_PURGE_EVERY: u32 = 120;

/// Events per notification: each is at most about 120 bytes of JSON.
const NOTIFY_BATCH: usize = 40;

/// What every subscriber receives: one shared copy (thousands of open scorecards may watch one
/// partner).
#[derive(Debug)]
pub enum LiveEvent {
    /// Something about a partner changed; `json` is the event encoded once for every stream.
    Partner {
        /// What changed.
        event: PartnerEvent,
        /// `event` as JSON.
        json: Box<str>,
        /// The event as the transport writes it (a Server-Sent Events frame), encoded by the
        /// first stream that sends it and shared by all the others.
        wire: OnceLock<Bytes>,
    },
    /// Events may have been missed (this instance lost its link to the others for a moment):
    /// every stream tells its client to fetch again.
    Resync,
    /// A session ended (its user signed out): the streams opened with it close.
    SessionEnded {
        /// The session's token hash, as stored.
        token_hash: Box<str>,
    },
}

impl LiveEvent {
    /// The event with its JSON.
    pub fn partner(event: PartnerEvent) -> Self {
        let json = serde_json::to_string(&event).unwrap_or_default().into_boxed_str();
        LiveEvent::Partner {
            event,
            json,
            wire: OnceLock::new(),
        }
    }
}

/// What travels between processes: in one Postgres notification, or one row of SQLite's
/// `live_outbox`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Notification {
    /// A batch of partner events.
    Partners(Vec<PartnerEvent>),
    /// A session that ended.
    SessionEnded {
        /// Its token hash.
        session_ended: String,
    },
}

/// The in-process fan-out of partner events.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// This process, as the origin of what it writes to SQLite's outbox (its own rows are
    /// already delivered when it reads them back).
    origin: Arc<str>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
            origin: crate::auth::random_token().into(),
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

    fn deliver(&self, event: LiveEvent) {
        // No subscriber is not an error: nobody has a scorecard open.
        let _ = self.sender.send(Arc::new(event));
    }

    fn deliver_notification(&self, notification: Notification) {
        match notification {
            Notification::Partners(events) => events
                .into_iter()
                .for_each(|event| self.deliver(LiveEvent::partner(event))),
            Notification::SessionEnded { session_ended } => self.deliver(LiveEvent::SessionEnded {
                token_hash: session_ended.into_boxed_str(),
            }),
        }
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
        // A notification carries a JSON array of events, well under Postgres's 8,000-byte
        // payload limit.
        let events: Vec<PartnerEvent> = events.collect();
        for batch in events.chunks(NOTIFY_BATCH) {
            self.broadcast_live(Notification::Partners(batch.to_vec()))
                .await?;
        }
        Ok(())
    }

    /// Closes the live streams opened with a session that has just ended, on every instance.
    pub(crate) async fn publish_session_ended(&self, token_hash: &str) {
        let notification = Notification::SessionEnded {
            session_ended: token_hash.to_owned(),
        };
        if let Err(e) = self.broadcast_live(notification).await {
            tracing::warn!(error = format!("{e:#}"), "the end of a session was not published");
        }
    }

    /// Hands a notification to this instance's subscribers (SQLite: one process), or to every
    /// instance's through Postgres.
    async fn broadcast_live(&self, notification: Notification) -> ServiceResult<()> {
        match self.store().backend() {
            Backend::Sqlite => {
                let payload = serde_json::to_string(&notification).map_err(anyhow::Error::from)?;
                // This process's streams first; other processes on the same file read it from
                // the outbox (a server sees what `atrium import` on the command line changed).
                // A failed outbox write costs only those other processes' live update.
                self.events().deliver_notification(notification);
                let written =
                    sqlx::query("INSERT INTO live_outbox (origin, payload, created_at) VALUES ($1, $2, $3)")
                        .bind(&*self.events().origin)
                        .bind(payload)
                        .bind(self.now())
                        .execute(self.pool())
                        .await;
                if let Err(e) = written {
                    tracing::warn!(error = %e, "a live update was not written to the outbox");
                }
            }
            Backend::Postgres => {
                let payload = serde_json::to_string(&notification).map_err(anyhow::Error::from)?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts the task that receives other processes' events and hands them to this process's
    /// subscribers: on Postgres through `LISTEN` (it reconnects by itself), on SQLite by reading
    /// the outbox every [`OUTBOX_POLL`].
    pub fn start_event_listener(&self) {
        let Some(url) = self.store().postgres_url().map(str::to_owned) else {
            let portal = self.clone();
            tokio::spawn(async move { portal.poll_outbox().await });
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

impl Portal {
    /// Delivers what other processes wrote to SQLite's outbox since this one started, and
    /// clears out rows everyone has had time to read.
    async fn poll_outbox(&self) {
        let mut seen: i64 = 0;
        let mut ticks: u32 = 0;
        let mut started = false;
        loop {
            if !started {
                match sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM live_outbox",
                )
                .fetch_one(self.pool())
                .await
                {
                    Ok(newest) => {
                        seen = newest;
                        started = true;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the live-update outbox"),
                }
            } else if let Err(e) = self.deliver_outbox(&mut seen).await {
                tracing::warn!(error = format!("{e:#}"), "cannot read the live-update outbox");
            }
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(OUTBOX_PURGE_EVERY) {
                let result = sqlx::query("DELETE FROM live_outbox WHERE created_at < $1")
                    .bind(self.now() - OUTBOX_KEEP_MILLIS)
                    .execute(self.pool())
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "cannot clear the live-update outbox");
                }
            }
            tokio::time::sleep(OUTBOX_POLL).await;
        }
    }

    async fn deliver_outbox(&self, seen: &mut i64) -> ServiceResult<()> {
        let rows = sqlx::query("SELECT id, origin, payload FROM live_outbox WHERE id > $1 ORDER BY id")
            .bind(*seen)
            .fetch_all(self.pool())
            .await?;
        for row in rows {
            *seen = row.try_get("id")?;
            // Ids only grow (AUTOINCREMENT), so nothing after `seen` is ever missed.
            if row.try_get::<String, _>("origin")? == *self.events().origin {
                continue;
            }
            match serde_json::from_str::<Notification>(&row.try_get::<String, _>("payload")?) {
                Ok(notification) => self.events().deliver_notification(notification),
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed live update"),
            }
        }
        Ok(())
    }
}

async fn listen(url: &str, bus: &EventBus) -> anyhow::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Whatever was published while this instance was not listening (at start-up, or while
    // reconnecting) is caught up by a refetch.
    bus.deliver(LiveEvent::Resync);
    loop {
        // `try_recv` answers `None` when the connection dropped: notifications sent until it is
        // back are lost, so every stream refetches once it is.
        let Some(notification) = listener.try_recv().await? else {
            tracing::warn!("event listener lost its connection; reconnecting");
            // Listening again reconnects now (or fails, and the caller starts over).
            listener.listen(CHANNEL).await?;
            bus.deliver(LiveEvent::Resync);
            continue;
        };
        match serde_json::from_str::<Notification>(notification.payload()) {
            Ok(notification) => bus.deliver_notification(notification),
            Err(e) => tracing::warn!(error = %e, "ignoring a malformed live update"),
        }
    }
}

//! `/api/v1/partners/{id}/scorecard` and the live streams: Server-Sent Events that tell a
//! browser when to fetch a scorecard again.
//!
//! A stream starts with a `ready` event (the client fetches then, so a reconnect catches up on
//! whatever it missed), then sends a `scorecard` event whenever something about the partner,
//! or one of its resellers, changes; `resync` if the client fell too far behind. Events carry
//! ids only; the data is fetched through the scorecard endpoint and its authorisation.

use super::error::{ApiError, ErrorBody};
use super::{parse_id, SignedIn};
use crate::startup::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use domain::identity::{OrganisationKind, Role};
use domain::scorecard::PartnerEvent;
use serde::Serialize;
use service::events::LiveEvent;
use service::{ServiceError, SessionToken};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

/// A partner's scorecard (see `domain::scorecard::Scorecard`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ScorecardResponse(pub domain::scorecard::Scorecard);

/// Which events a stream passes on.
#[derive(Debug, Clone, Copy)]
enum Audience {
    /// Vendor staff: every partner.
    Everyone,
    /// One partner's scorecard: its own events and its resellers'.
    Partner(i64),
    /// A partner user's own organisation only.
    OwnOnly(i64),
}

impl Audience {
    fn admits(self, event: &PartnerEvent) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Partner(id) => event.concerns(id),
            Audience::OwnOnly(id) => event.partner_id == id,
        }
    }
}

/// How often an idle stream sends a comment, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The frame that tells a client to fetch again: it may have missed events.
const RESYNC: &[u8] = b"event: resync\ndata: {}\n\n";

/// One Server-Sent Events frame. `data` is one line (compact JSON), so one `data:` field holds it.
fn frame(name: &str, id: Option<i64>, data: &str) -> Bytes {
    let mut text = String::with_capacity(32 + name.len() + data.len());
    text.push_str("event: ");
    text.push_str(name);
    if let Some(id) = id {
        text.push_str("\nid: ");
        text.push_str(&id.to_string());
    }
    text.push_str("\ndata: ");
    text.push_str(data);
    text.push_str("\n\n");
    Bytes::from(text)
}

/// The session a stream was opened with: the stream ends when the session does.
struct StreamSession {
    /// The session's token hash, to recognise its sign-out.
    token_hash: Box<str>,
    /// When the session expires.
    ends_at: tokio::time::Instant,
}

/// The stream's state between events: kept small, as thousands may be open at once.
struct Subscription {
    receiver: broadcast::Receiver<Arc<LiveEvent>>,
    audience: Audience,
    ready: Option<Bytes>,
    /// When the next keep-alive comment is due. It is moved on only when it fires, so that an
    /// event costs no timer registration (thousands of streams wake for each event).
    keep_alive: Pin<Box<tokio::time::Sleep>>,
    session: Option<StreamSession>,
}

impl Subscription {
    fn new(
        receiver: broadcast::Receiver<Arc<LiveEvent>>,
        audience: Audience,
        ready: Option<Bytes>,
        session: Option<StreamSession>,
    ) -> Self {
        Self {
            receiver,
            audience,
            ready,
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            session,
        }
    }

    /// The next frame to send: `ready` first, then every admitted event, a keep-alive comment
    /// every quarter minute, `resync` after falling behind. `None` ends the stream: the server
    /// is stopping, or the session signed out or expired (checked at each keep-alive).
    async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(ready) = self.ready.take() {
            return Some(ready);
        }
        loop {
            let received = tokio::select! {
                biased;
                received = self.receiver.recv() => received,
                () = self.keep_alive.as_mut() => {
                    let now = tokio::time::Instant::now();
                    if self.session.as_ref().is_some_and(|s| now >= s.ends_at) {
                        return None;
                    }
                    self.keep_alive.as_mut().reset(now + KEEP_ALIVE);
                    return Some(Bytes::from_static(b":\n\n"));
                }
            };
            let live = match received {
                Ok(live) => live,
                Err(RecvError::Lagged(_)) => return Some(Bytes::from_static(RESYNC)),
                Err(RecvError::Closed) => return None,
            };
            match &*live {
                LiveEvent::Partner { event, json, wire } if self.audience.admits(event) => {
                    // Encoded once, by the first stream to send it; the rest share the bytes.
                    let frame = wire.get_or_init(|| frame("scorecard", Some(event.published_at_us), json));
                    return Some(frame.clone());
                }
                LiveEvent::Partner { .. } => continue,
                LiveEvent::Resync => return Some(Bytes::from_static(RESYNC)),
                LiveEvent::SessionEnded { token_hash } => {
                    if self.session.as_ref().is_some_and(|s| s.token_hash == *token_hash) {
                        return None;
                    }
                }
            }
        }
    }
}

/// An event stream response. The frames are written directly (each event's JSON was encoded
/// once when it was published) rather than through a per-client event builder.
async fn event_stream(
    state: &AppState,
    token: Option<&SessionToken>,
    audience: Audience,
    ready: serde_json::Value,
) -> Result<Response, ApiError> {
    let session = match token {
        Some(token) => {
            let remaining = state
                .portal
                .session_remaining_millis(token)
                .await?
                .ok_or(ApiError::Service(ServiceError::Unauthenticated))?;
            Some(StreamSession {
                token_hash: token.hash().into_boxed_str(),
                ends_at: tokio::time::Instant::now()
                    + Duration::from_millis(u64::try_from(remaining).unwrap_or(0)),
            })
        }
        None => None,
    };
    let subscription = Subscription::new(
        state.portal.events().subscribe(),
        audience,
        Some(frame("ready", None, &ready.to_string())),
        session,
    );
    let frames = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let frame = subscription.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), subscription))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}

/// A partner's scorecard: tier and progress, revenue against target, rebates, deal funnel,
/// certifications and (distributors) the resellers' roll-up. 404 unless the caller may see it.
#[utoipa::path(get, path = "/api/v1/partners/{id}/scorecard", tag = "scorecards", security(("session" = [])),
    params(("id" = i64, Path, description = "Partner organisation id")),
    responses(
        (status = 200, description = "The scorecard", body = ScorecardResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such partner, or not visible to the caller", body = ErrorBody),
    ))]
pub(super) async fn get_scorecard(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<ScorecardResponse>, ApiError> {
    let id = parse_id(&id, "partner")?;
    Ok(Json(ScorecardResponse(state.portal.scorecard(&actor, id).await?)))
}

/// Live updates of one partner's scorecard (Server-Sent Events): `ready` on connect, then
/// `scorecard` whenever the partner's or its resellers' figures change. 404 unless the caller
/// may see the partner.
#[utoipa::path(get, path = "/api/v1/partners/{id}/scorecard/stream", tag = "scorecards", security(("session" = [])),
    params(("id" = i64, Path, description = "Partner organisation id")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such partner, or not visible to the caller", body = ErrorBody),
    ))]
pub(super) async fn scorecard_stream(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    token: Option<Extension<SessionToken>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "partner")?;
    state.portal.check_partner_visible(&actor, id).await?;
    // Reseller events reach a distributor's scorecard only for those who may see resellers.
    let audience = if actor.organisation.kind == OrganisationKind::Vendor || actor.role == Role::PartnerAdmin
    {
        Audience::Partner(id)
    } else {
        Audience::OwnOnly(id)
    };
    event_stream(
        &state,
        token.as_deref(),
        audience,
        serde_json::json!({ "partner_id": id }),
    )
    .await
}

/// The signed-in user's live updates (Server-Sent Events): `scorecard` events for every partner
/// the user may see (vendor staff: all; a partner: its own, a distributor's admins also their
/// resellers').
#[utoipa::path(get, path = "/api/v1/events", tag = "scorecards", security(("session" = [])),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub(super) async fn user_events(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    token: Option<Extension<SessionToken>>,
) -> Result<Response, ApiError> {
    let own = actor.organisation.id;
    let audience = match (actor.organisation.kind, actor.role) {
        (OrganisationKind::Vendor, _) => Audience::Everyone,
        (_, Role::PartnerAdmin) => Audience::Partner(own),
        _ => Audience::OwnOnly(own),
    };
    event_stream(
        &state,
        token.as_deref(),
        audience,
        serde_json::json!({ "user_id": actor.user_id }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_admit_only_their_partners() {
        let event = |partner_id, distributor_id| PartnerEvent {
            partner_id,
            distributor_id,
            reason: "facts".into(),
            published_at_us: 0,
        };
        assert!(Audience::Everyone.admits(&event(9, None)));
        assert!(Audience::Partner(3).admits(&event(3, None)));
        assert!(Audience::Partner(3).admits(&event(9, Some(3))));
        assert!(!Audience::Partner(3).admits(&event(9, Some(4))));
        assert!(Audience::OwnOnly(3).admits(&event(3, None)));
        assert!(!Audience::OwnOnly(3).admits(&event(9, Some(3))));
    }

    fn live(partner_id: i64, distributor_id: Option<i64>, at: i64) -> Arc<LiveEvent> {
        Arc::new(LiveEvent::partner(PartnerEvent {
            partner_id,
            distributor_id,
            reason: "sales".into(),
            published_at_us: at,
        }))
    }

    #[tokio::test]
    async fn a_subscription_sends_ready_then_only_its_partners_events() {
        let (sender, receiver) = broadcast::channel(8);
        let mut subscription = Subscription::new(
            receiver,
            Audience::Partner(3),
            Some(frame("ready", None, "{\"partner_id\":3}")),
            None,
        );
        sender.send(live(9, None, 1)).unwrap();
        sender.send(live(9, Some(3), 2)).unwrap();
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from_static(b"event: ready\ndata: {\"partner_id\":3}\n\n")
        );
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from(
                "event: scorecard\nid: 2\ndata: {\"partner_id\":9,\"distributor_id\":3,\"reason\":\"sales\",\"published_at_us\":2}\n\n"
            )
        );
        drop(sender);
        assert_eq!(subscription.next_frame().await, None);
    }

    #[tokio::test]
    async fn a_subscription_that_fell_behind_is_told_to_resync() {
        let (sender, receiver) = broadcast::channel(2);
        let mut subscription = Subscription::new(receiver, Audience::Everyone, None, None);
        for at in 0..5 {
            sender.send(live(1, None, at)).unwrap();
        }
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from_static(b"event: resync\ndata: {}\n\n")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_subscription_sends_keep_alive_comments() {
        let (sender, receiver) = broadcast::channel(2);
        let mut subscription = Subscription::new(receiver, Audience::OwnOnly(1), None, None);
        // Other partners' events do not postpone the keep-alive.
        sender.send(live(2, None, 0)).unwrap();
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from_static(b":\n\n")
        );
    }

    fn session(hash: &str, lifetime: Duration) -> Option<StreamSession> {
        Some(StreamSession {
            token_hash: hash.into(),
            ends_at: tokio::time::Instant::now() + lifetime,
        })
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_session_signs_out_and_resyncs_when_told() {
        let (sender, receiver) = broadcast::channel(8);
        let hour = Duration::from_secs(3600);
        let mut subscription = Subscription::new(receiver, Audience::Everyone, None, session("mine", hour));
        sender.send(Arc::new(LiveEvent::Resync)).unwrap();
        sender
            .send(Arc::new(LiveEvent::SessionEnded {
                token_hash: "someone else's".into(),
            }))
            .unwrap();
        sender.send(live(1, None, 7)).unwrap();
        sender
            .send(Arc::new(LiveEvent::SessionEnded {
                token_hash: "mine".into(),
            }))
            .unwrap();
        sender.send(live(1, None, 8)).unwrap();
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from_static(b"event: resync\ndata: {}\n\n")
        );
        let next = subscription.next_frame().await.unwrap();
        assert!(next.starts_with(b"event: scorecard\nid: 7\n"), "{next:?}");
        assert_eq!(
            subscription.next_frame().await,
            None,
            "signed out: the stream ends"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_ends_when_its_session_expires() {
        let (_sender, receiver) = broadcast::channel::<Arc<LiveEvent>>(2);
        let mut subscription = Subscription::new(
            receiver,
            Audience::Everyone,
            None,
            session("mine", KEEP_ALIVE + KEEP_ALIVE / 2),
        );
        assert_eq!(
            subscription.next_frame().await.unwrap(),
            Bytes::from_static(b":\n\n")
        );
        assert_eq!(subscription.next_frame().await, None);
    }
}

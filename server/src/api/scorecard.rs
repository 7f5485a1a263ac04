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
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use domain::identity::{OrganisationKind, Role};
use domain::scorecard::PartnerEvent;
use futures_util::Stream;
use serde::Serialize;
use std::convert::Infallible;
use std::time::Duration;
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

fn event_stream(
    state: &AppState,
    audience: Audience,
    ready: serde_json::Value,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.portal.events().subscribe();
    let stream =
        futures_util::stream::unfold((receiver, Some(ready)), move |(mut receiver, ready)| async move {
            if let Some(ready) = ready {
                let event = Event::default().event("ready").data(ready.to_string());
                return Some((Ok(event), (receiver, None)));
            }
            loop {
                match receiver.recv().await {
                    Ok(event) if audience.admits(&event) => {
                        let sse = Event::default()
                            .event("scorecard")
                            .id(event.published_at_us.to_string())
                            .data(serde_json::to_string(&event).unwrap_or_default());
                        return Some((Ok(sse), (receiver, None)));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("resync").data("{}")), (receiver, None)))
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
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
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id(&id, "partner")?;
    state.portal.check_partner_visible(&actor, id).await?;
    // Reseller events reach a distributor's scorecard only for those who may see resellers.
    let audience = if actor.organisation.kind == OrganisationKind::Vendor || actor.role == Role::PartnerAdmin
    {
        Audience::Partner(id)
    } else {
        Audience::OwnOnly(id)
    };
    Ok(event_stream(
        &state,
        audience,
        serde_json::json!({ "partner_id": id }),
    ))
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
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let own = actor.organisation.id;
    let audience = match (actor.organisation.kind, actor.role) {
        (OrganisationKind::Vendor, _) => Audience::Everyone,
        (_, Role::PartnerAdmin) => Audience::Partner(own),
        _ => Audience::OwnOnly(own),
    };
    event_stream(&state, audience, serde_json::json!({ "user_id": actor.user_id }))
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
}

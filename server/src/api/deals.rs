//! `/api/v1/deals…`, `/api/v1/notifications…`: deal registration, its decisions, the channel
//! manager's queue, the turnaround report and the notification bell.

use super::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use super::{parse_date, parse_id, SignedIn};
use crate::startup::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::deals::{CustomerKey, DealInput, DealView, Turnaround};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Whether a new registration goes straight to the channel manager.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)] // a misspelt `Submit=true` must not leave a draft unseen
pub struct RegisterQuery {
    /// `true`: submit at once (the default is a draft).
    #[serde(default)]
    pub submit: bool,
}

/// A decision on a registration or its extension.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why; required to reject.
    #[serde(default)]
    pub comment: String,
}

/// Closing a registration as won or lost.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The day it was won or lost, `YYYY-MM-DD` (default today; not in the future).
    #[serde(default)]
    pub on: Option<String>,
}

/// Asking for the one 30-day extension.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// Why more time is needed.
    #[serde(default)]
    pub reason: String,
}

/// A customer to derive the key of.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CustomerKeyQuery {
    /// Company name.
    #[serde(default)]
    pub name: String,
    /// Web domain, URL or e-mail address (optional; wins over the name).
    pub domain: Option<String>,
}

/// A derived customer key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerKeyResponse {
    /// `d:` + registrable domain, or `n:` + normalised name.
    pub customer_key: CustomerKey,
}

/// The signed-in user's notifications.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct InboxResponse(pub service::notify::Inbox);

/// Which notification to mark read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    /// One notification; leave out to mark all read.
    #[serde(default)]
    pub id: Option<i64>,
}

/// How many notifications were marked.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkReadResponse {
    /// Newly read.
    pub marked: u64,
}

/// Register a deal (partners; a distributor may name one of its resellers in `partner_id`).
/// A duplicate of the organisation's own live registration is refused (409, naming it); a
/// conflict with another partner's is saved and flagged for the channel manager.
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", request_body = DealInput, params(RegisterQuery),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Registered (a draft, or submitted with ?submit=true)", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a partner, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "partner_id is not one of the distributor's resellers", body = ErrorBody),
        (status = 409, description = "Duplicate of the organisation's own registration", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
    ))]
pub(super) async fn register_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(body): ApiJson<DealInput>,
) -> Result<Response, ApiError> {
    let deal = state.portal.register_deal(&actor, body, query.submit).await?;
    Ok((StatusCode::CREATED, Json(deal)).into_response())
}

/// Registrations the caller may see: vendor staff all; partners their own; a distributor also
/// its resellers'. Open decisions first, soonest due.
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", security(("session" = [])),
    responses(
        (status = 200, description = "Registrations", body = [DealView]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub(super) async fn list_deals(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<Vec<DealView>>, ApiError> {
    Ok(Json(state.portal.deals(&actor).await?))
}

/// The channel manager's queue: registrations and extensions waiting for a decision, soonest
/// due first, each with conflicting registrations and the first-come suggestion.
#[utoipa::path(get, path = "/api/v1/deals/queue", tag = "deals", security(("session" = [])),
    responses(
        (status = 200, description = "Waiting decisions", body = [DealView]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a channel manager or vendor admin", body = ErrorBody),
    ))]
pub(super) async fn deal_queue(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<Vec<DealView>>, ApiError> {
    Ok(Json(state.portal.deal_queue(&actor).await?))
}

/// Median and 90th-percentile hours to decision and SLA breaches, per workflow (vendor staff).
#[utoipa::path(get, path = "/api/v1/deals/turnaround", tag = "deals", security(("session" = [])),
    responses(
        (status = 200, description = "Turnaround per workflow", body = [Turnaround]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not vendor staff", body = ErrorBody),
    ))]
pub(super) async fn turnaround(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<Vec<Turnaround>>, ApiError> {
    Ok(Json(state.portal.turnaround(&actor).await?))
}

/// The customer key a name and domain give (RULES.md §6), as the registration form previews it.
#[utoipa::path(get, path = "/api/v1/customer-key", tag = "deals", params(CustomerKeyQuery), security(("session" = [])),
    responses(
        (status = 200, description = "The key", body = CustomerKeyResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "No usable name or domain", body = ErrorBody),
    ))]
pub(super) async fn customer_key(
    State(state): State<AppState>,
    SignedIn(_actor): SignedIn,
    ApiQuery(query): ApiQuery<CustomerKeyQuery>,
) -> Result<Json<CustomerKeyResponse>, ApiError> {
    let customer_key = state
        .portal
        .customer_key_preview(&query.name, query.domain.as_deref())?;
    Ok(Json(CustomerKeyResponse { customer_key }))
}

/// One registration with its history; 404 for another organisation's.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals", security(("session" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "The registration", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such deal, or another organisation's", body = ErrorBody),
    ))]
pub(super) async fn get_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<DealView>, ApiError> {
    let id = parse_id(&id, "deal")?;
    Ok(Json(state.portal.deal(&actor, id).await?))
}

/// Submit a draft for a decision; the SLA clock starts.
#[utoipa::path(post, path = "/api/v1/deals/{id}/submit", tag = "deals", security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Submitted", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the registering partner, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such deal, or another organisation's", body = ErrorBody),
        (status = 409, description = "Not a draft, or now a duplicate", body = ErrorBody),
    ))]
pub(super) async fn submit_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<DealView>, ApiError> {
    let id = parse_id(&id, "deal")?;
    Ok(Json(state.portal.submit_deal(&actor, id).await?))
}

async fn decide(
    state: AppState,
    actor: service::Actor,
    id: String,
    approve: bool,
    comment: &str,
) -> Result<Json<DealView>, ApiError> {
    let id = parse_id(&id, "deal")?;
    Ok(Json(
        state.portal.decide_deal(&actor, id, approve, comment).await?,
    ))
}

/// Approve the waiting decision: the registration (protection starts for the days of the
/// partner's tier) or a requested extension (30 more days).
#[utoipa::path(post, path = "/api/v1/deals/{id}/approve", tag = "deals", request_body = DecisionRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Approved", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a channel manager or vendor admin", body = ErrorBody),
        (status = 404, description = "No such deal", body = ErrorBody),
        (status = 409, description = "No decision waiting", body = ErrorBody),
    ))]
pub(super) async fn approve_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DealView>, ApiError> {
    decide(state, actor, id, true, &body.comment).await
}

/// Reject the waiting decision, with a comment.
#[utoipa::path(post, path = "/api/v1/deals/{id}/reject", tag = "deals", request_body = DecisionRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Rejected", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a channel manager or vendor admin", body = ErrorBody),
        (status = 404, description = "No such deal", body = ErrorBody),
        (status = 409, description = "No decision waiting", body = ErrorBody),
        (status = 422, description = "No comment", body = ErrorBody),
    ))]
pub(super) async fn reject_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DealView>, ApiError> {
    decide(state, actor, id, false, &body.comment).await
}

async fn close(
    state: AppState,
    actor: service::Actor,
    id: String,
    won: bool,
    on: Option<String>,
) -> Result<Json<DealView>, ApiError> {
    let id = parse_id(&id, "deal")?;
    let on = on.as_deref().map(|d| parse_date(d, "on")).transpose()?;
    Ok(Json(state.portal.close_deal(&actor, id, won, on).await?))
}

/// Mark an approved registration won; it counts towards the partner's `deals_won`.
#[utoipa::path(post, path = "/api/v1/deals/{id}/won", tag = "deals", request_body = CloseRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Won", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such deal, or another organisation's", body = ErrorBody),
        (status = 409, description = "Not approved", body = ErrorBody),
        (status = 422, description = "Date in the future or malformed", body = ErrorBody),
    ))]
pub(super) async fn won_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<DealView>, ApiError> {
    close(state, actor, id, true, body.on).await
}

/// Mark an approved registration lost.
#[utoipa::path(post, path = "/api/v1/deals/{id}/lost", tag = "deals", request_body = CloseRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Lost", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such deal, or another organisation's", body = ErrorBody),
        (status = 409, description = "Not approved", body = ErrorBody),
        (status = 422, description = "Date in the future or malformed", body = ErrorBody),
    ))]
pub(super) async fn lost_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<DealView>, ApiError> {
    close(state, actor, id, false, body.on).await
}

/// Ask for the one 30-day extension of an approved registration before it expires; it waits
/// for a decision like the registration did.
#[utoipa::path(post, path = "/api/v1/deals/{id}/extend", tag = "deals", request_body = ExtensionRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Extension requested", body = DealView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the registering partner", body = ErrorBody),
        (status = 404, description = "No such deal, or another organisation's", body = ErrorBody),
        (status = 409, description = "Not approved, expired, already extended or already requested", body = ErrorBody),
    ))]
pub(super) async fn extend_deal(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtensionRequest>,
) -> Result<Json<DealView>, ApiError> {
    let id = parse_id(&id, "deal")?;
    Ok(Json(
        state.portal.request_extension(&actor, id, &body.reason).await?,
    ))
}

/// The signed-in user's notifications (newest 50) and unread count.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("session" = [])),
    responses(
        (status = 200, description = "Unread count and notifications", body = InboxResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub(super) async fn notifications(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<service::notify::Inbox>, ApiError> {
    Ok(Json(state.portal.inbox(&actor).await?))
}

/// Mark one notification (or all) read. Other users' ids change nothing.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = MarkReadRequest,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "How many were marked", body = MarkReadResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub(super) async fn mark_read(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiJson(body): ApiJson<MarkReadRequest>,
) -> Result<Json<MarkReadResponse>, ApiError> {
    let marked = state.portal.mark_notifications_read(&actor, body.id).await?;
    Ok(Json(MarkReadResponse { marked }))
}

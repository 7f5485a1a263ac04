//! The REST API under `/api/v1`. Every handler is a thin adapter: it decodes the request,
//! calls the service layer and encodes the answer. The OpenAPI document at
//! `/api/v1/openapi.json` is generated from these handlers.

pub mod audit;
pub mod dashboard;
pub mod deals;
pub mod error;
pub mod scorecard;

use crate::startup::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use domain::content::{
    Audience, AudienceInput, ContentInput, ContentItem, ContentKind, ContentStatus, ContentSummary, Room,
    RoomListing, RoomSummary,
};
use domain::identity::{
    Me, OrganisationKind, OrganisationSummary, PartnerType, Persona, Region, Role, TierBadge, TierRank,
};
use error::{ApiBytes, ApiError, ApiJson, ApiOptionalJson, ApiQuery, ErrorBody, ErrorDetail};
use serde::{Deserialize, Serialize};
use service::web::{cookie_value, ClientIp, CookieSecurity, CsrfToken, SESSION_COOKIE};
use service::{Actor, ServiceError, SessionToken};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The signed-in actor; requests without a valid session are answered `401`.
pub struct SignedIn(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(SignedIn)
            .ok_or(ApiError::Service(ServiceError::Unauthenticated))
    }
}

/// Ids that are not numbers name nothing: 404, like any other unknown id.
pub(crate) fn parse_id(raw: &str, what: &'static str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::Service(ServiceError::NotFound(what)))
}

/// Credentials for `POST /api/v1/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A new session: who signed in, and the token to echo in `X-CSRF-Token` on every
/// state-changing request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The signed-in user.
    pub me: Me,
    /// The CSRF token (also in the `atrium_csrf` cookie).
    pub csrf_token: String,
}

/// Sign in. Sets the `atrium_session` cookie (HttpOnly) with a new session id.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        (status = 403, description = "Cross-site request", body = ErrorBody),
        (status = 422, description = "Malformed e-mail or missing field", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    ))]
async fn create_session(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    Extension(security): Extension<CookieSecurity>,
    Extension(CsrfToken(csrf_token)): Extension<CsrfToken>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let previous = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| cookie_value(h, SESSION_COOKIE))
        .map(SessionToken::from_cookie);
    let (token, me) = state
        .portal
        .sign_in(&body.email, &body.password, &ip, previous.as_ref())
        .await?;
    let mut response = Json(SessionResponse { me, csrf_token }).into_response();
    let cookie = security.session_cookie(token.as_str(), state.portal.session_ttl_secs());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
    ))]
async fn delete_session(
    State(state): State<AppState>,
    Extension(security): Extension<CookieSecurity>,
    SignedIn(_actor): SignedIn,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| cookie_value(h, SESSION_COOKIE))
    {
        state.portal.sign_out(&SessionToken::from_cookie(token)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&security.clear_session_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("session" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn me(State(state): State<AppState>, SignedIn(actor): SignedIn) -> Result<Json<Me>, ApiError> {
    Ok(Json(state.portal.me(&actor).await?))
}

/// The rooms, with how many items the caller can see in each.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "content", security(("session" = [])),
    responses(
        (status = 200, description = "The four rooms", body = [RoomSummary]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn rooms(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<Vec<RoomSummary>>, ApiError> {
    Ok(Json(state.portal.rooms(&actor).await?))
}

/// A room's published items that the caller can see, newest first.
#[utoipa::path(get, path = "/api/v1/rooms/{slug}/items", tag = "content", security(("session" = [])),
    params(("slug" = String, Path, description = "`sales`, `presales`, `marketing` or `post-sales`")),
    responses(
        (status = 200, description = "The room and its items", body = RoomListing),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
    ))]
async fn room_items(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(slug): Path<String>,
) -> Result<Json<RoomListing>, ApiError> {
    Ok(Json(state.portal.room(&actor, &slug).await?))
}

/// Every item, drafts included (content publishers and vendor admins).
#[utoipa::path(get, path = "/api/v1/content", tag = "content", security(("session" = [])),
    responses(
        (status = 200, description = "All items, most recently changed first", body = [ContentSummary]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a publisher", body = ErrorBody),
    ))]
async fn list_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
) -> Result<Json<Vec<ContentSummary>>, ApiError> {
    Ok(Json(state.portal.studio_items(&actor).await?))
}

/// Create a draft item (content publishers and vendor admins).
#[utoipa::path(post, path = "/api/v1/content", tag = "content", request_body = ContentInput,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Created as a draft", body = ContentItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a publisher, or missing CSRF token", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn create_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiJson(input): ApiJson<ContentInput>,
) -> Result<Response, ApiError> {
    let item = state.portal.create_content(&actor, input).await?;
    let location = format!("/api/v1/content/{}", item.summary.id);
    let mut response = (StatusCode::CREATED, Json(item)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// One item with its rendered body. Items the caller may not see answer 404.
#[utoipa::path(get, path = "/api/v1/content/{id}", tag = "content", security(("session" = [])),
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = ContentItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such item, or not targeted at the caller", body = ErrorBody),
    ))]
async fn get_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<ContentItem>, ApiError> {
    let id = parse_id(&id, "content item")?;
    Ok(Json(state.portal.content_item(&actor, id).await?))
}

/// Change some fields of an item; fields left out keep their value.
#[utoipa::path(patch, path = "/api/v1/content/{id}", tag = "content", request_body = ContentInput,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 200, description = "The updated item", body = ContentItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a publisher, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn update_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ContentInput>,
) -> Result<Json<ContentItem>, ApiError> {
    let id = parse_id(&id, "content item")?;
    Ok(Json(state.portal.update_content(&actor, id, input).await?))
}

async fn set_status(
    state: &AppState,
    actor: &Actor,
    id: &str,
    status: ContentStatus,
) -> Result<Json<ContentItem>, ApiError> {
    let id = parse_id(id, "content item")?;
    Ok(Json(state.portal.set_content_status(actor, id, status).await?))
}

/// Publish an item: partners in its audience see it on their next page load.
#[utoipa::path(post, path = "/api/v1/content/{id}/publish", tag = "content",
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 200, description = "The published item", body = ContentItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a publisher, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
    ))]
async fn publish_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<ContentItem>, ApiError> {
    set_status(&state, &actor, &id, ContentStatus::Published).await
}

/// Take an item back to draft: partners no longer see it.
#[utoipa::path(post, path = "/api/v1/content/{id}/unpublish", tag = "content",
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item, now a draft", body = ContentItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a publisher, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
    ))]
async fn unpublish_content(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<ContentItem>, ApiError> {
    set_status(&state, &actor, &id, ContentStatus::Draft).await
}

/// The program in force, with every version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramResponse {
    /// First day of the version in force.
    pub effective_from: String,
    /// The program document (docs/program-format.md).
    #[schema(value_type = Object)]
    pub program: domain::program::ProgramDoc,
    /// Every version, newest first.
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<domain::scorecard::ProgramVersionView>,
}

/// A new program version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramVersionRequest {
    /// First day it applies (`YYYY-MM-DD`, today or later).
    pub effective_from: String,
    /// The program document (docs/program-format.md).
    #[schema(value_type = Object)]
    pub program: domain::program::ProgramDoc,
}

/// A partner's tier: effective, computed and qualified tier, progress, unlocks, history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct TierResponse(pub domain::scorecard::PartnerTierView);

/// A manual tier for a partner until a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierOverrideRequest {
    /// Tier rank to hold.
    pub tier: i64,
    /// Why (shown in the partner's tier history).
    pub reason: String,
    /// First day the override no longer applies (`YYYY-MM-DD`, after today).
    pub ends_on: String,
}

pub(crate) fn parse_date(text: &str, field: &str) -> Result<domain::calendar::Date, ApiError> {
    domain::calendar::Date::parse(text, field).map_err(|e| ApiError::Service(ServiceError::Invalid(e)))
}

/// The program in force and its versions.
#[utoipa::path(get, path = "/api/v1/program", tag = "program", security(("session" = [])),
    responses(
        (status = 200, description = "The program in force", body = ProgramResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No program yet", body = ErrorBody),
    ))]
async fn get_program(
    State(state): State<AppState>,
    SignedIn(_actor): SignedIn,
) -> Result<Json<ProgramResponse>, ApiError> {
    let stored = state
        .portal
        .program_on(state.portal.today())
        .await?
        .ok_or(ServiceError::NotFound("program"))?;
    Ok(Json(ProgramResponse {
        effective_from: stored.effective_from.to_string(),
        program: stored.document,
        versions: state.portal.program_versions().await?,
    }))
}

/// Add a program version from a date (vendor admins). Earlier decisions keep their version.
#[utoipa::path(put, path = "/api/v1/program", tag = "program", request_body = ProgramVersionRequest,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The new version", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a vendor admin, or missing CSRF token", body = ErrorBody),
        (status = 422, description = "Invalid program; `field` names the path, e.g. program.tiers[2].criteria[0].threshold", body = ErrorBody),
    ))]
async fn put_program(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiJson(body): ApiJson<ProgramVersionRequest>,
) -> Result<Response, ApiError> {
    let effective_from = parse_date(&body.effective_from, "effective_from")?;
    let version = state
        .portal
        .put_program(&actor, effective_from, body.program)
        .await?;
    Ok((StatusCode::CREATED, Json(version)).into_response())
}

/// A partner's tier. Partners see their own; a distributor's admins also their resellers'.
#[utoipa::path(get, path = "/api/v1/partners/{id}/tier", tag = "program", security(("session" = [])),
    params(("id" = i64, Path, description = "Partner organisation id")),
    responses(
        (status = 200, description = "The partner's tier", body = TierResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such partner, or not visible to the caller", body = ErrorBody),
    ))]
async fn partner_tier(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<TierResponse>, ApiError> {
    let id = parse_id(&id, "partner")?;
    Ok(Json(TierResponse(state.portal.partner_tier(&actor, id).await?)))
}

/// Override a partner's tier until a date (vendor admins).
#[utoipa::path(post, path = "/api/v1/partners/{id}/tier-override", tag = "program", request_body = TierOverrideRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Partner organisation id")),
    responses(
        (status = 200, description = "The partner's tier with the override", body = TierResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a vendor admin, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such partner", body = ErrorBody),
        (status = 422, description = "Invalid tier, reason or end date", body = ErrorBody),
    ))]
async fn override_tier(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TierOverrideRequest>,
) -> Result<Json<TierResponse>, ApiError> {
    let id = parse_id(&id, "partner")?;
    let ends_on = parse_date(&body.ends_on, "ends_on")?;
    Ok(Json(TierResponse(
        state
            .portal
            .override_tier(&actor, id, body.tier, &body.reason, ends_on)
            .await?,
    )))
}

/// Query of the import endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)] // a misspelt `Preview=true` must not store the file
pub struct ImportQuery {
    /// Validate and report without storing anything.
    #[serde(default)]
    pub preview: bool,
}

/// What an import did: rows read, inserted, updated, unchanged; with errors (the first 1,000
/// listed, `error_count` and `rows_with_errors` counting them all), nothing is stored.
/// `warnings` (left out when empty) names what did not finish after the rows were stored.
/// A preview of a valid file adds `preview`: `totals` (name and value pairs), `sample` (the
/// first 10 rows as they would be stored, `{row, cells}` under `columns`) and `changes` (the
/// first 10 stored rows it would change: `{row, key, fields: [{field, before, after}]}`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ImportResponse(pub service::imports::ImportReport);

#[derive(Clone, Copy)]
enum FactKind {
    Sales,
    Certifications,
}

/// The longest `Idempotency-Key` kept.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An `Idempotency-Key` as sent: visible ASCII characters (a UUID, say), at most
/// [`MAX_IDEMPOTENCY_KEY`]. An empty or unreadable key is refused rather than ignored or kept,
/// so that a client never believes a retry is safe when it is not, and an unset variable in a
/// script does not become one key shared by every import.
fn idempotency_key(value: &header::HeaderValue) -> Result<String, ApiError> {
    let refused = |why: String| ApiError::Plain {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_idempotency_key",
        message: format!(
            "the Idempotency-Key {why}: send 1 to {MAX_IDEMPOTENCY_KEY} \
             visible ASCII characters, such as a UUID"
        ),
        field: Some("Idempotency-Key".to_owned()),
    };
    let Ok(key) = value.to_str().map(str::trim) else {
        return Err(refused("holds characters other than ASCII".to_owned()));
    };
    if key.is_empty() {
        return Err(refused("is empty".to_owned()));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refused(format!(
            "`{}` holds spaces or characters other than ASCII",
            key.escape_default()
        )));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(refused(format!("is {} characters long", key.len())));
    }
    Ok(key.to_owned())
}

/// One path for both imports: format from the content type, the Idempotency-Key answered from
/// memory when the same request comes again, a refused file answered 422 with its report.
async fn import_facts(
    state: AppState,
    actor: Actor,
    kind: FactKind,
    preview: bool,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use service::imports::{IdempotentAnswer, ImportFormat, KeyClaim};
    let endpoint = match kind {
        FactKind::Sales => "sales.import",
        FactKind::Certifications => "certifications.import",
    };
    // Only someone who may import learns what the endpoint accepts.
    service::imports::require_importer(&actor)?;
    let key = headers.get("idempotency-key").map(idempotency_key).transpose()?;
    // No type (or an empty one) is CSV, as curl and most scripts send a file; a type that is
    // not text at all is refused like any other the endpoint does not read.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").trim())
        .filter(|v| !v.is_empty())
        .unwrap_or("text/csv");
    let format = ImportFormat::from_content_type(content_type).ok_or_else(|| ApiError::Plain {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        message: format!(
            "`{content_type}` is not a file of rows: send CSV as `text/csv` or JSON lines as `application/x-ndjson`"
        ),
        field: Some("Content-Type".to_owned()),
    })?;
    let request_hash = service::imports::import_request_fingerprint(preview, format, &body);
    let reused = || {
        ApiError::plain(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )
    };
    let mut claim = None;
    if let Some(key) = &key {
        // The claim commits, and its guard is made, in a task of its own: should the client hang
        // up in between, the guard is dropped with the task's answer, which nobody awaits any
        // more, and that releases the key rather than leaving it "still running".
        let claiming = tokio::spawn({
            let (portal, actor, key, request_hash) = (
                state.portal.clone(),
                actor.clone(),
                key.clone(),
                request_hash.clone(),
            );
            async move {
                let found = portal
                    .claim_idempotency_key(&actor, &key, endpoint, &request_hash)
                    .await?;
                let guard = matches!(found, KeyClaim::Claimed).then(|| UnansweredClaim {
                    portal,
                    actor,
                    key,
                    endpoint,
                    settled: false,
                });
                Ok::<_, ApiError>((found, guard))
            }
        });
        let (found, guard) = claiming.await.map_err(|e| {
            ApiError::Service(service::ServiceError::Internal(anyhow::anyhow!(
                "claiming the Idempotency-Key stopped: {e}"
            )))
        })??;
        claim = guard;
        match found {
            KeyClaim::Claimed => {}
            KeyClaim::InProgress {
                request_hash: running,
            } if running != request_hash => return Err(reused()),
            KeyClaim::InProgress { .. } => {
                return Err(ApiError::plain(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_progress",
                    "a request with this Idempotency-Key is still running; retry once it has answered",
                ))
            }
            KeyClaim::Answered(answer) if answer.request_hash != request_hash => return Err(reused()),
            KeyClaim::Answered(answer) => {
                let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
                return Ok((
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    answer.response,
                )
                    .into_response());
            }
        }
    }
    // Once started, the import runs to its answer even if the client hangs up: rows committed
    // with no answer kept under the key would make the client's retry import again and answer
    // otherwise ("0 new, N unchanged"), and the tiers of the partners it touched would not be
    // re-evaluated at once.
    let import = tokio::spawn(async move {
        let (status, text) = match answer_import(&state, &actor, kind, preview, format, &body).await {
            Ok(answer) => answer,
            Err(e) => {
                // No answer to keep: a retry with the key should run. The error is the one to
                // report.
                if let Some(claim) = claim.take() {
                    claim.release().await;
                }
                return Err(e);
            }
        };
        if let Some(key) = &key {
            let answer = IdempotentAnswer {
                request_hash,
                status: status.as_u16(),
                response: text.clone(),
            };
            state
                .portal
                .remember_answer(&actor, key, endpoint, &answer)
                .await?;
            if let Some(claim) = claim.take() {
                claim.answered();
            }
        }
        Ok((status, text))
    });
    let (status, text) = import.await.map_err(|e| {
        ApiError::Service(service::ServiceError::Internal(anyhow::anyhow!(
            "the import stopped: {e}"
        )))
    })??;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// A claimed Idempotency-Key whose request has not answered yet. When the import stops with no
/// answer (it failed, or its task ended without finishing, which rolls the import back), the key
/// is released, so that the client's retry runs at once instead of hearing "still running"
/// until the claim counts as abandoned.
struct UnansweredClaim {
    portal: service::Portal,
    actor: Actor,
    key: String,
    endpoint: &'static str,
    settled: bool,
}

impl UnansweredClaim {
    /// Releases the key now: the request failed with no answer to keep.
    async fn release(mut self) {
        self.settled = true;
        let _ = self
            .portal
            .release_idempotency_key(&self.actor, &self.key, self.endpoint)
            .await;
    }

    /// The request answered, and its answer is kept under the key.
    fn answered(mut self) {
        self.settled = true;
    }
}

impl Drop for UnansweredClaim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (portal, actor, key, endpoint) = (
            self.portal.clone(),
            self.actor.clone(),
            std::mem::take(&mut self.key),
            self.endpoint,
        );
        runtime.spawn(async move {
            if let Err(e) = portal.release_idempotency_key(&actor, &key, endpoint).await {
                tracing::warn!(error = %e, "releasing the key of a dropped import failed; it is taken over once abandoned");
            }
        });
    }
}

/// Imports (or previews) a request's file and answers with the report: `200`, or `422` naming
/// the first error with every error in `report`.
async fn answer_import(
    state: &AppState,
    actor: &Actor,
    kind: FactKind,
    preview: bool,
    format: service::imports::ImportFormat,
    body: &[u8],
) -> Result<(StatusCode, String), ApiError> {
    use service::imports::{no_progress, ImportReport};
    let report = match domain::facts::decode_import(body) {
        Err(e) => {
            service::imports::require_importer(actor)?;
            ImportReport::default().refused(vec![e])
        }
        Ok(text) => match kind {
            FactKind::Sales => {
                state
                    .portal
                    .import_sales(Some(actor), text, format, preview, &no_progress)
                    .await?
            }
            FactKind::Certifications => {
                state
                    .portal
                    .import_certifications(Some(actor), text, format, preview, &no_progress)
                    .await?
            }
        },
    };
    let (status, response) = if report.errors.is_empty() {
        (StatusCode::OK, serde_json::to_value(&report).unwrap_or_default())
    } else {
        let first = &report.errors[0];
        let message = if first.row == 0 {
            format!("{}; nothing was stored", first.located())
        } else {
            let rows = report.rows_with_errors;
            format!(
                "{rows} row{} ha{} errors; nothing was stored",
                if rows == 1 { "" } else { "s" },
                if rows == 1 { "s" } else { "ve" }
            )
        };
        let field = if first.row == 0 {
            first.field.clone()
        } else {
            format!("rows[{}].{}", first.row, first.field)
        };
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({
                "error": { "code": "invalid", "message": message, "field": field },
                "report": report,
            }),
        )
    };
    Ok((status, response.to_string()))
}

/// Import sales (CSV with a header row, or JSON lines with `Content-Type: application/x-ndjson`).
/// Columns: external_id, partner_id, distributor_id (optional), booked_on, product_line, amount,
/// currency, customer_name (optional). Vendor admins and finance.
#[utoipa::path(post, path = "/api/v1/sales/import", tag = "facts", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Imported (or previewed)", body = ImportResponse),
        (status = 400, description = "An Idempotency-Key that is empty, longer than 255 characters, or not visible ASCII (`invalid_idempotency_key`)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed to import, or missing CSRF token", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with a different request, or its first request still running", body = ErrorBody),
        (status = 415, description = "`Content-Type` is neither CSV nor JSON lines", body = ErrorBody),
        (status = 422, description = "Rows with errors; nothing stored; `report.errors` names each row and field (the first 1,000; `report.error_count` counts them all)", body = ErrorBody),
    ))]
async fn import_sales(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, ApiError> {
    import_facts(state, actor, FactKind::Sales, query.preview, headers, body).await
}

/// Import certifications. Columns: partner_id, person, code, earned_on, expires_on (exclusive).
#[utoipa::path(post, path = "/api/v1/certifications/import", tag = "facts", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Imported (or previewed)", body = ImportResponse),
        (status = 400, description = "An Idempotency-Key that is empty, longer than 255 characters, or not visible ASCII (`invalid_idempotency_key`)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed to import, or missing CSRF token", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with a different request, or its first request still running", body = ErrorBody),
        (status = 415, description = "`Content-Type` is neither CSV nor JSON lines", body = ErrorBody),
        (status = 422, description = "Rows with errors; nothing stored", body = ErrorBody),
    ))]
async fn import_certifications(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, ApiError> {
    import_facts(
        state,
        actor,
        FactKind::Certifications,
        query.preview,
        headers,
        body,
    )
    .await
}

/// A rebate run request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebateRunRequest {
    /// The fiscal period, e.g. `2026-Q2`.
    pub period: String,
}

/// Filters and paging for a statement list; empty or missing means any.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatementListQuery {
    /// A fiscal period such as `2026-Q2`.
    #[serde(default)]
    pub period: String,
    /// `draft`, `approved`, `paid` separated by commas, or `all`.
    #[serde(default)]
    pub status: String,
    /// Text in the partner's name, in any case.
    #[serde(default)]
    pub partner: String,
    /// Statements to skip (default 0).
    #[serde(default)]
    pub offset: String,
    /// Statements per page, 1 to 1000 (default 500). `X-Total-Count` says how many match.
    #[serde(default)]
    pub limit: String,
}

/// Statements a list answers unless `limit` says otherwise.
pub const DEFAULT_STATEMENT_LIMIT: usize = 500;

/// Approving every draft of a period: the count and total the approver was shown.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodApprovalRequest {
    /// How many drafts (the `count` of `GET …/drafts`).
    pub count: usize,
    /// Their total in minor units (the `total` of `GET …/drafts`).
    pub total: i64,
}

/// Approving one draft: optionally the total the approver was shown, so that a draft
/// recomputed since is refused rather than approved at a sum nobody saw.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementApprovalRequest {
    /// The statement's `total` in minor units, as the approver saw it.
    #[serde(default)]
    pub total: Option<i64>,
}

/// Filter for the payout export.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// A fiscal period such as `2026-Q2`.
    pub period: Option<String>,
    /// `draft`, `approved`, `paid` separated by commas, or `all`; approved and paid when left
    /// out (a draft can still change and is not owed).
    pub status: Option<String>,
}

/// Marking a statement paid.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// The payout system's reference.
    pub payout_reference: String,
}

/// A rebate statement with its explanation lines.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct StatementResponse(pub domain::rebates::StatementView);

fn parse_period(text: &str) -> Result<domain::period::FiscalPeriod, ApiError> {
    domain::period::FiscalPeriod::parse(text, "period")
        .map_err(|e| ApiError::Service(ServiceError::Invalid(e)))
}

/// Run rebates for a period: drafts are created or recomputed; approved and paid statements
/// stay as they are (finance, vendor admins).
#[utoipa::path(post, path = "/api/v1/rebates/runs", tag = "rebates", request_body = RebateRunRequest,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The run: drafts, locked statements left alone, draft total", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No program in force at the period's end", body = ErrorBody),
        (status = 422, description = "Not a period like 2026-Q2, or one that has not begun", body = ErrorBody),
    ))]
async fn run_rebates(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiJson(body): ApiJson<RebateRunRequest>,
) -> Result<Response, ApiError> {
    let period = parse_period(&body.period)?;
    let summary = state.portal.run_rebates(Some(&actor), period).await?;
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

/// Statements the caller may see: vendor staff all; partners their own (a distributor's
/// admins also their resellers'). One page, newest period first, then by partner name; the
/// `X-Total-Count` header says how many match in all.
#[utoipa::path(get, path = "/api/v1/rebates/statements", tag = "rebates", params(StatementListQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "Statements, newest period first", body = [StatementResponse],
            headers(("X-Total-Count" = usize, description = "Statements matching the filter, on every page"))),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Vendor staff other than finance and vendor admins", body = ErrorBody),
        (status = 422, description = "A malformed period, status, offset or limit; `field` names it", body = ErrorBody),
    ))]
async fn list_statements(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<StatementListQuery>,
) -> Result<Response, ApiError> {
    let filter = service::rebates::StatementFilter::parse(
        &query.period,
        &query.status,
        &query.partner,
        &query.offset,
        &query.limit,
        Some(DEFAULT_STATEMENT_LIMIT),
    )
    .map_err(|e| ApiError::Service(ServiceError::Invalid(e)))?;
    let page = state.portal.statements(&actor, &filter).await?;
    Ok((
        [(HeaderName::from_static("x-total-count"), page.total.to_string())],
        Json(page.statements),
    )
        .into_response())
}

/// The drafts of a period finance can approve together: how many, and their total.
#[utoipa::path(get, path = "/api/v1/rebates/periods/{period}/drafts", tag = "rebates", security(("session" = [])),
    params(("period" = String, Path, description = "A fiscal period such as 2026-Q2")),
    responses(
        (status = 200, description = "`count`, `total` (minor units), `currency`, `minor_digits`, and `approvable_from` while the period runs", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance", body = ErrorBody),
        (status = 409, description = "A partner has two drafts, drafts beside an approved statement, or drafts of the ended period computed while it ran: run the period again", body = ErrorBody),
        (status = 422, description = "Not a period like 2026-Q2", body = ErrorBody),
    ))]
async fn period_drafts(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(period): Path<String>,
) -> Result<Json<domain::rebates::PeriodDrafts>, ApiError> {
    let period = parse_period(&period)?;
    Ok(Json(state.portal.period_drafts(&actor, period).await?))
}

/// Approve every draft of a period in one step (finance, vendor admins). The body repeats the
/// count and total of `GET …/drafts`; if the drafts have changed since, nothing is approved.
#[utoipa::path(post, path = "/api/v1/rebates/periods/{period}/approve", tag = "rebates",
    request_body = PeriodApprovalRequest, security(("session" = [], "csrf" = [])),
    params(("period" = String, Path, description = "A fiscal period such as 2026-Q2")),
    responses(
        (status = 200, description = "`approved` statements and their `total`", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance, or missing CSRF token", body = ErrorBody),
        (status = 409, description = "The drafts changed since they were read, the period is still running, or there are none", body = ErrorBody),
        (status = 422, description = "Not a period like 2026-Q2", body = ErrorBody),
    ))]
async fn approve_period(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(period): Path<String>,
    ApiJson(body): ApiJson<PeriodApprovalRequest>,
) -> Result<Json<domain::rebates::PeriodApproval>, ApiError> {
    let period = parse_period(&period)?;
    Ok(Json(
        state
            .portal
            .approve_period(&actor, period, body.count, body.total)
            .await?,
    ))
}

/// Statements of a period as CSV for the payout system (finance, vendor admins): approved and
/// paid ones unless `status` says otherwise.
#[utoipa::path(get, path = "/api/v1/rebates/statements.csv", tag = "rebates", params(ExportQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance", body = ErrorBody),
        (status = 422, description = "Missing or malformed period, or an unknown status", body = ErrorBody),
    ))]
async fn export_statements(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    // Finance's export: anyone else is refused before their query is read.
    service::rebates::require_finance(&actor)?;
    let period = parse_period(query.period.as_deref().unwrap_or_default())?;
    let statuses = match query.status.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(text) => {
            service::rebates::parse_statuses(text).map_err(|e| ApiError::Service(ServiceError::Invalid(e)))?
        }
        None => service::rebates::PAYOUT_STATUSES.to_vec(),
    };
    let csv = state.portal.statements_csv(&actor, period, &statuses).await?;
    Ok(csv_attachment(&format!("rebate-statements-{period}.csv"), csv))
}

/// One statement with every explanation line; 404 if the caller may not see it.
#[utoipa::path(get, path = "/api/v1/rebates/statements/{id}", tag = "rebates", security(("session" = [])),
    params(("id" = i64, Path, description = "Statement id")),
    responses(
        (status = 200, description = "The statement", body = StatementResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Vendor staff other than finance and vendor admins", body = ErrorBody),
        (status = 404, description = "No such statement, or another organisation's", body = ErrorBody),
    ))]
async fn get_statement(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<StatementResponse>, ApiError> {
    let id = parse_id(&id, "statement")?;
    Ok(Json(StatementResponse(state.portal.statement(&actor, id).await?)))
}

/// Approve a draft statement: it never changes again (finance, vendor admins).
#[utoipa::path(post, path = "/api/v1/rebates/statements/{id}/approve", tag = "rebates",
    request_body(content = Option<StatementApprovalRequest>, description = "Optional: the total the approver was shown"),
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Statement id")),
    responses(
        (status = 200, description = "Approved", body = StatementResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such statement", body = ErrorBody),
        (status = 409, description = "Not a draft; its period still running; beside an approved statement of its period; computed while its period ran (run the period again); or its total is not the `total` sent", body = ErrorBody),
        (status = 422, description = "A `total` that is not a whole number of minor units", body = ErrorBody),
    ))]
async fn approve_statement(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiOptionalJson(body): ApiOptionalJson<StatementApprovalRequest>,
) -> Result<Json<StatementResponse>, ApiError> {
    let id = parse_id(&id, "statement")?;
    Ok(Json(StatementResponse(
        state.portal.approve_statement(&actor, id, body.total).await?,
    )))
}

/// Mark an approved statement paid, with the payout reference (finance, vendor admins).
#[utoipa::path(post, path = "/api/v1/rebates/statements/{id}/pay", tag = "rebates", request_body = PayoutRequest,
    security(("session" = [], "csrf" = [])),
    params(("id" = i64, Path, description = "Statement id")),
    responses(
        (status = 200, description = "Paid", body = StatementResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not finance, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such statement", body = ErrorBody),
        (status = 409, description = "Not approved yet, or already paid", body = ErrorBody),
        (status = 422, description = "Missing payout reference", body = ErrorBody),
    ))]
async fn pay_statement(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PayoutRequest>,
) -> Result<Json<StatementResponse>, ApiError> {
    let id = parse_id(&id, "statement")?;
    Ok(Json(StatementResponse(
        state
            .portal
            .pay_statement(&actor, id, &body.payout_reference)
            .await?,
    )))
}

/// The sales behind a statement's basis, marking those the plan counted; 404 if the caller
/// may not see the statement.
#[utoipa::path(get, path = "/api/v1/rebates/statements/{id}/sales", tag = "rebates", security(("session" = [])),
    params(("id" = i64, Path, description = "Statement id")),
    responses(
        (status = 200, description = "The sales of the partner in the statement's period", body = [Object]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Vendor staff other than finance and vendor admins", body = ErrorBody),
        (status = 404, description = "No such statement, or another organisation's", body = ErrorBody),
    ))]
async fn statement_sales(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Vec<domain::rebates::BasisSale>>, ApiError> {
    let id = parse_id(&id, "statement")?;
    Ok(Json(state.portal.statement_sales(&actor, id).await?))
}

/// The sales behind a statement's basis as CSV (the drill-down's rows, all of them); 404 if
/// the caller may not see the statement.
#[utoipa::path(get, path = "/api/v1/rebates/statements/{id}/sales.csv", tag = "rebates", security(("session" = [])),
    params(("id" = i64, Path, description = "Statement id")),
    responses(
        (status = 200, description = "CSV: external_id, booked_on, product_line, amount, in_basis", content_type = "text/csv", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Vendor staff other than finance and vendor admins", body = ErrorBody),
        (status = 404, description = "No such statement, or another organisation's", body = ErrorBody),
    ))]
async fn export_statement_sales(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "statement")?;
    let csv = state.portal.statement_sales_csv(&actor, id).await?;
    Ok(csv_attachment(&format!("statement-{id}-sales.csv"), csv))
}

/// A CSV file to download: its type, and the name a browser saves it under. `file_name` is
/// built from ids, periods and known table names, never from what a user typed.
pub(crate) fn csv_attachment(file_name: &str, csv: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        csv,
    )
        .into_response()
}

/// The current period's rebate so far (nothing stored). `null` when the partner's tier has no plan.
#[utoipa::path(get, path = "/api/v1/partners/{id}/rebate-forecast", tag = "rebates", security(("session" = [])),
    params(("id" = i64, Path, description = "Partner organisation id")),
    responses(
        (status = 200, description = "The forecast, or null", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such partner, or not visible to the caller", body = ErrorBody),
    ))]
async fn rebate_forecast(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Option<domain::rebates::RebateForecast>>, ApiError> {
    let id = parse_id(&id, "partner")?;
    Ok(Json(state.portal.rebate_forecast(&actor, id).await?))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document")))]
async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "Set by POST /api/v1/session.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "Required on every state-changing request: the csrf_token returned at sign-in, equal to the atrium_csrf cookie.",
            ))),
        );
    }
}

/// The OpenAPI description of `/api/v1`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Atrium API", description = "Partner relationship management: sessions, rooms, content and the channel program."),
    paths(create_session, delete_session, me, rooms, room_items, list_content, create_content, get_content,
          update_content, publish_content, unpublish_content, get_program, put_program, partner_tier, import_sales, import_certifications, run_rebates, list_statements, period_drafts, approve_period, export_statements, get_statement,
          approve_statement, pay_statement, statement_sales, export_statement_sales, rebate_forecast,
          override_tier, deals::register_deal, deals::list_deals, deals::deal_queue, deals::turnaround,
          deals::customer_key, deals::get_deal, deals::submit_deal, deals::approve_deal, deals::reject_deal,
          dashboard::get_dashboard, dashboard::export_table, scorecard::get_scorecard, scorecard::scorecard_stream, scorecard::user_events, deals::won_deal, deals::lost_deal, deals::extend_deal, deals::notifications, deals::mark_read,
          audit::audit_log, openapi_document),
    components(schemas(audit::AuditResponse, dashboard::DashboardResponse, scorecard::ScorecardResponse, deals::DecisionRequest, deals::CloseRequest, deals::ExtensionRequest, deals::CustomerKeyResponse,
        deals::InboxResponse, deals::MarkReadRequest, deals::MarkReadResponse, domain::deals::DealInput,
        domain::deals::DealView, domain::deals::DealStatus, domain::deals::DealEvent, domain::deals::DealConflict,
        domain::deals::CustomerKey, domain::deals::Turnaround, RebateRunRequest, PeriodApprovalRequest, StatementApprovalRequest, PayoutRequest, StatementResponse, ImportResponse, ProgramResponse, ProgramVersionRequest, TierResponse, TierOverrideRequest, ErrorBody, ErrorDetail, SignInRequest, SessionResponse, Me, OrganisationSummary,
        OrganisationKind, PartnerType, Persona, Region, Role, TierBadge, TierRank, Room, RoomSummary, RoomListing,
        ContentKind, ContentStatus, ContentSummary, ContentItem, ContentInput, AudienceInput, Audience)),
    modifiers(&SecuritySchemes),
    tags((name = "session", description = "Signing in and out"), (name = "content", description = "Rooms and content"),
         (name = "program", description = "The channel program, tiers and overrides"),
         (name = "facts", description = "Sales and certification imports"),
         (name = "rebates", description = "Rebate runs, statements, approval and payout"),
         (name = "deals", description = "Deal registration, decisions against SLA clocks, turnaround"),
         (name = "notifications", description = "The notification bell"),
         (name = "scorecards", description = "Partner scorecards and their live updates"),
         (name = "dashboard", description = "The vendor's channel dashboard and its CSV exports"),
         (name = "audit", description = "The audit log: who changed what, when, before and after"),
         (name = "meta", description = "About the API"))
)]
pub struct ApiDoc;

async fn no_such_endpoint() -> ApiError {
    ApiError::plain(
        StatusCode::NOT_FOUND,
        "no_such_endpoint",
        "there is no such API endpoint; see /api/v1/openapi.json",
    )
}

/// Imports carry whole files: up to 512 MiB instead of the default 2 MiB.
fn large_uploads() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(512 * 1024 * 1024)
}

/// The live-update streams (full paths under `/api/v1`). They are mounted outside the response
/// compression layer: an event stream is never compressed, and the compressing body wrapper,
/// sized for every encoder it might use, would otherwise be allocated for each open stream.
pub fn stream_router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/partners/{id}/scorecard/stream",
            get(scorecard::scorecard_stream),
        )
        .route("/api/v1/events", get(scorecard::user_events))
}

/// The `/api/v1` routes (the live-update streams are in [`stream_router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", post(create_session).delete(delete_session))
        .route("/me", get(me))
        .route("/rooms", get(rooms))
        .route("/rooms/{slug}/items", get(room_items))
        .route("/content", get(list_content).post(create_content))
        .route("/content/{id}", get(get_content).patch(update_content))
        .route("/content/{id}/publish", post(publish_content))
        .route("/content/{id}/unpublish", post(unpublish_content))
        .route("/program", get(get_program).put(put_program))
        .route("/partners/{id}/tier", get(partner_tier))
        .route("/partners/{id}/tier-override", post(override_tier))
        .route("/sales/import", post(import_sales).layer(large_uploads()))
        .route(
            "/certifications/import",
            post(import_certifications).layer(large_uploads()),
        )
        .route("/rebates/runs", post(run_rebates))
        .route("/rebates/statements", get(list_statements))
        .route("/rebates/periods/{period}/drafts", get(period_drafts))
        .route("/rebates/periods/{period}/approve", post(approve_period))
        .route("/rebates/statements.csv", get(export_statements))
        .route("/rebates/statements/{id}", get(get_statement))
        .route("/rebates/statements/{id}/approve", post(approve_statement))
        .route("/rebates/statements/{id}/sales", get(statement_sales))
        .route("/rebates/statements/{id}/sales.csv", get(export_statement_sales))
        .route("/partners/{id}/rebate-forecast", get(rebate_forecast))
        .route("/rebates/statements/{id}/pay", post(pay_statement))
        .route("/deals", post(deals::register_deal).get(deals::list_deals))
        .route("/deals/queue", get(deals::deal_queue))
        .route("/deals/turnaround", get(deals::turnaround))
        .route("/deals/{id}", get(deals::get_deal))
        .route("/deals/{id}/submit", post(deals::submit_deal))
        .route("/deals/{id}/approve", post(deals::approve_deal))
        .route("/deals/{id}/reject", post(deals::reject_deal))
        .route("/deals/{id}/won", post(deals::won_deal))
        .route("/deals/{id}/lost", post(deals::lost_deal))
        .route("/deals/{id}/extend", post(deals::extend_deal))
        .route("/customer-key", get(deals::customer_key))
        .route("/partners/{id}/scorecard", get(scorecard::get_scorecard))
        .route("/dashboard", get(dashboard::get_dashboard))
        .route("/dashboard/export/{table}", get(dashboard::export_table))
        .route("/notifications", get(deals::notifications))
        .route("/notifications/read", post(deals::mark_read))
        .route("/audit", get(audit::audit_log))
        .route("/openapi.json", get(openapi_document))
        .fallback(no_such_endpoint)
}

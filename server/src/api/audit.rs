//! `/api/v1/audit`: the audit log, newest first — who imported what, who approved and paid
//! what, and every other change, with the values before and after.

use super::error::{ApiError, ApiQuery, ErrorBody};
use super::SignedIn;
use crate::startup::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use service::audit::AuditQuery;
use service::ServiceError;
use utoipa::{IntoParams, ToSchema};

/// Filters and paging; empty or missing means any.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Actions starting with this, e.g. `statement.` (approvals, payouts) or `sales.import`.
    #[serde(default)]
    pub action: String,
    /// One kind of thing, e.g. `rebate_statement`, `sale`, `deal`.
    #[serde(default)]
    pub entity_type: String,
    /// One thing's id (with `entity_type`).
    #[serde(default)]
    pub entity_id: String,
    /// Entries older than this id: the previous page's `older`.
    #[serde(default)]
    pub before: String,
    /// Entries per page, 1 to 500 (default 50).
    #[serde(default)]
    pub limit: String,
}

/// A page of the audit log (see `domain::audit::AuditPage`): `entries` newest first, each with
/// `id`, `occurred_at` (Unix ms), `actor` (e-mail; null for the command line or the system),
/// `action`, `entity_type`, `entity_id`, `before` and `after`; `older` is the `before` of the
/// next page (null on the last).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct AuditResponse(pub domain::audit::AuditPage);

/// The audit log (vendor admins and finance).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), security(("session" = [])),
    responses(
        (status = 200, description = "A page of the log, newest first", body = AuditResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a vendor admin or finance", body = ErrorBody),
        (status = 422, description = "A malformed `before` or `limit`; `field` names it", body = ErrorBody),
    ))]
pub(super) async fn audit_log(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditResponse>, ApiError> {
    let query = AuditQuery::parse(
        &params.action,
        &params.entity_type,
        &params.entity_id,
        &params.before,
        &params.limit,
    )
    .map_err(|e| ApiError::Service(ServiceError::Invalid(e)))?;
    Ok(Json(AuditResponse(state.portal.audit_log(&actor, &query).await?)))
}

//! `/api/v1/dashboard`: the vendor's channel dashboard and the CSV export of each of its tables.

use super::error::{ApiError, ApiQuery, ErrorBody};
use super::SignedIn;
use crate::startup::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use service::dashboard::DashboardFilter;
use service::ServiceError;
use utoipa::{IntoParams, ToSchema};

/// Filters; empty or missing means all.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DashboardQuery {
    /// Fiscal period, e.g. `2026-Q2` (default: the current one).
    #[serde(default)]
    pub period: String,
    /// Region code: `na`, `latam`, `emea`, `apac`.
    #[serde(default)]
    pub region: String,
    /// Partner type code, e.g. `reseller`.
    #[serde(default, rename = "type")]
    pub partner_type: String,
    /// Effective tier rank.
    #[serde(default)]
    pub tier: String,
}

impl DashboardQuery {
    fn filter(&self) -> Result<DashboardFilter, ApiError> {
        DashboardFilter::parse(&self.period, &self.region, &self.partner_type, &self.tier)
            .map_err(|e| ApiError::Service(ServiceError::Invalid(e)))
    }
}

/// The channel dashboard (see `domain::dashboard::ChannelDashboard`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct DashboardResponse(pub domain::dashboard::ChannelDashboard);

/// Revenue by tier, partner type and region; partners within reach of the next tier and at risk
/// of downgrade; approval turnaround (vendor staff).
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "dashboard", params(DashboardQuery), security(("session" = [])),
    responses(
        (status = 200, description = "The dashboard", body = DashboardResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not vendor staff", body = ErrorBody),
        (status = 422, description = "A filter is malformed; `field` names it", body = ErrorBody),
    ))]
pub(super) async fn get_dashboard(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Json<DashboardResponse>, ApiError> {
    let filter = query.filter()?;
    Ok(Json(DashboardResponse(
        state.portal.channel_dashboard(&actor, &filter).await?,
    )))
}

/// One table of the dashboard as CSV: `revenue-by-tier`, `revenue-by-type`, `revenue-by-region`,
/// `within-reach`, `at-risk` or `approvals` (vendor staff).
#[utoipa::path(get, path = "/api/v1/dashboard/export/{table}", tag = "dashboard", params(DashboardQuery,
        ("table" = String, Path, description = "Which table")),
    security(("session" = [])),
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not vendor staff", body = ErrorBody),
        (status = 404, description = "No such table", body = ErrorBody),
        (status = 422, description = "A filter is malformed", body = ErrorBody),
    ))]
pub(super) async fn export_table(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path(table): Path<String>,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter()?;
    let dashboard = state.portal.channel_dashboard(&actor, &filter).await?;
    let rows = dashboard
        .table(&table)
        .ok_or(ApiError::Service(ServiceError::NotFound("table")))?;
    Ok(super::csv_attachment(
        &format!("{table}-{}.csv", dashboard.period),
        domain::dashboard::to_csv(&rows),
    ))
}

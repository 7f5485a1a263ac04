//! Liveness and readiness for load balancers and orchestrators.

use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// `/healthz`: the process is up and answering.
pub async fn live() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers, so requests can be served.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.portal.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

//! Benchmark baseline: the least a server can do to answer "the sales room" — a bare axum
//! handler that reads the same published rows with sqlx and returns them as JSON, with no
//! session, targeting, rendering or middleware. `scripts/bench.sh` loads it side by side with
//! `atrium serve` and reports Atrium's requests/s as a ratio of this one.
//!
//! Usage: `room-baseline DATABASE_URL ADDRESS`

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sqlx::{AnyPool, Row};

async fn sales_room(State(pool): State<AnyPool>) -> Json<Vec<(i64, String, String, String)>> {
    let rows = sqlx::query(
        "SELECT id, kind, title, summary FROM content_items WHERE room = 'sales' AND status = 'published' \
         ORDER BY published_at DESC, id DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    Json(
        rows.iter()
            .map(|r| {
                (
                    r.get::<i64, _>("id"),
                    r.get("kind"),
                    r.get("title"),
                    r.get("summary"),
                )
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://data/atrium.db".into());
    let address = args.next().unwrap_or_else(|| "127.0.0.1:3900".into());
    let store = service::Store::connect(&url).await?;
    let app = Router::new()
        .route("/rooms/sales", get(sales_room))
        .with_state(store.pool().clone());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

//! The OpenAPI document describes every endpoint, and every endpoint it describes exists.

use crate::helpers::{spawn_app, Db};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

crate::on_both_databases!(the_document_matches_the_routes);

async fn the_document_matches_the_routes(db: Db) {
    let mut app = spawn_app(db).await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has responses"
                );
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "POST /api/v1/session",
        "DELETE /api/v1/session",
        "GET /api/v1/me",
        "GET /api/v1/rooms",
        "GET /api/v1/rooms/{slug}/items",
        "GET /api/v1/content",
        "POST /api/v1/content",
        "GET /api/v1/content/{id}",
        "PATCH /api/v1/content/{id}",
        "POST /api/v1/content/{id}/publish",
        "POST /api/v1/content/{id}/unpublish",
        "GET /api/v1/program",
        "PUT /api/v1/program",
        "GET /api/v1/partners/{id}/tier",
        "POST /api/v1/partners/{id}/tier-override",
        "POST /api/v1/sales/import",
        "POST /api/v1/certifications/import",
        "POST /api/v1/rebates/runs",
        "GET /api/v1/rebates/statements",
        "GET /api/v1/rebates/periods/{period}/drafts",
        "POST /api/v1/rebates/periods/{period}/approve",
        "GET /api/v1/rebates/statements.csv",
        "GET /api/v1/rebates/statements/{id}",
        "POST /api/v1/rebates/statements/{id}/approve",
        "POST /api/v1/rebates/statements/{id}/pay",
        "GET /api/v1/rebates/statements/{id}/sales",
        "GET /api/v1/rebates/statements/{id}/sales.csv",
        "GET /api/v1/partners/{id}/rebate-forecast",
        "POST /api/v1/deals",
        "GET /api/v1/deals",
        "GET /api/v1/deals/queue",
        "GET /api/v1/deals/turnaround",
        "GET /api/v1/deals/{id}",
        "POST /api/v1/deals/{id}/submit",
        "POST /api/v1/deals/{id}/approve",
        "POST /api/v1/deals/{id}/reject",
        "POST /api/v1/deals/{id}/won",
        "POST /api/v1/deals/{id}/lost",
        "POST /api/v1/deals/{id}/extend",
        "GET /api/v1/customer-key",
        "GET /api/v1/notifications",
        "POST /api/v1/notifications/read",
        "GET /api/v1/partners/{id}/scorecard",
        "GET /api/v1/partners/{id}/scorecard/stream",
        "GET /api/v1/events",
        "GET /api/v1/dashboard",
        "GET /api/v1/dashboard/export/{table}",
        "GET /api/v1/audit",
        "GET /api/v1/openapi.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);

    // Every documented operation is routed: it never answers "no such endpoint" or 405.
    app.sign_in("publisher@acme.test").await;
    let client = reqwest::Client::new();
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{slug}", "sales")
            .replace("{id}", "1")
            .replace("{table}", "at-risk")
            .replace("{period}", "2026-Q2");
        let response = client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{op}");
        if response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap_or_default().starts_with("text/event-stream"))
        {
            // A live stream never ends; answering with one means it is routed.
            continue;
        }
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no_such_endpoint"),
            "{op} is documented but not routed"
        );
    }
    // Schemas referenced by the operations are defined.
    for schema in [
        "ContentItem",
        "ContentInput",
        "RoomListing",
        "Me",
        "ErrorBody",
        "SessionResponse",
        "DealView",
        "DealInput",
        "Turnaround",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    app.cleanup().await;
}

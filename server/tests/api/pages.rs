//! Server-rendered pages: the sign-in guard and what a partner sees before any script runs.

use crate::helpers::{spawn_app, Db, TestApp, DEMO_PASSWORD};
use reqwest::StatusCode;

crate::on_both_databases!(
    portal_pages_need_a_session,
    rooms_render_on_the_server,
    sign_in_form_works_without_script,
    new_pages_render_whole_on_the_server,
    many_pages_at_once_all_render_whole
);

async fn portal_pages_need_a_session(db: Db) {
    let app = spawn_app(db).await;
    for path in [
        "/",
        "/rooms/sales",
        "/items/1",
        "/studio",
        "/me",
        "/tier",
        "/deals",
        "/deals/new",
        "/deals/1",
        "/notifications",
        "/scorecard",
        "/partners/2/scorecard",
        "/dashboard",
        "/audit",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    let login = app.get("/login").await;
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.unwrap();
    assert!(html.contains("<label for=\"email\">"), "labelled inputs");
    assert!(
        html.contains("name=\"csrf_token\""),
        "the form carries a CSRF token"
    );
    app.cleanup().await;
}

async fn rooms_render_on_the_server(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("sales@northwind.test").await;
    let home = app.get("/").await;
    assert_eq!(home.headers()["location"], "/rooms/sales");
    let response = app.get("/rooms/sales").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Selling Acme SD-WAN to mid-market retail"),
        "items are in the first response"
    );
    assert!(!html.contains("2027 pricing preview"), "drafts are not");
    assert!(html.contains("Northwind Systems"));
    let other = app.get("/rooms/marketing").await.text().await.unwrap();
    assert!(other.contains("Retail networking spend outlook 2027"));
    let id = app.item_id("Selling Acme SD-WAN to mid-market retail").await;
    let item = app.get(&format!("/items/{id}")).await.text().await.unwrap();
    assert!(item.contains("<h2>Who to call</h2>"), "the body is rendered");
    app.cleanup().await;
}

async fn sign_in_form_works_without_script(db: Db) {
    let app = spawn_app(db).await;
    // The first visit issues the CSRF cookie that the form echoes.
    let page = app.get("/login").await.text().await.unwrap();
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let response = app
        .post_form(
            "/rpc/sign_in",
            &[
                ("csrf_token", &token),
                ("email", "presales@northwind.test"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await;
    assert!(
        response.status().is_redirection() || response.status() == StatusCode::OK,
        "{}",
        response.status()
    );
    assert_eq!(app.get("/api/v1/me").await.status(), StatusCode::OK);
    app.cleanup().await;
}

/// A page's whole body, or why it did not arrive within 30 seconds (pages take well under one).
async fn whole_page(client: &TestApp, path: &str) -> Result<String, String> {
    let mut response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(30), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            Ok(Ok(None)) => return Ok(String::from_utf8(body).expect("pages are UTF-8")),
            Ok(Err(e)) => return Err(format!("{e:?}")),
            Err(_) => {
                // Where it stopped tells which part of the page never finished.
                let text = String::from_utf8_lossy(&body);
                let tail_from = text.len().saturating_sub(600);
                let tail_from = (tail_from..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                return Err(format!(
                    "no end after 30 seconds, {} bytes in; they end: {}",
                    body.len(),
                    &text[tail_from..]
                ));
            }
        }
    }
}

/// Every page finishes its server-rendered stream (no part left waiting) and shows its content
/// before any script runs.
async fn new_pages_render_whole_on_the_server(db: Db) {
    let app = spawn_app(db).await;
    let cases: [(&str, &str, &str); 10] = [
        ("sales@northwind.test", "/deals", "Globex Corporation"),
        ("sales@northwind.test", "/deals/new", "Register deal"),
        (
            "sales@northwind.test",
            "/scorecard",
            "Revenue, trailing 12 months",
        ),
        ("sales@northwind.test", "/rooms/sales", "12-month revenue"),
        ("sales@northwind.test", "/notifications", "Notifications"),
        ("cm@acme.test", "/deals", "Conflicts with #"),
        ("cm@acme.test", "/dashboard", "Revenue by partner type"),
        ("admin@contoso.test", "/scorecard", "Your resellers"),
        ("finance@acme.test", "/audit", "session.sign_in"),
        ("admin@northwind.test", "/audit", "Not available to your role"),
    ];
    for (email, path, expected) in cases {
        let mut client = app.another_client();
        client.sign_in(email).await;
        // A page that stops mid-body is rendered afresh by the server (`server/src/render.rs`)
        // well within the 30 seconds allowed here.
        let html = whole_page(&client, path)
            .await
            .unwrap_or_else(|e| panic!("{email} {path}: the page did not finish: {e}"));
        assert!(
            html.contains(expected),
            "{email} {path}: `{expected}` is in the first response"
        );
        // The stream's last word on unfinished parts must be "none".
        let unfinished = html
            .rsplit("__INCOMPLETE_CHUNKS=")
            .next()
            .filter(|_| html.contains("__INCOMPLETE_CHUNKS="));
        assert!(
            unfinished.is_none_or(|rest| rest.starts_with("[]")),
            "{email} {path}: a part of the page never finished rendering"
        );
    }
    app.cleanup().await;
}

/// Far more pages at once than the pool has connections: every one renders whole, with its
/// content and without a failed part. A page whose code held one connection while it waited
/// for another once stalled them all for the ten-second acquire timeout, and the scorecard card
/// of each then said "something went wrong".
async fn many_pages_at_once_all_render_whole(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("sales@northwind.test").await;
    let app = std::sync::Arc::new(app);
    let cases = [
        ("/rooms/sales", "Selling Acme SD-WAN to mid-market retail"),
        ("/rooms/marketing", "Retail networking spend outlook 2027"),
    ];
    for round in 0..2 {
        let pages = (0..64).map(|i| {
            let app = app.clone();
            let (path, expected) = cases[i % cases.len()];
            tokio::spawn(async move {
                let html = whole_page(&app, path)
                    .await
                    .unwrap_or_else(|e| panic!("round {round}, page {i} {path}: {e}"));
                assert!(
                    html.contains(expected),
                    "round {round}, page {i} {path}: `{expected}` is missing"
                );
                // A resource that failed is sent to the browser as `{"Err":…}`.
                if let Some(at) = html.find(r#"{\"Err\":"#) {
                    panic!(
                        "round {round}, page {i} {path}: a part failed: {}",
                        html.get(at..(at + 200).min(html.len())).unwrap_or_default()
                    );
                }
            })
        });
        for page in futures_util::future::join_all(pages).await {
            page.expect("the page's task finished");
        }
    }
    std::sync::Arc::try_unwrap(app)
        .ok()
        .expect("every request has finished")
        .cleanup()
        .await;
}

//! Signing in and out, rate limiting, CSRF, health.

use crate::helpers::{error_code, spawn_app, spawn_app_with, Db, DEMO_PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use service::PortalSettings;

crate::on_both_databases!(
    sign_in_sets_a_hardened_cookie_and_me_answers,
    wrong_credentials_are_refused_alike,
    malformed_sign_in_names_the_field,
    repeated_failures_are_rate_limited,
    sign_out_ends_the_session,
    sign_in_issues_a_new_session_id,
    state_changes_need_the_csrf_token,
    cross_site_origins_are_refused,
    health_and_readiness_answer,
    sign_in_writes_the_audit_log,
);

async fn sign_in_sets_a_hardened_cookie_and_me_answers(db: Db) {
    let app = spawn_app(db).await;
    let response = app.sign_in_raw("  Sales@Northwind.test ", DEMO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("atrium_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    // Plain-http localhost: no Secure, or the browser would drop the cookie.
    assert!(!session.contains("Secure"), "{session}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["me"]["email"], "sales@northwind.test");
    assert_eq!(body["me"]["home_path"], "/rooms/sales");
    assert!(body["csrf_token"].as_str().unwrap().len() >= 32);

    let me: serde_json::Value = app.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["role"], "partner_user");
    assert_eq!(me["persona"], "sales");
    assert_eq!(me["organisation"]["name"], "Northwind Systems");
    assert_eq!(me["organisation"]["partner_type"], "reseller");
    assert_eq!(me["organisation"]["tier"]["name"], "Gold");
    assert_eq!(me["vendor_name"], "Acme Networks");
    app.cleanup().await;
}

async fn wrong_credentials_are_refused_alike(db: Db) {
    let app = spawn_app(db).await;
    let wrong_password = error_code(
        app.sign_in_raw("sales@northwind.test", "nope").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_user = error_code(
        app.sign_in_raw("nobody@northwind.test", "nope").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong_password["code"], "bad_credentials");
    // The same answer either way: sign-in does not reveal who has an account.
    assert_eq!(wrong_password, unknown_user);
    error_code(app.get("/api/v1/me").await, StatusCode::UNAUTHORIZED).await;
    app.cleanup().await;
}

async fn malformed_sign_in_names_the_field(db: Db) {
    let app = spawn_app(db).await;
    let e = error_code(
        app.sign_in_raw("not-an-email", "x").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "email");
    let e = error_code(
        app.another_client()
            .post_json("/api/v1/session", &json!({ "email": "a@b.test" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "password");
    app.cleanup().await;
}

async fn repeated_failures_are_rate_limited(db: Db) {
    let settings = PortalSettings {
        max_failures_per_email: 3,
        ..PortalSettings::default()
    };
    let app = spawn_app_with(db, settings).await;
    for _ in 0..3 {
        error_code(
            app.sign_in_raw("sales@northwind.test", "wrong").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Even the right password is refused until the window passes.
    let response = app.sign_in_raw("sales@northwind.test", DEMO_PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60, "{retry_after}");
    let e = error_code(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(e["code"], "rate_limited");
    // Another account is not locked out by someone guessing this one.
    assert_eq!(
        app.sign_in_raw("presales@northwind.test", DEMO_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    app.cleanup().await;
}

async fn sign_out_ends_the_session(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("sales@northwind.test").await;
    assert_eq!(app.get("/api/v1/me").await.status(), StatusCode::OK);
    let response = app.delete("/api/v1/session").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    error_code(app.get("/api/v1/me").await, StatusCode::UNAUTHORIZED).await;
    error_code(app.delete("/api/v1/session").await, StatusCode::UNAUTHORIZED).await;
    app.cleanup().await;
}

async fn sign_in_issues_a_new_session_id(db: Db) {
    let app = spawn_app(db).await;
    let first = app.sign_in_raw("sales@northwind.test", DEMO_PASSWORD).await;
    let old_cookie = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("atrium_session="))
        .unwrap();
    // Signing in again from the same browser replaces the session.
    assert_eq!(
        app.sign_in_raw("sales@northwind.test", DEMO_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let stale = crate::helpers::client()
        .get(app.url("/api/v1/me"))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    error_code(stale, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.get("/api/v1/me").await.status(), StatusCode::OK);
    app.cleanup().await;
}

async fn state_changes_need_the_csrf_token(db: Db) {
    let mut app = spawn_app(db).await;
    let draft = json!({ "title": "T", "summary": "S", "room": "sales", "kind": "playbook", "body": "B" });
    // Without a session an API call is told to sign in, whatever its token.
    let e = error_code(
        app.post_json("/api/v1/content", &draft).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(e["code"], "unauthenticated");
    app.sign_in("publisher@acme.test").await;
    let token = app.csrf_token();

    app.forget_csrf();
    let e = error_code(
        app.post_json("/api/v1/content", &draft).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(e["code"], "csrf_failed");
    app.set_csrf("a-token-that-is-long-enough-but-not-the-right-one");
    error_code(
        app.post_json("/api/v1/content", &draft).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    error_code(app.delete("/api/v1/session").await, StatusCode::FORBIDDEN).await;

    // Server functions (the UI's form posts) are held to the same rule.
    let refused = app
        .post_form("/rpc/save_content", &[("title", "T"), ("summary", "S")])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = app
        .post_form(
            "/rpc/sign_out",
            &[("csrf_token", "wrong-wrong-wrong-wrong-wrong-wrong-wrong")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        StatusCode::OK,
        "the refused sign-out changed nothing"
    );

    app.set_csrf(&token);
    assert_eq!(
        app.post_json("/api/v1/content", &draft).await.status(),
        StatusCode::CREATED
    );
    let accepted = app
        .post_form(
            "/rpc/save_content",
            &[
                ("csrf_token", &token),
                ("title", "From the studio form"),
                ("summary", "S"),
                ("room", "presales"),
                ("kind", "battlecard"),
                ("body", "B"),
                ("personas[1]", "presales"),
                ("min_tier", "0"),
            ],
        )
        .await;
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "{}",
        accepted.text().await.unwrap()
    );
    let items: serde_json::Value = app.get("/api/v1/content").await.json().await.unwrap();
    let created = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "From the studio form")
        .unwrap();
    assert_eq!(created["audience"]["personas"], json!(["presales"]));
    app.cleanup().await;
}

async fn cross_site_origins_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let response = crate::helpers::client()
        .post(app.url("/api/v1/session"))
        .header("origin", "https://evil.example")
        .json(&json!({ "email": "sales@northwind.test", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap();
    let e = error_code(response, StatusCode::FORBIDDEN).await;
    assert_eq!(e["code"], "csrf_failed");
    app.cleanup().await;
}

async fn health_and_readiness_answer(db: Db) {
    let app = spawn_app(db).await;
    assert_eq!(app.get("/healthz").await.text().await.unwrap(), "ok");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.portal.store().close().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.cleanup().await;
}

async fn sign_in_writes_the_audit_log(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("sales@northwind.test").await;
    app.delete("/api/v1/session").await;
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(app.portal.store().pool())
        .await
        .unwrap();
    assert!(actions.contains(&"session.sign_in".to_owned()), "{actions:?}");
    assert!(actions.contains(&"session.sign_out".to_owned()), "{actions:?}");
    app.cleanup().await;
}

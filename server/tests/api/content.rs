//! Rooms and content through the REST API: happy paths, 401 / 403 / 404 / 422, isolation.

use crate::helpers::{error_code, spawn_app, Db, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

crate::on_both_databases!(
    rooms_list_counts_what_the_user_can_see,
    a_room_shows_published_items_targeted_at_the_viewer,
    unknown_rooms_and_anonymous_callers_are_refused,
    publishers_create_drafts_that_partners_cannot_see,
    partners_and_other_staff_cannot_write_content,
    invalid_content_names_the_field,
    patch_changes_only_what_it_names,
    publishing_reaches_exactly_the_targeted_audience,
    items_targeted_at_other_partners_answer_404,
    unknown_ids_answer_404,
    content_changes_are_audited,
    markdown_bodies_are_sanitised,
);

fn titles(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn signed_in(db: Db, email: &str) -> TestApp {
    let mut app = spawn_app(db).await;
    app.sign_in(email).await;
    app
}

async fn rooms_list_counts_what_the_user_can_see(db: Db) {
    let app = signed_in(db, "sales@northwind.test").await;
    let rooms: Value = app.get("/api/v1/rooms").await.json().await.unwrap();
    let slugs: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["sales", "presales", "marketing", "post-sales"]);
    // Sales room: six published items for sales, one of them Platinum-only; Northwind is Gold.
    assert_eq!(rooms[0]["item_count"], 6);
    app.cleanup().await;
}

async fn a_room_shows_published_items_targeted_at_the_viewer(db: Db) {
    let app = signed_in(db, "sales@northwind.test").await;
    let response = app.get("/api/v1/rooms/sales/items").await;
    assert_eq!(response.status(), StatusCode::OK);
    let listing: Value = response.json().await.unwrap();
    let seen = titles(&listing);
    assert!(
        seen.contains(&"Selling Acme SD-WAN to mid-market retail".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"Q4 2026 partner price list".to_owned()),
        "Silver and above includes Gold"
    );
    assert!(
        !seen.contains(&"2027 pricing preview".to_owned()),
        "drafts are hidden"
    );
    assert!(
        !seen.contains(&"Strategic accounts: the Platinum co-selling play".to_owned()),
        "Platinum only"
    );
    for item in listing["items"].as_array().unwrap() {
        assert_eq!(item["status"], "published");
        let personas = item["audience"]["personas"].as_array().unwrap();
        assert!(
            personas.is_empty() || personas.contains(&json!("sales")),
            "{item}"
        );
    }
    // Visiting another room shows only what is targeted at a sales persona there.
    let marketing: Value = app
        .get("/api/v1/rooms/marketing/items")
        .await
        .json()
        .await
        .unwrap();
    let seen = titles(&marketing);
    assert!(
        seen.contains(&"Retail networking spend outlook 2027".to_owned()),
        "{seen:?}"
    );
    assert!(
        !seen.contains(&"Run a 30-day SD-WAN webinar campaign".to_owned()),
        "marketing persona only"
    );
    assert!(
        !seen.contains(&"EMEA public-sector opportunity brief".to_owned()),
        "EMEA only; Northwind is NA"
    );
    app.cleanup().await;
}

async fn unknown_rooms_and_anonymous_callers_are_refused(db: Db) {
    let app = signed_in(db, "sales@northwind.test").await;
    let e = error_code(app.get("/api/v1/rooms/lobby/items").await, StatusCode::NOT_FOUND).await;
    assert_eq!(e["code"], "not_found");
    let anonymous = app.another_client();
    for path in [
        "/api/v1/rooms",
        "/api/v1/rooms/sales/items",
        "/api/v1/me",
        "/api/v1/content",
        "/api/v1/content/1",
    ] {
        let e = error_code(anonymous.get(path).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(e["code"], "unauthenticated", "{path}");
    }
    app.cleanup().await;
}

fn draft(title: &str) -> Value {
    json!({
        "title": title,
        "summary": "A short summary.",
        "room": "presales",
        "kind": "battlecard",
        "body": "## Heading\n\nBody text.",
        "audience": { "personas": ["presales"] }
    })
}

async fn publishers_create_drafts_that_partners_cannot_see(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let response = app.post_json("/api/v1/content", &draft("New battlecard")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let item: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/content/{}", item["id"]));
    assert_eq!(item["status"], "draft");
    assert_eq!(item["body_html"], "<h2>Heading</h2>\n<p>Body text.</p>\n");
    assert_eq!(app.get(&location).await.status(), StatusCode::OK);

    let mut presales = app.another_client();
    presales.sign_in("presales@northwind.test").await;
    error_code(presales.get(&location).await, StatusCode::NOT_FOUND).await;
    app.cleanup().await;
}

async fn partners_and_other_staff_cannot_write_content(db: Db) {
    let app = spawn_app(db).await;
    let id = app.item_id("Selling Acme SD-WAN to mid-market retail").await;
    for email in ["admin@northwind.test", "cm@acme.test", "finance@acme.test"] {
        let mut user = app.another_client();
        user.sign_in(email).await;
        let e = error_code(
            user.post_json("/api/v1/content", &draft("x")).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(e["code"], "forbidden", "{email}");
        error_code(
            user.patch_json(&format!("/api/v1/content/{id}"), &json!({ "title": "x" }))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        error_code(
            user.post_empty(&format!("/api/v1/content/{id}/publish")).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        error_code(user.get("/api/v1/content").await, StatusCode::FORBIDDEN).await;
    }
    let anonymous = app.another_client();
    let e = error_code(
        anonymous.post_json("/api/v1/content", &draft("x")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(e["code"], "unauthenticated");
    app.cleanup().await;
}

async fn invalid_content_names_the_field(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let cases = [
        (
            json!({ "summary": "s", "room": "sales", "kind": "playbook", "body": "b" }),
            "title",
        ),
        (
            json!({ "title": " ", "summary": "s", "room": "sales", "kind": "playbook", "body": "b" }),
            "title",
        ),
        (
            json!({ "title": "t", "summary": "s", "room": "lobby", "kind": "playbook", "body": "b" }),
            "room",
        ),
        (
            json!({ "title": "t", "summary": "s", "room": "sales", "kind": "memo", "body": "b" }),
            "kind",
        ),
        (
            json!({ "title": "t", "summary": "s", "room": "sales", "kind": "playbook", "body": "b",
                    "audience": { "personas": ["sales", "cfo"] } }),
            "audience.personas[1]",
        ),
        (
            json!({ "title": "t", "summary": "s", "room": "sales", "kind": "playbook", "body": "b",
                    "audience": { "min_tier": 7 } }),
            "audience.min_tier",
        ),
        (
            json!({ "title": "t", "summary": "s", "room": "sales", "kind": "playbook", "body": "b",
                    "audience": { "min_tier": "gold" } }),
            "audience.min_tier",
        ),
        (json!({ "title": "t", "colour": "red" }), "colour"),
    ];
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM content_items")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    for (body, field) in cases {
        let e = error_code(
            app.post_json("/api/v1/content", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(e["code"], "invalid", "{body}");
        assert_eq!(e["field"], field, "{body}");
    }
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM content_items")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(before, after, "nothing partial is stored");
    app.cleanup().await;
}

async fn patch_changes_only_what_it_names(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let item: Value = app
        .post_json("/api/v1/content", &draft("Original"))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/content/{}", item["id"]);
    let response = app
        .patch_json(
            &path,
            &json!({ "title": "Renamed", "audience": { "min_tier": 2 } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["title"], "Renamed");
    assert_eq!(updated["summary"], item["summary"]);
    assert_eq!(updated["audience"]["personas"], json!(["presales"]));
    assert_eq!(updated["audience"]["min_tier"], 2);
    let e = error_code(
        app.patch_json(&path, &json!({ "summary": "" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "summary");
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["summary"], item["summary"]);
    app.cleanup().await;
}

async fn publishing_reaches_exactly_the_targeted_audience(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let item: Value = app
        .post_json("/api/v1/content", &draft("Presales only: new demo script"))
        .await
        .json()
        .await
        .unwrap();
    let id = item["id"].as_i64().unwrap();
    let mut presales = app.another_client();
    presales.sign_in("presales@northwind.test").await;
    let mut sales = app.another_client();
    sales.sign_in("sales@northwind.test").await;
    assert!(!titles(
        &presales
            .get("/api/v1/rooms/presales/items")
            .await
            .json()
            .await
            .unwrap()
    )
    .contains(&"Presales only: new demo script".to_owned()));

    let response = app.post_empty(&format!("/api/v1/content/{id}/publish")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let published: Value = response.json().await.unwrap();
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_i64());

    let seen = titles(
        &presales
            .get("/api/v1/rooms/presales/items")
            .await
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(
        seen.first().map(String::as_str),
        Some("Presales only: new demo script"),
        "newest first"
    );
    assert_eq!(
        presales.get(&format!("/api/v1/content/{id}")).await.status(),
        StatusCode::OK
    );
    assert!(!titles(
        &sales
            .get("/api/v1/rooms/presales/items")
            .await
            .json()
            .await
            .unwrap()
    )
    .contains(&"Presales only: new demo script".to_owned()));
    error_code(
        sales.get(&format!("/api/v1/content/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Publishing twice is harmless; unpublishing hides it again.
    assert_eq!(
        app.post_empty(&format!("/api/v1/content/{id}/publish"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_empty(&format!("/api/v1/content/{id}/unpublish"))
            .await
            .status(),
        StatusCode::OK
    );
    error_code(
        presales.get(&format!("/api/v1/content/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.cleanup().await;
}

async fn items_targeted_at_other_partners_answer_404(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let body = json!({
        "title": "Distributor stocking programme",
        "summary": "For distributors only.",
        "room": "sales",
        "kind": "announcement",
        "body": "Stock up.",
        "audience": { "partner_types": ["distributor"] }
    });
    let item: Value = app
        .post_json("/api/v1/content", &body)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/content/{}", item["id"]);
    app.post_empty(&format!("{path}/publish")).await;

    let mut contoso = app.another_client();
    contoso.sign_in("admin@contoso.test").await;
    assert_eq!(contoso.get(&path).await.status(), StatusCode::OK);
    assert!(titles(
        &contoso
            .get("/api/v1/rooms/sales/items")
            .await
            .json()
            .await
            .unwrap()
    )
    .contains(&"Distributor stocking programme".to_owned()));

    for email in [
        "sales@northwind.test",
        "sales@fabrikam.test",
        "sales@tailspin.test",
    ] {
        let mut other = app.another_client();
        other.sign_in(email).await;
        let e = error_code(other.get(&path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(e["code"], "not_found", "{email}");
        assert!(
            !titles(&other.get("/api/v1/rooms/sales/items").await.json().await.unwrap())
                .contains(&"Distributor stocking programme".to_owned())
        );
    }
    // A tier-gated item answers 404 below the tier, exactly like a missing one.
    let platinum = app
        .item_id("Strategic accounts: the Platinum co-selling play")
        .await;
    let mut northwind = app.another_client();
    northwind.sign_in("sales@northwind.test").await;
    let hidden = error_code(
        northwind.get(&format!("/api/v1/content/{platinum}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let missing = error_code(
        northwind.get("/api/v1/content/999999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(hidden, missing);
    app.cleanup().await;
}

async fn unknown_ids_answer_404(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    for path in ["/api/v1/content/999999", "/api/v1/content/abc"] {
        error_code(app.get(path).await, StatusCode::NOT_FOUND).await;
        error_code(
            app.patch_json(path, &json!({ "title": "x" })).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        error_code(
            app.post_empty(&format!("{path}/publish")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let e = error_code(app.get("/api/v1/nothing-here").await, StatusCode::NOT_FOUND).await;
    assert_eq!(e["code"], "no_such_endpoint");
    app.cleanup().await;
}

async fn content_changes_are_audited(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let item: Value = app
        .post_json("/api/v1/content", &draft("Audited"))
        .await
        .json()
        .await
        .unwrap();
    let id = item["id"].as_i64().unwrap();
    app.patch_json(
        &format!("/api/v1/content/{id}"),
        &json!({ "title": "Audited again" }),
    )
    .await;
    app.post_empty(&format!("/api/v1/content/{id}/publish")).await;
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT action, before_json, after_json FROM audit_log WHERE entity_type = 'content_item' AND entity_id = $1 ORDER BY id",
    )
    .bind(id.to_string())
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, ["content.create", "content.update", "content.publish"]);
    let before: Value = serde_json::from_str(rows[1].1.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(rows[1].2.as_deref().unwrap()).unwrap();
    assert_eq!(before["title"], "Audited");
    assert_eq!(after["title"], "Audited again");
    app.cleanup().await;
}

async fn markdown_bodies_are_sanitised(db: Db) {
    let app = signed_in(db, "publisher@acme.test").await;
    let mut body = draft("Sanitised");
    body["body"] = json!("Hello <script>alert(1)</script> <a href=\"javascript:alert(2)\">x</a>");
    let item: Value = app
        .post_json("/api/v1/content", &body)
        .await
        .json()
        .await
        .unwrap();
    let html = item["body_html"].as_str().unwrap();
    assert!(
        !html.contains("<script") && !html.contains("javascript:"),
        "{html}"
    );
    assert!(
        item["body_markdown"].as_str().unwrap().contains("<script>"),
        "the source is kept as written"
    );
    app.cleanup().await;
}

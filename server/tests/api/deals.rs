//! Deal registration (RULES.md §6) through the API, and the workflow scheduler, outbox and
//! expiry against a test clock, on both databases.

use crate::helpers::{spawn_app, Db, TestApp, TestDatabase};
use reqwest::StatusCode;
use serde_json::{json, Value};
use service::clock::ManualClock;
use service::notify::SmtpSettings;
use service::{Portal, PortalSettings, Store};
use std::sync::Arc;

crate::on_both_databases!(
    a_deal_goes_from_registration_to_won,
    duplicates_are_refused_and_conflicts_flagged,
    deals_are_isolated_between_organisations,
    bad_registrations_name_the_field_and_store_nothing,
    reminders_and_escalation_fire_once_with_two_schedulers,
    approved_deals_expire_after_the_tier_protection,
    the_outbox_delivers_after_the_smtp_server_comes_up,
);

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn registration(name: &str, domain: Option<&str>, lines: &[&str]) -> Value {
    json!({
        "customer_name": name,
        "customer_domain": domain,
        "country": "us",
        "product_lines": lines,
        "amount": "48000.00",
        "expected_close_on": "2099-12-31",
        "notes": "Three sites",
    })
}

async fn signed_in(app: &TestApp, email: &str) -> TestApp {
    let mut client = app.another_client();
    client.sign_in(email).await;
    client
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

async fn register(client: &TestApp, body: &Value) -> Value {
    json_of(
        client.post_json("/api/v1/deals?submit=true", body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn a_deal_goes_from_registration_to_won(db: Db) {
    let app = spawn_app(db).await;
    let sales = signed_in(&app, "sales@northwind.test").await;
    let deal = register(
        &sales,
        &registration(
            "Umbrella Corp.",
            Some("https://www.EU.Umbrella.co.uk/contact"),
            &["cloud"],
        ),
    )
    .await;
    let id = deal["id"].as_i64().unwrap();
    assert_eq!(deal["status"], "submitted");
    assert_eq!(deal["customer_key"], "d:umbrella.co.uk");
    assert_eq!(deal["country"], "US");
    assert_eq!(deal["amount"], "48,000.00");
    let clock = deal["decision_clock"].as_str().unwrap();
    assert!(
        clock == "decision due in 47 h" || clock == "decision due in 2 d",
        "{clock}"
    );
    assert_eq!(deal["assignee"], "Casey Morgan");
    assert_eq!(deal["history"][0]["to_status"], "draft");
    assert_eq!(deal["history"][1]["to_status"], "submitted");

    // The channel manager has it in the queue and was notified.
    let cm = signed_in(&app, "cm@acme.test").await;
    let queue = json_of(cm.get("/api/v1/deals/queue").await, StatusCode::OK).await;
    assert!(queue.as_array().unwrap().iter().any(|d| d["id"] == id));
    let inbox = json_of(cm.get("/api/v1/notifications").await, StatusCode::OK).await;
    assert!(inbox["unread"].as_i64().unwrap() >= 1);
    assert!(inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["link"] == format!("/deals/{id}")));

    // Partners cannot decide; the channel manager approves.
    let refused = sales
        .post_json(&format!("/api/v1/deals/{id}/approve"), &json!({}))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let approved = json_of(
        cm.post_json(&format!("/api/v1/deals/{id}/approve"), &json!({"comment": "Go"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(approved["status"], "approved");
    let today = app.portal.today();
    // Northwind is Gold: 120 days of protection.
    assert_eq!(approved["expires_on"], today.add_days(120).to_string());
    assert_eq!(approved["decision_clock"], Value::Null);
    let again = cm
        .post_json(&format!("/api/v1/deals/{id}/approve"), &json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // The partner sees it protected and is told.
    let seen = json_of(sales.get(&format!("/api/v1/deals/{id}")).await, StatusCode::OK).await;
    assert_eq!(seen["status"], "approved");
    assert_eq!(seen["can_request_extension"], true);
    let inbox = json_of(sales.get("/api/v1/notifications").await, StatusCode::OK).await;
    assert!(inbox["items"][0]["title"].as_str().unwrap().contains("approved"));

    // One extension, through approval.
    let extended = json_of(
        sales
            .post_json(
                &format!("/api/v1/deals/{id}/extend"),
                &json!({"reason": "Board meets in March"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(extended["pending_decision"], "extension");
    let twice = sales
        .post_json(&format!("/api/v1/deals/{id}/extend"), &json!({}))
        .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let granted = json_of(
        cm.post_json(&format!("/api/v1/deals/{id}/approve"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(granted["expires_on"], today.add_days(150).to_string());
    assert_eq!(granted["extended"], true);
    assert_eq!(granted["can_request_extension"], false);

    // Won: counted towards deals_won.
    let won_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM won_deals")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    let future = sales
        .post_json(&format!("/api/v1/deals/{id}/won"), &json!({"on": "2099-01-01"}))
        .await;
    assert_eq!(future.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let won = json_of(
        sales
            .post_json(&format!("/api/v1/deals/{id}/won"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(won["status"], "won");
    let won_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM won_deals")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(won_after, won_before + 1);
    let lost = sales
        .post_json(&format!("/api/v1/deals/{id}/lost"), &json!({}))
        .await;
    assert_eq!(lost.status(), StatusCode::CONFLICT);

    // The turnaround report counts the decisions.
    let report = json_of(cm.get("/api/v1/deals/turnaround").await, StatusCode::OK).await;
    let registrations = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workflow"] == "Deal registration")
        .unwrap();
    assert!(registrations["decided"].as_i64().unwrap() >= 2);
    assert!(registrations["median_hours"].is_number());
    let partner_report = sales.get("/api/v1/deals/turnaround").await;
    assert_eq!(partner_report.status(), StatusCode::FORBIDDEN);

    // Every transition is in the audit log.
    let audited: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'deal' AND entity_id = '{id}'"
    ))
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(
        audited, 6,
        "register, submit, approve, extension request, extension approval, won"
    );
    app.cleanup().await;
}

async fn duplicates_are_refused_and_conflicts_flagged(db: Db) {
    let app = spawn_app(db).await;
    let sales = signed_in(&app, "sales@northwind.test").await;
    let first = register(&sales, &registration("Hooli, Inc.", None, &["cloud", "hardware"])).await;
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(first["customer_key"], "n:hooli");

    // Same partner, same customer (spelt differently), a common product line: refused, named.
    let duplicate = sales
        .post_json(
            "/api/v1/deals?submit=true",
            &registration("HOOLI Incorporated", None, &["cloud"]),
        )
        .await;
    let body = json_of(duplicate, StatusCode::CONFLICT).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("#{first_id}")),
        "{body}"
    );
    // Another product line is not a duplicate.
    register(&sales, &registration("Hooli", None, &["services"])).await;

    // Another partner: saved and flagged.
    let tailspin = signed_in(&app, "sales@tailspin.test").await;
    let second = register(&tailspin, &registration("Hooli Ltd", None, &["hardware"])).await;
    let second_id = second["id"].as_i64().unwrap();
    assert_eq!(second["status"], "submitted");
    // The partner never sees the other partner's registration.
    assert_eq!(second["conflicts"], json!([]));

    let cm = signed_in(&app, "cm@acme.test").await;
    let seen = json_of(
        cm.get(&format!("/api/v1/deals/{second_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["conflicts"][0]["id"], first_id);
    assert_eq!(seen["conflicts"][0]["partner_name"], "Northwind Systems");
    assert!(seen["suggestion"]
        .as_str()
        .unwrap()
        .starts_with("Reject: Northwind Systems registered this customer first"));
    let earlier = json_of(cm.get(&format!("/api/v1/deals/{first_id}")).await, StatusCode::OK).await;
    assert!(earlier["suggestion"].as_str().unwrap().starts_with("Approve"));
    let queue = json_of(cm.get("/api/v1/deals/queue").await, StatusCode::OK).await;
    let queued = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == second_id)
        .unwrap();
    assert_eq!(queued["conflicts"][0]["id"], first_id);

    // Rejecting needs a comment; a rejected registration no longer conflicts.
    let bare = cm
        .post_json(&format!("/api/v1/deals/{first_id}/reject"), &json!({}))
        .await;
    assert_eq!(
        json_of(bare, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"],
        "comment"
    );
    json_of(
        cm.post_json(
            &format!("/api/v1/deals/{first_id}/reject"),
            &json!({"comment": "Customer chose Tailspin"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let now_clear = json_of(
        cm.get(&format!("/api/v1/deals/{second_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(now_clear["conflicts"], json!([]));
    // And the partner may register that customer again.
    register(&sales, &registration("Hooli", None, &["cloud"])).await;

    // The key preview.
    let key = json_of(
        sales.get("/api/v1/customer-key?name=Acme,%20Inc.").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(key["customer_key"], "n:acme");
    let bad = sales.get("/api/v1/customer-key?name=Acme&domain=co.uk").await;
    assert_eq!(
        json_of(bad, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"],
        "customer_domain"
    );
    app.cleanup().await;
}

async fn deals_are_isolated_between_organisations(db: Db) {
    let app = spawn_app(db).await;
    let northwind = signed_in(&app, "sales@northwind.test").await;
    let contoso = signed_in(&app, "admin@contoso.test").await;
    let fabrikam = signed_in(&app, "sales@fabrikam.test").await;
    let tailspin = signed_in(&app, "sales@tailspin.test").await;
    let ids = |list: &Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect()
    };

    let nw = register(
        &northwind,
        &registration("Vandelay Industries", Some("vandelay.com"), &["hardware"]),
    )
    .await;
    let nw_id = nw["id"].as_i64().unwrap();
    let own = register(
        &contoso,
        &registration("Kramerica", Some("kramerica.com"), &["cloud"]),
    )
    .await;
    let own_id = own["id"].as_i64().unwrap();
    let fabrikam_id: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Fabrikam IT'")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    let mut on_behalf = registration("Pendant Publishing", Some("pendant.com"), &["services"]);
    on_behalf["partner_id"] = json!(fabrikam_id);
    let behalf = register(&contoso, &on_behalf).await;
    let behalf_id = behalf["id"].as_i64().unwrap();
    assert_eq!(behalf["partner_name"], "Fabrikam IT");
    assert_eq!(behalf["registered_on_behalf_by"], "Contoso Distribution");

    // A partner cannot register for someone else's reseller, or for another partner.
    let northwind_id: i64 =
        sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Northwind Systems'")
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap();
    let mut not_mine = registration("Pendant Publishing", Some("pendant.com"), &["cloud"]);
    not_mine["partner_id"] = json!(northwind_id);
    assert_eq!(
        contoso.post_json("/api/v1/deals", &not_mine).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut reseller_for = registration("X", None, &["cloud"]);
    reseller_for["partner_id"] = json!(fabrikam_id);
    assert_eq!(
        tailspin.post_json("/api/v1/deals", &reseller_for).await.status(),
        StatusCode::NOT_FOUND
    );

    // Other partners' deals answer 404 on every endpoint.
    for path in ["", "/submit", "/approve", "/reject", "/won", "/lost", "/extend"] {
        let url = format!("/api/v1/deals/{nw_id}{path}");
        let response = if path.is_empty() {
            tailspin.get(&url).await
        } else {
            tailspin.post_json(&url, &json!({})).await
        };
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
        let response = if path.is_empty() {
            contoso.get(&url).await
        } else {
            contoso.post_json(&url, &json!({})).await
        };
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "distributor, {url}");
    }
    assert_eq!(
        tailspin.get("/api/v1/deals/99999").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tailspin.get("/api/v1/deals/abc").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!ids(&json_of(tailspin.get("/api/v1/deals").await, StatusCode::OK).await).contains(&nw_id));

    // A distributor sees its resellers' deals; a reseller never sees its distributor's own.
    let contoso_list = ids(&json_of(contoso.get("/api/v1/deals").await, StatusCode::OK).await);
    assert!(contoso_list.contains(&own_id) && contoso_list.contains(&behalf_id));
    assert!(!contoso_list.contains(&nw_id));
    assert_eq!(
        json_of(
            contoso.get(&format!("/api/v1/deals/{behalf_id}")).await,
            StatusCode::OK
        )
        .await["id"],
        behalf_id
    );
    let fabrikam_list = ids(&json_of(fabrikam.get("/api/v1/deals").await, StatusCode::OK).await);
    assert!(fabrikam_list.contains(&behalf_id));
    assert!(!fabrikam_list.contains(&own_id));
    assert_eq!(
        fabrikam.get(&format!("/api/v1/deals/{own_id}")).await.status(),
        StatusCode::NOT_FOUND
    );

    // The queue and the report are for vendor staff.
    assert_eq!(
        northwind.get("/api/v1/deals/queue").await.status(),
        StatusCode::FORBIDDEN
    );
    // Vendor staff cannot register.
    let cm = signed_in(&app, "cm@acme.test").await;
    assert_eq!(
        cm.post_json("/api/v1/deals", &registration("Y", None, &["cloud"]))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Notifications are private: marking another user's changes nothing.
    let cm_inbox = json_of(cm.get("/api/v1/notifications").await, StatusCode::OK).await;
    let cm_note = cm_inbox["items"][0]["id"].as_i64().unwrap();
    let marked = json_of(
        tailspin
            .post_json("/api/v1/notifications/read", &json!({"id": cm_note}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["marked"], 0);
    let still = json_of(cm.get("/api/v1/notifications").await, StatusCode::OK).await;
    assert_eq!(still["unread"], cm_inbox["unread"]);
    let mine = json_of(
        cm.post_json("/api/v1/notifications/read", &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["marked"], cm_inbox["unread"]);
    app.cleanup().await;
}

async fn bad_registrations_name_the_field_and_store_nothing(db: Db) {
    let app = spawn_app(db).await;
    let sales = signed_in(&app, "sales@northwind.test").await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM deals")
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap()
    };
    let before = count().await;
    let good = registration("Globo Gym", Some("globogym.com"), &["cloud"]);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("customer_name", json!(""), "customer_name"),
        ("customer_domain", json!("localhost"), "customer_domain"),
        ("country", json!("USA"), "country"),
        ("product_lines", json!([]), "product_lines"),
        ("product_lines", json!(["cloud stuff"]), "product_lines"),
        ("amount", json!("lots"), "amount"),
        ("amount", json!("0"), "amount"),
        ("amount", json!("12.345"), "amount"),
        ("expected_close_on", json!("2020-01-01"), "expected_close_on"),
        ("expected_close_on", json!("31/12/2099"), "expected_close_on"),
    ];
    for (key, value, field) in cases {
        let mut body = good.clone();
        body[key] = value.clone();
        let response = sales.post_json("/api/v1/deals?submit=true", &body).await;
        let error = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["error"]["field"], field, "{key} = {value}");
    }
    let mut unknown = good.clone();
    unknown["colour"] = json!("red");
    assert_eq!(
        sales.post_json("/api/v1/deals", &unknown).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(count().await, before);
    app.cleanup().await;
}

/// Two service layers on one database, sharing a test clock: two scheduler instances.
async fn two_instances(db: Db, settings: PortalSettings) -> (TestDatabase, Arc<ManualClock>, Portal, Portal) {
    let database = TestDatabase::create(db).await;
    let clock = Arc::new(ManualClock::new(service::Clock::now_millis(
        &service::SystemClock,
    )));
    let open = |clock: Arc<ManualClock>, settings: PortalSettings| {
        let url = database.url.clone();
        async move {
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            Portal::new(store, clock, settings)
        }
    };
    let a = open(clock.clone(), settings.clone()).await;
    let b = open(clock.clone(), settings).await;
    a.load_demo().await.unwrap();
    (database, clock, a, b)
}

async fn count_notifications(portal: &Portal, kind: &str, link: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE kind = $1 AND link = $2")
        .bind(kind)
        .bind(link)
        .fetch_one(portal.store().pool())
        .await
        .unwrap()
}

async fn reminders_and_escalation_fire_once_with_two_schedulers(db: Db) {
    let (database, clock, a, b) = two_instances(db, PortalSettings::default()).await;
    let sales = a.actor_by_email("sales@northwind.test").await.unwrap();
    let input: domain::deals::DealInput =
        serde_json::from_value(registration("Soylent", Some("soylent.com"), &["cloud"])).unwrap();
    let deal = a.register_deal(&sales, input, true).await.unwrap();
    let link = format!("/deals/{}", deal.id);
    let schedulers = || async {
        // Both instances, several passes each, at the same time.
        let (x, y) = tokio::join!(
            async {
                let mut n = 0;
                for _ in 0..4 {
                    n += a.run_workflow_timers().await.unwrap();
                }
                n
            },
            async {
                let mut n = 0;
                for _ in 0..4 {
                    n += b.run_workflow_timers().await.unwrap();
                }
                n
            }
        );
        x + y
    };

    clock.advance_millis(24 * HOUR - 1);
    schedulers().await;
    assert_eq!(
        count_notifications(&a, "workflow.reminder", &link).await,
        0,
        "nothing before 50 %"
    );

    clock.advance_millis(1);
    schedulers().await;
    assert_eq!(
        count_notifications(&a, "workflow.reminder", &link).await,
        1,
        "the 50 % reminder, once"
    );
    assert_eq!(count_notifications(&a, "workflow.escalation", &link).await, 0);
    let seen = a.deal(&sales, deal.id).await.unwrap();
    assert_eq!(seen.decision_clock.as_deref(), Some("decision due in 24 h"));

    clock.advance_millis(24 * HOUR);
    schedulers().await;
    schedulers().await;
    assert_eq!(
        count_notifications(&a, "workflow.reminder", &link).await,
        2,
        "50 % and 100 %, once each"
    );
    // Escalation at 100 % goes to the vendor admins (one in the demo), once.
    assert_eq!(count_notifications(&a, "workflow.escalation", &link).await, 1);
    let escalated: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM workflow_events e JOIN workflow_instances i ON i.id = e.instance_id \
         WHERE i.subject_id = $1 AND e.event = 'escalated'",
    )
    .bind(deal.id)
    .fetch_one(a.store().pool())
    .await
    .unwrap();
    assert_eq!(escalated, 1);
    let admin: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications n JOIN users u ON u.id = n.user_id WHERE u.email = 'admin@acme.test' AND n.link = $1 AND n.kind = 'workflow.escalation'",
    )
    .bind(&link)
    .fetch_one(a.store().pool())
    .await
    .unwrap();
    assert_eq!(admin, 1);

    // A week later nothing fires again; the partner sees the clock overdue.
    clock.advance_millis(7 * DAY);
    assert_eq!(schedulers().await, 0);
    let seen = a.deal(&sales, deal.id).await.unwrap();
    assert_eq!(seen.decision_clock.as_deref(), Some("decision overdue by 7 d"));
    let cm = a.actor_by_email("cm@acme.test").await.unwrap();
    let report = a.turnaround(&cm).await.unwrap();
    assert!(
        report
            .iter()
            .find(|t| t.workflow == "Deal registration")
            .unwrap()
            .breaches
            >= 1
    );

    // Decided instances fire nothing more: the remaining timers were settled.
    let fresh: domain::deals::DealInput =
        serde_json::from_value(registration("Tyrell", Some("tyrell.com"), &["cloud"])).unwrap();
    let fresh = a.register_deal(&sales, fresh, true).await.unwrap();
    a.decide_deal(&cm, fresh.id, true, "").await.unwrap();
    clock.advance_millis(3 * DAY);
    schedulers().await;
    assert_eq!(
        count_notifications(&a, "workflow.reminder", &format!("/deals/{}", fresh.id)).await,
        0
    );
    a.store().close().await;
    b.store().close().await;
    database.cleanup().await;
}

async fn approved_deals_expire_after_the_tier_protection(db: Db) {
    let (database, clock, a, b) = two_instances(db, PortalSettings::default()).await;
    let fabrikam = a.actor_by_email("sales@fabrikam.test").await.unwrap();
    let cm = a.actor_by_email("cm@acme.test").await.unwrap();
    let input: domain::deals::DealInput = serde_json::from_value(registration(
        "Oceanic Airlines",
        Some("oceanic.aero"),
        &["services"],
    ))
    .unwrap();
    let deal = a.register_deal(&fabrikam, input, true).await.unwrap();
    let approved = a.decide_deal(&cm, deal.id, true, "").await.unwrap();
    // Fabrikam IT is Silver: 90 days.
    let approved_on = a.today();
    assert_eq!(approved.expires_on, Some(approved_on.add_days(90)));
    assert_eq!(
        approved.status_line(),
        format!("approved, protected until {}", approved_on.add_days(90).human())
    );

    clock.advance_millis(89 * DAY);
    assert_eq!(a.expire_deals(a.today()).await.unwrap(), 0);
    assert_eq!(
        a.deal(&fabrikam, deal.id).await.unwrap().status,
        domain::deals::DealStatus::Approved
    );

    clock.advance_millis(DAY);
    let today = a.today();
    assert_eq!(today, approved_on.add_days(90));
    let (x, y) = tokio::join!(a.expire_deals(today), b.expire_deals(today));
    let expired_here = a.deal(&fabrikam, deal.id).await.unwrap();
    assert_eq!(expired_here.status, domain::deals::DealStatus::Expired);
    assert!(x.unwrap() + y.unwrap() >= 1);
    let history = expired_here
        .history
        .iter()
        .filter(|e| e.to_status == domain::deals::DealStatus::Expired)
        .count();
    assert_eq!(history, 1, "expired exactly once");
    assert_eq!(a.expire_deals(today).await.unwrap(), 0);
    // Expired registrations cannot be won or extended.
    assert!(a.close_deal(&fabrikam, deal.id, true, None).await.is_err());
    assert!(a.request_extension(&fabrikam, deal.id, "").await.is_err());
    a.store().close().await;
    b.store().close().await;
    database.cleanup().await;
}

/// A minimal SMTP server that records every message it accepts.
async fn smtp_sink(listener: tokio::net::TcpListener, received: Arc<tokio::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let received = received.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ready\r\n").await.unwrap();
            let mut in_data = false;
            let mut message = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        received.lock().await.push(std::mem::take(&mut message));
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        message.push_str(&line);
                        message.push('\n');
                    }
                    continue;
                }
                let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 sink\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
        });
    }
}

async fn the_outbox_delivers_after_the_smtp_server_comes_up(db: Db) {
    let settings = PortalSettings {
        mail_enabled: true,
        public_url: "https://partners.example.com".into(),
        ..PortalSettings::default()
    };
    let (database, clock, a, _b) = two_instances(db, settings).await;
    // A port nobody listens on yet: the sink is down.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        from: "Atrium <atrium@example.com>".into(),
        credentials: None,
    };
    let sales = a.actor_by_email("sales@northwind.test").await.unwrap();
    let input: domain::deals::DealInput =
        serde_json::from_value(registration("Wonka Industries", Some("wonka.com"), &["cloud"])).unwrap();
    let deal = a.register_deal(&sales, input, true).await.unwrap();

    let first = a.deliver_mail(&smtp).await.unwrap();
    assert_eq!(first.sent, 0);
    assert!(first.failed >= 1);
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND attempts = 1 AND last_error IS NOT NULL",
    )
    .fetch_one(a.store().pool())
    .await
    .unwrap();
    assert_eq!(waiting as usize, first.failed);
    // Not retried before its back-off.
    assert_eq!(
        a.deliver_mail(&smtp).await.unwrap(),
        service::notify::MailRun::default()
    );

    let received = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(smtp_sink(listener, received.clone()));
    clock.advance_millis(2 * 60_000);
    let second = a.deliver_mail(&smtp).await.unwrap();
    assert_eq!(second.failed, 0);
    assert_eq!(second.sent, first.failed);
    let mail = received.lock().await.clone();
    let ours = mail
        .iter()
        .find(|m| m.contains(&format!("New deal registration #{}", deal.id)))
        .expect("the channel manager's mail arrived");
    assert!(ours.contains("cm@acme.test"));
    assert!(ours.contains(&format!("https://partners.example.com/deals/{}", deal.id)));
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
        .fetch_one(a.store().pool())
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    // Nothing is sent twice.
    assert_eq!(a.deliver_mail(&smtp).await.unwrap().sent, 0);
    a.store().close().await;
    database.cleanup().await;
}

//! The channel program through the API: versions with effective dates, tier views, overrides,
//! and who may see which partner's tier.

use crate::helpers::{error_code, spawn_app, Db, TestApp, TestDatabase};
use domain::calendar::Date;
use reqwest::StatusCode;
use serde_json::{json, Value};

crate::on_both_databases!(
    demo_partners_stand_where_the_demo_says,
    tier_views_are_isolated_between_partners,
    a_new_version_applies_from_its_date_and_rewrites_nothing,
    program_changes_are_validated_and_restricted,
    overrides_hold_a_tier_and_are_recorded,
    business_dates_follow_the_program_time_zone,
    the_daily_evaluation_leaves_its_lock_free,
);

async fn org_id(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM organisations WHERE name = $1")
        .bind(name)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap()
}

/// Adds facts for a partner: sales `(date, cents)`, certified people and won deals (dated
/// ten days ago).
async fn add_facts(app: &TestApp, partner: i64, sales: &[(Date, i64)], people: usize, deals: usize) {
    let pool = app.portal.store().pool();
    let today = app.portal.today();
    for (i, (on, amount)) in sales.iter().enumerate() {
        sqlx::query(
            "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) \
             VALUES ($1, $2, $3, 'hardware', $4, 'USD', 0, 0)",
        )
        .bind(format!("T-{partner}-{i}-{on}"))
        .bind(partner)
        .bind(on.to_string())
        .bind(amount)
        .execute(pool)
        .await
        .unwrap();
    }
    for i in 0..people {
        sqlx::query(
            "INSERT INTO certifications (partner_id, person, code, earned_on, expires_on, created_at) VALUES ($1, $2, 'ACNA', $3, $4, 0)",
        )
        .bind(partner)
        .bind(format!("t-person-{partner}-{i}"))
        .bind(today.add_days(-100).to_string())
        .bind(today.add_days(700).to_string())
        .execute(pool)
        .await
        .unwrap();
    }
    for i in 0..deals {
        sqlx::query(
            "INSERT INTO won_deals (partner_id, reference, won_on, created_at) VALUES ($1, $2, $3, 0)",
        )
        .bind(partner)
        .bind(format!("T-DEAL-{partner}-{i}"))
        .bind(today.add_days(-10).to_string())
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn demo_partners_stand_where_the_demo_says(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("admin@northwind.test").await;
    let northwind = org_id(&app, "Northwind Systems").await;
    let response = app.get(&format!("/api/v1/partners/{northwind}/tier")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tier: Value = response.json().await.unwrap();
    assert_eq!(tier["effective"]["name"], "Gold");
    assert_eq!(tier["qualified"]["name"], "Gold");
    assert_eq!(tier["next"]["tier"]["name"], "Platinum");
    let criteria = tier["next"]["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 3);
    assert_eq!(criteria[0]["value_text"], "262,500.00");
    assert_eq!(criteria[0]["threshold_text"], "1,000,000.00");
    assert_eq!(criteria[0]["remaining_text"], "737,500.00");
    assert_eq!(criteria[0]["percent"], 26);
    assert_eq!(criteria[2]["value_text"], "5");
    assert!(tier["next"]["unlocks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u.as_str().unwrap().contains("180-day")));
    let tiers: Vec<(String, i64)> = sqlx::query_as(
        "SELECT o.name, o.tier_rank FROM organisations o WHERE kind = 'partner' ORDER BY o.name",
    )
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(
        tiers,
        [
            ("Contoso Distribution".to_owned(), 3),
            ("Fabrikam IT".to_owned(), 1),
            ("Northwind Systems".to_owned(), 2),
            ("Tailspin Tech".to_owned(), 0)
        ]
    );
    app.cleanup().await;
}

async fn tier_views_are_isolated_between_partners(db: Db) {
    let app = spawn_app(db).await;
    let [northwind, contoso, fabrikam, tailspin] = [
        org_id(&app, "Northwind Systems").await,
        org_id(&app, "Contoso Distribution").await,
        org_id(&app, "Fabrikam IT").await,
        org_id(&app, "Tailspin Tech").await,
    ];
    let cases: [(&str, i64, StatusCode); 9] = [
        ("sales@northwind.test", northwind, StatusCode::OK),
        ("sales@northwind.test", contoso, StatusCode::NOT_FOUND),
        ("admin@northwind.test", fabrikam, StatusCode::NOT_FOUND),
        ("admin@contoso.test", fabrikam, StatusCode::OK), // a distributor's admin sees its reseller
        ("admin@contoso.test", northwind, StatusCode::NOT_FOUND),
        ("sales@fabrikam.test", contoso, StatusCode::NOT_FOUND), // never the distributor's own
        ("sales@tailspin.test", tailspin, StatusCode::OK),
        ("cm@acme.test", tailspin, StatusCode::OK),
        ("cm@acme.test", 999_999, StatusCode::NOT_FOUND),
    ];
    for (email, partner, status) in cases {
        let mut user = app.another_client();
        user.sign_in(email).await;
        let response = user.get(&format!("/api/v1/partners/{partner}/tier")).await;
        assert_eq!(response.status(), status, "{email} → partner {partner}");
    }
    let anonymous = app.another_client();
    error_code(
        anonymous.get(&format!("/api/v1/partners/{northwind}/tier")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    error_code(anonymous.get("/api/v1/program").await, StatusCode::UNAUTHORIZED).await;
    app.cleanup().await;
}

fn first_of_next_month(today: Date) -> Date {
    Date::new(today.add_months(1).year(), today.add_months(1).month(), 1).unwrap()
}

async fn a_new_version_applies_from_its_date_and_rewrites_nothing(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("admin@acme.test").await;
    let today = app.portal.today();
    let fabrikam = org_id(&app, "Fabrikam IT").await;
    let tailspin = org_id(&app, "Tailspin Tech").await;

    // Fabrikam qualifies for Gold today under the version in force (Gold at 250,000.00).
    add_facts(&app, fabrikam, &[(today.add_days(-5), 18_000_000)], 2, 3).await;
    let changes = app.portal.evaluate_partner(fabrikam, today).await.unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].to.0, 2);

    // Gold now needs 300,000.00, from the first of next month.
    let mut program: Value = app.get("/api/v1/program").await.json().await.unwrap();
    assert_eq!(
        program["program"]["tiers"][2]["criteria"][0]["threshold"],
        "250000.00"
    );
    let mut document = program["program"].take();
    document["tiers"][2]["criteria"][0]["threshold"] = json!("300000.00");
    let from = first_of_next_month(today);
    app.add_program_version(&from.to_string(), document).await;

    // Tailspin reaches 260,000.00 on the new version's first day: Gold by the old rule, not by
    // the new one, which applies from its date.
    add_facts(
        &app,
        tailspin,
        &[(today.add_days(-30), 20_000_000), (from, 6_000_000)],
        3,
        5,
    )
    .await;
    app.portal
        .evaluate_partner(tailspin, from.add_days(-1))
        .await
        .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT tier_rank FROM organisations WHERE id = $1")
        .bind(tailspin)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(before, 1, "Silver before the new version");
    app.portal
        .evaluate_partner(tailspin, from.add_days(3))
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar("SELECT tier_rank FROM organisations WHERE id = $1")
        .bind(tailspin)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(after, 1, "260,000.00 is below the new Gold threshold");

    // Fabrikam's earlier decision stands: still Gold, history unchanged.
    app.portal
        .evaluate_partner(fabrikam, from.add_days(3))
        .await
        .unwrap();
    let history: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT changed_on, to_rank, cause FROM tier_history WHERE partner_id = $1 ORDER BY id",
    )
    .bind(fabrikam)
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(history, [(today.to_string(), 2, "upgrade".to_owned())]);
    let versions: Value = app.get("/api/v1/program").await.json().await.unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        versions["program"]["tiers"][2]["criteria"][0]["threshold"], "250000.00",
        "still the old one today"
    );
    app.cleanup().await;
}

async fn program_changes_are_validated_and_restricted(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("admin@acme.test").await;
    let program: Value = app.get("/api/v1/program").await.json().await.unwrap();
    let tomorrow = app.portal.today().add_days(1).to_string();

    let mut zero = program["program"].clone();
    zero["tiers"][2]["criteria"][0]["threshold"] = json!(0);
    let e = error_code(
        app.client_put_program(&json!({ "effective_from": tomorrow, "program": zero }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "program.tiers[2].criteria[0].threshold");
    assert_eq!(e["message"], "must be > 0");

    let past = app.portal.today().add_days(-1).to_string();
    let e = error_code(
        app.client_put_program(&json!({ "effective_from": past, "program": program["program"] }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "effective_from");
    let e = error_code(
        app.client_put_program(&json!({ "effective_from": "next week", "program": program["program"] }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "effective_from");

    // Another fiscal year would rename periods already run and paid.
    let mut other_year = program["program"].clone();
    other_year["fiscal_year_start_month"] = json!(7);
    let e = error_code(
        app.client_put_program(&json!({ "effective_from": tomorrow, "program": other_year }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "program.fiscal_year_start_month");
    assert_eq!(
        e["message"],
        "a program keeps its fiscal year across versions (it starts in month 1)"
    );
    let mut other_currency = program["program"].clone();
    other_currency["currency"] = json!("EUR");
    let e = error_code(
        app.client_put_program(&json!({ "effective_from": tomorrow, "program": other_currency }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "program.currency");

    let mut cm = app.another_client();
    cm.sign_in("cm@acme.test").await;
    error_code(
        cm.client_put_program(&json!({ "effective_from": tomorrow, "program": program["program"] }))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM program_versions")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(versions, 1, "nothing was stored");
    app.cleanup().await;
}

async fn overrides_hold_a_tier_and_are_recorded(db: Db) {
    let mut app = spawn_app(db).await;
    app.sign_in("admin@acme.test").await;
    let tailspin = org_id(&app, "Tailspin Tech").await;
    let ends = app.portal.today().add_days(90).to_string();
    let path = format!("/api/v1/partners/{tailspin}/tier-override");
    let response = app
        .post_json(
            &path,
            &json!({ "tier": 2, "reason": "Strategic launch partner", "ends_on": ends }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tier: Value = response.json().await.unwrap();
    assert_eq!(tier["effective"]["name"], "Gold");
    assert_eq!(tier["computed"]["name"], "Registered");
    assert_eq!(tier["override_"]["reason"], "Strategic launch partner");
    assert_eq!(tier["history"][0]["cause"], "override");

    let mut partner = app.another_client();
    partner.sign_in("sales@tailspin.test").await;
    let seen: Value = partner
        .get(&format!("/api/v1/partners/{tailspin}/tier"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["effective"]["name"], "Gold");
    let me: Value = partner.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(
        me["organisation"]["tier"]["name"], "Gold",
        "targeting follows the effective tier"
    );

    for (body, field) in [
        (json!({ "tier": 9, "reason": "x", "ends_on": ends }), "tier"),
        (json!({ "tier": 1, "reason": " ", "ends_on": ends }), "reason"),
        (
            json!({ "tier": 1, "reason": "x", "ends_on": app.portal.today().to_string() }),
            "ends_on",
        ),
    ] {
        let e = error_code(
            app.post_json(&path, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(e["field"], field);
    }
    let mut cm = app.another_client();
    cm.sign_in("cm@acme.test").await;
    error_code(
        cm.post_json(&path, &json!({ "tier": 1, "reason": "x", "ends_on": ends }))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    error_code(
        app.post_json(
            "/api/v1/partners/999999/tier-override",
            &json!({ "tier": 1, "reason": "x", "ends_on": ends }),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tier.change' AND entity_id = $1")
            .bind(tailspin.to_string())
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap();
    assert_eq!(audited, 1);
    app.cleanup().await;
}

/// RULES.md §1: business dates are calendar dates in the program's time zone. The demo program
/// names none (UTC); a version in Pacific/Kiritimati (UTC+14) moves today forward at 10:00 UTC,
/// for this instance and for one started later on the same database.
async fn business_dates_follow_the_program_time_zone(db: Db) {
    use service::clock::ManualClock;
    use service::{Portal, PortalSettings, ServiceError, Store};
    use std::sync::Arc;

    let database = TestDatabase::create(db).await;
    // 2026-11-29T20:00:00Z.
    let clock = Arc::new(ManualClock::new(1_795_982_400_000));
    let open = || async {
        let store = Store::connect(&database.url).await.unwrap();
        store.migrate().await.unwrap();
        let portal = Portal::new(store, clock.clone(), PortalSettings::default());
        portal.load_business_calendar().await.unwrap();
        portal
    };
    let portal = open().await;
    portal.load_demo().await.unwrap();
    let date = |text: &str| Date::parse(text, "date").unwrap();
    assert_eq!(portal.today(), date("2026-11-29"), "UTC by default");

    let demo =
        domain::program::ProgramDoc::from_toml(include_str!("../../../demo/acme-partner-program.toml"))
            .unwrap();
    let with_zone = |zone: &str| domain::program::ProgramDoc {
        time_zone: Some(zone.to_owned()),
        ..demo.clone()
    };
    for (zone, message) in [
        ("Mars/Olympus_Mons", "is not a time zone of the IANA database"),
        ("UTC +2", "is not a time zone name"),
    ] {
        match portal.import_program(date("2026-12-01"), with_zone(zone)).await {
            Err(ServiceError::Invalid(e)) => {
                assert_eq!(e.field, "program.time_zone");
                assert!(e.message.contains(message), "{zone}: {e:?}");
            }
            other => panic!("{zone}: {other:?}"),
        }
    }
    portal
        .import_program(date("2026-11-29"), with_zone("Pacific/Kiritimati"))
        .await
        .unwrap();
    assert_eq!(
        portal.today(),
        date("2026-11-30"),
        "20:00 UTC is 10:00 the next day"
    );
    let in_force = portal.program_on(portal.today()).await.unwrap().unwrap();
    assert_eq!(in_force.document.time_zone.as_deref(), Some("Pacific/Kiritimati"));

    // Stored as validated: padding trimmed, a blank zone is none (UTC).
    for (from, zone, stored) in [
        ("2027-02-01", " Pacific/Kiritimati ", Some("Pacific/Kiritimati")),
        ("2027-03-01", " ", None),
    ] {
        portal.import_program(date(from), with_zone(zone)).await.unwrap();
        let version = portal.program_on(date(from)).await.unwrap().unwrap();
        assert_eq!(version.document.time_zone.as_deref(), stored, "{zone:?}");
    }

    let later = open().await;
    assert_eq!(later.today(), date("2026-11-30"), "read at start-up");
    clock.advance_millis(13 * 3_600_000 + 59 * 60_000); // 09:59 UTC on 30 November
    assert_eq!(later.today(), date("2026-11-30"));
    clock.advance_millis(60_000);
    assert_eq!(later.today(), date("2026-12-01"), "midnight in Kiritimati");

    portal.store().close().await;
    later.store().close().await;
    database.cleanup().await;
}

/// The daily tier evaluation holds its Postgres lock on a connection of its own, so it runs
/// even on a pool of one connection, and lets the lock go; while another instance holds the
/// lock, it does nothing and does not wait.
async fn the_daily_evaluation_leaves_its_lock_free(db: Db) {
    use sqlx::Connection;
    let app = spawn_app(db).await;
    let tier_of = || async {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT tier_rank FROM organisations WHERE name = 'Northwind Systems'",
        )
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap()
    };
    let before = tier_of().await;
    server::jobs::evaluate_tiers_once(&app.portal).await.unwrap();
    assert_eq!(tier_of().await, before, "the demo's tiers are already today's");
    if db == Db::Postgres {
        let mut other = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
        let try_lock = "SELECT pg_try_advisory_lock($1)";
        let free: bool = sqlx::query_scalar(try_lock)
            .bind(server::jobs::TIER_EVALUATION_LOCK)
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert!(free, "the evaluation let its lock go");
        // Another instance evaluating: this one returns at once.
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            server::jobs::evaluate_tiers_once(&app.portal),
        )
        .await
        .expect("it does not wait for the other instance")
        .unwrap();
        other.close().await.unwrap();
    }
    app.cleanup().await;
}

//! Scorecards, their live streams and the channel dashboard, on both databases.

use crate::helpers::{error_code, spawn_app, Db, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

crate::on_both_databases!(
    scorecards_show_the_partner_and_answer_404_to_others,
    live_streams_never_carry_another_partners_events,
    a_sale_through_a_distributor_reaches_the_distributors_scorecard,
    signing_out_closes_the_sessions_streams,
    another_process_s_import_reaches_open_streams,
    the_dashboard_is_for_vendor_staff_and_exports_every_table,
    certified_people_are_counted_and_listed_once,
);

async fn signed_in(app: &TestApp, email: &str) -> TestApp {
    let mut client = app.another_client();
    client.sign_in(email).await;
    client
}

async fn partner_ids(app: &TestApp) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("SELECT name, id FROM organisations WHERE kind = 'partner'")
        .fetch_all(app.portal.store().pool())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn import_sale(finance: &TestApp, partner: i64, amount: &str) {
    let today = finance.portal.today();
    let id = format!(
        "LIVE-{partner}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let csv = format!("external_id,partner_id,booked_on,product_line,amount,currency\n{id},{partner},{today},hardware,{amount},USD\n");
    finance.import_csv("/api/v1/sales/import", csv).await;
}

async fn scorecards_show_the_partner_and_answer_404_to_others(db: Db) {
    let app = spawn_app(db).await;
    let ids = partner_ids(&app).await;
    let (northwind, contoso, fabrikam, tailspin) = (
        ids["Northwind Systems"],
        ids["Contoso Distribution"],
        ids["Fabrikam IT"],
        ids["Tailspin Tech"],
    );
    let admin = signed_in(&app, "admin@northwind.test").await;
    let card: Value = admin
        .get_json(&format!("/api/v1/partners/{northwind}/scorecard"))
        .await;
    assert_eq!(card["tier"]["partner_name"], "Northwind Systems");
    assert_eq!(card["tier"]["effective"]["name"], "Gold");
    // The demo's 262,500.00 over the last year; Platinum's 1,000,000.00 is the target.
    assert_eq!(card["revenue_trailing_12"]["value"], 26_250_000);
    assert_eq!(card["revenue_trailing_12"]["target"], 100_000_000);
    assert_eq!(card["revenue_quarter"]["target"], 25_000_000);
    assert_eq!(card["monthly_revenue"].as_array().unwrap().len(), 12);
    let monthly: i64 = card["monthly_revenue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["revenue"].as_i64().unwrap())
        .sum();
    assert!(monthly <= 26_250_000 && monthly > 0);
    assert_eq!(card["certified_people"], 3);
    assert_eq!(
        card["deals"]["submitted"], 1,
        "the demo's Globex registration waits for a decision"
    );
    let forecast = &card["rebate_forecast"];
    assert!(forecast.is_object());
    // The forecast projects the pace so far to the period's end.
    assert!(
        forecast["projected_basis"].as_i64().unwrap() >= forecast["basis"].as_i64().unwrap(),
        "{forecast}"
    );
    assert!(forecast["projected_total"].as_i64().unwrap() >= forecast["total"].as_i64().unwrap());
    let period_ends = forecast["period_ends"].as_str().unwrap();
    assert!(period_ends >= forecast["as_of"].as_str().unwrap(), "{forecast}");
    assert_eq!(card["resellers"], json!([]));

    // A sale moves the figures.
    let mut finance = app.another_client();
    finance.sign_in("finance@acme.test").await;
    import_sale(&finance, northwind, "1000.00").await;
    let after: Value = admin
        .get_json(&format!("/api/v1/partners/{northwind}/scorecard"))
        .await;
    assert_eq!(after["revenue_trailing_12"]["value"], 26_350_000);
    assert_eq!(
        after["revenue_quarter"]["value"].as_i64().unwrap(),
        card["revenue_quarter"]["value"].as_i64().unwrap() + 100_000
    );

    // Isolation: other partners answer 404, on the scorecard, its stream and the rebate forecast.
    let tail = signed_in(&app, "sales@tailspin.test").await;
    let fab = signed_in(&app, "sales@fabrikam.test").await;
    let con = signed_in(&app, "admin@contoso.test").await;
    for (client, partner, status) in [
        (&tail, northwind, StatusCode::NOT_FOUND),
        (&fab, contoso, StatusCode::NOT_FOUND),
        (&admin, tailspin, StatusCode::NOT_FOUND),
        (&con, fabrikam, StatusCode::OK),
        (&con, northwind, StatusCode::NOT_FOUND),
        (&tail, 99_999, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            client
                .get(&format!("/api/v1/partners/{partner}/scorecard"))
                .await
                .status(),
            status,
            "{partner}"
        );
        assert_eq!(
            client
                .get(&format!("/api/v1/partners/{partner}/scorecard/stream"))
                .await
                .status(),
            status,
            "stream {partner}"
        );
        assert_eq!(
            client
                .get(&format!("/api/v1/partners/{partner}/rebate-forecast"))
                .await
                .status(),
            status,
            "forecast {partner}"
        );
    }
    // A distributor's admin sees its resellers rolled up.
    let distributor: Value = con
        .get_json(&format!("/api/v1/partners/{contoso}/scorecard"))
        .await;
    assert_eq!(distributor["resellers"][0]["name"], "Fabrikam IT");
    assert_eq!(distributor["resellers"][0]["revenue_trailing_12"], 8_000_000);
    // Vendor staff see any partner.
    let cm = signed_in(&app, "cm@acme.test").await;
    assert_eq!(
        cm.get(&format!("/api/v1/partners/{tailspin}/scorecard"))
            .await
            .status(),
        StatusCode::OK
    );
    // … but an id that is not a partner's (none at all, or the vendor itself) is not found,
    // on every partner endpoint, rather than an empty stream or a server error.
    let vendor: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'vendor'")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    for partner in [99_999, vendor] {
        for path in ["scorecard", "scorecard/stream", "rebate-forecast", "tier"] {
            assert_eq!(
                cm.get(&format!("/api/v1/partners/{partner}/{path}"))
                    .await
                    .status(),
                StatusCode::NOT_FOUND,
                "{partner}/{path}"
            );
        }
    }
    app.cleanup().await;
}

/// Reads a stream for `duration` and returns the `scorecard` events' partner ids.
async fn collect(response: reqwest::Response, duration: Duration) -> (bool, Vec<Value>) {
    let mut response = response;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut ready = false;
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap_or_default();
        let data = block
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_default();
        match name {
            "ready" => ready = true,
            "scorecard" => events.push(serde_json::from_str(data).unwrap()),
            _ => {}
        }
    }
    (ready, events)
}

async fn live_streams_never_carry_another_partners_events(db: Db) {
    let app = spawn_app(db).await;
    let ids = partner_ids(&app).await;
    let (northwind, contoso, fabrikam, tailspin) = (
        ids["Northwind Systems"],
        ids["Contoso Distribution"],
        ids["Fabrikam IT"],
        ids["Tailspin Tech"],
    );
    let watchers = [
        (
            "admin@northwind.test",
            format!("/api/v1/partners/{northwind}/scorecard/stream"),
        ),
        (
            "sales@tailspin.test",
            format!("/api/v1/partners/{tailspin}/scorecard/stream"),
        ),
        (
            "admin@contoso.test",
            format!("/api/v1/partners/{contoso}/scorecard/stream"),
        ),
        (
            "sales@fabrikam.test",
            format!("/api/v1/partners/{fabrikam}/scorecard/stream"),
        ),
        ("sales@northwind.test", "/api/v1/events".to_owned()),
        ("admin@contoso.test", "/api/v1/events".to_owned()),
        ("cm@acme.test", "/api/v1/events".to_owned()),
    ];
    let mut streams = Vec::new();
    for (email, path) in &watchers {
        let client = signed_in(&app, email).await;
        let response = client.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{email} {path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        streams.push(tokio::spawn(collect(response, Duration::from_secs(4))));
    }
    // Let every stream subscribe, then a burst of events for several partners.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut finance = app.another_client();
    finance.sign_in("finance@acme.test").await;
    for round in 0..3 {
        for partner in [northwind, tailspin, fabrikam, contoso] {
            import_sale(&finance, partner, &format!("{}.00", 10 + round)).await;
        }
    }
    let mut results = Vec::new();
    for stream in streams {
        results.push(stream.await.unwrap());
    }
    let partners_of = |events: &[Value]| -> Vec<i64> {
        let mut seen: Vec<i64> = events.iter().map(|e| e["partner_id"].as_i64().unwrap()).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    let expect = |i: usize, allowed: &[i64]| {
        let (ready, events) = &results[i];
        assert!(*ready, "{:?} got its ready event", watchers[i]);
        let mut allowed = allowed.to_vec();
        allowed.sort_unstable();
        assert_eq!(
            partners_of(events),
            allowed,
            "{:?} saw exactly its partners",
            watchers[i]
        );
        // Each import of an allowed partner arrived (3 rounds per partner).
        assert!(
            events.len() >= 3 * allowed.len(),
            "{:?}: {} events",
            watchers[i],
            events.len()
        );
    };
    expect(0, &[northwind]);
    expect(1, &[tailspin]);
    expect(2, &[contoso, fabrikam]);
    expect(3, &[fabrikam]);
    expect(4, &[northwind]);
    expect(5, &[contoso, fabrikam]);
    expect(6, &[northwind, tailspin, fabrikam, contoso]);
    app.cleanup().await;
}

async fn the_dashboard_is_for_vendor_staff_and_exports_every_table(db: Db) {
    let app = spawn_app(db).await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let dashboard: Value = admin.get("/api/v1/dashboard").await.json().await.unwrap();
    assert_eq!(dashboard["partners"], 4);
    for table in ["by_tier", "by_type", "by_region"] {
        let sum: i64 = dashboard[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["revenue"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, dashboard["revenue"].as_i64().unwrap(), "{table} adds up");
        let partners: i64 = dashboard[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partners"].as_i64().unwrap())
            .sum();
        assert_eq!(partners, 4, "{table}");
    }
    assert!(dashboard["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["workflow"] == "Deal registration"));

    let emea: Value = admin.get_json("/api/v1/dashboard?region=emea").await;
    assert_eq!(emea["partners"], 2);
    assert_eq!(emea["by_region"][0]["key"], "emea");
    let gold: Value = admin.get_json("/api/v1/dashboard?tier=2&type=reseller").await;
    assert_eq!(gold["partners"], 1);
    assert_eq!(gold["by_tier"][0]["label"], "Gold");
    let q1: Value = admin.get_json("/api/v1/dashboard?period=2020-Q1").await;
    assert_eq!(q1["revenue"], 0);
    assert_eq!(q1["approvals"], json!([]), "the approvals follow the period too");
    for (query, field) in [
        ("period=2026-Q5", "period"),
        ("region=mars", "region"),
        ("tier=gold", "tier"),
        ("tier=9", "tier"),
        ("type=shop", "type"),
    ] {
        let response = admin.get(&format!("/api/v1/dashboard?{query}")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field);
    }

    for table in domain::dashboard::TABLES {
        let response = admin
            .get(&format!("/api/v1/dashboard/export/{table}?region=emea"))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{table}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(table));
        let csv = response.text().await.unwrap();
        assert!(csv.lines().next().unwrap().contains(','), "{table} has a header");
    }
    let csv = admin
        .get("/api/v1/dashboard/export/revenue-by-region?region=emea")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "region,partners,revenue_usd");
    assert!(
        lines[1].starts_with("\"Europe, Middle East & Africa\",2,"),
        "{csv}"
    );
    assert_eq!(
        admin.get("/api/v1/dashboard/export/secrets").await.status(),
        StatusCode::NOT_FOUND
    );

    let partner = signed_in(&app, "admin@northwind.test").await;
    assert_eq!(
        partner.get("/api/v1/dashboard").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        partner.get("/api/v1/dashboard/export/at-risk").await.status(),
        StatusCode::FORBIDDEN
    );
    app.cleanup().await;
}

/// Opens `partner`'s scorecard stream as `email` and reads it for `duration` in a task of its
/// own; returns once the stream has had time to subscribe.
async fn watch(
    app: &TestApp,
    email: &str,
    partner: i64,
    duration: Duration,
) -> tokio::task::JoinHandle<(bool, Vec<Value>)> {
    let watcher = signed_in(app, email).await;
    let response = watcher
        .get(&format!("/api/v1/partners/{partner}/scorecard/stream"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stream = tokio::spawn(collect(response, duration));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream
}

async fn a_sale_through_a_distributor_reaches_the_distributors_scorecard(db: Db) {
    let app = spawn_app(db).await;
    let ids = partner_ids(&app).await;
    let (contoso, tailspin) = (ids["Contoso Distribution"], ids["Tailspin Tech"]);
    let stream = watch(&app, "admin@contoso.test", contoso, Duration::from_secs(3)).await;
    // Tailspin is not one of Contoso's resellers, but this sale went through Contoso: it moves
    // Contoso's sell-through, so Contoso's scorecard refreshes.
    let finance = signed_in(&app, "finance@acme.test").await;
    let today = app.portal.today();
    let csv = format!(
        "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n\
         THRU-1,{tailspin},{contoso},{today},hardware,500.00,USD\n"
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "text/csv".parse().unwrap());
    let imported = finance.post_raw("/api/v1/sales/import", headers, csv).await;
    assert_eq!(imported.status(), StatusCode::OK);
    let (ready, events) = stream.await.unwrap();
    assert!(ready);
    assert!(
        events.iter().any(|e| e["partner_id"] == contoso),
        "the distributor's scorecard heard of the sale: {events:?}"
    );
    assert!(
        events.iter().all(|e| e["partner_id"] != tailspin),
        "but not Tailspin's own figures: {events:?}"
    );
    app.cleanup().await;
}

async fn signing_out_closes_the_sessions_streams(db: Db) {
    let app = spawn_app(db).await;
    let northwind = partner_ids(&app).await["Northwind Systems"];
    let leaving = signed_in(&app, "admin@northwind.test").await;
    let staying = signed_in(&app, "admin@northwind.test").await;
    let open = |client: &TestApp| {
        let path = format!("/api/v1/partners/{northwind}/scorecard/stream");
        let request = client.get_owned(path);
        async move {
            let response = request.await;
            assert_eq!(response.status(), StatusCode::OK);
            let started = tokio::time::Instant::now();
            collect(response, Duration::from_secs(6)).await;
            started.elapsed()
        }
    };
    let leaving_stream = tokio::spawn(open(&leaving));
    let staying_stream = tokio::spawn(open(&staying));
    let events = tokio::spawn(open_events(&leaving));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        leaving.delete("/api/v1/session").await.status(),
        StatusCode::NO_CONTENT
    );
    let ended = leaving_stream.await.unwrap();
    assert!(
        ended < Duration::from_secs(3),
        "the signed-out session's stream ended: {ended:?}"
    );
    assert!(
        events.await.unwrap() < Duration::from_secs(3),
        "and its event stream"
    );
    let kept = staying_stream.await.unwrap();
    assert!(
        kept >= Duration::from_secs(5),
        "the same user's other session keeps its stream: {kept:?}"
    );
    // A signed-out session opens no new stream.
    error_code(
        leaving
            .get(&format!("/api/v1/partners/{northwind}/scorecard/stream"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.cleanup().await;
}

/// Opens the user's `/api/v1/events` stream and reads it until it ends (at most 6 s).
fn open_events(client: &TestApp) -> impl std::future::Future<Output = Duration> + Send + 'static {
    let request = client.get_owned("/api/v1/events".to_owned());
    async move {
        let response = request.await;
        assert_eq!(response.status(), StatusCode::OK);
        let started = tokio::time::Instant::now();
        collect(response, Duration::from_secs(6)).await;
        started.elapsed()
    }
}

async fn another_process_s_import_reaches_open_streams(db: Db) {
    let app = spawn_app(db).await;
    let northwind = partner_ids(&app).await["Northwind Systems"];
    let stream = watch(&app, "admin@northwind.test", northwind, Duration::from_secs(4)).await;
    // What `atrium import sales FILE` does: its own process, its own connection to the database.
    let command_line = server::startup::open_portal(&app.database_url, None, Default::default())
        .await
        .unwrap();
    let today = app.portal.today();
    let file = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency\nCLI-1,{northwind},{today},hardware,75.00,USD\n"
    );
    let report = command_line
        .import_sales(
            None,
            &file,
            service::imports::ImportFormat::Csv,
            false,
            &service::imports::no_progress,
        )
        .await
        .unwrap();
    assert!(report.stored, "{report:?}");
    command_line.store().close().await;
    let (_, events) = stream.await.unwrap();
    assert!(
        events.iter().any(|e| e["partner_id"] == northwind),
        "the server's stream heard of the other process's import: {events:?}"
    );
    app.cleanup().await;
}

/// A person is counted once whatever the case and spacing of their name, and a certification
/// is expiring only when the last of its renewals is.
async fn certified_people_are_counted_and_listed_once(db: Db) {
    let app = spawn_app(db).await;
    let finance = signed_in(&app, "finance@acme.test").await;
    let partner: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) \
         VALUES ('Certified Co', 'partner', 'reseller', 'na', 0, 0) RETURNING id",
    )
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    let today = app.portal.today();
    let (soon, later, year_ago) = (today.add_days(20), today.add_days(400), today.add_days(-365));
    let csv = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {partner},Ada Lovelace,ACNA,{year_ago},{soon}\n\
         {partner},ada  lovelace,ACNA,{today},{later}\n\
         {partner},Grace Hopper,ACSE,{year_ago},{soon}\n\
         {partner},GRACE HOPPER,ACSE,{},{soon}\n",
        year_ago.add_days(1)
    );
    finance.import_csv("/api/v1/certifications/import", csv).await;
    let card: Value = finance
        .get_json(&format!("/api/v1/partners/{partner}/scorecard"))
        .await;
    assert_eq!(card["certified_people"], 2, "{card}");
    assert_eq!(card["valid_certifications"], 4, "{card}");
    let expiring: Vec<(String, String)> = card["expiring_certifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["person"].as_str().unwrap().to_lowercase(),
                c["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        expiring,
        [("grace hopper".to_owned(), "ACSE".to_owned())],
        "{card}"
    );
    // A certification re-imported under another spelling is the stored one: Grace's renewal
    // moves its expiry, and a decomposed `José` is the composed one already stored.
    let renewed = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {partner},grace hopper,ACSE,{},{later}\n\
         {partner},Jos\u{e9} Lima,ACNA,{today},{later}\n",
        year_ago.add_days(1)
    );
    let report = finance.import_csv("/api/v1/certifications/import", renewed).await;
    assert_eq!(
        (&report["inserted"], &report["updated"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    let respelled = format!(
        "partner_id,person,code,earned_on,expires_on\n{partner},JOSE\u{301}  LIMA,ACNA,{today},{later}\n"
    );
    let report = finance
        .import_csv("/api/v1/certifications/import", respelled)
        .await;
    assert_eq!(
        (&report["inserted"], &report["unchanged"]),
        (&0.into(), &1.into()),
        "{report}"
    );
    let people: Vec<String> =
        sqlx::query_scalar("SELECT person FROM certifications WHERE partner_id = $1 ORDER BY id")
            .bind(partner)
            .fetch_all(app.portal.store().pool())
            .await
            .unwrap();
    assert_eq!(
        people,
        [
            "Ada Lovelace",
            "ada  lovelace",
            "Grace Hopper",
            "GRACE HOPPER",
            "Jos\u{e9} Lima"
        ],
        "the stored spellings are kept"
    );
    let card: Value = finance
        .get_json(&format!("/api/v1/partners/{partner}/scorecard"))
        .await;
    assert_eq!(card["certified_people"], 3, "{card}");
    assert_eq!(card["expiring_certifications"], serde_json::json!([]), "{card}");
    app.cleanup().await;
}

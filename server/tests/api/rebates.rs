//! Rebates end to end: import → run → statement, for the worked examples of RULES.md §5,
//! approval and payout, restatement of a locked period, isolation and export.

use crate::helpers::{error_code, spawn_app, Db, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

crate::on_both_databases!(
    rules_5_worked_examples_through_import_and_run,
    rules_5_example_4_growth_through_import_and_run,
    rules_5_example_6_restatement_through_runs,
    a_restatement_lands_on_the_next_open_draft_whichever_period_runs_first,
    a_restatement_carried_ahead_moves_to_the_next_period_once_it_is_run,
    statements_are_approved_paid_and_never_change,
    statements_are_isolated_and_exported,
    a_plan_change_before_the_period_ends_replaces_the_draft,
    restatements_follow_the_partner_across_plans_and_program_versions,
    a_clawback_reaches_a_partner_whose_tier_lost_its_plan,
    the_audit_log_says_who_imported_approved_and_paid,
    runs_of_one_period_at_once_leave_one_draft_each,
    the_drill_down_shows_changed_sales_as_the_statement_saw_them,
    a_run_waits_for_an_import_in_progress,
    an_import_in_the_same_millisecond_as_a_run_comes_after_it,
    the_forecast_paces_the_sales_to_date_under_the_plan_at_the_period_end,
    the_forecast_carries_what_a_run_would_restate,
    statement_lists_are_filtered_and_paged,
    a_period_is_approved_together_with_the_figures_shown,
    a_draft_computed_while_its_period_ran_is_run_again_before_approval,
    a_plain_form_returns_to_its_page_saying_what_was_done,
    a_product_line_stored_in_another_case_earns_its_accelerator,
    many_partners_with_locked_quarters_are_restated_as_one_is,
);

/// Stores a version of the demo program, changed by `edit`, in force from `from`. Versions start
/// today or later through the API; this writes one directly to model a change already made.
async fn program_version_from(
    pool: &sqlx::AnyPool,
    from: &str,
    edit: impl FnOnce(&mut domain::program::ProgramDoc),
) {
    let demo = include_str!("../../../demo/acme-partner-program.toml");
    let mut document = domain::program::ProgramDoc::from_toml(demo).unwrap();
    edit(&mut document);
    document.validate().unwrap();
    sqlx::query("INSERT INTO program_versions (effective_from, document, created_at) VALUES ($1, $2, 0)")
        .bind(from)
        .bind(document.to_toml())
        .execute(pool)
        .await
        .unwrap();
}

/// The demo's Silver plan, to change in a new version.
fn silver_plan(document: &mut domain::program::ProgramDoc) -> &mut domain::program::RebatePlanDoc {
    document
        .rebate_plans
        .iter_mut()
        .find(|plan| plan.id == "silver-flat")
        .unwrap()
}

/// A reseller at a given tier rank (0 Registered … 3 Platinum), with no other facts.
async fn partner_at(app: &TestApp, name: &str, tier: i64) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) \
         VALUES ($1, 'partner', 'reseller', 'na', $2, 0) RETURNING id",
    )
    .bind(name)
    .bind(tier)
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap()
}

/// Imports sales `(external id, partner, date, product line, amount)` as finance.
async fn import(app: &TestApp, rows: &[(&str, i64, &str, &str, &str)]) {
    let mut csv = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for (id, partner, on, line, amount) in rows {
        csv.push_str(&format!("{id},{partner},{on},{line},{amount},USD\n"));
    }
    app.import_csv("/api/v1/sales/import", csv).await;
}

async fn run(app: &TestApp, period: &str) -> Value {
    let response = app
        .post_json("/api/v1/rebates/runs", &json!({ "period": period }))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

async fn statement(app: &TestApp, period: &str, partner: i64) -> Value {
    let all: Value = app
        .get_json(&format!("/api/v1/rebates/statements?period={period}"))
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|s| s["partner_id"] == partner)
        .cloned()
        .unwrap_or_else(|| panic!("no {period} statement for {partner}"))
}

fn amounts(statement: &Value) -> Vec<i64> {
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect()
}

/// Records that `partner` moved from tier `from` to `to` on `on`, as an evaluation does.
async fn tier_changed(app: &TestApp, partner: i64, on: &str, from: i64, to: i64) {
    let pool = app.portal.store().pool();
    sqlx::query(
        "INSERT INTO tier_history (partner_id, changed_on, from_rank, to_rank, cause, deciding_values, recorded_at) \
         VALUES ($1, $2, $3, $4, 'upgrade', '{}', 0)",
    )
    .bind(partner)
    .bind(on)
    .bind(from)
    .bind(to)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE organisations SET tier_rank = $1 WHERE id = $2")
        .bind(to)
        .bind(partner)
        .execute(pool)
        .await
        .unwrap();
}

/// The partner's statements of a period (all plans).
async fn statements_of(app: &TestApp, period: &str, partner: i64) -> Vec<Value> {
    let all: Value = app
        .get_json(&format!("/api/v1/rebates/statements?period={period}"))
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["partner_id"] == partner)
        .cloned()
        .collect()
}

/// Asserts a `409` whose message says `words`.
async fn refused_as_conflict(response: reqwest::Response, words: &str) {
    let e = error_code(response, StatusCode::CONFLICT).await;
    assert!(e["message"].as_str().unwrap().contains(words), "{e}");
}

async fn finance(db: Db) -> TestApp {
    let mut app = spawn_app(db).await;
    app.sign_in("finance@acme.test").await;
    app
}

async fn rules_5_worked_examples_through_import_and_run(db: Db) {
    let app = finance(db).await;
    let silver = partner_at(&app, "Example Silver", 1).await;
    let small = partner_at(&app, "Example Below Minimum", 1).await;
    let gold = partner_at(&app, "Example Gold", 2).await;
    let platinum = partner_at(&app, "Example Platinum", 3).await;
    let capped = partner_at(&app, "Example Capped", 3).await;
    import(
        &app,
        &[
            ("E1", silver, "2026-04-10", "hardware", "12345.67"),
            ("E5", small, "2026-04-10", "hardware", "9999.99"),
            ("E2a", gold, "2026-04-10", "hardware", "120000.00"),
            ("E2b", gold, "2026-05-10", "cloud", "40000.00"),
            ("E2c", gold, "2026-06-10", "hardware", "-5000.00"),
            ("E3", platinum, "2026-05-01", "hardware", "620000.00"),
            ("E3c", capped, "2026-05-01", "hardware", "800000.00"),
            ("E-other-period", silver, "2026-07-01", "hardware", "1000000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;

    // Example 1: flat 200 bp on 12,345.67 → 246.91.
    let s = statement(&app, "2026-Q2", silver).await;
    assert_eq!(
        (s["basis"].as_i64(), s["total"].as_i64(), s["status"].as_str()),
        (Some(1_234_567), Some(24_691), Some("draft"))
    );
    // Example 5: below the 10,000.00 minimum → 0.00, explained.
    let s = statement(&app, "2026-Q2", small).await;
    assert_eq!(s["total"], 0);
    assert_eq!(s["lines"][0]["kind"], "below_minimum");
    // Example 2: retroactive, 155,000.00 → 400 bp; hardware 4,600.00 + cloud × 1.5 2,400.00.
    let s = statement(&app, "2026-Q2", gold).await;
    assert_eq!(s["basis"], 15_500_000);
    assert_eq!(amounts(&s), [460_000, 240_000]);
    assert_eq!(s["total"], 700_000);
    // Example 3: incremental 620,000.00 → 3,000.00 + 20,000.00 + 8,400.00.
    let s = statement(&app, "2026-Q2", platinum).await;
    assert_eq!(amounts(&s), [300_000, 2_000_000, 840_000]);
    assert_eq!(s["total"], 3_140_000);
    // … and 800,000.00 → 44,000.00 capped to 40,000.00.
    let s = statement(&app, "2026-Q2", capped).await;
    assert_eq!(s["total"], 4_000_000);
    assert_eq!(s["lines"].as_array().unwrap().last().unwrap()["kind"], "cap");
    for s in app
        .get("/api/v1/rebates/statements?period=2026-Q2")
        .await
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
    {
        assert_eq!(
            amounts(s).iter().sum::<i64>(),
            s["total"].as_i64().unwrap(),
            "lines add up: {s}"
        );
    }
    // Recomputing a draft with the same facts gives the same statement.
    let before = statement(&app, "2026-Q2", gold).await;
    run(&app, "2026-Q2").await;
    assert_eq!(statement(&app, "2026-Q2", gold).await, before);
    app.cleanup().await;
}

async fn rules_5_example_4_growth_through_import_and_run(db: Db) {
    let app = finance(db).await;
    // A program version from June 2026 whose Gold plan pays 1,000 bp on growth.
    program_version_from(app.portal.store().pool(), "2026-06-01", |document| {
        document.rebate_plans.push(domain::program::RebatePlanDoc {
            id: "gold-growth".into(),
            name: "Gold growth rebate".into(),
            structure: "growth".into(),
            rate_bps: Some(1_000),
            bands: vec![],
            product_lines: vec![],
            min_basis: None,
            cap: None,
            accelerators: vec![],
        });
        for benefit in &mut document.tiers[2].benefits {
            if let domain::program::BenefitKind::RebatePlan { plan } = &mut benefit.kind {
                *plan = "gold-growth".into();
            }
        }
    })
    .await;
    let gold = partner_at(&app, "Growing Gold", 2).await;
    let flat = partner_at(&app, "No Baseline Gold", 2).await;
    import(
        &app,
        &[
            ("G1", gold, "2025-05-01", "hardware", "120000.00"),
            ("G2", gold, "2026-05-01", "hardware", "150000.00"),
            ("G3", flat, "2026-05-01", "hardware", "150000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    // 2026-Q2 basis 150,000.00 against 120,000.00 in 2025-Q2 → 3,000.00.
    let s = statement(&app, "2026-Q2", gold).await;
    assert_eq!(
        (s["plan_id"].as_str(), s["total"].as_i64()),
        (Some("gold-growth"), Some(300_000))
    );
    assert_eq!(s["lines"][0]["kind"], "growth");
    // No sales a year earlier: no baseline, 0.00, explained.
    let s = statement(&app, "2026-Q2", flat).await;
    assert_eq!(
        (s["total"].as_i64(), s["lines"][0]["kind"].as_str()),
        (Some(0), Some("no_baseline"))
    );
    app.cleanup().await;
}

async fn rules_5_example_6_restatement_through_runs(db: Db) {
    let app = finance(db).await;
    let silver = partner_at(&app, "Restated Silver", 1).await;
    import(
        &app,
        &[
            ("R1", silver, "2026-02-01", "hardware", "50000.00"),
            ("R2", silver, "2026-05-01", "hardware", "20000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q1").await;
    let q1 = statement(&app, "2026-Q1", silver).await;
    assert_eq!(q1["total"], 100_000, "Q1 at 1,000.00");
    let id = q1["id"].as_i64().unwrap();
    assert_eq!(
        app.post_empty(&format!("/api/v1/rebates/statements/{id}/approve"))
            .await
            .status(),
        StatusCode::OK
    );

    // A late sale dated in Q1 makes Q1 worth 1,060.00.
    import(&app, &[("R3", silver, "2026-03-15", "hardware", "3000.00")]).await;
    // The approved statement's drill-down still adds up to its basis: the late sale is shown
    // as arrived after it, outside the basis.
    let sales: Value = app
        .get_json(&format!("/api/v1/rebates/statements/{id}/sales"))
        .await;
    let sales = sales.as_array().unwrap();
    assert_eq!(sales.len(), 2, "{sales:?}");
    let late = sales.iter().find(|s| s["external_id"] == "R3").unwrap();
    assert_eq!(
        (late["counted"].as_bool(), late["arrived_later"].as_bool()),
        (Some(false), Some(true))
    );
    let counted: i64 = sales
        .iter()
        .filter(|s| s["counted"] == true)
        .map(|s| s["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, q1["basis"].as_i64().unwrap());
    let rerun = run(&app, "2026-Q1").await;
    assert_eq!(rerun["locked"], 1);
    assert_eq!(
        statement(&app, "2026-Q1", silver).await["total"],
        100_000,
        "approved statements never change"
    );

    run(&app, "2026-Q2").await;
    let q2 = statement(&app, "2026-Q2", silver).await;
    let adjustment = q2["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "adjustment")
        .unwrap()
        .clone();
    assert_eq!(adjustment["amount"], 6_000);
    assert_eq!(adjustment["description"], "2026-Q1 restatement");
    assert_eq!(q2["total"], 40_000 + 6_000);
    // Recomputing the draft carries the adjustment once, not twice.
    run(&app, "2026-Q2").await;
    assert_eq!(statement(&app, "2026-Q2", silver).await["total"], 46_000);
    // Once Q2 is locked with it, Q3 does not carry it again.
    let q2_id = q2["id"].as_i64().unwrap();
    app.post_empty(&format!("/api/v1/rebates/statements/{q2_id}/approve"))
        .await;
    import(&app, &[("R4", silver, "2026-08-01", "hardware", "10000.00")]).await;
    run(&app, "2026-Q3").await;
    let q3 = statement(&app, "2026-Q3", silver).await;
    assert!(
        q3["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"] != "adjustment"),
        "{q3}"
    );
    app.cleanup().await;
}

/// The adjustment lines of a partner's statement of a period, as `(description, amount)`.
async fn adjustments(app: &TestApp, period: &str, partner: i64) -> Vec<(String, i64)> {
    statement(app, period, partner).await["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "adjustment")
        .map(|l| {
            (
                l["description"].as_str().unwrap().to_owned(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn a_restatement_lands_on_the_next_open_draft_whichever_period_runs_first(db: Db) {
    let app = finance(db).await;
    let silver = partner_at(&app, "Next Draft Silver", 1).await;
    import(
        &app,
        &[
            ("N1", silver, "2026-02-01", "hardware", "50000.00"),
            ("N2", silver, "2026-05-01", "hardware", "20000.00"),
            ("N3", silver, "2026-08-01", "hardware", "10000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q1").await;
    let q1 = statement(&app, "2026-Q1", silver).await;
    app.post_empty(&format!("/api/v1/rebates/statements/{}/approve", q1["id"]))
        .await;
    run(&app, "2026-Q2").await;
    // A late Q1 sale makes Q1 worth 1,060.00. Q3 is run first, yet Q2's draft is the next open
    // statement: Q3 carries nothing, and Q2 carries the +60.00 once it is run again.
    import(&app, &[("N4", silver, "2026-03-15", "hardware", "3000.00")]).await;
    run(&app, "2026-Q3").await;
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, []);
    run(&app, "2026-Q2").await;
    let restated = vec![("2026-Q1 restatement".to_owned(), 6_000)];
    assert_eq!(adjustments(&app, "2026-Q2", silver).await, restated);
    run(&app, "2026-Q3").await;
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, []);
    assert_eq!(statement(&app, "2026-Q3", silver).await["total"], 20_000);
    // The late sale turns out to be Q3's: Q1 is worth 1,000.00 again. Neither draft answers the
    // other with a line of opposite sign, in either order of runs.
    import(&app, &[("N4", silver, "2026-07-15", "hardware", "3000.00")]).await;
    run(&app, "2026-Q3").await;
    run(&app, "2026-Q2").await;
    run(&app, "2026-Q3").await;
    assert_eq!(adjustments(&app, "2026-Q2", silver).await, []);
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, []);
    assert_eq!(statement(&app, "2026-Q3", silver).await["total"], 26_000);
    // Once Q2 is approved, the next open draft is Q3's.
    import(&app, &[("N5", silver, "2026-03-20", "hardware", "1000.00")]).await;
    run(&app, "2026-Q2").await;
    assert_eq!(
        adjustments(&app, "2026-Q2", silver).await,
        [("2026-Q1 restatement".to_owned(), 2_000)]
    );
    let q2 = statement(&app, "2026-Q2", silver).await;
    app.post_empty(&format!("/api/v1/rebates/statements/{}/approve", q2["id"]))
        .await;
    import(&app, &[("N6", silver, "2026-03-25", "hardware", "500.00")]).await;
    run(&app, "2026-Q3").await;
    assert_eq!(
        adjustments(&app, "2026-Q3", silver).await,
        [("2026-Q1 restatement".to_owned(), 1_000)],
        "only what the approved Q2 did not carry"
    );
    // A draft left beside the approved Q2 (written by an older version) is stale: it is no open
    // statement, and Q3 still carries what Q1 now owes.
    sqlx::query(
        "INSERT INTO rebate_statements (partner_id, plan_id, plan_name, period, tier_rank, status, basis_minor, \
         total_minor, currency, lines, computed_at) VALUES ($1, 'gold-retroactive', 'Gold', '2026-Q2', 2, 'draft', 0, 0, 'USD', '[]', 0)",
    )
    .bind(silver)
    .execute(app.portal.store().pool())
    .await
    .unwrap();
    import(&app, &[("N7", silver, "2026-03-26", "hardware", "500.00")]).await;
    run(&app, "2026-Q3").await;
    assert_eq!(
        adjustments(&app, "2026-Q3", silver).await,
        [("2026-Q1 restatement".to_owned(), 2_000)]
    );
    app.cleanup().await;
}

/// A later period run before the next one carries a locked period's difference while no open
/// statement stands between them. Once the next period is run, the difference moves to it and
/// off the later draft, and runs in any order leave it there: carried once, never lost.
async fn a_restatement_carried_ahead_moves_to_the_next_period_once_it_is_run(db: Db) {
    let app = finance(db).await;
    let silver = partner_at(&app, "Ahead Silver", 1).await;
    let alone = partner_at(&app, "Ahead Restated Alone", 1).await;
    import(
        &app,
        &[
            ("A1", silver, "2026-02-01", "hardware", "50000.00"),
            ("A2", silver, "2026-05-01", "hardware", "20000.00"),
            ("A3", silver, "2026-08-01", "hardware", "10000.00"),
            ("B1", alone, "2026-02-01", "hardware", "50000.00"),
            ("B2", alone, "2026-05-01", "hardware", "20000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q1").await;
    for partner in [silver, alone] {
        let q1 = statement(&app, "2026-Q1", partner).await;
        app.post_empty(&format!("/api/v1/rebates/statements/{}/approve", q1["id"]))
            .await;
    }
    // Late Q1 sales make Q1 worth 1,060.00 to each while Q2 has no statement yet: Q3, run
    // first, carries the +60.00.
    import(
        &app,
        &[
            ("A4", silver, "2026-03-15", "hardware", "3000.00"),
            ("B4", alone, "2026-03-15", "hardware", "3000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q3").await;
    let restated = vec![("2026-Q1 restatement".to_owned(), 6_000)];
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, restated);
    let q3_computed = statement(&app, "2026-Q3", silver).await;
    assert_eq!(q3_computed["total"], 26_000);
    // The other partner's Q3 draft carries that line alone, as one does when the tier has no
    // plan at the period's end.
    let q3_alone = statement(&app, "2026-Q3", alone).await;
    let only_restated: Vec<&Value> = q3_alone["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "adjustment")
        .collect();
    assert_eq!(only_restated.len(), 1, "{q3_alone}");
    sqlx::query(
        "UPDATE rebate_statements SET plan_id = '', plan_name = 'No rebate plan: restatements only', \
         basis_minor = 0, total_minor = 6000, lines = $1 WHERE id = $2",
    )
    .bind(serde_json::to_string(&only_restated).unwrap())
    .bind(q3_alone["id"].as_i64().unwrap())
    .execute(app.portal.store().pool())
    .await
    .unwrap();

    // Q2, run now, is the next statement: the line moves to it. Q3's draft loses it (the
    // statement of restatements alone is discarded), and the audit log says where it went.
    run(&app, "2026-Q2").await;
    assert_eq!(adjustments(&app, "2026-Q2", silver).await, restated);
    assert_eq!(statement(&app, "2026-Q2", silver).await["total"], 46_000);
    let q3 = statement(&app, "2026-Q3", silver).await;
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, []);
    assert_eq!(q3["total"], 20_000, "{q3}");
    assert_eq!(
        q3["computed_at"], q3_computed["computed_at"],
        "its basis was not recomputed, so neither is its time"
    );
    let moved: Vec<String> = sqlx::query_scalar(
        "SELECT after_json FROM audit_log WHERE action = 'statement.recompute' AND entity_id = $1",
    )
    .bind(q3["id"].as_i64().unwrap().to_string())
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert!(
        moved
            .iter()
            .any(|m| m.contains(r#""restatements_moved_to":"2026-Q2""#) && m.contains(r#""total":20000"#)),
        "{moved:?}"
    );
    assert_eq!(adjustments(&app, "2026-Q2", alone).await, restated);
    assert_eq!(statements_of(&app, "2026-Q3", alone).await, Vec::<Value>::new());
    let discarded: Vec<String> =
        sqlx::query_scalar("SELECT entity_id FROM audit_log WHERE action = 'statement.discard'")
            .fetch_all(app.portal.store().pool())
            .await
            .unwrap();
    assert_eq!(discarded, [q3_alone["id"].as_i64().unwrap().to_string()]);

    // Runs again, in either order, leave it where it is.
    for period in ["2026-Q3", "2026-Q2", "2026-Q3"] {
        run(&app, period).await;
        assert_eq!(
            adjustments(&app, "2026-Q2", silver).await,
            restated,
            "after {period}"
        );
        assert_eq!(adjustments(&app, "2026-Q3", silver).await, [], "after {period}");
    }
    // Once Q2 is approved with it, Q3 owes nothing more for Q1.
    let q2 = statement(&app, "2026-Q2", silver).await;
    app.post_empty(&format!("/api/v1/rebates/statements/{}/approve", q2["id"]))
        .await;
    run(&app, "2026-Q3").await;
    assert_eq!(adjustments(&app, "2026-Q3", silver).await, []);
    assert_eq!(statement(&app, "2026-Q3", silver).await["total"], 20_000);
    app.cleanup().await;
}

async fn statements_are_approved_paid_and_never_change(db: Db) {
    let app = finance(db).await;
    let gold = partner_at(&app, "Lifecycle Gold", 2).await;
    import(&app, &[("L1", gold, "2026-04-01", "hardware", "100000.00")]).await;

    // A draft of the period still running says when it can be approved, and is not approved
    // before: its plan is the tier's on the last day, and more sales may come.
    let today = app.portal.today();
    let calendar = app
        .portal
        .program_on(today)
        .await
        .unwrap()
        .unwrap()
        .program
        .ladder
        .calendar;
    let current = calendar.period_of(today);
    let (_, last_day) = calendar.range(current);
    import(&app, &[("L-NOW", gold, &today.to_string(), "hardware", "500.00")]).await;
    run(&app, &current.to_string()).await;
    let running = statement(&app, &current.to_string(), gold).await;
    assert_eq!(
        running["approvable_from"],
        last_day.add_days(1).to_string(),
        "{running}"
    );
    let running_id = running["id"].as_i64().unwrap();
    refused_as_conflict(
        app.post_empty(&format!("/api/v1/rebates/statements/{running_id}/approve"))
            .await,
        "still running",
    )
    .await;
    assert_eq!(
        statement(&app, &current.to_string(), gold).await["status"],
        "draft"
    );
    run(&app, "2026-Q2").await;
    let id = statement(&app, "2026-Q2", gold).await["id"].as_i64().unwrap();
    let e = error_code(
        app.post_json(
            &format!("/api/v1/rebates/statements/{id}/pay"),
            &json!({ "payout_reference": "PO-1" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["code"], "conflict");
    // An approval may name the total the approver was shown: another total is refused, and the
    // draft stays a draft.
    let shown = statement(&app, "2026-Q2", gold).await["total"].as_i64().unwrap();
    let e = error_code(
        app.post_json(
            &format!("/api/v1/rebates/statements/{id}/approve"),
            &json!({ "total": shown - 6_000 }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("not the "), "{e}");
    assert_eq!(statement(&app, "2026-Q2", gold).await["status"], "draft");
    let e = error_code(
        app.post_json(
            &format!("/api/v1/rebates/statements/{id}/approve"),
            &json!({ "total": "all of it" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "total", "{e}");
    let approved: Value = app
        .post_json(
            &format!("/api/v1/rebates/statements/{id}/approve"),
            &json!({ "total": shown }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["total"], shown);
    error_code(
        app.post_empty(&format!("/api/v1/rebates/statements/{id}/approve"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    // Blank, more than one line, or longer than any payout system's reference: refused.
    let too_long = "P".repeat(141);
    for reference in [
        " ",
        "PO-1\nPO-2",
        "PO\t1",
        "PO-1\u{2028}PO-2",
        "PO-\u{202E}1-OP",
        "\u{200B}",
        "PO\u{200E}1",
        "\u{FEFF}PO-1",
        "-PAY-0042",
        "=HYPERLINK(\"x\")",
        "@PO",
        too_long.as_str(),
    ] {
        let e = error_code(
            app.post_json(
                &format!("/api/v1/rebates/statements/{id}/pay"),
                &json!({ "payout_reference": reference }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(e["field"], "payout_reference", "{reference:?}");
    }
    let paid: Value = app
        .post_json(
            &format!("/api/v1/rebates/statements/{id}/pay"),
            &json!({ "payout_reference": "PO-2026-0042" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["payout_reference"].as_str()),
        (Some("paid"), Some("PO-2026-0042"))
    );
    import(&app, &[("L2", gold, "2026-05-01", "hardware", "900000.00")]).await;
    run(&app, "2026-Q2").await;
    assert_eq!(
        statement(&app, "2026-Q2", gold).await,
        paid,
        "paid statements never change"
    );
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity_type = 'rebate_statement' ORDER BY id")
            .fetch_all(app.portal.store().pool())
            .await
            .unwrap();
    assert_eq!(actions, ["statement.approve", "statement.pay"]);
    let mut cm = app.another_client();
    cm.sign_in("cm@acme.test").await;
    error_code(
        cm.post_json("/api/v1/rebates/runs", &json!({ "period": "2026-Q2" }))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let e = error_code(
        app.post_json("/api/v1/rebates/runs", &json!({ "period": "2026-Q5" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "period");
    // A period that has not begun cannot be run: it would only soak up restatements.
    let e = error_code(
        app.post_json("/api/v1/rebates/runs", &json!({ "period": "9999-Q4" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "period");
    assert!(e["message"].as_str().unwrap().contains("has not begun"), "{e}");
    app.cleanup().await;
}

async fn statements_are_isolated_and_exported(db: Db) {
    let app = finance(db).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, id FROM organisations WHERE kind = 'partner'")
            .fetch_all(app.portal.store().pool())
            .await
            .unwrap();
    let id_of = |name: &str| rows.iter().find(|(n, _)| n == name).unwrap().1;
    let (northwind, contoso, fabrikam) = (
        id_of("Northwind Systems"),
        id_of("Contoso Distribution"),
        id_of("Fabrikam IT"),
    );
    import(
        &app,
        &[
            ("I1", northwind, "2026-05-01", "hardware", "200000.00"),
            ("I2", contoso, "2026-05-01", "hardware", "300000.00"),
            ("I3", fabrikam, "2026-05-01", "hardware", "60000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    let contoso_statement = statement(&app, "2026-Q2", contoso).await["id"].as_i64().unwrap();
    let fabrikam_statement = statement(&app, "2026-Q2", fabrikam).await["id"].as_i64().unwrap();

    let mut northwind_admin = app.another_client();
    northwind_admin.sign_in("admin@northwind.test").await;
    let own: Value = northwind_admin.get_json("/api/v1/rebates/statements").await;
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|s| s["partner_id"] == northwind),
        "{own}"
    );
    assert!(!own.as_array().unwrap().is_empty());
    error_code(
        northwind_admin
            .get(&format!("/api/v1/rebates/statements/{contoso_statement}"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Refused as finance's, whatever the query says.
    for query in ["period=2026-Q2", "period=nope&status=owed"] {
        error_code(
            northwind_admin
                .get(&format!("/api/v1/rebates/statements.csv?{query}"))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }

    let mut contoso_admin = app.another_client();
    contoso_admin.sign_in("admin@contoso.test").await;
    assert_eq!(
        contoso_admin
            .get(&format!("/api/v1/rebates/statements/{fabrikam_statement}"))
            .await
            .status(),
        StatusCode::OK
    );
    let mut fabrikam_user = app.another_client();
    fabrikam_user.sign_in("sales@fabrikam.test").await;
    // The statement, its drill-down and the drill-down's export alike.
    for path in ["", "/sales", "/sales.csv"] {
        let other = format!("/api/v1/rebates/statements/{contoso_statement}{path}");
        error_code(fabrikam_user.get(&other).await, StatusCode::NOT_FOUND).await;
        error_code(northwind_admin.get(&other).await, StatusCode::NOT_FOUND).await;
        let reseller = format!("/api/v1/rebates/statements/{fabrikam_statement}{path}");
        assert_eq!(
            contoso_admin.get(&reseller).await.status(),
            StatusCode::OK,
            "{reseller}"
        );
        assert_eq!(
            fabrikam_user.get(&reseller).await.status(),
            StatusCode::OK,
            "{reseller}"
        );
    }
    // Vendor staff other than finance and vendor admins have no business with payouts.
    for email in ["cm@acme.test", "publisher@acme.test"] {
        let mut staff = app.another_client();
        staff.sign_in(email).await;
        let refused = error_code(
            staff.get("/api/v1/rebates/statements").await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains("finance"),
            "{refused}"
        );
        for path in ["", "/sales", "/sales.csv"] {
            let one = format!("/api/v1/rebates/statements/{contoso_statement}{path}");
            error_code(staff.get(&one).await, StatusCode::FORBIDDEN).await;
        }
    }
    // Approving and paying are finance's: another organisation's statement is not found, one's
    // own is refused.
    for (action, body) in [
        ("approve", json!({})),
        ("pay", json!({ "payout_reference": "P-1" })),
    ] {
        let other = format!("/api/v1/rebates/statements/{contoso_statement}/{action}");
        for client in [&fabrikam_user, &northwind_admin] {
            error_code(client.post_json(&other, &body).await, StatusCode::NOT_FOUND).await;
        }
        let own = format!("/api/v1/rebates/statements/{fabrikam_statement}/{action}");
        error_code(fabrikam_user.post_json(&own, &body).await, StatusCode::FORBIDDEN).await;
    }

    let export = |query: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/rebates/statements.csv?period=2026-Q2{query}"))
                .await
                .text()
                .await
                .unwrap()
        }
    };
    let header = "statement_id,partner_id,partner,period,plan,status,basis,total,currency,payout_reference\n";
    // Drafts are not owed: the payout export leaves them out unless asked.
    assert_eq!(export("").await, header);
    let csv = export("&status=all").await;
    assert!(csv.starts_with(header), "{csv}");
    let contoso_row = format!("{contoso_statement},{contoso},Contoso Distribution,2026-Q2,");
    assert!(csv.contains(&contoso_row), "{csv}");
    assert!(csv.contains(",draft,"), "{csv}");
    app.post_empty(&format!("/api/v1/rebates/statements/{contoso_statement}/approve"))
        .await;
    let csv = export("").await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert_eq!(export("&status=").await, csv, "an empty status reads as left out");
    assert!(csv.contains(&contoso_row) && csv.contains(",approved,"), "{csv}");
    let drafts = export("&status=draft").await;
    assert!(!drafts.contains(&contoso_row), "{drafts}");
    assert_eq!(
        drafts.lines().count() + 1,
        export("&status=all").await.lines().count(),
        "{drafts}"
    );
    let e = error_code(
        app.get("/api/v1/rebates/statements.csv?period=2026-Q2&status=owed")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "status");
    error_code(
        app.another_client().get("/api/v1/rebates/statements").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Finance sees who approved and paid a statement, and when; the partner sees when only.
    let id = statement(&app, "2026-Q2", northwind).await["id"]
        .as_i64()
        .unwrap();
    app.post_empty(&format!("/api/v1/rebates/statements/{id}/approve"))
        .await;
    let paid: Value = app
        .post_json(
            &format!("/api/v1/rebates/statements/{id}/pay"),
            &json!({ "payout_reference": "PO-ISO-1" }),
        )
        .await
        .json()
        .await
        .unwrap();
    for field in ["approved_by", "paid_by"] {
        assert_eq!(paid[field], "finance@acme.test", "{paid}");
    }
    assert!(paid["approved_at"].as_i64().unwrap() <= paid["paid_at"].as_i64().unwrap());
    let seen: Value = northwind_admin
        .get_json(&format!("/api/v1/rebates/statements/{id}"))
        .await;
    for field in ["approved_at", "paid_at", "payout_reference"] {
        assert_eq!(seen[field], paid[field], "{field}: {seen}");
    }
    for field in ["approved_by", "paid_by"] {
        assert_eq!(seen[field], Value::Null, "{field}: {seen}");
    }
    app.cleanup().await;
}

async fn a_plan_change_before_the_period_ends_replaces_the_draft(db: Db) {
    let app = finance(db).await;
    let rising = partner_at(&app, "Rising Silver", 1).await;
    let settled = partner_at(&app, "Settled Silver", 1).await;
    import(
        &app,
        &[
            ("P1", rising, "2026-05-01", "hardware", "20000.00"),
            ("P2", settled, "2026-05-01", "hardware", "20000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    assert_eq!(statement(&app, "2026-Q2", rising).await["plan_id"], "silver-flat");
    // `settled` has its Silver statement approved before its upgrade is known.
    let approved = statement(&app, "2026-Q2", settled).await;
    let approved_id = approved["id"].as_i64().unwrap();
    app.post_empty(&format!("/api/v1/rebates/statements/{approved_id}/approve"))
        .await;

    // Both move up to Gold before the quarter ends: Gold's plan applies to the whole quarter.
    tier_changed(&app, rising, "2026-06-10", 1, 2).await;
    tier_changed(&app, settled, "2026-06-10", 1, 2).await;
    let summary = run(&app, "2026-Q2").await;
    assert_eq!(summary["locked"], 1);
    let rising_statements = statements_of(&app, "2026-Q2", rising).await;
    assert_eq!(
        rising_statements.len(),
        1,
        "one statement, never two to pay: {rising_statements:?}"
    );
    assert_eq!(rising_statements[0]["plan_id"], "gold-retroactive");
    assert_eq!(rising_statements[0]["total"], 60_000, "20,000.00 at 300 bp");
    // The approved statement settles the quarter: no second (Gold) statement beside it.
    let settled_statements = statements_of(&app, "2026-Q2", settled).await;
    assert_eq!(settled_statements.len(), 1, "{settled_statements:?}");
    assert_eq!(settled_statements[0]["id"], approved_id);
    assert_eq!(settled_statements[0]["total"], approved["total"]);
    let discarded: Vec<String> = sqlx::query_scalar(
        "SELECT before_json FROM audit_log WHERE action = 'statement.discard' ORDER BY id",
    )
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(discarded.len(), 1, "{discarded:?}");
    assert!(discarded[0].contains("silver-flat"), "{discarded:?}");
    // A draft left beside a locked statement (written by an older version) is never approved.
    let leftover: i64 = sqlx::query_scalar(
        "INSERT INTO rebate_statements (partner_id, plan_id, plan_name, period, tier_rank, status, basis_minor, \
         total_minor, currency, lines, computed_at) VALUES ($1, 'gold-retroactive', 'Gold', '2026-Q2', 2, 'draft', 0, 0, 'USD', '[]', 0) \
         RETURNING id",
    )
    .bind(settled)
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    refused_as_conflict(
        app.post_empty(&format!("/api/v1/rebates/statements/{leftover}/approve"))
            .await,
        "already approved",
    )
    .await;
    app.cleanup().await;
}

async fn restatements_follow_the_partner_across_plans_and_program_versions(db: Db) {
    let app = finance(db).await;
    let partner = partner_at(&app, "Versioned Silver", 1).await;
    import(
        &app,
        &[
            ("V1", partner, "2026-02-01", "hardware", "50000.00"),
            ("V2", partner, "2026-05-01", "hardware", "10000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q1").await;
    let q1 = statement(&app, "2026-Q1", partner).await;
    assert_eq!(q1["total"], 100_000, "50,000.00 at 200 bp");
    let q1_id = q1["id"].as_i64().unwrap();
    app.post_empty(&format!("/api/v1/rebates/statements/{q1_id}/approve"))
        .await;

    // From Q2 the Silver plan pays 300 bp. Q1 was paid under the version in force then, and
    // its facts have not changed: nothing to restate.
    program_version_from(app.portal.store().pool(), "2026-04-01", |document| {
        silver_plan(document).rate_bps = Some(300);
    })
    .await;
    run(&app, "2026-Q2").await;
    let q2 = statement(&app, "2026-Q2", partner).await;
    assert_eq!(
        amounts(&q2),
        [30_000],
        "10,000.00 at the new 300 bp, no adjustment: {q2}"
    );

    // The partner moves up to Gold in Q2, and a late Q1 sale arrives: Q1 is now worth
    // 53,000.00 at Q1's 200 bp = 1,060.00, and the +60.00 goes on the Gold statement.
    import(&app, &[("V3", partner, "2026-03-15", "hardware", "3000.00")]).await;
    tier_changed(&app, partner, "2026-04-15", 1, 2).await;
    run(&app, "2026-Q2").await;
    let q2 = statement(&app, "2026-Q2", partner).await;
    assert_eq!(q2["plan_id"], "gold-retroactive");
    assert_eq!(amounts(&q2), [30_000, 6_000], "{q2}");
    assert_eq!(q2["lines"][1]["description"], "2026-Q1 restatement");
    assert_eq!(q2["total"], 36_000);
    assert_eq!(statements_of(&app, "2026-Q2", partner).await.len(), 1);
    app.cleanup().await;
}

/// A partner that falls to a tier without a plan still gets what a locked period now owes or
/// takes back: a statement of the restatements alone, approved and paid like any other.
async fn a_clawback_reaches_a_partner_whose_tier_lost_its_plan(db: Db) {
    let app = finance(db).await;
    let partner = partner_at(&app, "Lapsed Silver", 1).await;
    let bystander = partner_at(&app, "Never Planned", 0).await;
    import(&app, &[("L1", partner, "2026-02-01", "hardware", "50000.00")]).await;
    run(&app, "2026-Q1").await;
    let q1 = statement(&app, "2026-Q1", partner).await;
    assert_eq!(q1["total"], 100_000, "50,000.00 at 200 bp");
    let q1_id = q1["id"].as_i64().unwrap();
    let approved = app
        .post_empty(&format!("/api/v1/rebates/statements/{q1_id}/approve"))
        .await;
    assert_eq!(approved.status(), StatusCode::OK);

    // The partner lapses to Registered, which has no plan, and a Q1 return arrives: Q1 is now
    // worth 40,000.00 at 200 bp = 800.00, so 200.00 is taken back.
    tier_changed(&app, partner, "2026-04-15", 1, 0).await;
    import(&app, &[("L2", partner, "2026-03-20", "hardware", "-10000.00")]).await;
    // Before 2026-Q2 is run, a run of today's period would carry the clawback: the forecast
    // says so, as restatements alone.
    let forecast: Value = app
        .get_json(&format!("/api/v1/partners/{partner}/rebate-forecast"))
        .await;
    assert_eq!(
        (
            forecast["restatements_only"].as_bool(),
            forecast["total"].as_i64(),
            forecast["lines"][0]["description"].as_str()
        ),
        (Some(true), Some(-20_000), Some("2026-Q1 restatement")),
        "{forecast}"
    );
    for _ in 0..2 {
        run(&app, "2026-Q2").await;
        let q2 = statements_of(&app, "2026-Q2", partner).await;
        assert_eq!(q2.len(), 1, "one statement, kept across runs: {q2:?}");
        let q2 = &q2[0];
        assert_eq!(q2["plan_id"], "", "{q2}");
        assert_eq!(q2["plan_name"], "No rebate plan: restatements only", "{q2}");
        assert_eq!(
            (&q2["basis"], &q2["total"]),
            (&0.into(), &(-20_000).into()),
            "{q2}"
        );
        assert_eq!(amounts(q2), [-20_000], "{q2}");
        assert_eq!(q2["lines"][0]["description"], "2026-Q1 restatement");
    }
    assert!(statements_of(&app, "2026-Q2", bystander).await.is_empty());
    let q2_id = statement(&app, "2026-Q2", partner).await["id"].as_i64().unwrap();
    let sales = app
        .get(&format!("/api/v1/rebates/statements/{q2_id}/sales"))
        .await;
    assert_eq!(sales.status(), StatusCode::OK);
    let approved = app
        .post_empty(&format!("/api/v1/rebates/statements/{q2_id}/approve"))
        .await;
    assert_eq!(approved.status(), StatusCode::OK);
    let csv = app
        .get("/api/v1/rebates/statements.csv?period=2026-Q2")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("-200.00"), "{csv}");

    // Taken back once: the next period owes nothing more, and the partner has no statement.
    run(&app, "2026-Q3").await;
    assert!(statements_of(&app, "2026-Q3", partner).await.is_empty());
    app.cleanup().await;
}

async fn the_audit_log_says_who_imported_approved_and_paid(db: Db) {
    let app = finance(db).await;
    let gold = partner_at(&app, "Audited Gold", 2).await;
    import(&app, &[("AU1", gold, "2026-05-01", "hardware", "100000.00")]).await;
    run(&app, "2026-Q2").await;
    let first = statement(&app, "2026-Q2", gold).await;
    let id = first["id"].as_i64().unwrap();
    // A rerun that changes nothing leaves no entry; one that moves the total records it.
    run(&app, "2026-Q2").await;
    import(&app, &[("AU2", gold, "2026-05-02", "hardware", "50000.00")]).await;
    let rerun = run(&app, "2026-Q2").await;
    let recomputed = statement(&app, "2026-Q2", gold).await;
    assert_eq!(recomputed["id"], id, "the draft is recomputed in place");
    app.post_empty(&format!("/api/v1/rebates/statements/{id}/approve"))
        .await;
    app.post_json(
        &format!("/api/v1/rebates/statements/{id}/pay"),
        &json!({ "payout_reference": "PO-77" }),
    )
    .await;

    let page: Value = app
        .get_json(&format!("/api/v1/audit?action=statement.&entity_id={id}"))
        .await;
    let entries = page["entries"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("statement.pay", "finance@acme.test"),
            ("statement.approve", "finance@acme.test"),
            ("statement.recompute", "finance@acme.test")
        ],
        "newest first: {page}"
    );
    assert_eq!(entries[2]["before"]["total"], first["total"]);
    assert_eq!(entries[2]["after"]["total"], recomputed["total"]);
    assert_eq!(entries[2]["before"]["basis"], 10_000_000);
    assert_eq!(entries[2]["after"]["basis"], 15_000_000);
    assert_eq!(entries[2]["after"]["run_id"], rerun["id"]);
    assert_eq!(entries[0]["after"]["payout_reference"], "PO-77");
    assert_eq!(entries[0]["before"]["status"], "approved");
    // Who was paid how much for what reads from the log alone.
    for paid_or_approved in &entries[..2] {
        let after = &paid_or_approved["after"];
        assert_eq!(
            (
                &after["partner_id"],
                &after["period"],
                &after["total_minor"],
                &after["currency"]
            ),
            (
                &recomputed["partner_id"],
                &json!("2026-Q2"),
                &recomputed["total"],
                &json!("USD")
            ),
            "{after}"
        );
        assert_eq!(after["partner"], recomputed["partner_name"]);
    }
    assert!(entries[0]["occurred_at"].as_i64().unwrap() > 0);
    let imports: Value = app.get_json("/api/v1/audit?action=sales.import").await;
    assert_eq!(imports["entries"][0]["actor"], "finance@acme.test");
    assert_eq!(imports["entries"][0]["after"]["inserted"], 1);

    // Paging: one at a time, each page pointing at the next.
    let first: Value = app.get("/api/v1/audit?limit=1").await.json().await.unwrap();
    let older = first["older"].as_i64().expect("an older page");
    assert_eq!(first["entries"].as_array().unwrap().len(), 1);
    let second: Value = app
        .get_json(&format!("/api/v1/audit?limit=1&before={older}"))
        .await;
    assert!(second["entries"][0]["id"].as_i64().unwrap() < first["entries"][0]["id"].as_i64().unwrap());
    // Filters and paging together: every page holds only what the filters match.
    let statements: Value = app
        .get_json("/api/v1/audit?entity_type=rebate_statement&action=statement.&limit=1")
        .await;
    let newest = &statements["entries"][0];
    assert_eq!(newest["entity_type"], "rebate_statement", "{statements}");
    let older = statements["older"].as_i64().expect("an older statement entry");
    let next: Value = app
        .get_json(&format!(
            "/api/v1/audit?entity_type=rebate_statement&action=statement.&limit=50&before={older}"
        ))
        .await;
    let next = next["entries"].as_array().unwrap();
    assert!(!next.is_empty());
    assert!(next.iter().all(|e| e["entity_type"] == "rebate_statement"
        && e["action"].as_str().unwrap().starts_with("statement.")
        && e["id"].as_i64().unwrap() < older));

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("before=yesterday", "before"),
    ] {
        let e = error_code(
            app.get(&format!("/api/v1/audit?{query}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(e["field"], field, "{query}");
    }
    for email in ["admin@northwind.test", "cm@acme.test"] {
        let mut other = app.another_client();
        other.sign_in(email).await;
        error_code(other.get("/api/v1/audit").await, StatusCode::FORBIDDEN).await;
    }
    app.cleanup().await;
}

/// A double click, or two finance users at once: the runs take turns, so every one stores its
/// drafts (the later ones recompute them) and each partner ends with one draft.
async fn runs_of_one_period_at_once_leave_one_draft_each(db: Db) {
    let app = finance(db).await;
    let mut rows = Vec::new();
    for i in 0..40 {
        let partner = partner_at(&app, &format!("Concurrent Gold {i}"), 2).await;
        rows.push((format!("C{i}"), partner));
    }
    let rows: Vec<(&str, i64, &str, &str, &str)> = rows
        .iter()
        .map(|(id, partner)| (id.as_str(), *partner, "2026-04-01", "hardware", "50000.00"))
        .collect();
    import(&app, &rows).await;
    let body = json!({ "period": "2026-Q2" });
    let answers =
        futures_util::future::join_all((0..4).map(|_| app.post_json("/api/v1/rebates/runs", &body))).await;
    for answer in answers {
        assert_eq!(
            answer.status(),
            StatusCode::CREATED,
            "{}",
            answer.text().await.unwrap()
        );
    }
    run(&app, "2026-Q2").await;
    for (_, partner, ..) in &rows {
        let statements = statements_of(&app, "2026-Q2", *partner).await;
        assert_eq!(statements.len(), 1, "one draft for {partner}");
        // 3% of 50,000.00 under the Gold plan's first band.
        assert_eq!(statements[0]["total"], 150_000, "{}", statements[0]);
    }
    app.cleanup().await;
}

/// `(external id, amount, counted, arrived later, changed later)` of a statement's drill-down.
async fn drill_down(app: &TestApp, statement: i64) -> Vec<(String, i64, bool, bool, bool)> {
    let sales: Value = app
        .get_json(&format!("/api/v1/rebates/statements/{statement}/sales"))
        .await;
    sales
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["external_id"].as_str().unwrap().to_owned(),
                s["amount"].as_i64().unwrap(),
                s["counted"].as_bool().unwrap(),
                s["arrived_later"].as_bool().unwrap(),
                s["changed_later"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Re-imports after approval change a sale's amount and move another to a second partner: each
/// approved statement's drill-down still shows the sales as it counted them, adding up to its
/// basis, and the moved sale shows on the new partner's as arrived later.
async fn the_drill_down_shows_changed_sales_as_the_statement_saw_them(db: Db) {
    let app = finance(db).await;
    let first = partner_at(&app, "Drill First", 1).await;
    let second = partner_at(&app, "Drill Second", 1).await;
    import(
        &app,
        &[
            ("D1", first, "2026-02-01", "hardware", "50000.00"),
            ("D2", first, "2026-02-10", "hardware", "20000.00"),
            ("D3", second, "2026-02-05", "hardware", "30000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q1").await;
    let mut ids = Vec::new();
    for partner in [first, second] {
        let id = statement(&app, "2026-Q1", partner).await["id"].as_i64().unwrap();
        app.post_empty(&format!("/api/v1/rebates/statements/{id}/approve"))
            .await;
        ids.push(id);
    }
    import(
        &app,
        &[
            ("D1", first, "2026-02-01", "hardware", "60000.00"),
            ("D2", second, "2026-02-10", "hardware", "20000.00"),
        ],
    )
    .await;
    // A second change: the drill-down still shows what the statement counted.
    import(&app, &[("D1", first, "2026-02-01", "hardware", "70000.00")]).await;

    let rows = |v: &[(&str, i64, bool, bool, bool)]| -> Vec<(String, i64, bool, bool, bool)> {
        v.iter()
            .map(|(id, a, c, l, ch)| (id.to_string(), *a, *c, *l, *ch))
            .collect()
    };
    assert_eq!(
        drill_down(&app, ids[0]).await,
        rows(&[
            ("D1", 5_000_000, true, false, true),
            ("D2", 2_000_000, true, false, true),
        ])
    );
    assert_eq!(
        drill_down(&app, ids[1]).await,
        rows(&[
            ("D3", 3_000_000, true, false, false),
            ("D2", 2_000_000, false, true, false),
        ])
    );
    // The export says the same, for a spreadsheet.
    let export = |id: i64| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/v1/rebates/statements/{id}/sales.csv"))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers()["content-disposition"],
                format!("attachment; filename=\"statement-{id}-sales.csv\"").as_str()
            );
            response.text().await.unwrap()
        }
    };
    let header = "external_id,booked_on,product_line,amount,in_basis\n";
    assert_eq!(
        export(ids[0]).await,
        format!(
            "{header}D1,2026-02-01,hardware,50000.00,\"Yes, as it was before a later change\"\n\
             D2,2026-02-10,hardware,20000.00,\"Yes, as it was before a later change\"\n"
        )
    );
    assert_eq!(
        export(ids[1]).await,
        format!("{header}D3,2026-02-05,hardware,30000.00,Yes\nD2,2026-02-10,hardware,20000.00,No: arrived later\n")
    );
    for (id, partner, basis) in [(ids[0], first, 7_000_000), (ids[1], second, 3_000_000)] {
        assert_eq!(statement(&app, "2026-Q1", partner).await["basis"], basis);
        let counted: i64 = drill_down(&app, id)
            .await
            .iter()
            .filter(|s| s.2)
            .map(|s| s.1)
            .sum();
        assert_eq!(counted, basis, "statement {id}");
    }
    app.cleanup().await;
}

/// The counted rows of a drill-down add up to the statement's basis.
async fn assert_counted_rows_make_the_basis(app: &TestApp, period: &str, partner: i64) {
    let statement = statement(app, period, partner).await;
    let counted: i64 = drill_down(app, statement["id"].as_i64().unwrap())
        .await
        .iter()
        .filter(|s| s.2)
        .map(|s| s.1)
        .sum();
    assert_eq!(counted, statement["basis"].as_i64().unwrap(), "{statement}");
}

/// A run started while a sales import is still uncommitted waits for it and counts its sales;
/// otherwise the drill-down, which goes by the import's stamp, would list sales the basis lacks.
async fn a_run_waits_for_an_import_in_progress(db: Db) {
    let app = finance(db).await;
    let partner = partner_at(&app, "Waiting Silver", 1).await;
    import(&app, &[("W1", partner, "2026-04-10", "hardware", "50000.00")]).await;
    // An import in progress, as the import writes it: the fact clock first, then its rows.
    let pool = app.portal.store().pool();
    let mut importing = pool.begin().await.unwrap();
    let stamp: i64 = sqlx::query_scalar(
        "UPDATE fact_clock SET at = CASE WHEN at < $1 THEN $1 ELSE at + 1 END WHERE id = 1 RETURNING at",
    )
    .bind(app.portal.now())
    .fetch_one(&mut *importing)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) \
         VALUES ('W2', $1, '2026-04-11', 'hardware', 2000000, 'USD', $2, $2)",
    )
    .bind(partner)
    .bind(stamp)
    .execute(&mut *importing)
    .await
    .unwrap();
    let (summary, ()) = tokio::join!(run(&app, "2026-Q2"), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        importing.commit().await.unwrap();
    });
    assert!(summary["drafts"].as_i64().unwrap() >= 1, "{summary}");
    assert_eq!(statement(&app, "2026-Q2", partner).await["basis"], 7_000_000);
    assert_counted_rows_make_the_basis(&app, "2026-Q2", partner).await;
    app.cleanup().await;
}

/// A service layer of its own on a fresh demo database, its clock standing still at `millis`:
/// with finance's actor and a new Silver reseller named `partner`.
async fn portal_at(
    db: Db,
    millis: i64,
    partner: &str,
) -> (
    crate::helpers::TestDatabase,
    service::Portal,
    service::Actor,
    i64,
    std::sync::Arc<service::clock::ManualClock>,
) {
    use service::clock::ManualClock;
    use service::{Portal, PortalSettings, Store};
    use std::sync::Arc;

    let database = crate::helpers::TestDatabase::create(db).await;
    let store = Store::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(millis));
    let portal = Portal::new(store, clock.clone(), PortalSettings::default());
    portal.load_demo().await.unwrap();
    let finance = portal.actor_by_email("finance@acme.test").await.unwrap();
    let partner = sqlx::query_scalar(
        "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) \
         VALUES ($1, 'partner', 'reseller', 'na', 1, 0) RETURNING id",
    )
    .bind(partner)
    .fetch_one(portal.store().pool())
    .await
    .unwrap();
    (database, portal, finance, partner, clock)
}

/// The forecast: sales booked for a later day are neither in the rebate so far nor in its pace,
/// and join the projection as they are; the plan is the one in force at the period's end.
async fn the_forecast_paces_the_sales_to_date_under_the_plan_at_the_period_end(db: Db) {
    use service::imports::{no_progress, ImportFormat};

    // 2026-04-10T12:00:00Z: day 10 of 2026-Q2's 91.
    let (database, portal, finance, partner, _) = portal_at(db, 1_775_822_400_000, "Forecast Silver").await;
    let csv = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency\n\
         F1,{partner},2026-04-05,hardware,10000.00,USD\n\
         F2,{partner},2026-06-15,hardware,100000.00,USD\n"
    );
    let report = portal
        .import_sales(Some(&finance), &csv, ImportFormat::Csv, false, &no_progress)
        .await
        .unwrap();
    assert!(report.stored, "{report:?}");
    let forecast = portal.rebate_forecast(&finance, partner).await.unwrap().unwrap();
    // So far: 10,000.00 at 200 bp. At this pace: 10,000.00 × 91 / 10 = 91,000.00, plus the
    // 100,000.00 booked for June: 191,000.00 → 3,820.00.
    assert_eq!((forecast.basis, forecast.total), (1_000_000, 20_000));
    assert_eq!(
        (forecast.projected_basis, forecast.projected_total),
        (19_100_000, 382_000)
    );

    // A version in force from June raises Silver's rate to 300 bp: the Q2 run will pay it, and
    // so the forecast shows it.
    program_version_from(portal.store().pool(), "2026-06-01", |document| {
        let silver = silver_plan(document);
        silver.rate_bps = Some(300);
        silver.name = "Silver flat rebate from June".into();
    })
    .await;
    let forecast = portal.rebate_forecast(&finance, partner).await.unwrap().unwrap();
    assert_eq!(forecast.plan_name, "Silver flat rebate from June");
    assert_eq!((forecast.total, forecast.projected_total), (30_000, 573_000));
    database.cleanup().await;
}

/// The forecast carries what a run today would restate on the period's statement, so that the
/// two agree; "earned this year" counts approved statements, not the running period's draft.
async fn the_forecast_carries_what_a_run_would_restate(db: Db) {
    // 2026-07-10T12:00:00Z: day 10 of 2026-Q3.
    let (database, portal, finance, partner, _) = portal_at(db, 1_783_684_800_000, "Restated Silver").await;
    let rows = |rows: &[(&str, &str, &str)]| {
        rows.iter()
            .map(|(id, on, amount)| (id.to_string(), on.to_string(), amount.to_string()))
            .collect::<Vec<_>>()
    };
    let q2 = domain::period::FiscalPeriod::parse("2026-Q2", "period").unwrap();
    let q3 = domain::period::FiscalPeriod::parse("2026-Q3", "period").unwrap();
    let of_partner = |period| partner_statement(&portal, &finance, partner, period);
    import_hardware(
        &portal,
        &finance,
        partner,
        &rows(&[("R1", "2026-05-01", "10000.00")]),
    )
    .await;
    portal.run_rebates(Some(&finance), q2).await.unwrap();
    let locked = of_partner(q2).await;
    portal
        .approve_statement(&finance, locked.id, Some(locked.total))
        .await
        .unwrap();
    // A late 2026-Q2 sale of 3,000.00 at 200 bp: 60.00 more for a locked period.
    import_hardware(
        &portal,
        &finance,
        partner,
        &rows(&[("R2", "2026-05-02", "3000.00"), ("R3", "2026-07-05", "1000.00")]),
    )
    .await;
    let forecast = portal.rebate_forecast(&finance, partner).await.unwrap().unwrap();
    let restated: Vec<(&str, i64)> = forecast
        .lines
        .iter()
        .filter(|l| l.kind == domain::rebates::LineKind::Adjustment)
        .map(|l| (l.description.as_str(), l.amount))
        .collect();
    assert_eq!(restated, [("2026-Q2 restatement", 6_000)], "{forecast:?}");
    assert!(!forecast.restatements_only);
    assert_eq!(
        forecast.total,
        forecast.lines.iter().map(|l| l.amount).sum::<i64>(),
        "the lines add up to the total"
    );
    assert!(forecast.projected_total >= forecast.total, "{forecast:?}");
    // A run today gives the statement the forecast shows.
    portal.run_rebates(Some(&finance), q3).await.unwrap();
    let draft = of_partner(q3).await;
    assert_eq!((draft.total, &draft.lines), (forecast.total, &forecast.lines));
    // Earned this year: the approved 2026-Q2 statement, not the 2026-Q3 draft.
    let card = portal.scorecard(&finance, partner).await.unwrap();
    assert_eq!(card.rebate_earned, locked.total);
    portal.store().close().await;
    database.cleanup().await;
}

/// `partner`'s statement of `period`, read through the service layer as `finance`.
async fn partner_statement(
    portal: &service::Portal,
    finance: &service::Actor,
    partner: i64,
    period: domain::period::FiscalPeriod,
) -> domain::rebates::StatementView {
    let filter = service::rebates::StatementFilter {
        period: Some(period),
        ..Default::default()
    };
    let page = portal.statements(finance, &filter).await.unwrap();
    page.statements
        .into_iter()
        .find(|s| s.partner_id == partner)
        .unwrap()
}

/// Imports hardware sales `(external id, booked on, amount)` of `partner` through the service
/// layer, as `finance`; the import must be stored.
async fn import_hardware(
    portal: &service::Portal,
    finance: &service::Actor,
    partner: i64,
    rows: &[(String, String, String)],
) {
    use service::imports::{no_progress, ImportFormat};

    let mut csv = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for (id, on, amount) in rows {
        csv.push_str(&format!("{id},{partner},{on},hardware,{amount},USD\n"));
    }
    let report = portal
        .import_sales(Some(finance), &csv, ImportFormat::Csv, false, &no_progress)
        .await
        .unwrap();
    assert!(report.stored, "{report:?}");
}

/// A draft computed while its period ran may lack the sales of the period's last days: once the
/// period has ended it is approved, alone or with the period's other drafts, only after a run.
async fn a_draft_computed_while_its_period_ran_is_run_again_before_approval(db: Db) {
    // 2026-06-20T12:00:00Z: 2026-Q2 is running.
    let (database, portal, finance, partner, clock) =
        portal_at(db, 1_781_956_800_000, "Running Silver").await;
    let import = |id: &str, on: &str| {
        let rows = [(id.to_owned(), on.to_owned(), "10000.00".to_owned())];
        let (portal, finance) = (&portal, &finance);
        async move { import_hardware(portal, finance, partner, &rows).await }
    };
    let period = domain::period::FiscalPeriod::parse("2026-Q2", "period").unwrap();
    let draft = || partner_statement(&portal, &finance, partner, period);
    import("W1", "2026-06-10").await;
    portal.run_rebates(Some(&finance), period).await.unwrap();
    let running = draft().await;
    assert!(running.approvable_from.is_some() && !running.computed_while_running);

    // 2026-07-02: the period has ended, and a sale of its last days comes in.
    clock.advance_millis(12 * 86_400_000);
    import("W2", "2026-06-29").await;
    let ended = draft().await;
    assert_eq!(
        (ended.approvable_from.as_deref(), ended.computed_while_running),
        (None, true)
    );
    assert_eq!(ended.basis, 1_000_000, "the draft has not seen W2");
    let refused = portal
        .approve_statement(&finance, ended.id, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, service::ServiceError::Conflict(m) if m.contains("Running Silver's draft of 2026-Q2 was computed while 2026-Q2 was running")),
        "{refused:?}"
    );
    let refused = portal.period_drafts(&finance, period).await.unwrap_err();
    assert!(
        matches!(&refused, service::ServiceError::Conflict(m) if m.contains("draft") && m.contains("computed while 2026-Q2 was running")),
        "{refused:?}"
    );
    assert_eq!(draft().await.status, domain::rebates::StatementStatus::Draft);

    // Run again, the draft takes W2 in and is approved.
    portal.run_rebates(Some(&finance), period).await.unwrap();
    let rerun = draft().await;
    assert_eq!((rerun.basis, rerun.computed_while_running), (2_000_000, false));
    let approved = portal.approve_statement(&finance, rerun.id, None).await.unwrap();
    assert_eq!(approved.status, domain::rebates::StatementStatus::Approved);
    portal.store().close().await;
    database.cleanup().await;
}

/// With the clock standing still, an import stored after a run is still stamped after it: its new
/// sale is shown as arrived later and its changed sale as the statement counted it.
async fn an_import_in_the_same_millisecond_as_a_run_comes_after_it(db: Db) {
    // 2026-05-15T12:00:00Z, and it stays there.
    let (database, portal, finance, partner, _) = portal_at(db, 1_778_846_400_000, "Still Silver").await;
    let import = |rows: &[(&str, &str, &str)]| {
        let rows: Vec<(String, String, String)> = rows
            .iter()
            .map(|(id, on, amount)| (id.to_string(), on.to_string(), amount.to_string()))
            .collect();
        let (portal, finance) = (&portal, &finance);
        async move { import_hardware(portal, finance, partner, &rows).await }
    };
    import(&[("M1", "2026-04-10", "50000.00")]).await;
    let period = domain::period::FiscalPeriod::parse("2026-Q2", "period").unwrap();
    portal.run_rebates(Some(&finance), period).await.unwrap();
    import(&[("M1", "2026-04-10", "80000.00"), ("M2", "2026-04-11", "10000.00")]).await;

    let statement = portal
        .statements(
            &finance,
            &service::rebates::StatementFilter {
                period: Some(period),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .statements
        .into_iter()
        .find(|s| s.partner_id == partner)
        .unwrap();
    assert_eq!(statement.basis, 5_000_000);
    let sales: Vec<(String, i64, bool, bool, bool)> = portal
        .statement_sales(&finance, statement.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.external_id,
                s.amount,
                s.counted,
                s.arrived_later,
                s.changed_later,
            )
        })
        .collect();
    assert_eq!(
        sales,
        [
            ("M1".to_owned(), 5_000_000, true, false, true),
            ("M2".to_owned(), 1_000_000, false, true, false),
        ]
    );
    portal.store().close().await;
    database.cleanup().await;
}

/// A statement list: the statements and the `X-Total-Count` header.
async fn list(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let response = app.get(&format!("/api/v1/rebates/statements?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let total = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().await.unwrap();
    (body.as_array().unwrap().clone(), total)
}

/// The 2026-Q2 drafts as finance reads them before approving them together.
async fn drafts(app: &TestApp) -> Value {
    let response = app.get("/api/v1/rebates/periods/2026-Q2/drafts").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn names(statements: &[Value]) -> Vec<&str> {
    statements
        .iter()
        .map(|s| s["partner_name"].as_str().unwrap())
        .collect()
}

async fn statement_lists_are_filtered_and_paged(db: Db) {
    let app = finance(db).await;
    let mut rows = Vec::new();
    for n in 1..=7 {
        let id = partner_at(&app, &format!("Paging Partner {n}"), 1).await;
        rows.push((format!("PG{n}"), id));
    }
    let percent = partner_at(&app, "100% Widgets_Co", 1).await;
    rows.push(("PG-pct".to_owned(), percent));
    let sales: Vec<(&str, i64, &str, &str, &str)> = rows
        .iter()
        .map(|(ext, id)| (ext.as_str(), *id, "2026-05-01", "hardware", "20000.00"))
        .collect();
    import(&app, &sales).await;
    run(&app, "2026-Q2").await;

    // Pages of three, by name, that neither repeat nor skip a statement.
    let (first, total) = list(&app, "period=2026-Q2&partner=paging%20partner&limit=3").await;
    assert_eq!(total, 7);
    assert_eq!(
        names(&first),
        ["Paging Partner 1", "Paging Partner 2", "Paging Partner 3"]
    );
    let mut seen = std::collections::BTreeSet::new();
    for offset in [0, 3, 6] {
        let (page, total) = list(
            &app,
            &format!("period=2026-Q2&partner=Paging&limit=3&offset={offset}"),
        )
        .await;
        assert_eq!(total, 7, "every page tells the whole count");
        assert_eq!(page.len(), if offset == 6 { 1 } else { 3 });
        for s in &page {
            assert!(seen.insert(s["id"].as_i64().unwrap()), "{s}");
        }
    }
    assert_eq!(seen.len(), 7);
    // Any case; `%` and `_` are the characters themselves, not wildcards.
    assert_eq!(list(&app, "period=2026-Q2&partner=PAGING").await.1, 7);
    for needle in ["%25", "_", "100%25%20widgets"] {
        let (found, _) = list(&app, &format!("period=2026-Q2&partner={needle}")).await;
        assert_eq!(names(&found), ["100% Widgets_Co"], "{needle}");
    }
    // The status filter, after one approval.
    let approved = first[0]["id"].as_i64().unwrap();
    app.post_empty(&format!("/api/v1/rebates/statements/{approved}/approve"))
        .await;
    let (only, total) = list(&app, "period=2026-Q2&partner=paging&status=approved").await;
    assert_eq!((total, only[0]["id"].as_i64()), (1, Some(approved)));
    assert_eq!(
        list(&app, "period=2026-Q2&partner=paging&status=draft,paid")
            .await
            .1,
        6
    );
    // Without a limit a list answers up to 500; with one, at most 1000.
    let (all, total) = list(&app, "").await;
    assert_eq!(all.len(), total.min(500));
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=18446744073709551615", "offset"),
        ("status=pending", "status"),
        ("period=Q2-2026", "period"),
    ] {
        let e = error_code(
            app.get(&format!("/api/v1/rebates/statements?{query}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(e["field"], field, "{query}: {e}");
    }
    // A partner's filter reaches only its own statements.
    let mut northwind = app.another_client();
    northwind.sign_in("admin@northwind.test").await;
    let (theirs, total) = list(&northwind, "period=2026-Q2&partner=paging").await;
    assert_eq!((theirs.len(), total), (0, 0));
    app.cleanup().await;
}

async fn a_period_is_approved_together_with_the_figures_shown(db: Db) {
    let app = finance(db).await;
    let first = partner_at(&app, "Together One", 1).await;
    let second = partner_at(&app, "Together Two", 1).await;
    import(
        &app,
        &[
            ("T1", first, "2026-05-01", "hardware", "20000.00"),
            ("T2", second, "2026-05-02", "hardware", "30000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    let shown = drafts(&app).await;
    // The figures are those of the period's drafts, counted the same way as the list.
    let (listed, count) = list(&app, "period=2026-Q2&status=draft&limit=1000").await;
    let total: i64 = listed.iter().map(|s| s["total"].as_i64().unwrap()).sum();
    assert_eq!(
        (
            shown["count"].as_u64(),
            shown["total"].as_i64(),
            shown["currency"].as_str()
        ),
        (Some(count as u64), Some(total), Some("USD"))
    );
    assert!(shown["approvable_from"].is_null(), "{shown}");
    assert!(count >= 2);

    // Partners neither read nor approve a period.
    let mut partner = app.another_client();
    partner.sign_in("admin@northwind.test").await;
    error_code(
        partner.get("/api/v1/rebates/periods/2026-Q2/drafts").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    error_code(
        partner
            .post_json(
                "/api/v1/rebates/periods/2026-Q2/approve",
                &json!({ "count": shown["count"], "total": shown["total"] }),
            )
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A run after the figures were read changes them: the approval is refused whole.
    import(&app, &[("T3", first, "2026-05-03", "hardware", "5000.00")]).await;
    run(&app, "2026-Q2").await;
    refused_as_conflict(
        app.post_json(
            "/api/v1/rebates/periods/2026-Q2/approve",
            &json!({ "count": shown["count"], "total": shown["total"] }),
        )
        .await,
        "changed since you read them",
    )
    .await;
    assert_eq!(list(&app, "period=2026-Q2&status=approved").await.1, 0);
    for body in [
        json!({ "count": shown["count"] }),
        json!({ "count": -1, "total": 0 }),
    ] {
        assert_eq!(
            app.post_json("/api/v1/rebates/periods/2026-Q2/approve", &body)
                .await
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    error_code(
        app.get("/api/v1/rebates/periods/2026-Q7/drafts").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let now = drafts(&app).await;
    assert_eq!(
        now["total"].as_i64().unwrap() - shown["total"].as_i64().unwrap(),
        10_000,
        "200 bp of the 5,000.00 sale: {now}"
    );
    let approved: Value = app
        .post_json(
            "/api/v1/rebates/periods/2026-Q2/approve",
            &json!({ "count": now["count"], "total": now["total"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (approved["approved"].as_u64(), approved["total"].as_i64()),
        (now["count"].as_u64(), now["total"].as_i64())
    );
    assert_eq!(list(&app, "period=2026-Q2&status=draft").await.1, 0);
    assert_eq!(statement(&app, "2026-Q2", second).await["status"], "approved");
    assert_eq!(drafts(&app).await["count"], 0);
    refused_as_conflict(
        app.post_json(
            "/api/v1/rebates/periods/2026-Q2/approve",
            &json!({ "count": now["count"], "total": now["total"] }),
        )
        .await,
        "no drafts",
    )
    .await;

    // The log has each statement's approval and the period's.
    let id = statement(&app, "2026-Q2", first).await["id"].as_i64().unwrap();
    let page: Value = app
        .get(&format!(
            "/api/v1/audit?action=statement.approve&entity_type=rebate_statement&entity_id={id}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["entries"][0]["actor"], "finance@acme.test");
    let approved = statement(&app, "2026-Q2", first).await;
    let after = &page["entries"][0]["after"];
    assert_eq!(
        (
            &after["partner_id"],
            &after["period"],
            &after["total_minor"],
            &after["currency"]
        ),
        (
            &json!(first),
            &json!("2026-Q2"),
            &approved["total"],
            &json!("USD")
        ),
        "{after}"
    );
    let page: Value = app.get_json("/api/v1/audit?action=rebates.approve_period").await;
    assert_eq!(page["entries"][0]["entity_id"], "2026-Q2");
    assert_eq!(page["entries"][0]["after"]["approved"], now["count"]);
    assert_eq!(page["entries"][0]["after"]["total"], now["total"]);

    // The period running today is not approved before it ends.
    let today = app.portal.today();
    let current = app
        .portal
        .program_on(today)
        .await
        .unwrap()
        .unwrap()
        .program
        .ladder
        .calendar
        .period_of(today)
        .to_string();
    import(
        &app,
        &[("T-NOW", first, &today.to_string(), "hardware", "500.00")],
    )
    .await;
    run(&app, &current).await;
    let running: Value = app
        .get_json(&format!("/api/v1/rebates/periods/{current}/drafts"))
        .await;
    assert!(running["approvable_from"].is_string(), "{running}");
    refused_as_conflict(
        app.post_json(
            &format!("/api/v1/rebates/periods/{current}/approve"),
            &json!({ "count": running["count"], "total": running["total"] }),
        )
        .await,
        "still running",
    )
    .await;
    app.cleanup().await;
}

/// Where a redirect sends the browser.
fn location(response: &reqwest::Response) -> &str {
    assert!(response.status().is_redirection(), "{}", response.status());
    response.headers()["location"].to_str().unwrap()
}

/// The rebates pages' forms without their script: an approval, a payment or a period's approval
/// returns to the page it was made from, without its question (`confirm`) and saying what was
/// done (`done`), which the page then says if the statement bears it out. The loaded page's own
/// call, which asks for JSON, is answered with the figures as before.
async fn a_plain_form_returns_to_its_page_saying_what_was_done(db: Db) {
    let app = finance(db).await;
    let partner = partner_at(&app, "Plain Form Partner", 1).await;
    let other = partner_at(&app, "Plain Form Other", 1).await;
    import(
        &app,
        &[
            ("PF1", partner, "2026-04-10", "hardware", "12345.67"),
            ("PF2", other, "2026-04-11", "hardware", "2000.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    let id = statement(&app, "2026-Q2", partner).await["id"].as_i64().unwrap();
    let (token, id_text) = (app.csrf_token(), id.to_string());
    let approve = [("csrf_token", token.as_str()), ("id", id_text.as_str())];

    let asked = app.url(&format!("/rebates?period=2026-Q2&confirm={id}&status=draft"));
    let response = app
        .post_page_form("/rpc/advance_statement", &approve, &asked)
        .await;
    assert_eq!(
        location(&response),
        format!("/rebates?period=2026-Q2&status=draft&done=approved-{id}")
    );
    assert_eq!(statement(&app, "2026-Q2", partner).await["status"], "approved");
    let said = "Plain Form Partner 2026-Q2 is approved.";
    let page = app
        .get(&format!("/rebates?period=2026-Q2&done=approved-{id}"))
        .await;
    assert!(page.text().await.unwrap().contains(said));

    // Approving it again is refused: the browser returns without `done`.
    let response = app
        .post_page_form("/rpc/advance_statement", &approve, &asked)
        .await;
    assert!(!location(&response).contains("done="), "{}", location(&response));

    // Paid from the statement's page, whose address still says the approval: it now says the
    // payment, and the approval no longer (the statement is not merely approved any more).
    let from = app.url(&format!("/rebates/{id}?done=approved-{id}"));
    let pay = [
        ("csrf_token", token.as_str()),
        ("id", id_text.as_str()),
        ("payout_reference", "PAY-PLAIN-1"),
    ];
    let response = app.post_page_form("/rpc/advance_statement", &pay, &from).await;
    assert_eq!(location(&response), format!("/rebates/{id}?done=paid-{id}"));
    let page = app
        .get(&format!("/rebates/{id}?done=paid-{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Plain Form Partner 2026-Q2 is marked paid."));
    let page = app
        .get(&format!("/rebates/{id}?done=approved-{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(said),
        "an address alone does not make a statement approved"
    );
    // Nor does a period whose drafts are not approved.
    let page = app
        .get("/rebates?period=2026-Q2&done=period-2026-Q2")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("The drafts of 2026-Q2 are approved."));

    // The period's other drafts, approved together: the list says so.
    let shown = drafts(&app).await;
    let (count, total) = (shown["count"].to_string(), shown["total"].to_string());
    let all = [
        ("csrf_token", token.as_str()),
        ("period", "2026-Q2"),
        ("count", count.as_str()),
        ("total", total.as_str()),
    ];
    // Only a path of this site is returned to, never another host.
    let elsewhere = "http://elsewhere.example//elsewhere.example/rebates?confirm=period";
    let response = app.post_page_form("/rpc/approve_period", &all, elsewhere).await;
    assert_eq!(location(&response), "/?done=period-2026-Q2");
    assert_eq!(list(&app, "period=2026-Q2&status=draft").await.1, 0);
    let page = app
        .get("/rebates?period=2026-Q2&done=period-2026-Q2")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The drafts of 2026-Q2 are approved."));

    // A run from a plain form returns to its page, which says what the run did; an address
    // naming no run of finance's says nothing.
    let from = app.url("/rebates?period=2026-Q2");
    let response = app
        .post_page_form(
            "/rpc/run_rebates",
            &[("csrf_token", token.as_str()), ("period", "2026-Q2")],
            &from,
        )
        .await;
    let back = location(&response);
    assert!(back.starts_with("/rebates?period=2026-Q2&done=run-"), "{back}");
    let page = app.get(back).await.text().await.unwrap();
    assert!(
        page.contains("2026-Q2: 0 draft statements totalling 0.00 USD; ")
            && page.contains(" left unchanged."),
        "{page}"
    );
    let page = app
        .get("/rebates?period=2026-Q2&done=run-999999")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("draft statements totalling"));

    // The loaded page's own call gets the statement, not a redirect.
    let other_id = statement(&app, "2026-Q2", other).await["id"].as_i64().unwrap();
    let other_text = other_id.to_string();
    let response = app
        .post_form(
            "/rpc/advance_statement",
            &[
                ("csrf_token", token.as_str()),
                ("id", other_text.as_str()),
                ("payout_reference", "PAY-PLAIN-2"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(
        (paid["id"].as_i64(), paid["status"].as_str()),
        (Some(other_id), Some("paid"))
    );
    app.cleanup().await;
}

/// A product line is one line in any case. Sales imported before the program named `storage`
/// are stored as the file wrote them, `Storage` and `storage`; once a program version gives the
/// line an accelerator, both earn it, on one explanation line in the program's spelling.
async fn a_product_line_stored_in_another_case_earns_its_accelerator(db: Db) {
    let app = finance(db).await;
    let partner = partner_at(&app, "Case Silver", 1).await;
    import(
        &app,
        &[
            ("CS1", partner, "2026-04-10", "Storage", "10000.00"),
            ("CS2", partner, "2026-04-11", "storage", "10000.00"),
            ("CS3", partner, "2026-04-12", "HARDWARE", "5000.00"),
        ],
    )
    .await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT product_line FROM sales WHERE external_id IN ('CS1', 'CS2') ORDER BY external_id",
    )
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(
        stored,
        ["Storage", "storage"],
        "the program named neither spelling"
    );
    program_version_from(app.portal.store().pool(), "2026-04-01", |document| {
        silver_plan(document)
            .accelerators
            .push(domain::rebates::Accelerator {
                product_line: "storage".into(),
                multiplier_bps: 20_000,
            });
    })
    .await;
    run(&app, "2026-Q2").await;
    let q2 = statement(&app, "2026-Q2", partner).await;
    let described: Vec<&str> = q2["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        described,
        [
            "other product lines 5,000.00 × 200 bp",
            "storage 20,000.00 × 200 bp × 2"
        ],
        "{q2}"
    );
    assert_eq!(amounts(&q2), [10_000, 80_000]);
    assert_eq!(q2["total"], 90_000);
    app.cleanup().await;
}

/// A run over many partners with locked earlier quarters reads each quarter's sales once for all
/// of them (rather than partner by partner), and restates exactly what changed.
async fn many_partners_with_locked_quarters_are_restated_as_one_is(db: Db) {
    let app = finance(db).await;
    let mut partners = Vec::new();
    for i in 0..300 {
        partners.push(partner_at(&app, &format!("Many Silver {i}"), 1).await);
    }
    let ids: Vec<(String, String)> = (0..partners.len())
        .map(|i| (format!("M{i}-Q1"), format!("M{i}-Q2")))
        .collect();
    let mut rows = Vec::new();
    for ((q1, q2), partner) in ids.iter().zip(&partners) {
        rows.push((q1.as_str(), *partner, "2026-02-01", "hardware", "50000.00"));
        rows.push((q2.as_str(), *partner, "2026-05-01", "hardware", "20000.00"));
    }
    import(&app, &rows).await;
    run(&app, "2026-Q1").await;
    let locked = sqlx::query(
        "UPDATE rebate_statements SET status = 'approved', approved_at = 1 WHERE period = '2026-Q1'",
    )
    .execute(app.portal.store().pool())
    .await
    .unwrap();
    assert!(locked.rows_affected() >= 300);
    // Two partners' first-quarter sales change after approval, one up and one down.
    import(
        &app,
        &[
            ("M0-Q1", partners[0], "2026-02-01", "hardware", "50500.00"),
            ("M1-Q1", partners[1], "2026-02-01", "hardware", "49500.00"),
        ],
    )
    .await;
    run(&app, "2026-Q2").await;
    // Silver's flat 2 %: 500.00 more is 10.00 owed, 500.00 less is 10.00 back.
    assert_eq!(
        adjustments(&app, "2026-Q2", partners[0]).await,
        [("2026-Q1 restatement".to_owned(), 1_000)]
    );
    assert_eq!(
        adjustments(&app, "2026-Q2", partners[1]).await,
        [("2026-Q1 restatement".to_owned(), -1_000)]
    );
    for partner in &partners[2..] {
        let statement = statement(&app, "2026-Q2", *partner).await;
        assert_eq!(statement["total"], 40_000, "{statement}");
        assert_eq!(adjustments(&app, "2026-Q2", *partner).await, []);
    }
    app.cleanup().await;
}

//! Sales and certification imports: whole or nothing, errors by row and field, no duplicates,
//! idempotent retries, and tiers that follow the new facts.

use crate::helpers::{error_code, spawn_app, Db, TestApp, TestDatabase};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use service::imports::{no_progress, ImportFormat};
use service::store::Backend;

crate::on_both_databases!(
    imported_facts_move_the_tier,
    a_stored_import_stays_stored_when_its_tiers_must_wait,
    reimporting_never_duplicates_and_records_changes,
    a_bad_file_is_refused_whole_and_names_every_row,
    json_lines_import_like_csv,
    text_is_stored_exactly_as_written,
    idempotency_keys_replay_the_first_answer,
    only_finance_and_vendor_admins_import,
    previews_store_nothing,
    a_refused_large_file_reports_nothing_done,
    certifications_update_their_expiry_and_refuse_repeats,
    files_with_a_bad_header_or_no_rows_are_refused_with_one_error,
    amounts_must_be_plain_decimals_within_bounds,
    the_upload_page_takes_files_of_several_megabytes,
    a_load_larger_than_the_table_keeps_stored_rows_and_every_index,
    a_bulk_load_evaluates_tiers_on_stored_and_loaded_sales,
    an_import_waits_for_another_writer_rather_than_failing,
    amounts_are_read_in_the_currency_of_a_program_yet_to_start,
);

async fn partner(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM organisations WHERE name = $1")
        .bind(name)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap()
}

async fn post(
    app: &TestApp,
    path: &str,
    content_type: &'static str,
    body: &str,
    key: Option<&str>,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Some(key) = key {
        headers.insert("idempotency-key", HeaderValue::from_str(key).unwrap());
    }
    app.post_raw(path, headers, body.to_owned()).await
}

/// Imports sales, answering the report (or the refusal).
async fn sales_report(app: &TestApp, content_type: &'static str, body: &str) -> Value {
    post(app, "/api/v1/sales/import", content_type, body, None)
        .await
        .json()
        .await
        .unwrap()
}

fn sales_csv(tailspin: i64, today: &str, amount: &str) -> String {
    format!(
        "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency,customer_name\n\
         T-1,{tailspin},,{today},hardware,30000.00,USD,Globex\n\
         T-2,{tailspin},,{today},cloud,{amount},USD,Initech\n\
         T-3,{tailspin},,{today},services,-500.00,USD,Globex\n"
    )
}

/// One certified person at Tailspin, earned today.
fn certification_csv(tailspin: i64, today: &str) -> String {
    format!("partner_id,person,code,earned_on,expires_on\n{tailspin},Ada,ACNA,{today},2099-01-01\n")
}

/// Imports [`sales_csv`] with a 40,000.00 cloud sale; the answer must be 200. Returns the report.
async fn import_sales_csv(app: &TestApp, tailspin: i64, today: &str) -> Value {
    let response = post(
        app,
        "/api/v1/sales/import",
        "text/csv",
        &sales_csv(tailspin, today, "40000.00"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The `(row, field)` of every error in an import report.
fn error_rows(body: &Value) -> Vec<(i64, &str)> {
    body["report"]["errors"]
        .as_array()
        .expect("a report with errors")
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect()
}

async fn signed_in(db: Db, email: &str) -> TestApp {
    let mut app = spawn_app(db).await;
    app.sign_in(email).await;
    app
}

async fn imported_facts_move_the_tier(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    let report = import_sales_csv(&app, tailspin, &today).await;
    assert_eq!(
        (
            report["rows"].as_i64(),
            report["inserted"].as_i64(),
            report["stored"].as_bool()
        ),
        (Some(3), Some(3), Some(true))
    );
    let certs = certification_csv(tailspin, &today);
    let response = post(&app, "/api/v1/certifications/import", "text/csv", &certs, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    // 12,000.00 (demo) + 69,500.00 and one certified person: Silver, at once.
    let tier: i64 = count(
        &app,
        &format!("SELECT tier_rank FROM organisations WHERE id = {tailspin}"),
    )
    .await;
    assert_eq!(tier, 1);
    let history: String = sqlx::query_scalar("SELECT cause FROM tier_history WHERE partner_id = $1")
        .bind(tailspin)
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(history, "upgrade");
    app.cleanup().await;
}

/// The tier re-evaluation after an import fails (here: a table it reads is away for a moment).
/// The rows are stored, so the import answers as stored with a warning, not as an error that
/// would invite a retry; the evaluation is retried in the background and the tier follows.
async fn a_stored_import_stays_stored_when_its_tiers_must_wait(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    let certs = certification_csv(tailspin, &today);
    let response = post(&app, "/api/v1/certifications/import", "text/csv", &certs, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tier_sql = format!("SELECT tier_rank FROM organisations WHERE id = {tailspin}");
    assert_eq!(
        count(&app, &tier_sql).await,
        0,
        "12,000.00 of sales: not Silver yet"
    );
    let pool = app.portal.store().pool();
    sqlx::query("ALTER TABLE certifications RENAME TO certifications_away")
        .execute(pool)
        .await
        .unwrap();
    let report = import_sales_csv(&app, tailspin, &today).await;
    assert_eq!(
        (report["inserted"].as_i64(), report["stored"].as_bool()),
        (Some(3), Some(true)),
        "{report}"
    );
    let warning = report["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("could not be re-evaluated yet"), "{report}");
    assert_eq!(count(&app, &tier_sql).await, 0, "the evaluation did not run");
    sqlx::query("ALTER TABLE certifications_away RENAME TO certifications")
        .execute(pool)
        .await
        .unwrap();
    // The first retry comes 5 s after the failure.
    let mut tier = 0;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        tier = count(&app, &tier_sql).await;
        if tier == 1 {
            break;
        }
    }
    assert_eq!(tier, 1, "the retried evaluation made Tailspin Silver");
    app.cleanup().await;
}

async fn reimporting_never_duplicates_and_records_changes(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    let file = sales_csv(tailspin, &today, "40000.00");
    post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    let again: Value = post(&app, "/api/v1/sales/import", "text/csv", &file, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["inserted"].as_i64(), again["unchanged"].as_i64()),
        (Some(0), Some(3))
    );
    let changed: Value = post(
        &app,
        "/api/v1/sales/import",
        "text/csv",
        &sales_csv(tailspin, &today, "41000.00"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (changed["updated"].as_i64(), changed["unchanged"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales").await,
        before,
        "no duplicates"
    );
    // A line the program names (its cloud accelerator) takes the program's spelling whatever
    // its case; a line it does not name is kept as written, so a new spelling is a change.
    let recased = sales_csv(tailspin, &today, "41000.00")
        .replace(",cloud,", ",CLOUD,")
        .replace(",services,", ",Services,");
    let report: Value = post(&app, "/api/v1/sales/import", "text/csv", &recased, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["updated"].as_i64(), report["unchanged"].as_i64()),
        (Some(1), Some(2)),
        "{report}"
    );
    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT product_line FROM sales WHERE external_id IN ('T-2', 'T-3') ORDER BY external_id",
    )
    .fetch_all(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(lines, ["cloud", "Services"]);
    let (before_json, after_json): (String, String) = sqlx::query_as(
        "SELECT before_json, after_json FROM audit_log WHERE action = 'sale.update' AND entity_id = 'T-2'",
    )
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    assert!(
        before_json.contains("4000000") && after_json.contains("4100000"),
        "{before_json} → {after_json}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'sales.import'"
        )
        .await,
        4
    );
    app.cleanup().await;
}

/// Every row's every error is named; a currency code in lower case (row 5) is no error.
async fn a_bad_file_is_refused_whole_and_names_every_row(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    let northwind = partner(&app, "Northwind Systems").await;
    let contoso = partner(&app, "Contoso Distribution").await;
    let file = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency,distributor_id\n\
         B-1,{tailspin},2026-02-30,hardware,100.00,USD,\n\
         B-2,424242,2026-02-01,hardware,100.00,USD,\n\
         B-3,{tailspin},2026-02-01,hardware,one hundred,USD,\n\
         B-4,{tailspin},2026-02-01,hardware,100.00,EUR,\n\
         B-5,{tailspin},2026-02-01,hardware,100.00,usd,\n\
         B-5,{tailspin},2026-02-02,hardware,100.00,USD,\n\
         B-7,{tailspin},2026-02-02,hardware,100.00,USD,{northwind}\n\
         B-8,{contoso},2026-02-02,hardware,100.00,USD,{contoso}\n\
         B-9,{tailspin},0026-02-02,hardware,100.00,USD,\n\
         B-10,{tailspin},2206-02-02,hardware,100.00,USD,\n\
         B-11,{tailspin}.0,2026-02-02,hardware,100.00,USD,\n\
         B-12,Tailspin Tech,2026-02-02,hardware,100.00,USD,\n"
    );
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    assert_eq!(body["error"]["field"], "rows[1].booked_on");
    let errors = error_rows(&body);
    assert_eq!(
        errors,
        [
            (1, "booked_on"),
            (2, "partner_id"),
            (3, "amount"),
            (4, "currency"),
            (6, "external_id"),
            (7, "distributor_id"),
            (8, "distributor_id"),
            (9, "booked_on"),
            (10, "booked_on"),
            (11, "partner_id"),
            (12, "partner_id")
        ]
    );
    let message = |i: usize| {
        body["report"]["errors"][i]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(message(1), "unknown partner `424242`");
    assert_eq!(
        message(9),
        format!("`{tailspin}.0` is not a partner id (a whole number); write it `{tailspin}`, without the decimals a spreadsheet added")
    );
    assert_eq!(
        message(10),
        "`Tailspin Tech` is not a partner id (a whole number)"
    );
    let reseller = &body["report"]["errors"][5]["message"];
    assert!(
        reseller.as_str().unwrap().contains("is not a distributor"),
        "{reseller}"
    );
    let itself = &body["report"]["errors"][6]["message"];
    assert!(
        itself.as_str().unwrap().contains("is the selling partner itself"),
        "{itself}"
    );
    let repeat = &body["report"]["errors"][4]["message"];
    assert!(repeat.as_str().unwrap().contains("(row 5)"), "{repeat}");
    assert_eq!(
        body["report"]["errors"][0]["message"],
        "`2026-02-30` is not a day of the calendar: February 2026 has 28 days"
    );
    assert_eq!(body["report"]["stored"], false);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales").await,
        before,
        "nothing of the file is stored"
    );
    // A customer name whose quote never closes would swallow the rows after it; the file is
    // refused, naming the row and column, and a spreadsheet's trailing empty row is no row.
    let file = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency,customer_name\n\
         Q-1,{tailspin},2026-02-01,hardware,100.00,USD,\"Acme\n\
         Q-2,{tailspin},2026-02-02,hardware,200.00,USD,Globex\n\
         ,,,,,,\n"
    );
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_rows(&body), [(1, "customer_name")]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    let file = file.replace("\"Acme", "\"Acme\"");
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["rows"].as_i64(), body["inserted"].as_i64()),
        (Some(2), Some(2))
    );
    app.cleanup().await;
}

/// External ids and customer names keep every character, whatever the database does with quotes,
/// backslashes, braces, commas or the word NULL.
async fn text_is_stored_exactly_as_written(db: Db) {
    let app = signed_in(db, "admin@acme.test").await;
    let northwind = partner(&app, "Northwind Systems").await;
    let texts = [
        (r#"Q"1{a,b}\"#, r#"Smith "Bob", {NULL} \ Co"#),
        ("NULL", "NULL"),
        ("{}", ""),
        ("ü-€ 1", "Müller & Söhne — Zürich"),
    ];
    let file: String = texts
        .iter()
        .map(|(external_id, customer)| {
            format!(
                "{}\n",
                json!({
                    "external_id": external_id, "partner_id": northwind, "booked_on": "2026-03-01",
                    "product_line": "cloud", "amount": "10.00", "currency": "USD", "customer_name": customer,
                })
            )
        })
        .collect();
    let report = sales_report(&app, "application/x-ndjson", &file).await;
    assert_eq!(report["inserted"], 4, "{report}");
    for (external_id, customer) in texts {
        let stored: String = sqlx::query_scalar("SELECT customer_name FROM sales WHERE external_id = $1")
            .bind(external_id)
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap_or_else(|e| panic!("sale `{external_id}`: {e}"));
        assert_eq!(stored, customer, "sale `{external_id}`");
    }
    // The same file again finds every row stored and unchanged.
    let report = sales_report(&app, "application/x-ndjson", &file).await;
    assert_eq!(
        (report["unchanged"].as_i64(), report["inserted"].as_i64()),
        (Some(4), Some(0)),
        "{report}"
    );
    app.cleanup().await;
}

async fn json_lines_import_like_csv(db: Db) {
    let app = signed_in(db, "admin@acme.test").await;
    let northwind = partner(&app, "Northwind Systems").await;
    let contoso = partner(&app, "Contoso Distribution").await;
    let file = format!(
        "{{\"external_id\": \"J-1\", \"partner_id\": {northwind}, \"distributor_id\": {contoso}, \"booked_on\": \"2026-03-01\", \
         \"product_line\": \"cloud\", \"amount\": 1234.25, \"currency\": \"USD\"}}\n\
         {{\"external_id\": \"J-2\", \"partner_id\": {northwind}, \"booked_on\": \"2026-03-02\", \"product_line\": \"cloud\", \
         \"amount\": \"99.99\", \"currency\": \"USD\", \"customer_name\": null}}\n"
    );
    let response = post(&app, "/api/v1/sales/import", "application/x-ndjson", &file, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let amount: i64 = count(&app, "SELECT amount_minor FROM sales WHERE external_id = 'J-1'").await;
    assert_eq!(amount, 123_425);
    let distributor: i64 = count(&app, "SELECT distributor_id FROM sales WHERE external_id = 'J-1'").await;
    assert_eq!(distributor, contoso);
    // Numbers are read as written: an exponent or a third decimal is refused, not rounded.
    let file = format!(
        "{{\"external_id\": \"J-3\", \"partner_id\": {northwind}, \"booked_on\": \"2026-03-03\", \
         \"product_line\": \"cloud\", \"amount\": 1e3, \"currency\": \"USD\"}}\n\
         {{\"external_id\": \"J-4\", \"partner_id\": {northwind}, \"booked_on\": \"2026-03-03\", \
         \"product_line\": \"cloud\", \"amount\": 10.999999999999999999, \"currency\": \"USD\"}}\n\
         {{\"external_id\": \"J-5\", \"partner_id\": {northwind}, \"booked_on\": \"2026-03-03\", \
         \"product_line\": \"cloud\", \"amount\": 5, \"currency\": \"USD\", \"region\": \"EMEA\"}}\n"
    );
    let response = post(&app, "/api/v1/sales/import", "application/x-ndjson", &file, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let errors = error_rows(&body);
    assert_eq!(errors, [(3, "region")], "unknown keys first, by row: {body}");
    let file = file.replace(", \"region\": \"EMEA\"", "");
    let body: Value = post(&app, "/api/v1/sales/import", "application/x-ndjson", &file, None)
        .await
        .json()
        .await
        .unwrap();
    let errors = error_rows(&body);
    assert_eq!(errors, [(1, "amount"), (2, "amount")], "{body}");

    // A re-import that does not carry an optional column keeps its stored value: a CSV from a
    // system without distributors leaves J-1's distributor, and the row is unchanged.
    let stored = |external_id: &'static str| {
        let app = &app;
        async move {
            sqlx::query_as::<_, (Option<i64>, String)>(
                "SELECT distributor_id, customer_name FROM sales WHERE external_id = $1",
            )
            .bind(external_id)
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap()
        }
    };
    let header = "external_id,partner_id,booked_on,product_line,amount,currency";
    let without_distributor = format!("{header}\nJ-1,{northwind},2026-03-01,cloud,1234.25,USD\n");
    let report = sales_report(&app, "text/csv", &without_distributor).await;
    assert_eq!(
        (report["unchanged"].as_i64(), report["updated"].as_i64()),
        (Some(1), Some(0)),
        "{report}"
    );
    assert_eq!(stored("J-1").await, (Some(contoso), String::new()));
    // A changed amount updates the row and still keeps the distributor; a JSON line that names
    // the customer sets it.
    let line = format!(
        "{{\"external_id\": \"J-1\", \"partner_id\": {northwind}, \"booked_on\": \"2026-03-01\", \
         \"product_line\": \"cloud\", \"amount\": \"1300.00\", \"currency\": \"USD\", \"customer_name\": \"Globex\"}}\n"
    );
    let report = sales_report(&app, "application/x-ndjson", &line).await;
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(stored("J-1").await, (Some(contoso), "Globex".to_owned()));
    // An empty value clears it: an empty cell, or `null` in JSON.
    let cleared = format!("{header},distributor_id\nJ-1,{northwind},2026-03-01,cloud,1300.00,USD,\n");
    let report = sales_report(&app, "text/csv", &cleared).await;
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(stored("J-1").await, (None, "Globex".to_owned()));
    let null_name = line.replace("\"Globex\"", "null");
    let report = sales_report(&app, "application/x-ndjson", &null_name).await;
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(stored("J-1").await, (None, String::new()));
    // A row that makes the kept distributor the selling partner would count the sale twice:
    // refused, naming the row, and nothing stored.
    let through_contoso =
        format!("{header},distributor_id\nJ-1,{northwind},2026-03-01,cloud,1300.00,USD,{contoso}\n");
    let response = post(&app, "/api/v1/sales/import", "text/csv", &through_contoso, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let to_contoso = format!(
        "{header}\nJ-9,{northwind},2026-03-09,cloud,1.00,USD\nJ-1,{contoso},2026-03-01,cloud,1300.00,USD\n"
    );
    // Found only against the stored sale, it is still reported like any other row error, and
    // a preview says so too.
    for path in ["/api/v1/sales/import", "/api/v1/sales/import?preview=true"] {
        let response = post(&app, path, "text/csv", &to_contoso, None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], "rows[2].distributor_id", "{body}");
        assert_eq!(error_rows(&body), [(2, "distributor_id")], "{body}");
    }
    assert_eq!(stored("J-1").await, (Some(contoso), String::new()));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales WHERE external_id = 'J-9'").await,
        0,
        "nothing of the file is stored"
    );
    app.cleanup().await;
}

async fn idempotency_keys_replay_the_first_answer(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    let file = sales_csv(tailspin, &today, "40000.00");
    let first = post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-7"))
        .await
        .text()
        .await
        .unwrap();
    let second = post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-7")).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        second.text().await.unwrap(),
        first,
        "the same answer, not a second import"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'sales.import'"
        )
        .await,
        1
    );
    // The log says who imported which file: its fingerprint, size and format.
    let (importer, after): (String, String) = sqlx::query_as(
        "SELECT u.email, a.after_json FROM audit_log a JOIN users u ON u.id = a.actor_user_id \
         WHERE a.action = 'sales.import'",
    )
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(importer, "finance@acme.test");
    let after: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(after["sha256"], service::imports::sha256_hex(file.as_bytes()));
    assert_eq!(after["bytes"], file.len());
    assert_eq!(after["format"], "csv");
    assert_eq!(after["inserted"], 3);
    let other = sales_csv(tailspin, &today, "1.00");
    let e = error_code(
        post(&app, "/api/v1/sales/import", "text/csv", &other, Some("batch-7")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["code"], "idempotency_key_reused");
    // A key that is empty, not ASCII, holds a space or runs too long is refused, naming the
    // header, and nothing is imported or kept under it.
    let keys_before = count(&app, "SELECT COUNT(*) FROM idempotency_keys").await;
    let long = "k".repeat(256);
    for key in [
        &b""[..],
        b"  ",
        "cl\u{e9}-1".as_bytes(),
        b"two words",
        long.as_bytes(),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/csv"));
        headers.insert("idempotency-key", HeaderValue::from_bytes(key).unwrap());
        let e = error_code(
            app.post_raw("/api/v1/sales/import", headers, other.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("invalid_idempotency_key"), Some("Idempotency-Key")),
            "{e}"
        );
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM idempotency_keys").await,
        keys_before
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'sales.import'"
        )
        .await,
        1
    );
    // The same bytes read as another format are another request.
    let e = error_code(
        post(
            &app,
            "/api/v1/sales/import",
            "application/x-ndjson",
            &file,
            Some("batch-7"),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["code"], "idempotency_key_reused");
    // A key whose first request is still running is not run twice; one whose request died
    // long ago (its claim left behind) is taken over.
    let finance_id = count(&app, "SELECT id FROM users WHERE email = 'finance@acme.test'").await;
    let file_hash = service::imports::import_request_fingerprint(
        false,
        service::imports::ImportFormat::Csv,
        file.as_bytes(),
    );
    let claim = |key: &'static str, hash: String, age_millis: i64| {
        let app = &app;
        let created_at = app.portal.now() - age_millis;
        async move {
            sqlx::query(
                "INSERT INTO idempotency_keys (idempotency_key, endpoint, request_hash, status, response, created_at) \
                 VALUES ($1, $2, $3, 0, '', $4)",
            )
            .bind(key)
            .bind(format!("sales.import user {finance_id}"))
            .bind(hash)
            .bind(created_at)
            .execute(app.portal.store().pool())
            .await
            .unwrap();
        }
    };
    claim("batch-8", file_hash.clone(), 1_000).await;
    let e = error_code(
        post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-8")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["code"], "idempotency_key_in_progress", "{e}");
    claim("batch-10", "another request".into(), 1_000).await;
    let e = error_code(
        post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-10")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["code"], "idempotency_key_reused", "{e}");
    claim("batch-9", file_hash, 60 * 60 * 1000).await;
    let taken = post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-9")).await;
    assert_eq!(taken.status(), StatusCode::OK);
    let replay = post(&app, "/api/v1/sales/import", "text/csv", &file, Some("batch-9")).await;
    assert_eq!(replay.text().await.unwrap(), taken.text().await.unwrap());
    // Keys belong to their user: a partner replaying the key gets 403, not finance's answer,
    // and another importer's same key is a request of its own.
    let mut partner_user = app.another_client();
    partner_user.sign_in("admin@northwind.test").await;
    error_code(
        post(
            &partner_user,
            "/api/v1/sales/import",
            "text/csv",
            &file,
            Some("batch-7"),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let mut vendor_admin = app.another_client();
    vendor_admin.sign_in("admin@acme.test").await;
    let own = post(
        &vendor_admin,
        "/api/v1/sales/import",
        "text/csv",
        &other,
        Some("batch-7"),
    )
    .await;
    assert_eq!(own.status(), StatusCode::OK, "{}", own.text().await.unwrap());
    app.cleanup().await;
}

async fn only_finance_and_vendor_admins_import(db: Db) {
    let app = spawn_app(db).await;
    let body = "external_id,partner_id,booked_on,product_line,amount,currency\n";
    for email in ["admin@northwind.test", "cm@acme.test", "publisher@acme.test"] {
        let mut user = app.another_client();
        user.sign_in(email).await;
        error_code(
            post(&user, "/api/v1/sales/import", "text/csv", body, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        error_code(
            post(&user, "/api/v1/certifications/import", "text/csv", body, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // Without a session: told to sign in.
    let e = error_code(
        post(&app, "/api/v1/sales/import", "text/csv", body, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(e["code"], "unauthenticated");
    app.cleanup().await;
}

async fn previews_store_nothing(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    let report: Value = post(
        &app,
        "/api/v1/sales/import?preview=true",
        "text/csv",
        &sales_csv(tailspin, &today, "5.00"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (report["inserted"].as_i64(), report["stored"].as_bool()),
        (Some(3), Some(false))
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    // The preview shows the rows as they would be stored, and the file's totals.
    let preview = &report["preview"];
    assert_eq!(preview["columns"][1], "Partner", "{report}");
    assert_eq!(
        preview["sample"][1],
        json!({ "row": 2, "cells": [
            "T-2", format!("Tailspin Tech ({tailspin})"), "", today, "cloud", "5.00 USD", "Initech"
        ] })
    );
    assert_eq!(preview["sample"].as_array().unwrap().len(), 3);
    assert_eq!(
        preview["totals"],
        json!([
            ["Rows", "3"],
            ["Amount", "29,505.00 USD"],
            ["Partners", "1"],
            ["Booked", format!("{today} to {today}")]
        ])
    );
    assert_eq!(preview["changes"], json!([]));
    // Once stored, a preview of a changed file names each stored row it would change, field by
    // field, and stores nothing.
    import_sales_csv(&app, tailspin, &today).await;
    let changed = sales_csv(tailspin, &today, "45000.00").replace(",Globex\n", ",\n");
    let report: Value = post(
        &app,
        "/api/v1/sales/import?preview=true",
        "text/csv",
        &changed,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (report["updated"].as_i64(), report["unchanged"].as_i64()),
        (Some(3), Some(0)),
        "{report}"
    );
    assert_eq!(
        report["preview"]["changes"],
        json!([
            { "row": 1, "key": "T-1", "fields": [{ "field": "customer_name", "before": "Globex", "after": "" }] },
            { "row": 2, "key": "T-2", "fields": [{ "field": "amount", "before": "40,000.00 USD", "after": "45,000.00 USD" }] },
            { "row": 3, "key": "T-3", "fields": [{ "field": "customer_name", "before": "Globex", "after": "" }] },
        ])
    );
    let stored: String = sqlx::query_scalar("SELECT customer_name FROM sales WHERE external_id = 'T-1'")
        .fetch_one(app.portal.store().pool())
        .await
        .unwrap();
    assert_eq!(stored, "Globex", "a preview changes nothing");
    // Certifications alike: the sample, the expiry a file moves, and the people it certifies.
    let certs = certification_csv(tailspin, &today);
    post(&app, "/api/v1/certifications/import", "text/csv", &certs, None).await;
    let moved = format!(
        "{}{tailspin},Grace,ACNA,{today},2099-01-01\n",
        certs.replace("2099-01-01", "2098-06-30")
    );
    let report: Value = post(
        &app,
        "/api/v1/certifications/import?preview=true",
        "text/csv",
        &moved,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let preview = &report["preview"];
    assert_eq!(
        preview["sample"][0]["cells"],
        json!([
            format!("Tailspin Tech ({tailspin})"),
            "Ada",
            "ACNA",
            today,
            "2098-06-30"
        ])
    );
    assert_eq!(
        preview["changes"],
        json!([{
            "row": 1,
            "key": format!("Ada's ACNA earned {today} at Tailspin Tech ({tailspin})"),
            "fields": [{ "field": "expires_on", "before": "2099-01-01", "after": "2098-06-30" }]
        }])
    );
    assert_eq!(
        preview["totals"],
        json!([["Rows", "2"], ["Partners", "1"], ["People", "2"]])
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM certifications WHERE person = 'Grace'").await,
        0
    );
    // A refused file has no preview: its errors are the report.
    let refused: Value = post(
        &app,
        "/api/v1/sales/import?preview=true",
        "text/csv",
        &sales_csv(tailspin, &today, "five"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(refused["report"]["preview"].is_null(), "{refused}");
    assert_eq!(error_rows(&refused), [(2, "amount")]);

    // A misspelt or malformed flag is refused in the usual error shape, and nothing is stored:
    // `Preview=true` must never store a file meant as a preview.
    for (query, field) in [("preview=yes", "preview"), ("Preview=true", "Preview")] {
        let response = post(
            &app,
            &format!("/api/v1/sales/import?{query}"),
            "text/csv",
            &sales_csv(tailspin, &today, "5.00"),
            None,
        )
        .await;
        let e = error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(e["field"], field, "{query}: {e}");
    }
    // A body that is not a file of rows (a form, a spreadsheet) is refused as such, not read
    // as CSV into a list of puzzling row errors.
    for content_type in [
        "application/x-www-form-urlencoded",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ] {
        let response = post(
            &app,
            "/api/v1/sales/import",
            content_type,
            &sales_csv(tailspin, &today, "5.00"),
            None,
        )
        .await;
        let e = error_code(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("unsupported_media_type"), Some("Content-Type")),
            "{content_type}: {e}"
        );
    }
    // A body over an endpoint's limit answers in the same error shape, not as plain text.
    let oversized = format!(r#"{{"period": "2026-Q2", "note": "{}"}}"#, "x".repeat(3 << 20));
    let response = post(&app, "/api/v1/rebates/runs", "application/json", &oversized, None).await;
    let e = error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(e["code"], "too_large", "{e}");
    // A page's form over its limit is refused in the shape the page reads its errors in.
    let (token, big) = (app.csrf_token(), "x".repeat(3 << 20));
    let response = app
        .post_form(
            "/rpc/run_rebates",
            &[("csrf_token", token.as_str()), ("period", big.as_str())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_large", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("sign in again"),
        "{body}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales").await,
        before + 3,
        "only the one file imported for real is stored"
    );
    app.cleanup().await;
}

/// A refused file reports nothing done, however many rows went to the database before its
/// error was found (rows are written a chunk at a time while the rest is checked).
async fn a_refused_large_file_reports_nothing_done(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    let mut file = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for i in 0..5000 {
        file.push_str(&format!("RF-{i},{tailspin},2026-03-01,hardware,10.00,USD\n"));
    }
    file.push_str(&format!("RF-last,{tailspin},2026-03-01,hardware,10.00,EUR\n"));
    for path in ["/api/v1/sales/import", "/api/v1/sales/import?preview=true"] {
        let response = post(&app, path, "text/csv", &file, None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let body: Value = response.json().await.unwrap();
        let report = &body["report"];
        assert_eq!(
            (
                report["rows"].as_i64(),
                report["inserted"].as_i64(),
                report["updated"].as_i64(),
                report["unchanged"].as_i64(),
                report["stored"].as_bool()
            ),
            (Some(5001), Some(0), Some(0), Some(0), Some(false)),
            "{path}: {report}"
        );
        assert_eq!(body["error"]["field"], "rows[5001].currency");
    }
    // A file wrong on every row lists the first 1,000 errors and counts them all.
    let everywhere = file
        .replace(",USD\n", ",EUR\n")
        .replace(",2026-03-01,", ",2026-03-41,");
    let response = post(&app, "/api/v1/sales/import", "text/csv", &everywhere, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let report = &body["report"];
    assert_eq!(
        (
            report["errors"].as_array().map(Vec::len),
            report["error_count"].as_i64(),
            report["rows_with_errors"].as_i64()
        ),
        (Some(1000), Some(10_002), Some(5001)),
        "{}",
        body["error"]
    );
    assert_eq!(
        body["error"]["message"],
        "5001 rows have errors; nothing was stored"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    app.cleanup().await;
}

/// Posts a certifications file that must be refused whole; returns the answer.
async fn refused_certifications(app: &TestApp, file: &str) -> Value {
    let response = post(app, "/api/v1/certifications/import", "text/csv", file, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    response.json().await.unwrap()
}

async fn certifications_update_their_expiry_and_refuse_repeats(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let file = |ada_expires: &str| {
        format!(
            "partner_id,person,code,earned_on,expires_on\n\
             {tailspin},Ada,ACNA,2026-01-10,{ada_expires}\n\
             {tailspin},Grace,ACNA,2026-02-01,2028-02-01\n\
             {tailspin},Ada,ACSE,2026-01-10,2028-01-10\n"
        )
    };
    let import = |body: String| {
        let app = &app;
        async move {
            let response = post(app, "/api/v1/certifications/import", "text/csv", &body, None).await;
            assert_eq!(response.status(), StatusCode::OK);
            let report: Value = response.json().await.unwrap();
            (
                report["inserted"].as_i64().unwrap(),
                report["updated"].as_i64().unwrap(),
                report["unchanged"].as_i64().unwrap(),
            )
        }
    };
    let stored = "SELECT COUNT(*) FROM certifications";
    let before = count(&app, stored).await;
    assert_eq!(import(file("2028-01-10")).await, (3, 0, 0));
    assert_eq!(import(file("2028-01-10")).await, (0, 0, 3));
    assert_eq!(import(file("2029-01-10")).await, (0, 1, 2));
    assert_eq!(count(&app, stored).await, before + 3, "no duplicates");
    let expires: String = sqlx::query_scalar(
        "SELECT expires_on FROM certifications WHERE partner_id = $1 AND person = 'Ada' AND code = 'ACNA'",
    )
    .bind(tailspin)
    .fetch_one(app.portal.store().pool())
    .await
    .unwrap();
    assert_eq!(expires, "2029-01-10");
    let (before_json, after_json): (String, String) =
        sqlx::query_as("SELECT before_json, after_json FROM audit_log WHERE action = 'certification.update'")
            .fetch_one(app.portal.store().pool())
            .await
            .unwrap();
    assert!(
        before_json.contains("2028-01-10")
            && after_json.contains("2029-01-10")
            && after_json.contains("ACNA"),
        "{before_json} → {after_json}"
    );

    // A certification earned tomorrow is a mistake in the file, refused on its row.
    let tomorrow = app.portal.today().add_days(1);
    let early = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {tailspin},Linus,ACNA,2026-03-01,2028-03-01\n\
         {tailspin},Linus,ACSE,{tomorrow},2099-01-01\n"
    );
    let body = refused_certifications(&app, &early).await;
    assert_eq!(error_rows(&body), [(2, "earned_on")]);
    assert_eq!(count(&app, stored).await, before + 3);

    // The same certification twice in one file is refused, naming both rows.
    let repeated = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {tailspin},Linus,ACNA,2026-03-01,2028-03-01\n\
         {tailspin},Linus,ACNA,2026-03-01,2027-03-01\n"
    );
    let body = refused_certifications(&app, &repeated).await;
    let error = &body["report"]["errors"][0];
    assert_eq!(
        (error["row"].as_i64(), error["field"].as_str()),
        (Some(2), Some("code"))
    );
    assert!(error["message"].as_str().unwrap().contains("(row 1)"), "{error}");
    assert_eq!(
        count(&app, stored).await,
        before + 3,
        "nothing of the file is stored"
    );

    // A code is one code whatever its case, named by the program or not: re-importing it in
    // another case finds the stored row, and the same file may not hold it twice.
    let unnamed = |code: &str, expires: &str| {
        format!("partner_id,person,code,earned_on,expires_on\n{tailspin},Ada,{code},2026-01-10,{expires}\n")
    };
    assert_eq!(import(unnamed("aws-sa", "2028-01-10")).await, (1, 0, 0));
    assert_eq!(import(unnamed("AWS-SA", "2028-01-10")).await, (0, 0, 1));
    assert_eq!(import(unnamed("Aws-Sa", "2029-01-10")).await, (0, 1, 0));
    assert_eq!(import(unnamed("acna", "2029-01-10")).await, (0, 0, 1));
    assert_eq!(count(&app, stored).await, before + 4, "no duplicates");
    let twice = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {tailspin},Linus,aws-sa,2026-03-01,2028-03-01\n\
         {tailspin},linus,AWS-SA,2026-03-01,2028-03-01\n"
    );
    let body = refused_certifications(&app, &twice).await;
    assert_eq!(error_rows(&body), [(2, "code")]);

    // A certification earned before 1970 is a year typed wrong; one that never expires is
    // written with a far expiry.
    let off = format!(
        "partner_id,person,code,earned_on,expires_on\n\
         {tailspin},Linus,ACNA,1926-03-01,1928-03-01\n\
         {tailspin},Linus,ACSE,2026-03-01,9999-12-31\n"
    );
    let body = refused_certifications(&app, &off).await;
    assert_eq!(error_rows(&body), [(1, "earned_on")]);
    assert!(body.to_string().contains("is before 1970"), "{body}");
    assert_eq!(
        count(&app, stored).await,
        before + 4,
        "nothing of the file is stored"
    );
    app.cleanup().await;
}

async fn files_with_a_bad_header_or_no_rows_are_refused_with_one_error(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let imports_before = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action LIKE '%.import'",
    )
    .await;
    let header = "external_id,partner_id,booked_on,product_line,amount,currency";
    let cases = [
        ("/api/v1/sales/import", String::new(), "file", "no rows"),
        ("/api/v1/sales/import", format!("{header}\n"), "file", "no rows"),
        // A wrong header with nothing under it says both.
        (
            "/api/v1/sales/import",
            "external_id,partner_id,booked_on,product_line,amount\n".to_owned(),
            "header",
            "missing column currency; the header must name external_id, partner_id, booked_on, product_line, amount, currency; the file has no rows under its header either",
        ),
        (
            "/api/v1/sales/import",
            format!("external_id,partner_id,booked_on,product_line\nM-1,{tailspin},2026-02-01,hardware\n"),
            "header",
            "missing columns amount, currency",
        ),
        (
            "/api/v1/sales/import",
            format!("{header},amount\nD-1,{tailspin},2026-02-01,hardware,1.00,USD,2.00\n"),
            "header",
            "`amount` appears twice",
        ),
        (
            "/api/v1/certifications/import",
            format!("partner_id,person,code,earned_on\n{tailspin},a@x.test,NET-101,2026-01-01\n"),
            "header",
            "missing column expires_on",
        ),
        (
            "/api/v1/sales/import",
            format!("{header},distributer_id\nU-1,{tailspin},2026-02-01,hardware,1.00,USD,3\n"),
            "header",
            "unknown column distributer_id",
        ),
    ];
    for (path, file, field, says) in cases {
        let response = post(&app, path, "text/csv", &file, None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{file:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{body}");
        let errors = body["report"]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "one error for the file, not one per row: {body}");
        assert_eq!(errors[0]["row"], 0);
        assert!(errors[0]["message"].as_str().unwrap().contains(says), "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE '%.import'"
        )
        .await,
        imports_before,
        "a refused file records no import"
    );
    // A file saved in a legacy encoding is refused naming its line, not read with U+FFFD.
    let mut latin1 =
        format!("{header}\nL-1,{tailspin},2026-02-01,hardware,1.00,USD\nL-2,{tailspin},2026-02-01,caf")
            .into_bytes();
    latin1.extend_from_slice(b"\xe9,1.00,USD\n");
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/csv"));
    let e = error_code(
        app.post_raw("/api/v1/sales/import", headers, latin1).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(e["field"], "file");
    assert!(
        e["message"].as_str().unwrap().contains("line 3 is not UTF-8"),
        "{e}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales WHERE external_id LIKE 'L-%'").await,
        0
    );
    // A byte-order mark, as spreadsheets write it, is not part of the first column's name.
    let file = format!("\u{feff}{header}\nBOM-1,{tailspin},2026-02-01,hardware,10.00,USD\n");
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales WHERE external_id = 'BOM-1'").await,
        1
    );
    // Rows that cannot be read are each named, and the report still counts the file's rows.
    let ragged = format!(
        "{header}\n\
         R-1,{tailspin},2026-02-01,hardware,1.00,USD\n\
         R-2,{tailspin},2026-02-01,hardware,1.00,USD,extra\n\
         R-3,{tailspin},2026-02-01,hardware,1.00,USD\n"
    );
    let response = post(&app, "/api/v1/sales/import", "text/csv", &ragged, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_rows(&body), [(2, "row")], "{body}");
    assert_eq!(body["report"]["rows"], 3, "{body}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales WHERE external_id LIKE 'R-%'").await,
        0
    );
    app.cleanup().await;
}

async fn amounts_must_be_plain_decimals_within_bounds(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    let file = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency\n\
         A-1,{tailspin},2026-02-01,hardware,\"1,234.50\",USD\n\
         A-2,{tailspin},2026-02-01,hardware,\"12,34\",USD\n\
         A-3,{tailspin},2026-02-01,hardware,100000000000.01,USD\n\
         A-4,{tailspin},2026-02-01,hardware,-99999999999999999.00,USD\n"
    );
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let rows = error_rows(&body);
    assert_eq!(rows, [(2, "amount"), (3, "amount"), (4, "amount")], "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    // Thousands separators between groups of three are fine.
    let file = format!(
        "external_id,partner_id,booked_on,product_line,amount,currency\n\
         A-1,{tailspin},2026-02-01,hardware,\"1,234.50\",USD\n"
    );
    let response = post(&app, "/api/v1/sales/import", "text/csv", &file, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        count(&app, "SELECT amount_minor FROM sales WHERE external_id = 'A-1'").await,
        123_450
    );
    app.cleanup().await;
}

async fn the_upload_page_takes_files_of_several_megabytes(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    // About 3 MB once form-encoded: more than an ordinary form may carry.
    let mut file = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for i in 0..60_000 {
        file.push_str(&format!(
            "UP-{i},{tailspin},2026-02-01,hardware,{}.00,USD\n",
            10 + i % 90
        ));
    }
    assert!(file.len() > 2 * 1024 * 1024);
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    // As the page posts it: the CSRF token is a form field, so the whole form is inspected.
    let token = app.csrf_token();
    let response = app
        .post_form(
            "/rpc/import_facts",
            &[
                ("csrf_token", &token),
                ("kind", "sales"),
                ("data", &file),
                ("preview", "1"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["rows"], 60_000, "{report}");
    assert_eq!(report["inserted"], 60_000);
    assert_eq!(report["stored"], false, "a preview stores nothing");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    app.cleanup().await;
}

/// A file larger than the whole table (a bulk load, written without the table's indexes and, on
/// Postgres, its primary and unique keys) treats the rows it shares with the table like any
/// other import: identical ones are left alone, changed ones updated and recorded, and nothing
/// is duplicated.
async fn a_load_larger_than_the_table_keeps_stored_rows_and_every_index(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    post(
        &app,
        "/api/v1/sales/import",
        "text/csv",
        &sales_csv(tailspin, &today, "40000.00"),
        None,
    )
    .await;
    let indexes = sales_schema(&app).await;
    let stored = count(&app, "SELECT COUNT(*) FROM sales").await;
    let rows = 60_000;
    // T-1 as stored, T-2 with a new amount, then new sales.
    let mut file = format!(
        "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency,customer_name\n\
         T-1,{tailspin},,{today},hardware,30000.00,USD,Globex\n\
         T-2,{tailspin},,{today},cloud,41000.00,USD,Initech\n"
    );
    // Every hundredth new sale goes through a distributor: the partial index of those sales
    // stays in place through a bulk load and must take them in as it goes.
    let contoso = partner(&app, "Contoso Distribution").await;
    for i in 2..rows {
        let distributor = if i % 100 == 0 {
            contoso.to_string()
        } else {
            String::new()
        };
        file.push_str(&format!(
            "L-{i},{tailspin},{distributor},{today},hardware,1.00,USD,\n"
        ));
    }
    assert!(rows as i64 > stored, "the file is larger than the table");
    let import = |text: String| {
        let portal = app.portal.clone();
        async move {
            portal
                .import_sales(None, &text, ImportFormat::Csv, false, &no_progress)
                .await
                .unwrap()
        }
    };
    let report = import(file.clone()).await;
    assert_eq!(
        (
            report.rows,
            report.inserted,
            report.updated,
            report.unchanged,
            report.stored
        ),
        (rows, rows - 2, 1, 1, true),
        "{:?}",
        report.errors
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales").await,
        stored + rows as i64 - 2,
        "no duplicates"
    );
    assert_eq!(
        count(&app, "SELECT amount_minor FROM sales WHERE external_id = 'T-2'").await,
        4_100_000
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'sale.update' AND entity_id = 'T-2'"
        )
        .await,
        1
    );
    assert_eq!(sales_schema(&app).await, indexes, "every index is back");
    let through_contoso =
        format!("SELECT COUNT(*) FROM sales WHERE distributor_id = {contoso} AND external_id LIKE 'L-%'");
    assert_eq!(count(&app, &through_contoso).await, (rows as i64 - 1) / 100);
    // The external id is still unique.
    assert!(sqlx::query(
        "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) \
         VALUES ('L-2', $1, '2026-01-01', 'hardware', 1, 'USD', 0, 0)"
    )
    .bind(tailspin)
    .execute(app.portal.store().pool())
    .await
    .is_err());
    // And a sale still names a real organisation.
    assert!(sqlx::query(
        "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) \
         VALUES ('L-orphan', $1, '2026-01-01', 'hardware', 1, 'USD', 0, 0)"
    )
    .bind(tailspin + 1_000_000)
    .execute(app.portal.store().pool())
    .await
    .is_err());

    // Files larger than the table (`2 * rows` new sales named `{prefix}-…`, then `last`) that
    // are refused: each stores nothing and leaves every index in place.
    let before = count(&app, "SELECT COUNT(*) FROM sales").await;
    assert!(2 * rows as i64 > before, "the file is larger than the table");
    let larger_file = |prefix: &str, last: &[String]| {
        let mut file = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
        for i in 0..2 * rows {
            file.push_str(&format!("{prefix}-{i},{tailspin},{today},hardware,1.00,USD\n"));
        }
        for line in last {
            file.push_str(line);
            file.push('\n');
        }
        file
    };
    // The refused report's errors, by row and field.
    fn refusal(report: &service::imports::ImportReport) -> Vec<(usize, &str)> {
        assert!(!report.stored);
        report.errors.iter().map(|e| (e.row, e.field.as_str())).collect()
    }

    // A bad last row. A bulk load checks partners itself (SQLite's foreign-key check is off for
    // it): an organisation that is not a partner is refused like an unknown one.
    let vendor = count(&app, "SELECT id FROM organisations WHERE kind = 'vendor'").await;
    let refused = import(larger_file(
        "M",
        &[
            format!("M-vendor,{vendor},{today},hardware,1.00,USD"),
            format!("M-last,{tailspin},{today},hardware,ten,USD"),
        ],
    ))
    .await;
    assert_eq!(
        refusal(&refused),
        vec![(2 * rows + 1, "partner_id"), (2 * rows + 2, "amount")]
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sales").await,
        before,
        "nothing stored"
    );
    assert_eq!(sales_schema(&app).await, indexes);

    // A bulk load finds a repeated external id once its rows are written, and is refused
    // whole all the same, naming the row that repeats it and the row it repeats; a row's
    // repeated id comes before its other errors, in the order of its columns.
    let refused = import(larger_file(
        "R",
        &[
            format!("R-5,{tailspin},{today},cloud,2.00,USD"),
            format!("R-7,{tailspin},{today},hardware,ten,USD"),
        ],
    ))
    .await;
    assert_eq!(
        refusal(&refused),
        vec![
            (2 * rows + 1, "external_id"),
            (2 * rows + 2, "external_id"),
            (2 * rows + 2, "amount")
        ]
    );
    assert_eq!(
        refused.errors[0].message,
        "`R-5` appears earlier in the same file (row 6)"
    );
    assert_eq!(
        refused.errors[1].message,
        "`R-7` appears earlier in the same file (row 8)"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    // A repeat alone, in a file otherwise valid.
    let refused = import(larger_file(
        "S",
        &[format!("S-0,{tailspin},{today},hardware,1.00,USD")],
    ))
    .await;
    assert_eq!(refusal(&refused), vec![(2 * rows + 1, "external_id")]);
    assert_eq!(
        refused.errors[0].message,
        "`S-0` appears earlier in the same file (row 1)"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sales").await, before);
    assert_eq!(sales_schema(&app).await, indexes);

    // On SQLite, where a bulk load switches the database's own foreign-key check off for its
    // connection: every sale names a real organisation, and every connection the application
    // uses still enforces foreign keys (the bulk load's own is closed, never pooled again).
    if app.portal.store().backend() == Backend::Sqlite {
        let pool = app.portal.store().pool();
        let orphans: Vec<sqlx::any::AnyRow> = sqlx::query("PRAGMA foreign_key_check(sales)")
            .fetch_all(pool)
            .await
            .unwrap();
        assert!(orphans.is_empty(), "{} sales name no organisation", orphans.len());
        // Every index holds exactly the rows it should, the partial one kept through the load
        // and those built again after it.
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(integrity, ["ok"]);
        let mut connections = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            connections.push(pool.acquire().await.unwrap());
        }
        for conn in &mut connections {
            let enforced: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(enforced, 1, "a pooled connection without foreign keys");
        }
        drop(connections);
    } else {
        // On Postgres, where a bulk load suspends the foreign keys' check of each row for its
        // own transaction only: every sale names a real organisation, and every pooled
        // connection checks rows again.
        let pool = app.portal.store().pool();
        let orphans = count(
            &app,
            "SELECT COUNT(*) FROM sales s WHERE NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = s.partner_id) \
             OR (s.distributor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = s.distributor_id))",
        )
        .await;
        assert_eq!(orphans, 0, "sales that name no organisation");
        let mut connections = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            connections.push(pool.acquire().await.unwrap());
        }
        for conn in &mut connections {
            let role: String = sqlx::query_scalar("SELECT current_setting('session_replication_role')")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(role, "origin", "a pooled connection that skips the row checks");
        }
        drop(connections);
    }
    app.cleanup().await;
}

/// A file larger than the table, whose tiers are evaluated on the sums it gathered as it went and
/// those of the sales stored before it (a bulk load, without the table's indexes),
/// moves a tier on every sale of the partners it touches: stored and loaded, sold and sold
/// through. Here a distributor reaches
/// Silver only on both halves of both: 32,000.00 stored and 20,000.00 loaded of its own sales,
/// and the same of sales through it.
async fn a_bulk_load_evaluates_tiers_on_stored_and_loaded_sales(db: Db) {
    let app = signed_in(db, "finance@acme.test").await;
    let pool = app.portal.store().pool();
    let tailspin = partner(&app, "Tailspin Tech").await;
    let distributor: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) \
         VALUES ('Bulk Distribution', 'partner', 'distributor', 'na', 0, 0) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let today = app.portal.today().to_string();
    // From today, Silver also asks for 50,000.00 of sell-through.
    let mut admin = app.another_client();
    admin.sign_in("admin@acme.test").await;
    let mut program: Value = admin.get("/api/v1/program").await.json().await.unwrap();
    let mut document = program["program"].take();
    assert_eq!(document["tiers"][1]["name"], "Silver");
    document["tiers"][1]["criteria"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "metric": "sell_through", "window": "trailing_12_months", "threshold": "50000.00"
        }));
    admin.add_program_version(&today, document).await;
    let certified =
        format!("partner_id,person,code,earned_on,expires_on\n{distributor},Ada,ACNA,{today},2099-01-01\n");
    let response = post(
        &app,
        "/api/v1/certifications/import",
        "text/csv",
        &certified,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = format!(
        "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n\
         S-own,{distributor},,{today},hardware,32000.00,USD\n\
         S-through,{tailspin},{distributor},{today},hardware,32000.00,USD\n"
    );
    let report = sales_report(&app, "text/csv", &stored).await;
    assert_eq!(report["inserted"], 2, "{report}");
    let tier = format!("SELECT tier_rank FROM organisations WHERE id = {distributor}");
    assert_eq!(count(&app, &tier).await, 0, "64,000.00 stored: not Silver yet");

    let half = 50_000;
    let mut file =
        String::from("external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n");
    for i in 0..half {
        file.push_str(&format!("B-own-{i},{distributor},,{today},hardware,0.40,USD\n"));
        file.push_str(&format!(
            "B-through-{i},{tailspin},{distributor},{today},hardware,0.40,USD\n"
        ));
    }
    assert!(
        2 * half > count(&app, "SELECT MAX(id) FROM sales").await,
        "the file is larger than the table"
    );
    let report = app
        .portal
        .import_sales(None, &file, ImportFormat::Csv, false, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.stored),
        (2 * half as usize, 0, true),
        "{:?}",
        report.errors
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        count(&app, &tier).await,
        1,
        "52,000.00 sold and 52,000.00 sold through: Silver"
    );
    let cause: String = sqlx::query_scalar("SELECT cause FROM tier_history WHERE partner_id = $1")
        .bind(distributor)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(cause, "upgrade");
    app.cleanup().await;
}

/// On Postgres a bulk load suspends the foreign keys' check of each row where its role may,
/// and checks every organisation once instead. An ordinary role (not a superuser, as a
/// deployment usually connects) may not: its bulk load goes in all the same, every row checked
/// by the foreign keys, and leaves every index and key as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_bulk_load_by_an_ordinary_role_goes_in_checked_row_by_row() {
    let database = TestDatabase::create_for_ordinary_role().await;
    let portal = server::startup::open_portal(&database.url, None, Default::default())
        .await
        .expect("the database opens and migrates as its owner");
    portal.load_demo().await.unwrap();
    let pool = portal.store().pool();
    let refused = sqlx::query("SET session_replication_role = replica")
        .execute(pool)
        .await
        .expect_err("an ordinary role may not suspend the row checks");
    assert!(refused.to_string().contains("permission denied"), "{refused}");
    let schema = crate::common::sales_schema(pool, true).await;
    let tailspin: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Tailspin Tech'")
        .fetch_one(pool)
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sales")
        .fetch_one(pool)
        .await
        .unwrap();
    let today = portal.today();
    let rows = 60_000;
    let mut file = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for i in 0..rows {
        file.push_str(&format!("O-{i},{tailspin},{today},hardware,1.00,USD\n"));
    }
    assert!(rows > stored, "the file is larger than the table: a bulk load");
    let report = portal
        .import_sales(None, &file, ImportFormat::Csv, false, &no_progress)
        .await
        .unwrap();
    assert!(report.stored, "{:?}", report.errors);
    assert_eq!(report.inserted, rows as usize);
    let loaded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sales WHERE external_id LIKE 'O-%'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(loaded, rows);
    assert_eq!(crate::common::sales_schema(pool, true).await, schema);
    portal.store().pool().close().await;
    database.cleanup().await;
}

/// `sales`' indexes and constraints (see [`crate::common::sales_schema`]).
async fn sales_schema(app: &TestApp) -> Vec<String> {
    crate::common::sales_schema(app.portal.store().pool(), app.db == Db::Postgres).await
}

/// Another writer commits while a certification import is under way. On SQLite a transaction
/// that read before it wrote could then not write at all (`SQLITE_BUSY`, at once, whatever the
/// busy timeout): the import takes the write lock first, waits for the other writer, and goes in.
async fn an_import_waits_for_another_writer_rather_than_failing(db: Db) {
    use sqlx::Connection;
    let app = spawn_app(db).await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let today = app.portal.today().to_string();
    // Its own connection, not the pool's: the API tests also run on a pool of one.
    let mut other = sqlx::AnyConnection::connect(&app.database_url).await.unwrap();
    let begin = match db {
        Db::Sqlite => "BEGIN IMMEDIATE",
        Db::Postgres => "BEGIN",
    };
    sqlx::query(begin).execute(&mut other).await.unwrap();
    sqlx::query("UPDATE organisations SET name = name WHERE id <> $1")
        .bind(tailspin)
        .execute(&mut other)
        .await
        .unwrap();
    let file = format!(
        "partner_id,person,code,earned_on,expires_on\n{tailspin},Ada,ACNA,{today},2099-01-01\n{tailspin},Grace,ACNA,{today},2099-01-01\n"
    );
    let portal = app.portal.clone();
    let import = tokio::spawn(async move {
        portal
            .import_certifications(None, &file, ImportFormat::Csv, false, &no_progress)
            .await
    });
    // Long enough for the import to read what it reads first.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let report = import
        .await
        .unwrap()
        .expect("the import waits for the other writer and goes in");
    assert_eq!((report.stored, report.inserted), (true, 2), "{report:?}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM certifications WHERE person IN ('Ada', 'Grace')"
        )
        .await,
        2
    );
    app.cleanup().await;
}

/// Before the first program version starts, amounts are read in its currency, not in a default
/// one; with no program at all, nothing is imported.
async fn amounts_are_read_in_the_currency_of_a_program_yet_to_start(db: Db) {
    let app = signed_in(db, "admin@acme.test").await;
    let tailspin = partner(&app, "Tailspin Tech").await;
    let pool = app.portal.store().pool();
    let moved = sqlx::query(
        "UPDATE program_versions SET effective_from = '2099-01-01', \
         document = REPLACE(document, 'currency = \"USD\"', 'currency = \"EUR\"')",
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    let file = |currency: &str, amount: &str| {
        format!(
            "external_id,partner_id,booked_on,product_line,amount,currency\n\
             E-1,{tailspin},2026-03-01,hardware,{amount},{currency}\n"
        )
    };
    let refused = sales_report(&app, "text/csv", &file("USD", "10.00")).await;
    assert_eq!(error_rows(&refused), [(1, "currency")], "{refused}");
    assert!(
        refused["report"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("EUR"),
        "{refused}"
    );
    let report = sales_report(&app, "text/csv", &file("EUR", "\"1,234.50\"")).await;
    assert_eq!(report["inserted"], 1, "{report}");
    let stored: (i64, String) =
        sqlx::query_as("SELECT amount_minor, currency FROM sales WHERE external_id = 'E-1'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(stored, (123_450, "EUR".to_owned()));

    // No program at all: no currency to read amounts in.
    sqlx::query("UPDATE tier_history SET program_version_id = NULL")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM program_versions")
        .execute(pool)
        .await
        .unwrap();
    let e = error_code(
        post(
            &app,
            "/api/v1/sales/import",
            "text/csv",
            &file("EUR", "1.00"),
            None,
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("no channel program yet"),
        "{e}"
    );
    app.cleanup().await;
}

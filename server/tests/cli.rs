//! The command line: `atrium demo`, `atrium program export` and `atrium program import`.

use std::process::Command;

fn atrium(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the atrium binary runs")
}

#[test]
fn program_export_and_import_round_trip_and_name_bad_fields() {
    let dir = std::env::temp_dir().join(format!("atrium-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/cli.db", dir.display());

    let demo = atrium(&db, &["demo"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let again = atrium(&db, &["demo"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already present"));

    let export = atrium(&db, &["program", "export"]);
    assert!(export.status.success());
    let toml = String::from_utf8(export.stdout).unwrap();
    assert!(toml.contains("name = \"Acme Partner Program\""), "{toml}");

    let edited = toml.replace("threshold = \"250000.00\"", "threshold = \"0.00\"");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, edited).unwrap();
    let refused = atrium(
        &db,
        &[
            "program",
            "import",
            bad.to_str().unwrap(),
            "--effective-from",
            "2099-01-01",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("program.tiers[2].criteria[0].threshold: must be > 0"),
        "{stderr}"
    );

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        toml.replace("threshold = \"250000.00\"", "threshold = \"300000.00\""),
    )
    .unwrap();
    let imported = atrium(
        &db,
        &[
            "program",
            "import",
            good.to_str().unwrap(),
            "--effective-from",
            "2099-01-01",
        ],
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("applies from 2099-01-01"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn import_reports_every_bad_row_and_stores_good_files() {
    let dir = std::env::temp_dir().join(format!("atrium-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/cli.db", dir.display());
    assert!(atrium(&db, &["demo"]).status.success());

    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "external_id,partner_id,booked_on,product_line,amount,currency\n\
         C-1,2,2026-13-01,hardware,10.00,USD\n\
         C-2,999,2026-01-01,hardware,10.00,USD\n\
         C-3,2,2026-01-01,hardware,ten,USD\n",
    )
    .unwrap();
    let refused = atrium(&db, &["import", "sales", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for expected in [
        "row 1 (line 2), booked_on",
        "row 2 (line 3), partner_id",
        "row 3 (line 4), amount",
        "nothing was stored",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    assert!(stderr.contains("3 errors in a file of 3 rows"), "{stderr}");

    let latin1 = dir.join("latin1.csv");
    std::fs::write(
        &latin1,
        b"external_id,partner_id,booked_on,product_line,amount,currency,customer_name\n\
          C-9,2,2026-01-01,hardware,10.00,USD,Soci\xe9t\xe9 G\xe9n\xe9rale\n",
    )
    .unwrap();
    let refused = atrium(&db, &["import", "sales", latin1.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("latin1.csv: file: line 2 is not UTF-8 text"),
        "{stderr}"
    );

    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        "{\"external_id\":\"C-1\",\"partner_id\":2,\"booked_on\":\"2026-01-01\",\"product_line\":\"cloud\",\"amount\":\"10.00\",\"currency\":\"USD\"}\n",
    )
    .unwrap();
    // `--as` names the importer, who must be allowed to import.
    let partner = atrium(
        &db,
        &[
            "import",
            "sales",
            good.to_str().unwrap(),
            "--as",
            "admin@northwind.test",
        ],
    );
    assert!(!partner.status.success());
    assert!(
        String::from_utf8_lossy(&partner.stderr).contains("only vendor admins and finance"),
        "{}",
        String::from_utf8_lossy(&partner.stderr)
    );
    let imported = atrium(
        &db,
        &[
            "import",
            "sales",
            good.to_str().unwrap(),
            "--as",
            "finance@acme.test",
        ],
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("1 row: 1 new, 0 updated, 0 unchanged"));
    // A preview of a changed file says what it would change, and stores nothing.
    let changed = dir.join("changed.jsonl");
    std::fs::write(
        &changed,
        "{\"external_id\":\"C-1\",\"partner_id\":2,\"booked_on\":\"2026-01-01\",\"product_line\":\"cloud\",\"amount\":\"12.50\",\"currency\":\"USD\"}\n",
    )
    .unwrap();
    let previewed = atrium(&db, &["import", "sales", changed.to_str().unwrap(), "--preview"]);
    assert!(previewed.status.success());
    let stdout = String::from_utf8_lossy(&previewed.stdout);
    for expected in [
        "1 row: 0 new, 1 updated, 0 unchanged (preview: nothing stored)",
        "Amount: 12.50 USD",
        "changes C-1 (row 1): amount 10.00 USD → 12.50 USD",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let importer: Option<String> = runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db).await.unwrap();
        sqlx::query_scalar(
            "SELECT u.email FROM audit_log a JOIN users u ON u.id = a.actor_user_id WHERE a.action = 'sales.import'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    });
    assert_eq!(
        importer.as_deref(),
        Some("finance@acme.test"),
        "the audit log names the importer"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn create_admin_makes_a_vendor_admin_who_can_sign_in() {
    let dir = std::env::temp_dir().join(format!("atrium-cli-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/cli.db", dir.display());
    let short = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args([
            "create-admin",
            "--email",
            "root@vendor.test",
            "--name",
            "Root",
            "--vendor",
            "Vendor Inc",
        ])
        .env("DATABASE_URL", &db)
        .env("ATRIUM_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let ok = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args([
            "create-admin",
            "--email",
            "root@vendor.test",
            "--name",
            "Root",
            "--vendor",
            "Vendor Inc",
        ])
        .env("DATABASE_URL", &db)
        .env("ATRIUM_ADMIN_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Created vendor admin root@vendor.test"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `atrium rebates simulate` for 2026-Q2, given a database that does not exist: simulation
/// must not try to open one.
fn simulate(
    program: &str,
    sales: &std::path::Path,
    tiers: Option<&std::path::Path>,
    format: &str,
) -> std::process::Output {
    let mut args = vec![
        "rebates",
        "simulate",
        "--program",
        program,
        "--sales",
        sales.to_str().unwrap(),
        "--period",
        "2026-Q2",
        "--format",
        format,
    ];
    if let Some(tiers) = tiers {
        args.extend(["--tiers", tiers.to_str().unwrap()]);
    }
    atrium("postgres://nobody@127.0.0.1:1/none", &args)
}

#[test]
fn rebates_simulate_needs_no_database() {
    let dir = std::env::temp_dir().join(format!("atrium-cli-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/acme-partner-program.toml");
    let sales = dir.join("sales.csv");
    std::fs::write(
        &sales,
        "external_id,partner_id,booked_on,product_line,amount,currency\n\
         S1,7,2026-04-10,hardware,120000.00,USD\nS2,7,2026-05-10,cloud,40000.00,USD\nS3,7,2026-06-10,hardware,-5000.00,USD\n",
    )
    .unwrap();
    let tiers = dir.join("tiers.csv");
    std::fs::write(&tiers, "partner_id,tier\n7,Gold\n").unwrap();
    let output = simulate(program, &sales, Some(&tiers), "csv");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(
        csv.starts_with(
            "partner_id,tier,plan_id,period,basis,line_kind,line_description,line_amount,total,currency\n"
        ),
        "{csv}"
    );
    assert!(csv.contains(",4600.00,7000.00,USD\n"), "{csv}");
    assert!(csv.contains(",2400.00,7000.00,USD\n"), "{csv}");
    // JSON gives amounts in minor units, with the currency and its digits to read them by.
    let json = simulate(program, &sales, Some(&tiers), "json");
    let statements: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (
            &statements[0]["total"],
            &statements[0]["currency"],
            &statements[0]["minor_digits"]
        ),
        (
            &serde_json::json!(700_000),
            &serde_json::json!("USD"),
            &serde_json::json!(2)
        )
    );
    let json = simulate(program, &sales, None, "json");
    assert!(json.status.success());
    let statements: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // Without a tiers file the sales alone decide: no certifications, so Registered, no plan;
    // stderr says why the list is empty.
    assert_eq!(statements, serde_json::json!([]));
    let warning = String::from_utf8_lossy(&json.stderr);
    assert!(
        warning.contains("1 of 1 partners get no statement: their tier has no rebate plan (from sales alone"),
        "{warning}"
    );
    // A program in JSON is read by its extension, as `program import` reads it.
    let document =
        domain::program::ProgramDoc::from_toml(&std::fs::read_to_string(program).unwrap()).unwrap();
    let json_program = dir.join("program.json");
    std::fs::write(&json_program, serde_json::to_string(&document).unwrap()).unwrap();
    let from_json = simulate(json_program.to_str().unwrap(), &sales, Some(&tiers), "csv");
    assert!(
        from_json.status.success(),
        "{}",
        String::from_utf8_lossy(&from_json.stderr)
    );
    assert_eq!(String::from_utf8(from_json.stdout).unwrap(), csv);

    // A partner with sales that the tiers file leaves out is qualified from its sales alone,
    // and stderr says so.
    let more = dir.join("more.csv");
    std::fs::write(
        &more,
        format!(
            "{}S4,8,2026-05-01,hardware,1000.00,USD\n",
            std::fs::read_to_string(&sales).unwrap()
        ),
    )
    .unwrap();
    let output = simulate(program, &more, Some(&tiers), "json");
    assert!(output.status.success());
    let warning = String::from_utf8_lossy(&output.stderr);
    assert!(
        warning.contains("1 of 2 partners are not in ")
            && warning.contains("their tiers come from their sales alone"),
        "{warning}"
    );
    // One bad row: one error, in the singular, and nothing simulated.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "external_id,partner_id,booked_on,product_line,amount,currency\nS1,7,2026-04-10,hardware,1.00,EUR\n",
    )
    .unwrap();
    let output = simulate(program, &bad, None, "json");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("row 1 (line 2), currency"), "{stderr}");
    assert!(stderr.contains("1 error; nothing was simulated"), "{stderr}");
    assert!(output.stdout.is_empty());
    // No database and no server settings: a broken configuration file is not read.
    let broken = dir.join("atrium.toml");
    std::fs::write(&broken, "bind = [not toml").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args(["rebates", "simulate", "--program", program, "--sales"])
        .arg(&sales)
        .args(["--period", "2026-Q2", "--tiers"])
        .arg(&tiers)
        .env("ATRIUM_CONFIG", &broken)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A reader that stops early (`| head`) ends the output quietly: no panic, exit code 0.
    // Thousands of statements are far more than a pipe holds, so the writes meet the closed pipe.
    let (many_sales, many_tiers) = (dir.join("many.csv"), dir.join("many-tiers.csv"));
    let mut rows = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    let mut given = String::from("partner_id,tier\n");
    for partner in 1..=3000 {
        rows.push_str(&format!(
            "M{partner},{partner},2026-04-10,hardware,20000.00,USD\n"
        ));
        given.push_str(&format!("{partner},Gold\n"));
    }
    std::fs::write(&many_sales, rows).unwrap();
    std::fs::write(&many_tiers, given).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args(["rebates", "simulate", "--program", program, "--sales"])
        .arg(&many_sales)
        .args(["--period", "2026-Q2", "--tiers"])
        .arg(&many_tiers)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(
        closed.status.success() && !stderr.contains("panicked"),
        "{:?}: {stderr}",
        closed.status
    );
    std::fs::remove_dir_all(dir).unwrap();
}

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

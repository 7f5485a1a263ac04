//! Crash safety: an import and a rebate run killed with SIGKILL half-way leave nothing partial;
//! after a restart and a re-run the totals equal a clean run and no row is duplicated. Runs on
//! SQLite and on Postgres (ATRIUM_TEST_POSTGRES_URL; without it the Postgres test fails).

use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn atrium(db: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_atrium"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the atrium binary runs")
}

fn finish(mut child: Child) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "atrium failed: {:?}",
        std::io::read_to_string(child.stderr.take().unwrap())
    );
}

/// Whether some other connection is inside a write transaction on the database.
async fn writer_active(conn: &mut AnyConnection, db: &str) -> bool {
    if db.starts_with("postgres") {
        let writers: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        writers > 0
    } else {
        // SQLite has one writer at a time: taking the write lock fails while another holds it.
        match conn.execute("BEGIN IMMEDIATE").await {
            Ok(_) => {
                conn.execute("ROLLBACK").await.unwrap();
                false
            }
            Err(_) => true,
        }
    }
}

/// Starts `args` and kills it with SIGKILL while it is inside its write transaction — failing
/// the test if it finished first (then it proved nothing).
async fn kill_while_writing(db: &str, args: &[&str]) {
    sqlx::any::install_default_drivers();
    let mut watcher = AnyConnection::connect(db).await.unwrap();
    if !db.starts_with("postgres") {
        watcher.execute("PRAGMA busy_timeout = 0").await.unwrap();
    }
    let mut child = atrium(db, args);
    let started = Instant::now();
    while !writer_active(&mut watcher, db).await {
        if let Some(status) = child.try_wait().unwrap() {
            let output = std::io::read_to_string(child.stderr.take().unwrap());
            panic!("{args:?} finished ({status}) before it could be killed; give it more work. It said: {output:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{args:?} never started writing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    watcher.close().await.unwrap();
}

async fn pool(db: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(db).await.unwrap()
}

async fn scalar(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

const ROWS: usize = 150_000;
const PARTNERS: usize = 2_500;

fn big_sales_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("big.csv");
    let mut csv = String::from("external_id,partner_id,booked_on,product_line,amount,currency\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "BIG-{i},2,2026-05-{:02},hardware,{}.{:02},USD\n",
            i % 28 + 1,
            100 + i % 900,
            i % 100
        ));
    }
    std::fs::write(&path, csv).unwrap();
    path
}

/// Many Silver partners with one Q2 sale each, so that a rebate run takes a while.
async fn many_partners(db: &str) {
    let pool = pool(db).await;
    let mut tx = pool.begin().await.unwrap();
    for p in 0..PARTNERS {
        let id: i64 = sqlx::query(
            "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) \
             VALUES ($1, 'partner', 'reseller', 'na', 1, 0) RETURNING id",
        )
        .bind(format!("Crash Partner {p}"))
        .fetch_one(&mut *tx)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        sqlx::query(
            "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) \
             VALUES ($1, $2, '2026-05-05', 'hardware', $3, 'USD', 0, 0)",
        )
        .bind(format!("CRASH-{p}"))
        .bind(id)
        .bind(1_000_000 + p as i64 * 37)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

async fn crash_scenario(db: &str, clean: &str, dir: &std::path::Path) {
    for url in [db, clean] {
        finish(atrium(url, &["demo"]));
    }
    let file = big_sales_file(dir);
    let file = file.to_str().unwrap();

    // An import killed half-way stores nothing; re-running it stores every row exactly once.
    kill_while_writing(db, &["import", "sales", file]).await;
    let pool_db = pool(db).await;
    assert_eq!(
        scalar(
            &pool_db,
            "SELECT COUNT(*) FROM sales WHERE external_id LIKE 'BIG-%'"
        )
        .await,
        0,
        "nothing partial"
    );
    let postgres = db.starts_with("postgres");
    let indexes = common::sales_schema(&pool_db, postgres).await;
    // The external-id index is a constraint's on Postgres, a named index on SQLite.
    let external_id = if postgres {
        "sales_external_id_key"
    } else {
        "sales_external_id"
    };
    let mut expected = vec!["sales_partner", external_id];
    if postgres {
        expected.extend(["sales_partner_id_fkey", "sales_distributor_id_fkey"]);
    }
    for index in expected {
        let named = format!("{index}: ");
        assert!(
            indexes.iter().any(|entry| entry.starts_with(&named)),
            "{index} missing: {indexes:?}"
        );
    }
    finish(atrium(db, &["import", "sales", file]));
    finish(atrium(db, &["import", "sales", file]));
    finish(atrium(clean, &["import", "sales", file]));
    let pool_clean = pool(clean).await;
    let totals = "SELECT COUNT(*) FROM sales WHERE external_id LIKE 'BIG-%'";
    assert_eq!(scalar(&pool_db, totals).await, ROWS as i64, "no duplicates");
    let sums = "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM sales WHERE external_id LIKE 'BIG-%'";
    assert_eq!(scalar(&pool_db, sums).await, scalar(&pool_clean, sums).await);
    assert_eq!(
        common::sales_schema(&pool_db, postgres).await,
        indexes,
        "every index is back after an import"
    );
    assert_eq!(common::sales_schema(&pool_clean, postgres).await, indexes);

    // A rebate run killed half-way leaves no statement; a re-run equals a clean run.
    many_partners(db).await;
    many_partners(clean).await;
    kill_while_writing(db, &["rebates", "run", "2026-Q2"]).await;
    assert_eq!(
        scalar(&pool_db, "SELECT COUNT(*) FROM rebate_statements").await,
        0,
        "nothing partial"
    );
    finish(atrium(db, &["rebates", "run", "2026-Q2"]));
    finish(atrium(clean, &["rebates", "run", "2026-Q2"]));
    let statements = "SELECT COUNT(*) FROM rebate_statements WHERE period = '2026-Q2'";
    let total = "SELECT CAST(SUM(total_minor) AS BIGINT) FROM rebate_statements WHERE period = '2026-Q2'";
    assert_eq!(
        scalar(&pool_db, statements).await,
        scalar(&pool_clean, statements).await
    );
    assert!(scalar(&pool_db, statements).await > PARTNERS as i64);
    assert_eq!(scalar(&pool_db, total).await, scalar(&pool_clean, total).await);
    pool_db.close().await;
    pool_clean.close().await;
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("atrium-crash-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_imports_and_runs_leave_nothing_partial() {
    let dir = temp_dir("sqlite");
    let db = format!("sqlite://{}/crash.db", dir.display());
    let clean = format!("sqlite://{}/clean.db", dir.display());
    crash_scenario(&db, &clean, &dir).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_imports_and_runs_leave_nothing_partial() {
    let admin = std::env::var("ATRIUM_TEST_POSTGRES_URL")
        .expect("ATRIUM_TEST_POSTGRES_URL is not set: this Postgres test cannot run (skip it with -- --skip postgres_)");
    let (base, _) = admin.rsplit_once('/').unwrap();
    let names = [
        format!("atrium_crash_{}", std::process::id()),
        format!("atrium_clean_{}", std::process::id()),
    ];
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for name in &names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let dir = temp_dir("postgres");
    crash_scenario(
        &format!("{base}/{}", names[0]),
        &format!("{base}/{}", names[1]),
        &dir,
    )
    .await;
    for name in &names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

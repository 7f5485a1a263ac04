//! `spawn_app()`: a fresh database with the demo data and a server on a free port.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use server::config::SecureCookies;
use server::startup::{open_portal, AppState, Application};
use service::{Portal, PortalSettings};
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Declares one test per database from an `async fn(Db)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        pub mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Db::Sqlite).await })+
        }
        pub mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Db::Postgres).await })+
        }
    };
}

pub const DEMO_PASSWORD: &str = "atrium-demo-2026";

/// A running server and a browser-like client with its own cookie jar.
pub struct TestApp {
    pub address: String,
    pub portal: Portal,
    pub db: Db,
    /// The database the server runs on, for a second process-like portal on it.
    pub database_url: String,
    client: Client,
    csrf: Option<String>,
    pg_database: Option<(String, String)>,
    _dir: Option<TempDir>,
}

/// A directory removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

fn postgres_admin_url() -> String {
    std::env::var("ATRIUM_TEST_POSTGRES_URL").expect(
        "ATRIUM_TEST_POSTGRES_URL is not set: the Postgres variant of this test cannot run. \
         Set it (e.g. postgres://postgres@127.0.0.1:5432/postgres) or skip with `-- --skip postgres_`.",
    )
}

fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("the Postgres URL names a database");
    format!("{base}/{database}")
}

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // An answer that never comes fails its test, naming the request, instead of hanging
        // the whole run; no test's request (streams included) lasts anywhere near this long.
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

/// The pool size the servers of this run use: `ATRIUM_TEST_DB_CONNECTIONS`, or the default.
///
/// `scripts/test.sh` runs the suite once more with one connection, where code that holds a
/// connection and waits for a second fails at once (after the acquire timeout) instead of
/// only under load.
pub fn test_connections() -> Option<std::num::NonZeroU32> {
    let value = std::env::var("ATRIUM_TEST_DB_CONNECTIONS").ok()?;
    Some(value.parse().unwrap_or_else(|_| {
        panic!("ATRIUM_TEST_DB_CONNECTIONS must be a whole number from 1 (got `{value}`)")
    }))
}

/// Starts a server on a fresh database loaded with the demo data.
pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, PortalSettings::default()).await
}

/// A fresh, empty database: a SQLite file in a temporary folder, or a new Postgres database
/// dropped by [`TestDatabase::cleanup`] (or on drop).
pub struct TestDatabase {
    pub url: String,
    dir: Option<TempDir>,
    pg_database: Option<(String, String)>,
}

/// The ordinary Postgres role of [`TestDatabase::create_for_ordinary_role`].
pub const ORDINARY_ROLE: &str = "atrium_test_ordinary";

impl TestDatabase {
    pub async fn create(db: Db) -> Self {
        match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(format!("atrium-test-{}", unique_name()));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}/atrium.db", dir.display());
                Self {
                    url,
                    dir: Some(TempDir(dir)),
                    pg_database: None,
                }
            }
            Db::Postgres => Self::create_postgres(None).await,
        }
    }

    /// A new Postgres database owned by an ordinary role, not a superuser (as a deployment
    /// usually connects), and its URL as that role. The role is made once per cluster.
    pub async fn create_for_ordinary_role() -> Self {
        Self::create_postgres(Some(ORDINARY_ROLE)).await
    }

    /// A new Postgres database, and its URL: as the administrator, or owned by and reached as
    /// `owner`, a role made the first time it is named.
    async fn create_postgres(owner: Option<&str>) -> Self {
        let admin = postgres_admin_url();
        let name = format!("atrium_test_{}", unique_name());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Postgres at {admin}: {e}"));
        let url = match owner {
            None => {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                with_database(&admin, &name)
            }
            Some(role) => {
                // Two tests may make it at once: the second finds it made.
                sqlx::query(&format!(
                    "DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER; \
                     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                sqlx::query(&format!("CREATE DATABASE {name} OWNER {role}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let host = admin
                    .split_once("://")
                    .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
                    .expect("the Postgres URL has a scheme");
                with_database(&format!("postgres://{role}@{host}"), &name)
            }
        };
        conn.close().await.unwrap();
        Self {
            url,
            dir: None,
            pg_database: Some((admin, name)),
        }
    }

    /// Drops the Postgres database now.
    pub async fn cleanup(mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            drop_database(&admin, &name).await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            drop_in_background(admin, name);
        }
    }
}

/// Like [`spawn_app`], with custom limits.
pub async fn spawn_app_with(db: Db, settings: PortalSettings) -> TestApp {
    let mut database = TestDatabase::create(db).await;
    let url = database.url.clone();
    let dir = database.dir.take();
    let pg_database = database.pg_database.take();
    let portal = open_portal(&url, test_connections(), settings)
        .await
        .expect("database opens and migrates");
    portal.load_demo().await.expect("demo loads");
    let leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("atrium")
        .site_root("target/site")
        .build();
    let state = AppState {
        leptos_options,
        portal: portal.clone(),
        secure_cookies: SecureCookies::Auto,
    };
    let app = Application::build(state, "127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        portal,
        db,
        database_url: url,
        client: client(),
        csrf: None,
        pg_database,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Drops the Postgres database (SQLite folders go with the `TempDir`).
    pub async fn cleanup(mut self) {
        self.portal.store().close().await;
        if let Some((admin, name)) = self.pg_database.take() {
            drop_database(&admin, &name).await;
        }
    }

    /// A second, independent browser on the same server.
    pub fn another_client(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            portal: self.portal.clone(),
            db: self.db,
            database_url: self.database_url.clone(),
            client: client(),
            csrf: None,
            pg_database: None,
            _dir: None,
        }
    }

    pub async fn sign_in_raw(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/session"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs in with the demo password and keeps the CSRF token for later requests.
    pub async fn sign_in(&mut self, email: &str) -> Value {
        let response = self.sign_in_raw(email, DEMO_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in as {email}");
        let body: Value = response.json().await.unwrap();
        self.csrf = Some(body["csrf_token"].as_str().unwrap().to_owned());
        body
    }

    fn csrf_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.csrf {
            headers.insert("x-csrf-token", HeaderValue::from_str(token).unwrap());
        }
        headers
    }

    /// GET, answered with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A GET that does not borrow the app, to run in a task of its own.
    pub fn get_owned(&self, path: String) -> impl std::future::Future<Output = Response> + Send + 'static {
        let request = self.client.get(self.url(&path));
        async move { request.send().await.unwrap() }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .headers(self.csrf_headers())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .headers(self.csrf_headers())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.client
            .post(self.url(path))
            .headers(self.csrf_headers())
            .send()
            .await
            .unwrap()
    }

    /// Adds a program version in force from `effective_from` (the caller must be a vendor
    /// admin); the answer must be 201.
    pub async fn add_program_version(&self, effective_from: &str, program: Value) {
        let body = json!({ "effective_from": effective_from, "program": program });
        let response = self.client_put_program(&body).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
    }

    pub async fn client_put_program(&self, body: &Value) -> Response {
        self.client
            .put(self.url("/api/v1/program"))
            .headers(self.csrf_headers())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        mut headers: HeaderMap,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        headers.extend(self.csrf_headers());
        self.client
            .post(self.url(path))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a CSV file to an import endpoint, requires it to be stored, and answers the report.
    pub async fn import_csv(&self, path: &str, csv: String) -> serde_json::Value {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            reqwest::header::HeaderValue::from_static("text/csv"),
        );
        let response = self.post_raw(path, headers, csv).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .headers(self.csrf_headers())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = form_body(fields);
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form as a browser does from a page whose script has not loaded: it asks for HTML
    /// and names the page it came from.
    pub async fn post_page_form(&self, path: &str, fields: &[(&str, &str)], from: &str) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("referer", from)
            .body(form_body(fields))
            .send()
            .await
            .unwrap()
    }

    pub fn csrf_token(&self) -> String {
        self.csrf.clone().expect("signed in")
    }

    /// Forgets the CSRF token (to test refusals).
    pub fn forget_csrf(&mut self) {
        self.csrf = None;
    }

    /// Replaces the CSRF token (to test refusals).
    pub fn set_csrf(&mut self, token: &str) {
        self.csrf = Some(token.to_owned());
    }

    /// Publisher-side: the id of a demo item by title.
    pub async fn item_id(&self, title: &str) -> i64 {
        let mut publisher = self.another_client();
        publisher.sign_in("publisher@acme.test").await;
        let items: Value = publisher.get("/api/v1/content").await.json().await.unwrap();
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("no demo item titled {title}"))["id"]
            .as_i64()
            .unwrap()
    }
}

async fn drop_database(admin: &str, name: &str) {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

impl Drop for TestApp {
    /// A test that panicked before `cleanup()` still drops its database.
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            drop_in_background(admin, name);
        }
    }
}

/// Drops a Postgres database from a destructor (which cannot await).
fn drop_in_background(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(drop_database(&admin, &name));
    })
    .join();
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asserts the one error shape and returns its code.
pub async fn error_code(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "error shape: {body}");
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    assert!(body["error"].get("field").is_some(), "error shape: {body}");
    body["error"].clone()
}

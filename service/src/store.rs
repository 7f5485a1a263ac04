//! Storage: one connection pool over SQLite (the zero-configuration default) or Postgres (for
//! several instances behind a load balancer), chosen from the URL scheme at start-up.
//!
//! Queries are written once in the SQL both databases understand (`$1` placeholders,
//! `RETURNING`, `ON CONFLICT`); each database has its own migrations folder.

use anyhow::Context;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A single file under `data/`, in WAL mode.
    Sqlite,
    /// A Postgres server shared by any number of instances.
    Postgres,
}

/// How many ids go into one `IN (…)` list.
pub(crate) const ID_CHUNK: usize = 500;

/// Ids as an SQL list. Ids are numbers, never text, so they are written into the query.
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// Writes the placeholders of a statement with many bound values, in binding order: `?` on
/// SQLite, `$1`, `$2`, … on Postgres. SQLite resolves every `$n` by name when it is bound, a
/// linear search per value, which makes a statement with thousands of `$n` values quadratic;
/// plain `?` binds by position.
#[derive(Debug)]
pub struct Placeholders {
    backend: Backend,
    written: usize,
}

impl Placeholders {
    /// Placeholders for a statement on `backend`, numbered from 1.
    pub fn new(backend: Backend) -> Self {
        Self { backend, written: 0 }
    }

    /// The next placeholder.
    #[allow(clippy::should_implement_trait, reason = "never ends, so not an iterator")]
    pub fn next(&mut self) -> String {
        let mut text = String::with_capacity(8);
        self.push_next(&mut text);
        text
    }

    /// Appends the next placeholder to `sql`. A bulk insert writes tens of thousands of them,
    /// so they go straight into one string.
    fn push_next(&mut self, sql: &mut String) {
        self.written += 1;
        match self.backend {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                use std::fmt::Write;
                let _ = write!(sql, "${}", self.written);
            }
        }
    }

    /// Appends `(…, …)`, one row of `width` placeholders, to `sql`.
    fn push_row(&mut self, sql: &mut String, width: usize) {
        sql.push('(');
        for i in 0..width {
            if i > 0 {
                sql.push_str(", ");
            }
            self.push_next(sql);
        }
        sql.push(')');
    }

    /// `(…, …), (…, …)`: `count` rows for a multi-row `VALUES`, each written after `template`:
    /// a `?` in it is the next placeholder, anything else (a literal the whole statement shares)
    /// is written as it is. Values every row shares then cost no binding per row.
    pub fn rows_with(&mut self, count: usize, template: &[&str]) -> String {
        let mut sql =
            String::with_capacity(count * (4 + template.iter().map(|t| t.len() + 4).sum::<usize>()));
        for i in 0..count {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (j, part) in template.iter().enumerate() {
                if j > 0 {
                    sql.push_str(", ");
                }
                if *part == "?" {
                    self.push_next(&mut sql);
                } else {
                    sql.push_str(part);
                }
            }
            sql.push(')');
        }
        sql
    }

    /// `(…, …)`: one row of `width` placeholders.
    pub fn row(&mut self, width: usize) -> String {
        let mut sql = String::with_capacity(2 + width * 4);
        self.push_row(&mut sql, width);
        sql
    }

    /// `(…, …), (…, …)`: `count` rows of `width` placeholders, for a multi-row `VALUES`.
    pub fn rows(&mut self, count: usize, width: usize) -> String {
        let mut sql = String::with_capacity(count * (4 + width * 4));
        for i in 0..count {
            if i > 0 {
                sql.push_str(", ");
            }
            self.push_row(&mut sql, width);
        }
        sql
    }
}

/// A Postgres array literal (`{…}`), built one element at a time, to be bound as one text value
/// and cast in the statement (`$1::text[]`, `$2::int8[]`). A bulk insert then binds a few values
/// per thousands of rows, through a statement whose text does not grow with them: Postgres parses
/// and plans a `VALUES` list of thousands of rows anew for every execution, and that costs more
/// than writing the rows.
#[derive(Debug)]
pub(crate) struct ArrayLiteral {
    text: String,
}

impl ArrayLiteral {
    /// An empty literal with room for `bytes` of elements.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let mut text = String::with_capacity(bytes + 2);
        text.push('{');
        Self { text }
    }

    fn separate(&mut self) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
    }

    /// Appends a text element. It is always quoted (so that an empty string, `NULL` or text with
    /// braces and commas stays text), with `"` and `\` escaped by a backslash.
    pub(crate) fn push_text(&mut self, value: &str) {
        self.separate();
        self.text.reserve(value.len() + 2);
        self.text.push('"');
        for c in value.chars() {
            if c == '"' || c == '\\' {
                self.text.push('\\');
            }
            self.text.push(c);
        }
        self.text.push('"');
    }

    /// Appends a number, or `NULL` for none.
    pub(crate) fn push_int(&mut self, value: Option<i64>) {
        use std::fmt::Write;
        self.separate();
        match value {
            Some(n) => {
                let _ = write!(self.text, "{n}");
            }
            None => self.text.push_str("NULL"),
        }
    }

    /// The literal, closed.
    pub(crate) fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// The database: a pool plus the knowledge of which dialect it speaks.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL, for the connections that live outside the pool (Postgres `LISTEN`).
    url: String,
}

/// Connections in a SQLite pool unless configured otherwise.
pub const DEFAULT_SQLITE_CONNECTIONS: u32 = 8;

/// Connections in a Postgres pool unless configured otherwise.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

/// The URL used when none is configured: a SQLite file in `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/atrium.db";

impl Store {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:` or `postgres://…`). For SQLite the
    /// file and its folder are created when missing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, None).await
    }

    /// As [`Store::connect`], with a pool of at most `connections` connections (by default
    /// [`DEFAULT_SQLITE_CONNECTIONS`] or [`DEFAULT_POSTGRES_CONNECTIONS`]). Every feature works
    /// with one.
    pub async fn connect_with(url: &str, connections: Option<NonZeroU32>) -> anyhow::Result<Self> {
        install_default_drivers();
        let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(rest)?)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres:// (got `{url}`)");
        };
        let pool = AnyPoolOptions::new()
            .max_connections(connections.map_or(
                match backend {
                    Backend::Sqlite => DEFAULT_SQLITE_CONNECTIONS,
                    Backend::Postgres => DEFAULT_POSTGRES_CONNECTIONS,
                },
                NonZeroU32::get,
            ))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; the busy timeout makes
                        // concurrent writers wait instead of failing. A 32 MiB page cache (the
                        // default is 2 MiB) keeps a large import's index pages in memory instead of
                        // spilling them to the log mid-transaction; it is only taken as it is used.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA cache_size = -32768;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot connect to the {backend:?} database"))?;
        Ok(Self { pool, backend, url })
    }

    /// Brings the schema up to date. On Postgres the migrator holds an advisory lock, so several
    /// instances starting at once migrate exactly once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
        }
        .context("database migration failed")
    }

    /// The connection pool.
    ///
    /// Code that holds a connection of the pool (a transaction, say) does all its reading and
    /// writing through that connection until it lets it go, and never waits for a second one:
    /// once every connection were held by such code, each would wait for ever (in practice for
    /// the ten-second acquire timeout, failing every request meanwhile). The API tests run once
    /// more on a pool of one connection to keep it so.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that reads before it writes. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that has read cannot begin writing once
    /// another connection has committed meanwhile, and SQLite answers that at once with
    /// `SQLITE_BUSY`, which the busy timeout does not cover. A transaction whose first
    /// statement writes needs none of this.
    pub async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the pool has more than one connection, so that a task may hold two at once.
    pub fn has_spare_connection(&self) -> bool {
        self.pool.options().get_max_connections() > 1
    }

    /// The Postgres URL, when this is Postgres.
    pub fn postgres_url(&self) -> Option<&str> {
        (self.backend == Backend::Postgres).then_some(self.url.as_str())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers; used by `/readyz`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Normalises the part after `sqlite:` and makes sure the file's folder exists.
fn sqlite_url(rest: &str) -> anyhow::Result<String> {
    let rest = rest.trim_start_matches("//");
    if rest.starts_with(":memory:") {
        return Ok(format!("sqlite:{rest}"));
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::{sqlite_url, ArrayLiteral, Backend, Placeholders};

    #[test]
    fn placeholders_number_on_postgres_and_bind_by_position_on_sqlite() {
        let mut pg = Placeholders::new(Backend::Postgres);
        assert_eq!(pg.next(), "$1");
        assert_eq!(pg.rows(2, 3), "($2, $3, $4), ($5, $6, $7)");
        assert_eq!(pg.row(1), "($8)");
        let mut sqlite = Placeholders::new(Backend::Sqlite);
        assert_eq!(sqlite.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(sqlite.next(), "?");
        let mut pg = Placeholders::new(Backend::Postgres);
        assert_eq!(
            pg.rows_with(2, &["?", "'USD'", "?"]),
            "($1, 'USD', $2), ($3, 'USD', $4)"
        );
        assert_eq!(sqlite.rows_with(1, &["?", "7"]), "(?, 7)");
    }

    #[test]
    fn array_literals_quote_every_text_and_escape_quotes_and_backslashes() {
        let mut texts = ArrayLiteral::with_capacity(0);
        for text in ["B1", "", "NULL", "a,b{c}", r#"say "hi""#, r"C:\dir"] {
            texts.push_text(text);
        }
        assert_eq!(
            texts.finish(),
            r#"{"B1","","NULL","a,b{c}","say \"hi\"","C:\\dir"}"#
        );
        let mut numbers = ArrayLiteral::with_capacity(0);
        for n in [Some(7), None, Some(-12)] {
            numbers.push_int(n);
        }
        assert_eq!(numbers.finish(), "{7,NULL,-12}");
        assert_eq!(ArrayLiteral::with_capacity(8).finish(), "{}");
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let dir = std::env::temp_dir().join(format!("atrium-url-{}", std::process::id()));
        let path = dir.join("x.db");
        let url = sqlite_url(&format!("//{}", path.display())).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", path.display()));
        assert!(dir.is_dir());
        assert_eq!(sqlite_url(":memory:").unwrap(), "sqlite::memory:");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

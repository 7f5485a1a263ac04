//! Integration tests: the real router on a real port, against SQLite and Postgres.
//!
//! Every scenario runs once per database (`sqlite_…` and `postgres_…`). The Postgres variants
//! need `ATRIUM_TEST_POSTGRES_URL` (the test script sets it to the local server); without it they
//! fail rather than pass silently. Skip them on purpose with `cargo test -- --skip postgres_`.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod content;
mod deals;
mod imports;
mod openapi;
mod pages;
mod program;
mod rebates;
mod scorecards;
mod session;

#!/usr/bin/env bash
# The second command of the README, and what CI runs: every check and every test.
#   formatting, clippy (server and browser builds), the domain crate for wasm32, unit and
#   integration tests on SQLite and Postgres (the API tests twice: once on a pool of one
#   database connection), cargo audit, and the Playwright suite in Chromium
#   against a release build.
# Postgres: ATRIUM_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres. If no
# server answers there the run fails; it never skips the Postgres tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
source scripts/install.sh
install_all --test

export ATRIUM_TEST_POSTGRES_URL="${ATRIUM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say "Checking that Postgres answers at $ATRIUM_TEST_POSTGRES_URL"
if ! scripts/pg-ready.sh "$ATRIUM_TEST_POSTGRES_URL"; then
  echo "Postgres is not reachable at $ATRIUM_TEST_POSTGRES_URL: the Postgres tests cannot run." >&2
  exit 1
fi

say "Formatting"
cargo fmt --all -- --check

say "Clippy (server build)"
cargo clippy -p domain -p service -p server --all-targets -- -D warnings
say "Clippy (browser build)"
cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
say "The domain crate builds for the browser"
cargo build -p domain --target wasm32-unknown-unknown

say "Unit and integration tests (SQLite and Postgres)"
cargo test -p domain -p service -p server

# Code that holds a pooled connection while it waits for a second one stalls every request
# once all connections are held that way; on a pool of one it fails at once, whatever the load.
say "API tests again, on a pool of one database connection"
ATRIUM_TEST_DB_CONNECTIONS=1 cargo test -p server --test api

say "Supply-chain audit (offline advisory database)"
scripts/audit.sh

say "Browser tests (release build, Chromium)"
cargo leptos build --release
db_dir="$(mktemp -d)"
port=3000
if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then port=3300; fi
DATABASE_URL="sqlite://$db_dir/atrium.db" ATRIUM_BIND="127.0.0.1:$port" \
  target/release/atrium serve --demo >"$db_dir/server.log" 2>&1 &
server_pid=$!
cleanup() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$db_dir"; }
trap cleanup EXIT
if ! ATRIUM_BASE_URL="http://127.0.0.1:$port" end2end/run.sh; then
  echo "--- server log ---" >&2; tail -n 50 "$db_dir/server.log" >&2
  exit 1
fi

say "Browser tests across two instances on one Postgres database"
pg_db="atrium_e2e_$$"
pg_url="${ATRIUM_TEST_POSTGRES_URL%/*}/$pg_db"
psql -q "$ATRIUM_TEST_POSTGRES_URL" -c "CREATE DATABASE $pg_db"
DATABASE_URL="$pg_url" target/release/atrium demo >"$db_dir/demo-pg.log" 2>&1
pids=()
for i in 1 2; do
  DATABASE_URL="$pg_url" ATRIUM_BIND="127.0.0.1:$((port + i))" \
    target/release/atrium serve >"$db_dir/instance-$i.log" 2>&1 &
  pids+=($!)
done
cleanup_pg() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  psql -q "$ATRIUM_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" || true
  cleanup
}
trap cleanup_pg EXIT
for i in 1 2; do
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$((port + i))/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
if ! ATRIUM_BASE_URL="http://127.0.0.1:$((port + 1))" ATRIUM_SECOND_URL="http://127.0.0.1:$((port + 2))" \
  end2end/run.sh --config playwright.multi.config.ts; then
  for i in 1 2; do echo "--- instance $i log ---" >&2; tail -n 30 "$db_dir/instance-$i.log" >&2; done
  exit 1
fi
say "All checks passed"

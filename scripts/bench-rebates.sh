#!/usr/bin/env bash
# Benchmarks for imports and rebate runs (docs/benchmarks.md), each against a baseline measured
# in the same run on the same machine:
#   1. importing N sales rows from CSV with `atrium import sales`, against `sqlite3 .import` of
#      the same file into a bare table (Postgres: `\copy` into a bare table);
#   2. `atrium rebates run` over those sales for P partners, against a bare
#      `SELECT partner_id, SUM(amount) … GROUP BY partner_id` over the same table.
# Usage: [ATRIUM_BIN=path] scripts/bench-rebates.sh [rows, default 1000000] [partners, default 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
command -v sqlite3 >/dev/null || { $( [[ $(id -u) -eq 0 ]] || echo sudo ) apt-get install -y -qq sqlite3; }
rows="${1:-1000000}"
partners="${2:-5000}"
pg_url="${ATRIUM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# ATRIUM_BIN names a release binary already built (say, of another commit, to compare two
# builds); without it the current tree is built.
if [[ -z "${ATRIUM_BIN:-}" ]]; then
  say "Building the release binary"
  cargo leptos build --release >/dev/null
fi
atrium="${ATRIUM_BIN:-target/release/atrium}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

seconds() { local start=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $start" | bc; }

prepare_partners() { # $1 = psql-or-sqlite command prefix
  python3 - "$partners" <<'PY' >"$work/partners.sql"
import sys
n = int(sys.argv[1])
print("BEGIN;")
for p in range(n):
    print(f"INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) VALUES ('Bench {p}', 'partner', 'reseller', 'na', 2, 0);")
print("COMMIT;")
PY
}

make_file() { # $1 = first partner id
  python3 - "$rows" "$partners" "$1" <<'PY' >"$work/sales.csv"
import sys
rows, partners, first = map(int, sys.argv[1:])
print("external_id,partner_id,booked_on,product_line,amount,currency")
lines = ["hardware", "cloud", "services"]
for i in range(rows):
    p = first + i % partners
    print(f"B{i},{p},2026-{4 + i % 3:02d}-{1 + i % 28:02d},{lines[i % 3]},{100 + i % 5000}.{i % 100:02d},USD")
PY
}

report() { # name baseline atrium unit
  awk -v name="$1" -v b="$2" -v a="$3" 'BEGIN { printf "| %s | %.2f s | %.2f s | %.2f× |\n", name, b, a, a / b }'
}

say "SQLite: $rows sales rows, $partners partners"
db="$work/bench.db"
DATABASE_URL="sqlite://$db" $atrium demo >/dev/null
prepare_partners
sqlite3 "$db" <"$work/partners.sql"
first=$(sqlite3 "$db" "SELECT MIN(id) FROM organisations WHERE name LIKE 'Bench %'")
make_file "$first"
tail -n +2 "$work/sales.csv" >"$work/sales-noheader.csv"
base_import=$(seconds sqlite3 "$work/bare.db" "CREATE TABLE sales (external_id TEXT, partner_id INTEGER, booked_on TEXT, product_line TEXT, amount TEXT, currency TEXT);" ".mode csv" ".import $work/sales-noheader.csv sales")
atrium_import=$(seconds env DATABASE_URL="sqlite://$db" RUST_LOG=warn $atrium import sales "$work/sales.csv")
base_group=$(seconds sqlite3 "$work/bare.db" "SELECT partner_id, SUM(amount) FROM sales WHERE booked_on BETWEEN '2026-04-01' AND '2026-06-30' GROUP BY partner_id;")
atrium_run=$(seconds env DATABASE_URL="sqlite://$db" RUST_LOG=warn $atrium rebates run 2026-Q2)
echo "| SQLite | baseline | Atrium | Atrium / baseline |"
echo "|---|---:|---:|---:|"
report "import $rows rows (vs sqlite3 .import)" "$base_import" "$atrium_import"
report "rebate run, $partners partners (vs GROUP BY)" "$base_group" "$atrium_run"
awk -v r="$rows" -v b="$base_import" -v a="$atrium_import" 'BEGIN { printf "import rows/s: baseline %.0f, Atrium %.0f, ratio %.2f\n", r / b, r / a, b / a }'

say "Postgres: the same"
name="atrium_bench_$$"
psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
pg_db="${pg_url%/*}/$name"
DATABASE_URL="$pg_db" $atrium demo >/dev/null
psql -q "$pg_db" -f "$work/partners.sql" >/dev/null
first=$(psql -tA "$pg_db" -c "SELECT MIN(id) FROM organisations WHERE name LIKE 'Bench %'")
make_file "$first"
psql -q "$pg_db" -c "CREATE TABLE bare_sales (external_id TEXT, partner_id BIGINT, booked_on TEXT, product_line TEXT, amount NUMERIC, currency TEXT)"
base_import=$(seconds psql -q "$pg_db" -c "\\copy bare_sales FROM '$work/sales.csv' WITH (FORMAT csv, HEADER true)")
atrium_import=$(seconds env DATABASE_URL="$pg_db" RUST_LOG=warn $atrium import sales "$work/sales.csv")
base_group=$(seconds psql -q "$pg_db" -c "SELECT partner_id, SUM(amount) FROM bare_sales WHERE booked_on BETWEEN '2026-04-01' AND '2026-06-30' GROUP BY partner_id")
atrium_run=$(seconds env DATABASE_URL="$pg_db" RUST_LOG=warn $atrium rebates run 2026-Q2)
echo "| Postgres | baseline | Atrium | Atrium / baseline |"
echo "|---|---:|---:|---:|"
report "import $rows rows (vs psql copy)" "$base_import" "$atrium_import"
report "rebate run, $partners partners (vs GROUP BY)" "$base_group" "$atrium_run"
psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"

#!/usr/bin/env bash
# Benchmarks for imports and rebate runs (docs/benchmarks.md), each against a baseline measured
# in the same run on the same machine:
#   1. importing N sales rows from CSV with `atrium import sales`, against `sqlite3 .import` of
#      the same file into a bare table (Postgres: `\copy` into a bare table);
#   2. `atrium rebates run` over those sales for P partners, against a bare
#      `SELECT partner_id, SUM(amount) … GROUP BY partner_id` over the same table.
# Each measurement runs ROUNDS times (default 3), baseline and Atrium alternating, each import
# into a fresh copy of the same prepared database; the tables give the medians, and every
# round's figures are printed too.
# Usage: [ATRIUM_BIN=path] [ROUNDS=n] scripts/bench-rebates.sh [rows, default 1000000] [partners, default 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
command -v sqlite3 >/dev/null || { $( [[ $(id -u) -eq 0 ]] || echo sudo ) apt-get install -y -qq sqlite3; }
rows="${1:-1000000}"
partners="${2:-5000}"
rounds="${ROUNDS:-3}"
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

# Wall-clock seconds of a command. The page cache is written back first, so that one step's
# writes are not flushed in the middle of the next one's timing.
seconds() { sync; local start=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $start" | bc; }

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

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

# Appends one round's baseline and Atrium seconds to the arrays named $1 and $2, and prints them.
round() { # baseline-array atrium-array label baseline-seconds atrium-seconds
  eval "$1+=($4); $2+=($5)"
  awk -v l="$3" -v b="$4" -v a="$5" 'BEGIN { printf "  %s: baseline %.2f s, Atrium %.2f s (%.2f×)\n", l, b, a, a / b }'
}

say "SQLite: $rows sales rows, $partners partners"
db="$work/bench.db"
DATABASE_URL="sqlite://$db" $atrium demo >/dev/null
prepare_partners
sqlite3 "$db" <"$work/partners.sql"
first=$(sqlite3 "$db" "SELECT MIN(id) FROM organisations WHERE name LIKE 'Bench %'")
make_file "$first"
tail -n +2 "$work/sales.csv" >"$work/sales-noheader.csv"
cp "$db" "$work/prepared.db"
base_imports=() atrium_imports=() base_groups=() atrium_runs=()
for r in $(seq "$rounds"); do
  rm -f "$work/bare.db" "$db" "$db-wal" "$db-shm"
  cp "$work/prepared.db" "$db"
  round base_imports atrium_imports "import, round $r" \
    "$(seconds sqlite3 "$work/bare.db" "CREATE TABLE sales (external_id TEXT, partner_id INTEGER, booked_on TEXT, product_line TEXT, amount TEXT, currency TEXT);" ".mode csv" ".import $work/sales-noheader.csv sales")" \
    "$(seconds env DATABASE_URL="sqlite://$db" RUST_LOG=warn $atrium import sales "$work/sales.csv")"
  round base_groups atrium_runs "rebate run, round $r" \
    "$(seconds sqlite3 "$work/bare.db" "SELECT partner_id, SUM(amount) FROM sales WHERE booked_on BETWEEN '2026-04-01' AND '2026-06-30' GROUP BY partner_id;")" \
    "$(seconds env DATABASE_URL="sqlite://$db" RUST_LOG=warn $atrium rebates run 2026-Q2)"
done
base_import=$(median "${base_imports[@]}") atrium_import=$(median "${atrium_imports[@]}")
echo "| SQLite, medians of $rounds | baseline | Atrium | Atrium / baseline |"
echo "|---|---:|---:|---:|"
report "import $rows rows (vs sqlite3 .import)" "$base_import" "$atrium_import"
report "rebate run, $partners partners (vs GROUP BY)" "$(median "${base_groups[@]}")" "$(median "${atrium_runs[@]}")"
awk -v r="$rows" -v b="$base_import" -v a="$atrium_import" 'BEGIN { printf "import rows/s: baseline %.0f, Atrium %.0f, ratio %.2f\n", r / b, r / a, b / a }'

say "Postgres: the same"
export PGOPTIONS="-c client_min_messages=warning"
name="atrium_bench_$$"
psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
pg_db="${pg_url%/*}/$name"
DATABASE_URL="$pg_db" $atrium demo >/dev/null
psql -q "$pg_db" -f "$work/partners.sql" >/dev/null
first=$(psql -tA "$pg_db" -c "SELECT MIN(id) FROM organisations WHERE name LIKE 'Bench %'")
make_file "$first"
# Every round works in its own copies of the prepared database: one for the baseline and
# Atrium, one where psql itself puts the same rows into `sales` with its keys, indexes and
# foreign keys kept row by row (staged by \copy, then one INSERT … SELECT): the floor of any
# import that keeps them, as Atrium's did before its bulk loads on Postgres suspended them.
base_imports=() atrium_imports=() floor_imports=() base_groups=() atrium_runs=()
for r in $(seq "$rounds"); do
  psql -q "$pg_url" -c "CREATE DATABASE ${name}_round TEMPLATE $name" -c "CREATE DATABASE ${name}_floor TEMPLATE $name"
  round_db="${pg_db}_round"
  psql -q "$round_db" -c "CREATE TABLE bare_sales (external_id TEXT, partner_id BIGINT, booked_on TEXT, product_line TEXT, amount NUMERIC, currency TEXT)"
  floor_imports+=("$(seconds psql -q -v ON_ERROR_STOP=1 "${pg_db}_floor" \
    -c "CREATE TEMP TABLE stage (external_id TEXT, partner_id BIGINT, booked_on TEXT, product_line TEXT, amount NUMERIC, currency TEXT)" \
    -c "\\copy stage FROM '$work/sales.csv' WITH (FORMAT csv, HEADER true)" \
    -c "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, created_at, updated_at) SELECT external_id, partner_id, booked_on, product_line, (amount * 100)::BIGINT, currency, 0, 0 FROM stage")")
  round base_imports atrium_imports "import, round $r" \
    "$(seconds psql -q "$round_db" -c "\\copy bare_sales FROM '$work/sales.csv' WITH (FORMAT csv, HEADER true)")" \
    "$(seconds env DATABASE_URL="$round_db" RUST_LOG=warn $atrium import sales "$work/sales.csv")"
  awk -v r="$r" -v f="${floor_imports[-1]}" 'BEGIN { printf "  psql'"'"'s own insert into sales, every index kept, round %s: %.2f s\n", r, f }'
  round base_groups atrium_runs "rebate run, round $r" \
    "$(seconds psql -q "$round_db" -c "SELECT partner_id, SUM(amount) FROM bare_sales WHERE booked_on BETWEEN '2026-04-01' AND '2026-06-30' GROUP BY partner_id")" \
    "$(seconds env DATABASE_URL="$round_db" RUST_LOG=warn $atrium rebates run 2026-Q2)"
  psql -q "$pg_url" -c "DROP DATABASE ${name}_round WITH (FORCE)" -c "DROP DATABASE ${name}_floor WITH (FORCE)"
done
base_import=$(median "${base_imports[@]}") atrium_import=$(median "${atrium_imports[@]}")
echo "| Postgres, medians of $rounds | baseline | Atrium | Atrium / baseline |"
echo "|---|---:|---:|---:|"
report "import $rows rows (vs psql copy)" "$base_import" "$atrium_import"
report "psql's own insert into sales, every index kept (vs psql copy)" "$base_import" "$(median "${floor_imports[@]}")"
report "rebate run, $partners partners (vs GROUP BY)" "$(median "${base_groups[@]}")" "$(median "${atrium_runs[@]}")"
awk -v r="$rows" -v b="$base_import" -v a="$atrium_import" 'BEGIN { printf "import rows/s: baseline %.0f, Atrium %.0f, ratio %.3f\n", r / b, r / a, b / a }'
for db_name in "$name" "${name}_round" "${name}_floor"; do
  psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
done

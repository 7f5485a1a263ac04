#!/usr/bin/env bash
# A rebate run when earlier quarters are locked (docs/benchmarks.md): N sales spread over
# January to November 2026 for P partners, the first three quarters run; then `atrium rebates
# run 2026-Q4` on two copies of that database, one where those quarters are still drafts and one
# where they are approved, alternating, ROUNDS rounds (default 3). With locked quarters the run
# recomputes each of them for every partner, to carry any difference (RULES.md §5).
# Usage: [ATRIUM_BIN=path] [ROUNDS=n] scripts/bench-restatements.sh [rows, default 1000000] [partners, default 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
command -v sqlite3 >/dev/null || { $( [[ $(id -u) -eq 0 ]] || echo sudo ) apt-get install -y -qq sqlite3; }
rows="${1:-1000000}"
partners="${2:-5000}"
rounds="${ROUNDS:-3}"
if [[ -z "${ATRIUM_BIN:-}" ]]; then
  say "Building the release binary"
  cargo leptos build --release >/dev/null
fi
atrium="$(realpath "${ATRIUM_BIN:-target/release/atrium}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUST_LOG=warn
seconds() { sync; local start=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $start" | bc; }

say "SQLite: $rows sales rows, $partners partners, 2026-Q1 to Q3 run"
db="$work/prepared.db"
DATABASE_URL="sqlite://$db" "$atrium" demo >/dev/null
python3 - "$partners" >"$work/partners.sql" <<'PY'
import sys
print("BEGIN;")
for p in range(int(sys.argv[1])):
    print(f"INSERT INTO organisations (name, kind, partner_type, region, tier_rank, created_at) VALUES ('Bench {p}', 'partner', 'reseller', 'na', 2, 0);")
print("COMMIT;")
PY
sqlite3 "$db" <"$work/partners.sql"
first=$(sqlite3 "$db" "SELECT MIN(id) FROM organisations WHERE name LIKE 'Bench %'")
python3 - "$rows" "$partners" "$first" >"$work/sales.csv" <<'PY'
import sys
rows, partners, first = map(int, sys.argv[1:])
print("external_id,partner_id,booked_on,product_line,amount,currency")
lines = ["hardware", "cloud", "services"]
for i in range(rows):
    month = 1 + (i // partners) % 11
    print(f"B{i},{first + i % partners},2026-{month:02d}-{1 + i % 28:02d},{lines[i % 3]},{100 + i % 5000}.{i % 100:02d},USD")
PY
DATABASE_URL="sqlite://$db" "$atrium" import sales "$work/sales.csv" >/dev/null
for period in 2026-Q1 2026-Q2 2026-Q3; do
  DATABASE_URL="sqlite://$db" "$atrium" rebates run "$period" >/dev/null
done
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$db" "$work/locked.db"
sqlite3 "$work/locked.db" "UPDATE rebate_statements SET status = 'approved', approved_at = 1 WHERE period < '2026-Q4'"
drafts=() locked=()
for r in $(seq "$rounds"); do
  rm -f "$work"/round-*
  cp "$db" "$work/round-drafts.db"
  cp "$work/locked.db" "$work/round-locked.db"
  drafts+=("$(seconds env DATABASE_URL="sqlite://$work/round-drafts.db" "$atrium" rebates run 2026-Q4)")
  locked+=("$(seconds env DATABASE_URL="sqlite://$work/round-locked.db" "$atrium" rebates run 2026-Q4)")
  awk -v r="$r" -v d="${drafts[-1]}" -v l="${locked[-1]}" \
    'BEGIN { printf "  round %s: earlier quarters drafts %.2f s, locked %.2f s (%.2f×)\n", r, d, l, l / d }'
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk -v d="$(median "${drafts[@]}")" -v l="$(median "${locked[@]}")" \
  'BEGIN { printf "| run of 2026-Q4, medians | earlier quarters drafts %.2f s | locked %.2f s | %.2f× |\n", d, l, l / d }'

#!/usr/bin/env bash
# cargo audit against the RustSec snapshot in ../shared/advisory-db (no network).
# Every ignored advisory carries its reason here.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${ATRIUM_ADVISORY_DB:-../shared/advisory-db}"
[[ -d "$db" ]] || { echo "advisory database not found at $db (set ATRIUM_ADVISORY_DB)" >&2; exit 1; }
ignores=(
  # rsa (Marvin timing attack) is in Cargo.lock only through sqlx-mysql, which Atrium never
  # builds (`cargo tree -i rsa` prints nothing): sqlx's lockfile lists every driver.
  --ignore RUSTSEC-2023-0071
)
# Reported as a warning, not ignored: `paste` (RUSTSEC-2024-0436, unmaintained) comes in through
# Leptos; it is a compile-time macro crate with no known vulnerability.
cargo audit --db "$db" --no-fetch "${ignores[@]}"

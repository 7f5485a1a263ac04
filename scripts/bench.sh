#!/usr/bin/env bash
# Benchmarks for docs/benchmarks.md, each against a baseline measured in the same run.
#
# 1. Sales-room page, server-rendered for a signed-in partner (sales@northwind.test), against
#    `room-baseline`: a bare axum + sqlx handler that reads the same rows from the same database
#    and returns JSON. Load from wrk on loopback; both servers run at the same time, measured
#    alternately.
# 2. The brotli size (quality 11) of the first page load: the room's HTML, CSS, JS and WASM.
#
# Usage: scripts/bench.sh [seconds per run, default 10] [connections, default 16]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
command -v wrk >/dev/null || { $( [[ $(id -u) -eq 0 ]] || echo sudo ) apt-get install -y -qq wrk; }

duration="${1:-10}"
connections="${2:-16}"

say "Building release binaries"
cargo leptos build --release
cargo build --release -p server --bin room-baseline

work="$(mktemp -d)"
db="sqlite://$work/bench.db"
DATABASE_URL="$db" ATRIUM_BIND=127.0.0.1:3400 RUST_LOG=warn target/release/atrium serve --demo >"$work/atrium.log" 2>&1 &
atrium_pid=$!
trap 'kill $atrium_pid ${baseline_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:3400/readyz >/dev/null 2>&1 && break; sleep 0.2; done
target/release/room-baseline "$db" 127.0.0.1:3401 >"$work/baseline.log" 2>&1 &
baseline_pid=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:3401/rooms/sales >/dev/null 2>&1 && break; sleep 0.2; done

session=$(curl -fsS -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"sales@northwind.test","password":"atrium-demo-2026"}' http://127.0.0.1:3400/api/v1/session |
  grep -i '^set-cookie: atrium_session=' | sed -E 's/^[Ss]et-[Cc]ookie: (atrium_session=[^;]*).*/\1/')
[[ -n "$session" ]] || { echo "could not sign in" >&2; exit 1; }
page_bytes=$(curl -fsS -H "cookie: $session" http://127.0.0.1:3400/rooms/sales | wc -c)
curl -fsS -H "cookie: $session" http://127.0.0.1:3400/rooms/sales | grep -q "Selling Acme SD-WAN" ||
  { echo "the room page did not render its items" >&2; exit 1; }

rps() { wrk -t2 -c"$connections" -d"${duration}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
say "Load: ${duration}s per run, $connections connections, alternating"
declare -a base atr
for round in 1 2 3; do
  base+=("$(rps http://127.0.0.1:3401/rooms/sales)")
  atr+=("$(rps -H "cookie: $session" http://127.0.0.1:3400/rooms/sales)")
  echo "round $round: baseline ${base[-1]} req/s, atrium ${atr[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
b=$(median "${base[@]}"); a=$(median "${atr[@]}")
ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')

say "First page load, brotli -q 11"
size() { curl -fsS ${2:+-H "cookie: $2"} "http://127.0.0.1:3400$1" -o "$work/asset"; raw=$(wc -c <"$work/asset"); br=$(brotli -q 11 -c "$work/asset" | wc -c); echo "$raw $br"; }
read -r html_raw html_br < <(size /rooms/sales "$session")
read -r css_raw css_br < <(size /pkg/atrium.css)
read -r js_raw js_br < <(size /pkg/atrium.js)
read -r wasm_raw wasm_br < <(size /pkg/atrium.wasm)
total_raw=$((html_raw + css_raw + js_raw + wasm_raw)); total_br=$((html_br + css_br + js_br + wasm_br))

cat <<TABLE

| measure | baseline (bare axum + sqlx JSON) | Atrium sales room (SSR, signed in) | ratio |
|---|---:|---:|---:|
| requests/s, median of 3 × ${duration}s, $connections connections | $b | $a | $ratio |

| first page load | raw bytes | brotli bytes |
|---|---:|---:|
| HTML /rooms/sales ($page_bytes bytes) | $html_raw | $html_br |
| CSS | $css_raw | $css_br |
| JS | $js_raw | $js_br |
| WASM | $wasm_raw | $wasm_br |
| **total** | $total_raw | **$total_br** ($(awk -v t="$total_br" 'BEGIN { printf "%.1f", t / 1024 }') KiB) |
TABLE

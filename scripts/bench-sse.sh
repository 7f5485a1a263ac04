#!/usr/bin/env bash
# Live-update benchmark for docs/benchmarks.md: N concurrent Server-Sent Events clients on one
# Atrium (release build, SQLite, demo data) against a bare axum SSE server over a broadcast
# channel (the baseline), measured in the same run with the same client (sse-bench).
#
# Reports event-to-client latency p50/p99 (from the moment the server published the event to
# the moment each client has read it) and server memory per connection (RSS growth / N).
#
# Usage: scripts/bench-sse.sh [clients, default 10000] [events, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
clients="${1:-10000}"
events="${2:-20}"
# Every client and every server connection is a file descriptor (clients and servers are
# separate processes, so each needs a little over N). Raise the soft limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < clients + 1000 )); then
  echo "open-file limit $(ulimit -n) is too low for $clients clients (raise the hard limit)" >&2
  exit 1
fi

say "Building release binaries"
cargo leptos build --release
cargo build --release -p server --bin sse-bench

work="$(mktemp -d)"
trap 'kill ${atrium_pid:-} ${baseline_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
DATABASE_URL="sqlite://$work/bench.db" ATRIUM_BIND=127.0.0.1:3500 RUST_LOG=warn \
  target/release/atrium serve --demo >"$work/atrium.log" 2>&1 &
atrium_pid=$!
target/release/sse-bench baseline 127.0.0.1:3501 >"$work/baseline.log" 2>&1 &
baseline_pid=$!
for port in 3500 3501; do
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/publish" 2>/dev/null && break
    sleep 0.2
  done
done

say "Baseline: bare axum SSE, $clients clients, $events events"
target/release/sse-bench run --target baseline --url http://127.0.0.1:3501 --pid "$baseline_pid" \
  --clients "$clients" --events "$events" | tee "$work/baseline.json"
say "Atrium: scorecard streams, $clients clients, $events one-row imports"
target/release/sse-bench run --target atrium --url http://127.0.0.1:3500 --pid "$atrium_pid" \
  --clients "$clients" --events "$events" | tee "$work/atrium.json"

python3 - "$work/baseline.json" "$work/atrium.json" <<'PY'
import json, sys
b, a = (json.load(open(p)) for p in sys.argv[1:3])
print(f"\n| | baseline (bare axum SSE) | Atrium | ratio |")
print(f"|---|---:|---:|---:|")
for key, label in [("p50_ms", "p50 latency, ms"), ("p99_ms", "p99 latency, ms"), ("bytes_per_connection", "memory per connection, bytes")]:
    ratio = a[key] / b[key] if b[key] else float("nan")
    print(f"| {label} | {b[key]:.1f} | {a[key]:.1f} | {ratio:.2f}× |")
print(f"| deliveries / expected | {b['deliveries']} / {b['expected']} | {a['deliveries']} / {a['expected']} | |")
PY

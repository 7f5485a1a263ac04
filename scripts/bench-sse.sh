#!/usr/bin/env bash
# Live-update benchmark for docs/benchmarks.md: N concurrent Server-Sent Events clients on one
# Atrium (release build, SQLite, demo data) against a bare axum SSE server over a broadcast
# channel (the baseline), measured in the same run with the same client (sse-bench).
#
# Reports event-to-client latency p50/p99 (from the moment the server published the event to
# the moment each client has read it) and server memory per connection (RSS growth over the
# second half of the connections, divided by their number).
#
# Usage: scripts/bench-sse.sh [clients, default 10000] [events, default 20] [rounds, default 3]
# Each round starts both servers afresh; the summary gives the median of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all
clients="${1:-10000}"
events="${2:-20}"
rounds="${3:-3}"
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

# One round: fresh servers (memory is measured from a cold start), the baseline, then Atrium.
round() { # $1 = round number
  rm -f "$work"/bench.db*
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
  say "Round $1 — baseline: bare axum SSE, $clients clients, $events events"
  target/release/sse-bench run --target baseline --url http://127.0.0.1:3501 --pid "$baseline_pid" \
    --clients "$clients" --events "$events" | tee "$work/baseline-$1.json"
  say "Round $1 — Atrium: scorecard streams, $clients clients, $events one-row imports"
  target/release/sse-bench run --target atrium --url http://127.0.0.1:3500 --pid "$atrium_pid" \
    --clients "$clients" --events "$events" | tee "$work/atrium-$1.json"
  kill "$atrium_pid" "$baseline_pid"
  wait "$atrium_pid" "$baseline_pid" 2>/dev/null || true
}
for r in $(seq 1 "$rounds"); do round "$r"; done

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name: [json.load(open(f"{work}/{name}-{r}.json")) for r in range(1, rounds + 1)]
b, a = load("baseline"), load("atrium")
median = lambda runs, key: statistics.median(run[key] for run in runs)
print(f"\nMedians of {rounds} rounds")
print(f"| | baseline (bare axum SSE) | Atrium | ratio |")
print(f"|---|---:|---:|---:|")
for key, label in [("p50_ms", "p50 latency, ms"), ("p99_ms", "p99 latency, ms"), ("max_ms", "largest latency, ms"),
                   ("bytes_per_connection", "memory per connection, bytes"),
                   ("bytes_per_connection_with_warm_up", "memory per connection incl. warm-up, bytes")]:
    mb, ma = median(b, key), median(a, key)
    print(f"| {label} | {mb:.1f} | {ma:.1f} | {ma / mb:.2f}× |")
print(f"| deliveries / expected | {sum(r['deliveries'] for r in b)} / {sum(r['expected'] for r in b)} | "
      f"{sum(r['deliveries'] for r in a)} / {sum(r['expected'] for r in a)} | |")
print("\nPer round (p99 ms, bytes per connection): baseline "
      + ", ".join(f"{r['p99_ms']:.1f}/{r['bytes_per_connection']:.0f}" for r in b)
      + "; Atrium " + ", ".join(f"{r['p99_ms']:.1f}/{r['bytes_per_connection']:.0f}" for r in a))
PY

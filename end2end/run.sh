#!/usr/bin/env bash
# Runs the Playwright suite against a running Atrium (ATRIUM_BASE_URL, default
# http://127.0.0.1:3000). Waits for the server first: `cargo leptos end-to-end` starts it
# without waiting.
set -euo pipefail
cd "$(dirname "$0")"
base="${ATRIUM_BASE_URL:-http://127.0.0.1:3000}"
for _ in $(seq 1 120); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null || { echo "end2end: no server answering at $base" >&2; exit 1; }
mkdir -p artifacts
exec ./node_modules/.bin/playwright test "$@"

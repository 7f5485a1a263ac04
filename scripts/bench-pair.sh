#!/usr/bin/env bash
# Two builds of `atrium` side by side under the same load: each serves its own copy of the demo
# database, and wrk loads the sales room page (signed in as sales@northwind.test) on each in
# turn, three rounds. Then 64 pages are loaded at once from each and counted if a part of theirs
# failed. For docs/benchmarks.md ("Many pages at once").
#
# Usage: scripts/bench-pair.sh OLD_BINARY NEW_BINARY [connections, default 64] [seconds, default 20]
# The pages' assets come from target/site (or ATRIUM_SITE_ROOT); the load needs only the HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1; new=$2; conns=${3:-64}; seconds=${4:-20}
site_root=${ATRIUM_SITE_ROOT:-$(pwd)/target/site}
command -v wrk >/dev/null || { $( [[ $(id -u) -eq 0 ]] || echo sudo ) apt-get install -y -qq wrk; }
work=$(mktemp -d)
start() { # binary port
  DATABASE_URL="sqlite://$work/$2.db" ATRIUM_BIND="127.0.0.1:$2" RUST_LOG=warn LEPTOS_SITE_ROOT="$site_root" \
    "$1" serve --demo >"$work/$2.log" 2>&1 &
  echo $!
}
old_pid=$(start "$old" 3410); new_pid=$(start "$new" 3411)
trap 'kill $old_pid $new_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for port in 3410 3411; do
  for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
done
session() {
  curl -fsS -D - -o /dev/null -H 'content-type: application/json' \
    -d '{"email":"sales@northwind.test","password":"atrium-demo-2026"}' "http://127.0.0.1:$1/api/v1/session" |
    grep -i '^set-cookie: atrium_session=' | sed -E 's/^[Ss]et-[Cc]ookie: (atrium_session=[^;]*).*/\1/'
}
old_cookie=$(session 3410); new_cookie=$(session 3411)
for round in 1 2 3; do
  for build in "old 3410 $old_cookie" "new 3411 $new_cookie"; do
    set -- $build
    out=$(wrk -t2 -c"$conns" -d"${seconds}s" --timeout 15s -H "cookie: $3" "http://127.0.0.1:$2/rooms/sales")
    echo "round $round, $1: $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s, mean latency $(echo "$out" | awk '/Latency/ {print $2}')"
  done
done
for build in "old 3410 $old_cookie" "new 3411 $new_cookie"; do
  set -- $build
  seq 64 | xargs -P 64 -I{} curl -s -m 60 -H "cookie: $3" "http://127.0.0.1:$2/rooms/sales" -o "$work/$1-{}.html"
  failed=$(grep -l '{\\"Err\\":' "$work/$1"-*.html | wc -l || true)
  echo "$1: $failed of 64 pages loaded at once had a failed part"
done

#!/usr/bin/env bash
# The first command of the README: installs what is missing, builds Atrium, creates and
# migrates a SQLite database under data/, loads the demo data and serves the portal on
# http://127.0.0.1:3000 (Ctrl-C stops it). Run it again at any time: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
install_all

say "Building Atrium (release)"
cargo leptos build --release

say "Starting Atrium on http://127.0.0.1:3000 — sign in as sales@northwind.test / atrium-demo-2026"
exec target/release/atrium serve --demo

#!/usr/bin/env bash
# Installs what building and testing Atrium needs, skipping whatever is already in place.
# Safe to run again: every step checks first. Sourced by demo.sh and test.sh; runnable alone.
#
#   wasm32 target, wasm-bindgen-cli 0.2.130 (must equal the wasm-bindgen pin in Cargo.toml),
#   cargo-leptos 0.3.10, npm packages for end2end (Playwright, binaryen's wasm-opt),
#   Debian's Chromium, curl, brotli and psql; with --test also cargo-audit.
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.10
CARGO_AUDIT_VERSION=0.22.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# True when the command runs and its version output ends with the version wanted.
has_version() { [[ "$($1 2>/dev/null || true)" =~ [[:space:]]$2$ ]]; }

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

need_rust() {
  command -v cargo >/dev/null || { echo "Rust is not installed: see https://rustup.rs" >&2; exit 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! has_version "wasm-bindgen --version" "$WASM_BINDGEN_VERSION"; then
    say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
    # Not --locked: one of its pinned dependencies is no longer in the registry.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if ! has_version "cargo leptos --version" "$CARGO_LEPTOS_VERSION"; then
    say "Installing cargo-leptos $CARGO_LEPTOS_VERSION (about 16 minutes on 2 cores)"
    # no_downloads: a missing tool is a clear error instead of a failed download.
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --features no_downloads --force
  fi
}

need_audit() {
  if ! has_version "cargo audit --version" "$CARGO_AUDIT_VERSION"; then
    say "Installing cargo-audit $CARGO_AUDIT_VERSION (about 5 minutes)"
    cargo install cargo-audit --locked --version "$CARGO_AUDIT_VERSION" --force
  fi
}

need_debian_packages() {
  local missing=()
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v curl >/dev/null || missing+=(curl)
  command -v brotli >/dev/null || missing+=(brotli)
  command -v npm >/dev/null || missing+=(npm)
  command -v psql >/dev/null || missing+=(postgresql-client)
  if ((${#missing[@]})); then
    say "Installing Debian packages: ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
}

need_npm_packages() {
  local stamp="$root/end2end/node_modules/.atrium-lock"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" "$root/end2end/package-lock.json"; then
    say "Installing end2end npm packages"
    # Playwright must not download browsers: it drives Debian's Chromium.
    (cd "$root/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    cp "$root/end2end/package-lock.json" "$stamp"
  fi
}

# cargo-leptos looks for wasm-opt on PATH for release builds; binaryen from npm provides it.
export PATH="$root/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

install_all() {
  need_debian_packages
  need_rust
  need_npm_packages
  if [[ "${1:-}" == "--test" ]]; then need_audit; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  install_all "$@"
fi

#!/usr/bin/env bash
# Installs everything building, running and testing Upbeat needs, skipping
# whatever is already there. Safe to run any number of times.
#
#   Rust:     the wasm32 target, cargo-leptos 0.3.10 (built with no_downloads),
#             wasm-bindgen-cli at exactly the Cargo.lock version
#   npm:      wasm-opt from binaryen@132 (Debian's wasm-opt breaks hydration),
#             Playwright's test runner for end2end/
#   Debian:   Chromium for the browser tests, Java for the HTML checker,
#             Node.js/npm if missing
#
# Tools that are not cargo binaries go to $UPBEAT_TOOLS_DIR
# (default ~/.cache/upbeat-tools); source scripts/env.sh to put them on PATH.
#
# --build-only skips what only the tests need (Chromium, end2end/ packages);
# the Dockerfile uses it.
set -euo pipefail
BUILD_ONLY=
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132

step() { printf '\n==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif have sudo; then sudo "$@"; else
    echo "error: need root to run: $*" >&2; return 1
  fi
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! have cargo; then
  echo "error: cargo not found; install Rust with rustup first" >&2
  exit 1
fi

step "wasm32 target"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "present"
else
  rustup target add wasm32-unknown-unknown
fi

step "cargo-leptos $CARGO_LEPTOS_VERSION"
if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  echo "present: $(cargo leptos --version)"
else
  # 0.3.11 needs a newer rustc; no_downloads keeps it from fetching tools.
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi

step "wasm-bindgen-cli (Cargo.lock version)"
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "error: wasm-bindgen not found in Cargo.lock" >&2
  exit 1
fi
if wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  echo "present: wasm-bindgen $WASM_BINDGEN_VERSION"
else
  # Without --locked: one of its locked dependency versions left the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

step "Python 3 (scripts/layers.py)"
if have python3; then
  echo "present: $(python3 --version)"
else
  apt_install python3
fi

step "Node.js and npm"
if have node && have npm; then
  echo "present: node $(node --version), npm $(npm --version)"
else
  apt_install nodejs npm
fi

step "wasm-opt (binaryen@$BINARYEN_VERSION from npm)"
if "$UPBEAT_TOOLS_DIR/binaryen/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  echo "present: $("$UPBEAT_TOOLS_DIR/binaryen/node_modules/.bin/wasm-opt" --version)"
else
  mkdir -p "$UPBEAT_TOOLS_DIR/binaryen"
  npm install --prefix "$UPBEAT_TOOLS_DIR/binaryen" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
fi

if [ -n "$BUILD_ONLY" ]; then
  step "setup complete (build only)"
  exit 0
fi

step "Chromium"
if [ -x "$UPBEAT_CHROMIUM" ]; then
  echo "present: $("$UPBEAT_CHROMIUM" --version 2>/dev/null || echo "$UPBEAT_CHROMIUM")"
else
  apt_install chromium
fi

step "Java (runs the Nu HTML Checker, npm vnu-jar, in end2end/)"
if have java && java -version 2>&1 | grep -Eq 'version "(1[1-9]|[2-9][0-9])'; then
  echo "present: $(java -version 2>&1 | head -n 1)"
else
  # vnu.jar needs Java 11 or later.
  apt_install default-jre-headless
fi

step "end-to-end test dependencies (end2end/)"
if [ -f end2end/node_modules/.package-lock.json ] && cmp -s end2end/package-lock.json end2end/node_modules/.upbeat-lock; then
  echo "present"
else
  # No install scripts run, and Playwright never downloads a browser:
  # the tests use Debian's Chromium.
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts)
  cp end2end/package-lock.json end2end/node_modules/.upbeat-lock
fi

step "setup complete"

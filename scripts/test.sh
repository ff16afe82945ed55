#!/usr/bin/env bash
# README command 2: set up what is missing, then run every check:
# formatting, clippy (server and wasm), unit and integration tests on SQLite
# and PostgreSQL, and the end-to-end tests in Chromium.
#
# PostgreSQL: tests use $UPBEAT_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). With CI=true an
# unreachable PostgreSQL fails the run; otherwise its tests are skipped loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "cargo fmt --check"
cargo fmt --all --check

step "layers: every crate:: import points to a lower layer (ARCHITECTURE.md)"
python3 scripts/layers.py

step "clippy (server, native)"
cargo clippy --locked -p upbeat-server -p app --all-targets -- -D warnings

step "clippy (front end, wasm32)"
cargo clippy --locked -p frontend -p app --target wasm32-unknown-unknown -- -D warnings

# The router and the meta crate are left out too: the pages route on the
# server and write their own head (app/src/route.rs), which keeps the
# WebAssembly small.
step "server-only crates stay out of the wasm build"
forbidden='^(upbeat-server|leptos_router|leptos_meta|sqlx|sqlx-core|tokio|mio|reqwest|hyper|axum|leptos_axum|tower-http|clap|tracing-subscriber|rustls|toml_edit|serde_path_to_error) '
if leaked=$(cargo tree --locked -p frontend --target wasm32-unknown-unknown -e normal --prefix none | sort -u | grep -E "$forbidden"); then
  echo "error: server-only crates in the wasm dependency tree:" >&2
  echo "$leaked" >&2
  exit 1
fi
echo "none found"

step "unit and integration tests (SQLite and PostgreSQL)"
pg_url=${UPBEAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# host[:port] between "//" (after any user@) and the path.
pg_hostport=$(sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#' <<<"$pg_url")
pg_host=${pg_hostport%%:*}
pg_port=${pg_hostport##*:}
[ "$pg_port" = "$pg_hostport" ] && pg_port=5432
if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "error: PostgreSQL is not reachable at $pg_url and CI=true" >&2
    exit 1
  fi
  echo "############################################################"
  echo "## WARNING: PostgreSQL not reachable at $pg_url:"
  echo "## its store and app tests will be SKIPPED (CI=true fails)."
  echo "############################################################"
fi
cargo test --locked -p upbeat-server -p app

# The browser tests run the release build: the one users run, and the only
# one where the size-optimised wasm profile (and its compile limits) applies.
step "release build (server + wasm) for the browser tests"
scripts/build.sh
python3 scripts/check-hot-text.py

step "end-to-end tests in Chromium"
(cd end2end && UPBEAT_BIN="$PWD/../target/release/upbeat" UPBEAT_SITE_ROOT="$PWD/../target/site" npx playwright test)

step "all checks passed in $((SECONDS - started))s"

#!/usr/bin/env bash
# The release build: server and WebAssembly (cargo-leptos), every file of
# the site root precompressed beside itself (NAME.br at brotli quality 11 by
# cargo-leptos, NAME.gz at gzip -9, which is some 14 % smaller than
# cargo-leptos's own gzip). The server serves those copies (see
# server/src/api/assets.rs). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# --dist: the server with fat LTO and one codegen unit: its code is 15 %
# smaller, at the same throughput, for a build twice as long (15 min from
# scratch on 2 cores). But server/link/hot-text.ld, which places the code
# that runs together, is measured on the ordinary release build, and LTO
# renames the generic functions it names: bench/memory.sh gave 28.1 MiB
# idle for --dist against 21.9 for the release build. So the release build
# is the one to deploy (the Dockerfile's); --dist is kept for measuring.
# The WebAssembly has its own profile either way.
if [ "${1:-}" = --dist ]; then
  shift
  export CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
fi
cargo leptos build --release --precompress "$@"
find target/site -type f -name '*.gz' | while read -r copy; do
  if [ -f "${copy%.gz}" ]; then
    gzip -9 -n -c "${copy%.gz}" >"$copy"
  fi
done

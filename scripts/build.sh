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
# --dist: the binary you deploy. The server with fat LTO and one codegen
# unit: its code is 15 % smaller and better laid out, so 3 MiB less of it is
# resident (bench/memory.sh: 29.1 against 32.1 MiB idle), at the same
# throughput, for a build twice as long (15 min from scratch on 2 cores).
# Tests and benchmarks use the ordinary release profile. The Dockerfile
# builds with it; the WebAssembly has its own profile either way.
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

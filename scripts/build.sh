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
cargo leptos build --release --precompress "$@"
find target/site -type f -name '*.gz' | while read -r copy; do
  if [ -f "${copy%.gz}" ]; then
    gzip -9 -n -c "${copy%.gz}" >"$copy"
  fi
done

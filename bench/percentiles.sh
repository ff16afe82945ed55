#!/usr/bin/env bash
# Reading response-time percentiles at scale (server/examples/percentiles_bench.rs):
# the time one read of every service's p50/p95/p99 takes from SQLite, the
# pause it sets before the next, and the memory the figures hold, for each
# count in SERVICES (default 10000).
#
#   SERVICES="1000 10000" bench/percentiles.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -n "${SKIP_BUILD:-}" ] || cargo build --quiet --release -p upbeat-server --example percentiles_bench
for n in ${SERVICES:-10000}; do
  SERVICES=$n target/release/examples/percentiles_bench
  echo
done

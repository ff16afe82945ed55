#!/usr/bin/env bash
# Objectives at scale (server/examples/slo_bench.rs): the time to measure
# every service's objectives and the resident memory they add, for each
# count in SERVICES (default 10000). Runs the example with and without
# objectives and prints the difference in memory.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -n "${SKIP_BUILD:-}" ] || cargo build --quiet --release -p upbeat-server --example slo_bench
for n in ${SERVICES:-10000}; do
  off=$(SERVICES=$n OBJECTIVES=0 target/release/examples/slo_bench)
  on=$(SERVICES=$n OBJECTIVES=1 target/release/examples/slo_bench)
  echo "$on"
  rss() { sed -nE 's/.* ([0-9.]+) MiB seeded and measured/\1/p' <<<"$1"; }
  awk -v on="$(rss "$on")" -v off="$(rss "$off")" -v n="$n" \
    'BEGIN { printf "memory the objectives add: %.1f MiB (%.1f MiB without them), %.0f bytes a service\n\n", on - off, off, (on - off) * 1048576 / n }'
done

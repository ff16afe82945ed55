#!/usr/bin/env bash
# Snapshot cost at scale, for each count in SERVICES (default "10000 50000"):
# full and incremental rebuild, /public/status serialisation, 30-day uptime
# cost at two sampling rates, and memory per service. See
# server/examples/snapshot_bench.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --quiet --release -p upbeat-server --example snapshot_bench
for n in ${SERVICES:-10000 50000}; do
  SERVICES=$n target/release/examples/snapshot_bench
  echo
done

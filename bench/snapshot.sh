#!/usr/bin/env bash
# Snapshot rebuild time for SERVICES services (default 10000), incremental
# rebuild after one writer flush, 30-day uptime cost at two sampling rates,
# and memory. See server/examples/snapshot_bench.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p upbeat-server --example snapshot_bench

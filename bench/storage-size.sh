#!/usr/bin/env bash
# Bytes per service for 90 days of 1-minute samples on SQLite, rollups
# included (goal: at most 2.5 MB). Usage: bench/storage-size.sh [SERVICES] [DAYS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo run --quiet --release -p upbeat-server --example storage_size -- "${1:-10}" "${2:-90}"

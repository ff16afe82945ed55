#!/usr/bin/env bash
# README command 1: set up what is missing, build a release, and serve the
# example config with SQLite on http://127.0.0.1:3000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
scripts/build.sh
exec target/release/upbeat --config upbeat.toml serve "$@"

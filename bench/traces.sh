#!/usr/bin/env bash
# What traces cost on the page and /public/status: bench/http.sh with
# traces off, then with every span exported (always_on) to a local OTLP/HTTP
# receiver, each run next to the hello-world ceiling.
#
#   bench/traces.sh            (SKIP_BUILD=1 to reuse the release build)
set -euo pipefail
cd "$(dirname "$0")"
echo "== traces off"
./http.sh / /public/status
echo
echo "== traces on"
SKIP_BUILD=1 TRACES=1 ./http.sh / /public/status

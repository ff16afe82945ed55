#!/usr/bin/env bash
# The status page and its JSON against the hello-world ceiling (see
# bench/http.sh): p99 of / should stay within 10 ms at 50 connections.
# Twice: without compression, then with the Accept-Encoding browsers send.
set -euo pipefail
cd "$(dirname "$0")"
./http.sh / /public/status /services/api
SKIP_BUILD=1 ACCEPT_ENCODING="gzip, deflate, br, zstd" ./http.sh / /public/status /services/api

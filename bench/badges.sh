#!/usr/bin/env bash
# Badge throughput against the hello-world ceiling (see bench/http.sh).
exec "$(dirname "$0")/http.sh" /badge/api.svg /badge/api/uptime/30d.svg

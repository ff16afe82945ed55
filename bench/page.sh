#!/usr/bin/env bash
# The status page and its JSON against the hello-world ceiling (see
# bench/http.sh): p99 of / should stay within 10 ms at 50 connections.
exec "$(dirname "$0")/http.sh" / /public/status /services/api

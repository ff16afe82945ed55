#!/usr/bin/env bash
# CI time of commits: for each REV, a fresh clone of this repository at REV
# through .ci/run with CI=true (what CI runs), one after the other; prints
# the wall time and test.sh's own count (which leaves out the tool setup).
# Run it on an otherwise idle machine with the tools already installed, so
# that the numbers compare commits and not the machine's other work.
#
#   bench/ci-time.sh ac22755 HEAD
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
for rev in "$@"; do
  sha=$(git rev-parse --short "$rev")
  dir=$(mktemp -d)
  git clone -q "$repo" "$dir" && git -C "$dir" checkout -q "$sha"
  log="$dir.log"
  start=$(date +%s)
  (cd "$dir" && CI=true bash .ci/run) >"$log" 2>&1
  rc=$?
  echo "$sha: exit $rc, $(( $(date +%s) - start )) s wall, $(grep -o 'all checks passed in [0-9]*s' "$log" || echo 'failed') (log: $log)"
  rm -rf "$dir"
done

#!/usr/bin/env bash
# Compile time of the upbeat-server crate alone at each REV: dependencies
# come from this checkout's target/ (same Cargo.lock), so the numbers are
# what a change to the server's own code costs: clippy over all targets
# (what CI runs first) and the release binary. Each REV is built twice;
# the first round after switching commits is the one to compare.
#
#   bench/crate-times.sh ac22755 HEAD
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export CARGO_TARGET_DIR=$PWD/target LEPTOS_OUTPUT_NAME=upbeat
export JEMALLOC_SYS_WITH_MALLOC_CONF="narenas:1,background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0"
repo=$PWD
for rev in "$@"; do
  sha=$(git rev-parse --short "$rev")
  dir=$(mktemp -d)
  git -C "$repo" worktree add -q "$dir" "$sha"
  for round in 1 2; do
    touch "$dir/server/src/lib.rs" "$dir/server/src/main.rs"
    s=$(date +%s.%N)
    (cd "$dir" && cargo clippy -q -p upbeat-server --all-targets -- -D warnings) >/dev/null 2>&1
    c=$(date +%s.%N)
    touch "$dir/server/src/lib.rs" "$dir/server/src/main.rs"
    (cd "$dir" && cargo build -q --release -p upbeat-server --bin upbeat) >/dev/null 2>&1
    r=$(date +%s.%N)
    printf '%s round %d: clippy --all-targets %.1f s, release binary %.1f s\n' \
      "$sha" "$round" "$(echo "$c - $s" | bc)" "$(echo "$r - $c" | bc)"
  done
  git -C "$repo" worktree remove --force "$dir"
done

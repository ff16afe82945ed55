#!/usr/bin/env bash
# Build times of the committed HEAD in a fresh clone (empty target/, tools
# already installed by scripts/setup.sh): a fresh release build, then a warm
# rebuild after touching one front-end and one server file.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/upbeat"
cd "$work/upbeat"
start=$SECONDS
scripts/build.sh >/dev/null 2>&1
fresh=$((SECONDS - start))
touch app/src/pages.rs server/src/startup.rs
start=$SECONDS
scripts/build.sh >/dev/null 2>&1
warm=$((SECONDS - start))
echo "release build (server + wasm), fresh clone: ${fresh}s"
echo "release rebuild after touching app/ and server/: ${warm}s"

#!/usr/bin/env bash
# First visit: bytes transferred for the page and everything it loads (HTML,
# icon, CSS, JS, WebAssembly) when the browser accepts brotli, and with gzip
# only, against the 250 KB budget. Runs the release server on the example config.
# Builds first unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
BUDGET=${BUDGET:-250000}

if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
UPBEAT_SERVER__SITE_ROOT=target/site RUST_LOG=warn target/release/upbeat --config upbeat.toml \
  --listen "127.0.0.1:$port" --database "sqlite://$work/upbeat.db" serve 2>"$work/log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
sleep 2
base="http://127.0.0.1:$port"
curl -fs "$base/" -o "$work/page.html"
assets=(/)
# Everything the head loads: icon, stylesheet, module and WebAssembly (their
# names carry content hashes).
while read -r asset; do assets+=("$asset"); done < <(
  python3 -c 'import sys; h = open(sys.argv[1]).read(); print(h[:h.find("</head>")])' "$work/page.html" | grep -oE '(href|src)="/[^"]+"' | sed -E 's/^(href|src)="//; s/"$//' | awk '!seen[$0]++'
)
for encoding in br gzip; do
  total=0
  for asset in "${assets[@]}"; do
    bytes=$(curl -fs -H "Accept-Encoding: $encoding" -o /dev/null -w '%{size_download}' "$base$asset")
    raw=$(curl -fs -o /dev/null -w '%{size_download}' "$base$asset")
    printf '%-6s %-40s %9d bytes (raw %d)\n' "$encoding" "$asset" "$bytes" "$raw"
    total=$((total + bytes))
  done
  verdict=$([ "$total" -le "$BUDGET" ] && echo "within" || echo "over")
  echo "$encoding total: $total bytes, $verdict the budget of $BUDGET bytes"
done

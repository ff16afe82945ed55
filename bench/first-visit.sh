#!/usr/bin/env bash
# First visit: bytes transferred for the page and everything it loads (HTML,
# icon, CSS, JS, WebAssembly) when the browser accepts brotli, and with gzip
# only, against the 250 KB budget. Runs the release server on the example
# config, or with SERVICES=N on N services that are all down (each in a
# group of 20; the worst case of a large page: everything listed, up to
# `page.max_listed`). Builds first unless SKIP_BUILD=1.
#
#   SKIP_BUILD=1 SERVICES=200 bench/first-visit.sh
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
config=upbeat.toml
if [ -n "${SERVICES:-}" ]; then
  config=$work/upbeat.toml
  python3 - "$config" "$SERVICES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write('[page]\ntitle = "First visit"\n[defaults]\ninterval = "1s"\ntimeout = "2s"\nfailure_threshold = 1\n')
    for i in range(n):
        # Port 9 (discard) refuses: every service is down at once.
        f.write(f'[[services]]\nslug = "service-{i}"\nname = "Service {i}"\ngroup = "Group {i // 20}"\n'
                f'[services.check]\nkind = "http"\nurl = "http://127.0.0.1:9/"\n')
PY
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
UPBEAT_SERVER__SITE_ROOT=target/site RUST_LOG=warn target/release/upbeat --config "$config" \
  --listen "127.0.0.1:$port" --database "sqlite://$work/upbeat.db" serve 2>"$work/log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
sleep 3
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

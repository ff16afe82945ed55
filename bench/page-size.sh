#!/usr/bin/env bash
# The home page at 4, 100 and 500 services (SIZES, default "4 100 500"),
# each with 90 days of history: bytes of `/` raw, with gzip and with
# brotli, and how much of it is the data serialised for hydration; where
# Chromium is available, a Lighthouse mobile run (performance score, total
# blocking time, largest contentful paint). Goal at 100 services: raw at
# most 600 KB, gzip at most 40 KB, performance at least 98 with TBT at
# most 100 ms.
#
# Services are in groups of 20 and probe a local hello-world (all up); the
# history is written into `rollups_daily` between two starts of the server:
# most days at 100 %, some with a few failed or slow samples, one in
# fifty an outage. Lighthouse 12 is installed on first use into
# target/bench-tools (LIGHTHOUSE=0 skips it). UPBEAT_BIN measures another
# build of the server (its bytes; Lighthouse needs the front end built with
# it).
#
#   SKIP_BUILD=1 bench/page-size.sh
#   SKIP_BUILD=1 SIZES=100 bench/page-size.sh
#
# OUT=DIR keeps each page as DIR/N.html.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SIZES=${SIZES:-"4 100 500"}
source bench/common.sh

lighthouse=
if [ "${LIGHTHOUSE:-1}" = 1 ] && command -v chromium >/dev/null; then
  tools=target/bench-tools
  if [ ! -x "$tools/node_modules/.bin/lighthouse" ]; then
    mkdir -p "$tools"
    npm install --silent --no-save --no-audit --no-fund --prefix "$tools" lighthouse@12 >/dev/null
  fi
  lighthouse=$PWD/$tools/node_modules/.bin/lighthouse
fi

hello_port=$(free_port)
target/release/examples/hello "127.0.0.1:$hello_port" &
pids+=($!)
wait_for "http://127.0.0.1:$hello_port/"

# serve N: the server on $work/N.toml and $work/N.db; sets $port, $server.
serve() {
  port=$(free_port)
  UPBEAT_SERVER__SITE_ROOT=target/site RUST_LOG=warn "${UPBEAT_BIN:-target/release/upbeat}" --config "$work/$1.toml" \
    --listen "127.0.0.1:$port" --database "sqlite://$work/$1.db" serve 2>>"$work/$1.log" &
  server=$!
  pids+=("$server")
  wait_for "http://127.0.0.1:$port/health"
}

bytes() { curl -fsS "${@:2}" "$1" | wc -c; }

printf '%-9s %10s %9s %9s %12s %7s %9s %9s\n' services raw gzip br hydration score TBT LCP
for n in $SIZES; do
  python3 - "$work/$n.toml" "$n" "$hello_port" <<'PY'
import sys
path, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write('[page]\ntitle = "Page size"\n')
    for i in range(n):
        f.write(f'[[services]]\nslug = "service-{i}"\nname = "Service {i}"\ngroup = "Group {i // 20}"\n'
                f'interval = "30s"\n[services.check]\nkind = "http"\nurl = "http://127.0.0.1:{port}/"\n')
PY
  serve "$n"
  kill "$server"
  wait "$server" 2>/dev/null || true
  python3 - "$work/$n.db" <<'PY'
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
random.seed(7)
today = int(time.time()) // 86400 * 86400
rows = []
for (service_id,) in db.execute("SELECT id FROM services"):
    for back in range(1, 90):
        day = today - back * 86400
        total = 1440
        roll = random.random()
        down = 0 if roll < 0.9 else random.randint(1, 5) if roll < 0.98 else random.randint(60, 400)
        degraded = random.randint(0, 3) if random.random() < 0.2 else 0
        up = total - down - degraded
        # Times are stored as milliseconds.
        rows.append((service_id, day * 1000, up, degraded, down, up + degraded, (up + degraded) * random.randint(20, 90)))
db.executemany(
    "INSERT OR REPLACE INTO rollups_daily (service_id, period_start, up, degraded, down, latency_count, latency_sum_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
db.commit()
PY
  serve "$n"
  url="http://127.0.0.1:$port/"
  [ -n "${OUT:-}" ] && mkdir -p "$OUT" && curl -fsS "$url" >"$OUT/$n.html"
  raw=$(bytes "$url")
  gz=$(bytes "$url" -H 'Accept-Encoding: gzip')
  br=$(bytes "$url" -H 'Accept-Encoding: br')
  # The data serialised for hydration: the largest inline script.
  hydration=$(curl -fsS "$url" | python3 -c 'import re,sys; print(max((len(s) for s in re.findall(r"<script[^>]*>(.*?)</script>", sys.stdin.read(), re.S)), default=0))')
  score=- tbt=- lcp=-
  if [ -n "$lighthouse" ]; then
    CHROME_PATH=$(command -v chromium) "$lighthouse" "$url" --quiet --only-categories=performance \
      --form-factor=mobile --chrome-flags="--headless=new --no-sandbox" --output=json \
      --output-path="$work/$n.lh.json" >/dev/null 2>&1 || true
    if [ -s "$work/$n.lh.json" ]; then
      read -r score tbt lcp < <(python3 - "$work/$n.lh.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
audits = report["audits"]
tbt = audits["total-blocking-time"]["numericValue"]
lcp = audits["largest-contentful-paint"]["numericValue"] / 1000
print(round(report["categories"]["performance"]["score"] * 100), f"{tbt:.0f}ms", f"{lcp:.1f}s")
PY
)
    fi
  fi
  printf '%-9s %10s %9s %9s %12s %7s %9s %9s\n' "$n" "$raw" "$gz" "$br" "$hydration" "$score" "$tbt" "$lcp"
  kill "$server"
  wait "$server" 2>/dev/null || true
done

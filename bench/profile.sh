#!/usr/bin/env bash
# Where the time goes: CPU flame graphs (SVG, open in a browser) of the
# release server, taken through its own GET /debug/pprof/profile:
#
#   1. under the page benchmark: wrk on / (50 connections) while a
#      PROFILE_SECONDS-long profile (default 15) is taken; three services probing
#      a local target every second, as bench/http.sh runs them;
#   2. the sampler at SERVICES services (default 10,000) on 60-second
#      intervals against bench/scale-target.py, as bench/sampler-scale.sh
#      runs them, profiled for a whole interval once their first runs are
#      spread (after WARMUP seconds, default 70).
#
# The SVGs go to OUT (default target/profiles). Also prints the top
# frames of each by share of samples.
#
#   bench/profile.sh              (SKIP_BUILD=1 to reuse the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SECONDS_PROFILED=${PROFILE_SECONDS:-15}
SERVICES=${SERVICES:-10000}
WARMUP=${WARMUP:-70}
OUT=${OUT:-target/profiles}
TOKEN=profile-bench-token-0123456789abcdef
mkdir -p "$OUT"

source bench/common.sh
# top SVG: the frames with the largest share of samples, from the SVG's titles.
top() {
  python3 - "$1" <<'PY'
import re, sys, html
text = open(sys.argv[1]).read()
frames = {}
for title in re.findall(r"<title>(.*?)</title>", text):
    m = re.match(r"(.*) \(([\d,]+) samples?, ([\d.]+)%\)$", html.unescape(title))
    if m:
        name, share = m.group(1), float(m.group(3))
        frames[name] = max(frames.get(name, 0), share)
mine = sorted(((s, n) for n, s in frames.items() if "upbeat" in n and s < 100), reverse=True)
for share, name in mine[:12]:
    print(f"  {share:5.1f} %  {name[:140]}")
PY
}
# serve TOML DB: starts the release server with profiling on; sets $port.
serve() {
  port=$(free_port)
  UPBEAT_ADMIN_TOKEN=$TOKEN RUST_LOG=warn target/release/upbeat --config "$1" \
    --listen "127.0.0.1:$port" --database "sqlite://$2" serve 2>>"$work/upbeat.log" &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/health"
}
profile() {
  curl -fsS -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$port/debug/pprof/profile?seconds=$1&format=flamegraph" -o "$2"
}

echo "== 1. the page under wrk (${SECONDS_PROFILED} s)"
hello_port=$(free_port)
target/release/examples/hello "127.0.0.1:$hello_port" &
pids+=($!)
wait_for "http://127.0.0.1:$hello_port/"
{
  printf '[page]\ntitle = "Profile bench"\n\n[profiling]\nenabled = true\n\n'
  for slug in api web billing; do
    printf '[[services]]\nslug = "%s"\nname = "%s"\ngroup = "Core"\ninterval = "1s"\n[services.check]\nkind = "http"\nurl = "http://127.0.0.1:%s/"\n\n' "$slug" "$slug" "$hello_port"
  done
} >"$work/page.toml"
serve "$work/page.toml" "$work/page.db"
sleep 3
wrk -t2 -c50 -d"$((SECONDS_PROFILED + 3))s" "http://127.0.0.1:$port/" >"$work/wrk.txt" &
wrk_pid=$!
sleep 1
profile "$SECONDS_PROFILED" "$OUT/page.svg"
wait "$wrk_pid"
echo "wrk: $(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt") req/s while profiled; $OUT/page.svg"
top "$OUT/page.svg"

echo
echo "== 2. the sampler at $SERVICES services (one 60 s interval, after ${WARMUP} s)"
bench/scale-target.py serve "$work/target.port" 1000 &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/target.port" ] && break; sleep 0.1; done
bench/scale-target.py config "$work/scale.toml" "$SERVICES" "$(cat "$work/target.port")" 60 "Profile bench"
printf '\n[profiling]\nenabled = true\n' >>"$work/scale.toml"
serve "$work/scale.toml" "$work/scale.db"
sleep "$WARMUP"
profile 60 "$OUT/sampler.svg"
echo "$OUT/sampler.svg"
top "$OUT/sampler.svg"

#!/usr/bin/env bash
# Scheduling at scale: SERVICES (default 10000) HTTP services on 60-second
# intervals against one local target, for DURATION seconds (default 300).
# Reports the share of probes taken on time (gap to the previous sample of
# the same service within ±1 s of the interval), missed ticks, CPU use,
# peak and settled RSS of the release server (and per service), and what
# the first and a cached `/public/status`, `/`, a group's page and a
# service's page cost at that size. Services come in groups of 1,000; one
# in a thousand is down.
# Builds the release first unless SKIP_BUILD=1. Traffic stays on 127.0.0.1.
#
#   SERVICES=50000 DURATION=300 bench/sampler-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SERVICES=${SERVICES:-10000}
DURATION=${DURATION:-300}
INTERVAL=60

if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
fi

work=$(mktemp -d)
target_pid=
upbeat_pid=
cleanup() {
  [ -n "$upbeat_pid" ] && kill "$upbeat_pid" 2>/dev/null || true
  [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The target: a threaded HTTP server answering 200 to everything.
# One service in a thousand answers 500, so the page has something to list.
bench/scale-target.py serve "$work/target.port" 1000 &
target_pid=$!
for _ in $(seq 50); do [ -s "$work/target.port" ] && break; sleep 0.1; done
target_port=$(cat "$work/target.port")

bench/scale-target.py config "$work/upbeat.toml" "$SERVICES" "$target_port" "$INTERVAL" "Scale bench"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
RUST_LOG=warn target/release/upbeat --config "$work/upbeat.toml" --listen "127.0.0.1:$port" \
  --database "sqlite://$work/upbeat.db" serve 2>"$work/upbeat.log" &
upbeat_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
cpu_start=$(ticks "$upbeat_pid")
# Resident memory every 5 s, to see when the peak happens.
( while kill -0 "$upbeat_pid" 2>/dev/null; do
    awk '/^VmRSS/ {printf "%d ", $2 / 1024}' "/proc/$upbeat_pid/status" 2>/dev/null >>"$work/rss.log" || true
    sleep 5
  done ) &
sleep "$DURATION"
measured_until=$(date +%s)
cpu_end=$(ticks "$upbeat_pid")
hwm_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$upbeat_pid/status")
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$upbeat_pid/status")
echo "RSS every 5 s (MiB): $(cat "$work/rss.log")"
echo "settled RSS: $((rss_kib / 1024)) MiB = $(( rss_kib * 1024 / SERVICES )) bytes a service"
# The public answers at this size: the first request after a snapshot
# renders and compresses, the next one is served from the cache (unless a
# writer round replaced the snapshot in between).
for path in /public/status / /groups/region-3 /services/svc-3007 "/public/status?group=region-3&page=2"; do
  for attempt in first again; do
    curl -s -o /dev/null -H 'Accept-Encoding: br, gzip' \
      -w "GET $path ($attempt): %{http_code}, %{size_download} bytes (compressed), %{time_total} s\n" \
      "http://127.0.0.1:$port$path"
  done
done
curl -s -o /dev/null -w "GET /public/status uncompressed: %{size_download} bytes\n" "http://127.0.0.1:$port/public/status"
kill -TERM "$upbeat_pid"
wait "$upbeat_pid" || true
upbeat_pid=

hz=$(getconf CLK_TCK)
python3 - "$work/upbeat.db" "$INTERVAL" "$SERVICES" "$DURATION" "$((cpu_end - cpu_start))" "$hz" "$hwm_kib" "$measured_until" <<'PY'
import sqlite3, sys
# Sample times are stored in whole seconds.
db, interval, services, duration, cpu_ticks, hz, hwm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
# Only what was taken while measuring: the page requests after it are not
# part of the scheduling figures.
until = int(sys.argv[8])
rows = sqlite3.connect(db).execute("SELECT service_id, taken_at, outcome FROM samples WHERE taken_at <= ? ORDER BY service_id, taken_at", (until,)).fetchall()
gaps = on_time = missed = down = 0
prev = {}
histogram = {}
late_by_minute = {}
start = min((at for _, at, _ in rows), default=0)
for sid, at, outcome in rows:
    down += outcome != 0
    if sid in prev:
        gap = at - prev[sid]
        gaps += 1
        histogram[gap] = histogram.get(gap, 0) + 1
        if abs(gap - interval) <= 1:
            on_time += 1
        else:
            minute = (at - start) // 60
            late_by_minute[minute] = late_by_minute.get(minute, 0) + 1
        missed += max(0, round(gap / interval) - 1)
    prev[sid] = at
print(f"services: {services}, interval: {interval}s, measured for {duration}s")
print(f"samples: {len(rows)} ({len(prev)} services sampled), not up: {down}")
print(f"on time (gap within ±1 s of the interval): {on_time}/{gaps} = {100 * on_time / max(gaps, 1):.3f} %")
print(f"missed ticks: {missed}")
print("late or early, by minute of the run:", ", ".join(f"{m}: {n}" for m, n in sorted(late_by_minute.items())) or "none")
print("gaps (s: count):", ", ".join(f"{g}: {n}" for g, n in sorted(histogram.items(), key=lambda kv: -kv[1])[:6]))
print(f"CPU: {cpu_ticks / hz:.1f} s over {duration} s = {100 * cpu_ticks / hz / duration:.1f} % of one core")
print(f"peak RSS: {hwm / 1024:.1f} MiB")
PY

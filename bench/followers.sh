#!/usr/bin/env bash
# Followers at scale, and takeover: SERVICES (default 10000) HTTP services
# on 60-second intervals, a leader and a follower on one PostgreSQL
# database ($UPBEAT_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres;
# a database is created and dropped). The history a long-running page has
# (90 daily and 24 hourly rollups a service) is seeded, so a full load reads
# what it would in production.
#
# Prints, for the follower over DURATION seconds (default 120): what a full
# load reads and takes (what every refresh did before the round log), the
# incremental refreshes (rows read each, refreshes a second), and the lag
# from a sample being taken to the follower showing it (p50/p99). Then
# kills the leader with SIGKILL and prints how long the follower took to
# lead (default lease_ttl = 10 s: the bound is 12 s) and the longest gap in
# any service's samples across the takeover. Builds the release first
# unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SERVICES=${SERVICES:-10000}
DURATION=${DURATION:-120}
INTERVAL=60
ADMIN_URL=${UPBEAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB_NAME="upbeat_bench_$$"
DB_URL="${ADMIN_URL%/*}/$DB_NAME"

if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null

bench/scale-target.py serve "$work/target.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/target.port" ] && break; sleep 0.1; done
target_port=$(cat "$work/target.port")

bench/scale-target.py config "$work/upbeat.toml" "$SERVICES" "$target_port" "$INTERVAL" "Follower bench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # name port
  RUST_LOG=info,sqlx=warn UPBEAT_LOGGING__FORMAT=json target/release/upbeat --config "$work/upbeat.toml" --listen "127.0.0.1:$2" \
    --database "$DB_URL" serve 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.2; done
  echo "$1 did not start" >&2; exit 1
}
role() { curl -fs "http://127.0.0.1:$1/health/detailed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["engine"]["role"])' 2>/dev/null || echo down; }
metric() { curl -fs "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2 }'; }

leader_port=$(free_port)
start leader "$leader_port"
leader_pid=${pids[-1]}
# History as a page that has run for 90 days has it.
psql -q "$DB_URL" >/dev/null <<'SQL'
INSERT INTO rollups_daily (service_id, period_start, up, degraded, down, latency_count, latency_sum_ms, latency_max_ms, b0)
SELECT s.id, d, 1440, 0, 0, 1440, 14400, 20, 1440
FROM services s, generate_series(date_trunc('day', now()) - interval '89 days', date_trunc('day', now()) - interval '1 day', interval '1 day') d
ON CONFLICT DO NOTHING;
INSERT INTO rollups_hourly (service_id, period_start, up, degraded, down, latency_count, latency_sum_ms, latency_max_ms, b0)
SELECT s.id, h, 60, 0, 0, 60, 600, 20, 60
FROM services s, generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h
ON CONFLICT DO NOTHING;
SQL
follower_port=$(free_port)
start follower "$follower_port"
sleep "$DURATION"

full_rows=$(grep -m1 'follower loaded the whole snapshot' "$work/follower.log")
curl -fs "http://127.0.0.1:$follower_port/metrics" >"$work/follower.metrics"
python3 - "$DURATION" "$INTERVAL" "$SERVICES" "$full_rows" "$work/follower.metrics" <<'PY'
import re, sys
duration, interval, services, full = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
text = open(sys.argv[5]).read()
def value(series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0
import json
loaded = json.loads(full)
full_rows, full_ms = int(loaded["rows"]), int(loaded["elapsed_ms"])
inc = value('upbeat_follower_refreshes_total{kind="incremental"}')
inc_rows = value('upbeat_follower_rows_read_total{kind="incremental"}')
print(f"services: {services} at {interval}s, follower measured for {duration}s")
print(f"full load (every refresh before the round log, every 10 s): {full_rows} rows in {full_ms} ms "
      f"= {full_rows / 10:.0f} rows/s")
print(f"incremental refreshes: {inc:.0f} ({inc / duration:.1f}/s), {inc_rows:.0f} rows read "
      f"= {inc_rows / max(inc, 1):.1f} rows a refresh, {inc_rows / duration:.1f} rows/s "
      f"(samples due: {services / interval:.0f}/s)")
buckets = []
for line in text.splitlines():
    m = re.match(r'upbeat_follower_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
    if m:
        buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2))))
count = value("upbeat_follower_lag_seconds_count")
def quantile(q):
    for le, n in sorted(buckets):
        if n >= q * count:
            return le
print(f"lag, sample taken -> shown on the follower: {count:.0f} rounds, p50 <= {quantile(0.5)} s, p99 <= {quantile(0.99)} s")
PY

# Takeover: SIGKILL the leader, time until the follower leads.
killed=$(date +%s.%N)
kill -9 "$leader_pid"
until [ "$(role "$follower_port")" = prober ]; do sleep 0.1; done
led=$(date +%s.%N)
sleep 15
python3 - "$killed" "$led" "$DB_URL" <<'PY'
import subprocess, sys
killed, led, url = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"takeover after SIGKILL: {led - killed:.1f} s (bound with lease_ttl = 10s: 12 s)")
q = f"""SELECT max(gap) FROM (
  SELECT extract(epoch FROM taken_at - lag(taken_at) OVER (PARTITION BY service_id ORDER BY taken_at)) AS gap
  FROM samples WHERE taken_at > to_timestamp({killed} - 120)) g"""
gap = subprocess.run(["psql", "-Atq", url, "-c", q], capture_output=True, text=True).stdout.strip()
print(f"longest gap between two samples of a service across the takeover: {gap} s (interval 60 s)")
PY

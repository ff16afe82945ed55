#!/usr/bin/env bash
# Subscribers: one incident update to N (default 10,000) confirmed email
# subscribers, handed in full to a local SMTP server (bench/smtp-sink.py),
# at the default rate (`subscribers.max_per_second`, RATE, default 100),
# on SQLite. Prints:
#
# - the time from the incident's API answer to the last mail accepted by
#   the sink, and the mails a second;
# - the server's resident memory before (N subscribers imported, idle) and
#   at its peak while sending (sampled every 200 ms): recipients are read
#   a batch at a time, so it should not grow with N;
# - `/` under wrk (1 thread, 10 connections, 10 s) before the send and
#   while it runs: requests a second and p50/p99, beside the hello-world
#   ceiling's (`examples/hello`) in the same run.
#
# Builds the release first unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N=${N:-10000}
RATE=${RATE:-100}
TOKEN=bench-admin-token-0123456789
source bench/common.sh
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# $1 url: "req/s p50 p99" from wrk
load() {
  wrk -t1 -c10 -d10s --latency -H 'Accept-Encoding: br, gzip' "$1" >"$work/wrk.txt"
  awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r, p50, p99}' "$work/wrk.txt"
}

bench/smtp-sink.py "$work/sink.port" "$work/sink.json" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
sink_port=$(cat "$work/sink.port")
hello="127.0.0.1:$(free_port)"
target/release/examples/hello "$hello" &
pids+=($!)

port=$(free_port)
cat >"$work/upbeat.toml" <<TOML
[server]
public_url = "https://status.example.com"
[page]
title = "Bench status"
[smtp]
host = "127.0.0.1"
port = $sink_port
tls = "none"
from = "Bench <status@example.com>"
[subscribers]
enabled = true
max_per_second = $RATE
TOML
for i in $(seq 20); do
  printf '[[services]]\nslug = "svc-%s"\nname = "Service %s"\ninterval = "1h"\n[services.check]\nkind = "push"\n' "$i" "$i" >>"$work/upbeat.toml"
done
UPBEAT_ADMIN_TOKEN=$TOKEN RUST_LOG=warn target/release/upbeat --config "$work/upbeat.toml" \
  --listen "127.0.0.1:$port" --database "sqlite://$work/upbeat.db" serve 2>>"$work/upbeat.log" &
pid=$!
pids+=("$pid")
base="http://127.0.0.1:$port"
wait_for "$base/health"

# N confirmed addresses, in files under the import's 256 KiB.
python3 - "$work" "$N" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
per = 8000
for part, start in enumerate(range(0, n, per)):
    with open(f"{work}/import-{part:03}.csv", "w") as f:
        f.write("email\n")
        for i in range(start, min(n, start + per)):
            f.write(f"subscriber-{i}@example.com\n")
PY
for file in "$work"/import-*.csv; do
  curl -fsS -X POST "$base/api/v1/subscribers/import" -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: text/csv' --data-binary "@$file" >/dev/null
done
confirmed=$(curl -fsS "$base/api/v1/subscribers/counts" -H "Authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["confirmed"])')
echo "== $confirmed confirmed subscribers, max_per_second = $RATE, $(nproc) cores"

read -r hello_rps hello_p50 hello_p99 < <(load "http://$hello/")
read -r idle_rps idle_p50 idle_p99 < <(load "$base/")
sleep 2
rss_idle=$(rss_kib "$pid")

# The send: an incident about no service goes to every subscriber.
(while kill -0 "$pid" 2>/dev/null; do rss_kib "$pid"; sleep 0.2; done) >"$work/rss.txt" &
sampler=$!
t0=$(date +%s.%N)
curl -fsS -X POST "$base/api/v1/incidents" -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' \
  -d '{"title":"Elevated error rates","body":"We are **investigating** elevated error rates on the API."}' >/dev/null
t_answer=$(date +%s.%N)
sleep 3
read -r send_rps send_p50 send_p99 < <(load "$base/")
while :; do
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$work/sink.json")
  [ "$got" -ge "$confirmed" ] && break
  sleep 0.2
done
t_last=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last"])' "$work/sink.json")
kill "$sampler" 2>/dev/null || true
rss_peak=$(sort -n "$work/rss.txt" | tail -1)
python3 - "$t_answer" "$t_last" "$confirmed" "$t0" <<'PY'
import sys
answer, last, n, t0 = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"send: {n} mails in {last - answer:.1f} s after the API answered ({n / (last - answer):.1f} a second); the answer took {1000 * (answer - t0):.0f} ms")
PY
echo "memory: RSS $((rss_idle / 1024)) MiB idle with $confirmed subscribers, peak $((rss_peak / 1024)) MiB while sending"
echo "/ under wrk (1 thread, 10 connections, 10 s), req/s p50 p99:"
echo "  hello-world ceiling  $hello_rps $hello_p50 $hello_p99"
echo "  before the send      $idle_rps $idle_p50 $idle_p99"
echo "  during the send      $send_rps $send_p50 $send_p99"
sent=$(grep -c 'subscriber delivery given up' "$work/upbeat.log" || true)
echo "deliveries given up: $sent"

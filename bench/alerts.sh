#!/usr/bin/env bash
# Alerts: latency, throughput and the idle cost of the dispatcher, on
# SQLite, against a local webhook receiver (bench/alert-stub.py).
#
# 1. Latency: SERVICES (default 200) services probed every second turn
#    failing at once; for each `service.status_changed` alert, the time
#    from the failing sample (its `occurred_at`, so the writer's 200 ms
#    gathering is included) to the receiver getting it: p50, p99, max.
# 2. Throughput: TESTS (default 3000) test alerts queued through
#    `POST /api/v1/alerts/routes/hook/test` faster than they are sent; the
#    deliveries a second from the first arrival to the last. Beside it the
#    ceiling: the receiver's own rate for the same POSTs from a plain
#    client with as many connections as the dispatcher keeps (16).
# 3. Idle: CPU and RSS over IDLE seconds (default 60) of a server with
#    three services and no route, then the same with a webhook route
#    (nothing to send either way).
# Builds the release first unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SERVICES=${SERVICES:-200}
TESTS=${TESTS:-3000}
IDLE=${IDLE:-60}
TOKEN=bench-admin-token

if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 150); do curl -fs "$1" >/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

bench/alert-stub.py "$work/stub.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/stub.port" ] && break; sleep 0.1; done
stub="127.0.0.1:$(cat "$work/stub.port")"

# $1 file, $2 services, $3 "route" or "", $4 interval
write_config() {
  {
    printf '[defaults]\ninterval = "%s"\ntimeout = "2s"\nfailure_threshold = 1\n\n' "$4"
    for i in $(seq "$2"); do
      printf '[[services]]\nslug = "svc-%s"\nname = "Service %s"\n[services.check]\nkind = "http"\nurl = "http://%s/svc/%s"\n\n' "$i" "$i" "$stub" "$i"
    done
    if [ -n "$3" ]; then
      printf '[[alerts.routes]]\nname = "hook"\nkind = "webhook"\nurl = "http://%s/hook"\nevents = ["service.status_changed"]\ncooldown = "0s"\n' "$stub"
    fi
  } >"$1"
}

# $1 config, $2 database file; prints the pid
start_upbeat() {
  local port
  port=$(free_port)
  UPBEAT_ADMIN_TOKEN=$TOKEN RUST_LOG=warn target/release/upbeat --config "$1" --listen "127.0.0.1:$port" \
    --database "sqlite://$2" serve 2>>"$work/upbeat.log" &
  echo "$! $port"
}

echo "== idle cost over ${IDLE} s (3 services at 10 s, nothing to send)"
for variant in without with; do
  write_config "$work/idle-$variant.toml" 3 "$([ $variant = with ] && echo route)" 10s
  read -r pid port < <(start_upbeat "$work/idle-$variant.toml" "$work/idle-$variant.db")
  pids+=("$pid")
  wait_for "http://127.0.0.1:$port/health"
  sleep 5
  t0=$(ticks "$pid")
  sleep "$IDLE"
  t1=$(ticks "$pid")
  hz=$(getconf CLK_TCK)
  echo "$variant a route: CPU $(python3 -c "print(f'{($t1 - $t0) / $hz:.2f} s = {100 * ($t1 - $t0) / $hz / $IDLE:.2f} % of one core')"), RSS $(rss_mib "$pid") MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

echo "== latency: $SERVICES services fail at once"
write_config "$work/upbeat.toml" "$SERVICES" route 1s
read -r pid port < <(start_upbeat "$work/upbeat.toml" "$work/upbeat.db")
pids+=("$pid")
wait_for "http://127.0.0.1:$port/health"
sleep 5
curl -fs -X POST "http://$stub/flip" >/dev/null
for _ in $(seq 600); do
  n=$(curl -fs "http://$stub/stats" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$n" -ge "$SERVICES" ] && break
  sleep 0.1
done
curl -fs "http://$stub/stats" >"$work/latency.json"
python3 - "$work/latency.json" "$SERVICES" <<'PY'
import json, sys
arrivals = [a for a in json.load(open(sys.argv[1])) if a["event"] == "service.status_changed"]
lat = sorted(a["at"] - a["occurred_at"] for a in arrivals)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
dupes = len(arrivals) - len({a["delivery"] for a in arrivals})
print(f"alerts: {len(arrivals)} of {sys.argv[2]} expected, duplicates: {dupes}")
print(f"sample to receiver: p50 {pick(0.5) * 1000:.0f} ms, p99 {pick(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
PY

echo "== throughput: $TESTS test alerts"
python3 - "$port" "$TOKEN" "$TESTS" "$stub" <<'PY'
import http.client, json, sys, threading, time
port, token, n, stub = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def stats():
    c = http.client.HTTPConnection(stub)
    c.request("GET", "/stats")
    return json.loads(c.getresponse().read())
before = len(stats())
def post(count, host, path, headers, body):
    c = http.client.HTTPConnection(host)
    for _ in range(count):
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse(); r.read()
        assert r.status in (202,), r.status
threads = [threading.Thread(target=post, args=(n // 8, f"127.0.0.1:{port}", "/api/v1/alerts/routes/hook/test",
           {"authorization": f"Bearer {token}", "content-type": "application/json"}, b"{}")) for _ in range(8)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
queued = time.time() - t0
want = before + (n // 8) * 8
while len(stats()) < want and time.time() - t0 < 300:
    time.sleep(0.2)
tests = [a for a in stats()[before:] if a["event"] == "test"]
span = max(a["at"] for a in tests) - min(a["at"] for a in tests)
print(f"queued {len(tests)} in {queued:.1f} s; delivered at {len(tests) / span:.0f} a second ({span:.1f} s first to last)")
# The ceiling: the receiver alone, 16 connections.
body = json.dumps({"event": "test", "occurred_at": "2026-01-01T00:00:00Z"}).encode()
m = 3000
threads = [threading.Thread(target=post, args=(m // 16, stub, "/hook", {"content-type": "application/json"}, body)) for _ in range(16)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
print(f"ceiling (the receiver alone, 16 connections): {(m // 16) * 16 / (time.time() - t0):.0f} a second")
PY
kill "$pid"; wait "$pid" 2>/dev/null || true

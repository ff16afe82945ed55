#!/usr/bin/env bash
# Alerts: latency, throughput and the idle cost of the dispatcher, on
# SQLite, against a local webhook receiver (bench/alert-stub.py).
#
# 1. Latency: SERVICES (default 20) services probed every second turn
#    failing at once; for each `service.status_changed` alert, the time
#    from its delivery being created (the event routed, right after the
#    writer's round committed it) to the receiver getting it, and from the
#    failing sample to the receiver (an upper bound: samples are stored to
#    the second, so this adds up to a second, half on average): p50, p99.
# 2. Throughput: TESTS (default 5000) test alerts queued through
#    `POST /api/v1/alerts/routes/fast/test` (8 clients) to a webhook route
#    whose receiver is the axum hello-world (`examples/hello`); deliveries
#    a second from the first test queued to the last delivered (counted by
#    `upbeat_alerts_fired_total`). Beside it the ceiling: the hello-world's
#    own rate for POSTs from wrk with as many connections as the
#    dispatcher keeps (16).
# 3. Idle: CPU and RSS over IDLE seconds (default 60) of a server with
#    three services and no route, then the same with a webhook route
#    (nothing to send either way).
# Builds the release first unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SERVICES=${SERVICES:-20}
TESTS=${TESTS:-5000}
IDLE=${IDLE:-60}
TOKEN=bench-admin-token

source bench/common.sh
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

hello="127.0.0.1:$(free_port)"
target/release/examples/hello "$hello" &
pids+=($!)
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
      # Takes tests only (no service is called that).
      printf '[[alerts.routes]]\nname = "fast"\nkind = "webhook"\nurl = "http://%s/"\nservices = ["none"]\n' "$hello"
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
python3 - "$work/latency.json" "$SERVICES" "$work/upbeat.db" <<'PY'
import json, sqlite3, sys
arrivals = [a for a in json.load(open(sys.argv[1])) if a["event"] == "service.status_changed"]
db = sqlite3.connect(sys.argv[3])
created = {str(i): ms / 1000 for i, ms in db.execute("SELECT id, created_at FROM alert_deliveries")}
def report(what, values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print(f"{what}: p50 {pick(0.5) * 1000:.0f} ms, p99 {pick(0.99) * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms")
dupes = len(arrivals) - len({a["delivery"] for a in arrivals})
print(f"alerts: {len(arrivals)} of {sys.argv[2]} expected, duplicates: {dupes}")
report("routed to received", [a["at"] - created[a["delivery"]] for a in arrivals])
report("sample second to received (upper bound)", [a["at"] - a["occurred_at"] for a in arrivals])
PY

echo "== throughput: $TESTS test alerts"
python3 - "$port" "$TOKEN" "$TESTS" <<'PY'
import http.client, re, sys, threading, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
series = 'upbeat_alerts_fired_total{route="fast",kind="webhook",event="test"}'
def fired():
    c = http.client.HTTPConnection(f"127.0.0.1:{port}")
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(series):
            return int(float(line.split()[-1]))
    return 0
before = fired()
def post(count):
    c = http.client.HTTPConnection(f"127.0.0.1:{port}")
    for _ in range(count):
        c.request("POST", "/api/v1/alerts/routes/fast/test", body=b"{}",
                  headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 202, r.status
threads = [threading.Thread(target=post, args=(n // 8,)) for _ in range(8)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
queued = time.time() - t0
want = before + (n // 8) * 8
while fired() < want and time.time() - t0 < 300:
    time.sleep(0.05)
total = time.time() - t0
print(f"queued {(n // 8) * 8} in {queued:.1f} s; all delivered {total:.1f} s after the first: {(n // 8) * 8 / total:.0f} a second")
PY
wrk -t2 -c16 -d5s -s <(printf 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n') "http://$hello/" \
  | awk '/Requests\/sec/ {printf "ceiling (hello-world, POST, 16 connections): %.0f a second\n", $2}'
kill "$pid"; wait "$pid" 2>/dev/null || true

#!/usr/bin/env bash
# HTTP throughput: requests/s and latency (p50, p99) of each ROUTE given
# (default: /) at 50 concurrent connections (wrk, 2 threads, DURATION
# seconds each, default 15), next to a plain axum hello-world built with the
# same release profile as the ceiling. The server runs with three services
# probing a local target every second, so pages and badges carry real data
# and the snapshot changes while the benchmark runs.
#
#   bench/http.sh ROUTE...      e.g. bench/http.sh / /public/status
#
# ACCEPT_ENCODING="gzip, deflate, br" sends that header, as browsers do, so
# answers are compressed (the ceiling's answer is too small to be).
#
# UPBEAT_BIN runs another build of the server (default target/release/upbeat),
# to compare two commits in the same conditions.
#
# TRACES=1 runs the server exporting every span over OTLP/HTTP to a local
# receiver (bench/otlp-sink.py) and prints what it got and what was dropped.
#
# SERVER_LOG sets the server's RUST_LOG (default warn, which leaves out the
# access log; info writes a line per request, to a file); with it,
# UPBEAT_LOGGING__ACCESS=errors|off compares `[logging] access`.
#
# Builds first unless SKIP_BUILD=1; installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-50}
ACCEPT_ENCODING=${ACCEPT_ENCODING:-}
headers=()
[ -n "$ACCEPT_ENCODING" ] && headers=(-H "Accept-Encoding: $ACCEPT_ENCODING")

source bench/common.sh

hello_port=$(free_port)
target/release/examples/hello "127.0.0.1:$hello_port" &
pids+=($!)

traces_env=()
if [ "${TRACES:-}" = 1 ]; then
  sink_port=$(free_port)
  python3 bench/otlp-sink.py "$sink_port" &
  pids+=($!)
  traces_env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_TRACES_SAMPLER=always_on)
fi

upbeat_port=$(free_port)
{
  printf '[page]\ntitle = "HTTP bench"\n\n'
  for slug in api web billing; do
    printf '[[services]]\nslug = "%s"\nname = "%s"\ngroup = "Core"\ninterval = "1s"\n[services.check]\nkind = "http"\nurl = "http://127.0.0.1:%s/"\n\n' "$slug" "$slug" "$hello_port"
  done
} >"$work/upbeat.toml"
env "${traces_env[@]}" RUST_LOG="${SERVER_LOG:-warn}" "${UPBEAT_BIN:-target/release/upbeat}" --config "$work/upbeat.toml" --listen "127.0.0.1:$upbeat_port" \
  --database "sqlite://$work/upbeat.db" serve 2>"$work/upbeat.log" &
pids+=($!)
wait_for "http://127.0.0.1:$hello_port/"
wait_for "http://127.0.0.1:$upbeat_port/health"
sleep 3 # a few samples, so that uptime and status are real

# run ID NAME URL: one wrk run; keeps requests/s in $work/ID.rps.
run() {
  local id=$1 name=$2 url=$3
  curl -fs "${headers[@]}" "$url" >/dev/null || { echo "$name: $url does not answer 200" >&2; return 1; }
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${headers[@]}" "$url" >"$work/$id.txt"
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$id.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$id.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$id.txt")
  printf '%-28s %12s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/$id.rps"
}
share() {
  python3 -c "import sys; print(f'{sys.argv[1]}: {100 * float(sys.argv[2]) / float(sys.argv[3]):.0f} % of the ceiling')" \
    "$1" "$(cat "$work/$2.rps")" "$(cat "$work/hello.rps")"
}

echo "wrk: 2 threads, $CONNECTIONS connections, ${DURATION}s each, Accept-Encoding: ${ACCEPT_ENCODING:-none}, traces: $([ "${TRACES:-}" = 1 ] && echo "on, to a local OTLP receiver" || echo off); server log: ${SERVER_LOG:-warn}, access ${UPBEAT_LOGGING__ACCESS:-all}; machine: $(nproc) cores"
run hello "hello-world (ceiling)" "http://127.0.0.1:$hello_port/"
routes=("$@")
[ ${#routes[@]} -eq 0 ] && routes=(/)
i=0
for route in "${routes[@]}"; do
  i=$((i + 1))
  run "r$i" "$route" "http://127.0.0.1:$upbeat_port$route"
done
i=0
for route in "${routes[@]}"; do
  i=$((i + 1))
  share "$route" "r$i"
done
if [ "${TRACES:-}" = 1 ]; then
  sleep 2 # the last batch
  echo "OTLP receiver: $(curl -fs "http://127.0.0.1:$sink_port/stats"); $(curl -fs "http://127.0.0.1:$upbeat_port/metrics" | grep '^upbeat_traces_dropped_total')"
fi

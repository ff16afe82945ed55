#!/usr/bin/env bash
# Resident memory of the release server with the example config
# (upbeat.toml, SQLite): idle, peak during a burst of BURST connections
# (default 1,000) on the home page for BURST_SECONDS (default 10) with a
# browser's Accept-Encoding, and settled, sampled every 5 s for 30 s after.
# Goals (issue 20): idle at most 19 MiB; 30 s after the burst within 10 %
# of idle. Also prints where idle memory sits (/proc/PID/smaps_rollup) and
# the thread count, and bench/rss-map.py's account of it (TOP_CRATES=15).
#
#   bench/memory.sh              (SKIP_BUILD=1 to reuse the release build)
#
# UPBEAT_BIN runs another build (default target/release/upbeat); extra
# environment (MALLOC_ARENA_MAX=2, TOKIO_WORKER_THREADS=1, ...) passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
BURST=${BURST:-1000}
BURST_SECONDS=${BURST_SECONDS:-10}
IDLE_SECONDS=${IDLE_SECONDS:-15}
source bench/common.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=$(free_port)
# The example config, on a free port and a scratch database.
sed -e "s#^listen = .*#listen = \"127.0.0.1:$port\"#" -e "s#^url = \"sqlite://upbeat.db\"#url = \"sqlite://$work/upbeat.db\"#" \
  upbeat.toml >"$work/upbeat.toml"
RUST_LOG=warn "${UPBEAT_BIN:-target/release/upbeat}" --config "$work/upbeat.toml" --listen "127.0.0.1:$port" serve \
  2>"$work/upbeat.log" &
pid=$!
pids+=("$pid")
wait_for "http://127.0.0.1:$port/health"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
mib() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1024:.1f}')" "$1"; }

# A few rounds of probes, renders and a scrape, then quiet.
for path in / /public/status /api/v2/summary.json /badge.svg /metrics; do
  curl -fs -H 'Accept-Encoding: br, gzip' "http://127.0.0.1:$port$path" >/dev/null
done
sleep "$IDLE_SECONDS"
idle=$(rss)
echo "machine: $(nproc) cores; threads: $(awk '/^Threads/ {print $2}' "/proc/$pid/status")"
echo "idle (after ${IDLE_SECONDS}s):  $(mib "$idle") MiB"
awk '/^(Rss|Anonymous|Pss_File|Pss_Anon)/ {printf "  %-12s %8.1f MiB\n", $1, $2 / 1024}' "/proc/$pid/smaps_rollup"
# By mapping, by section of the binary, and the crates of its resident code.
if [ -r "/proc/$pid/pagemap" ] && command -v nm >/dev/null; then
  python3 bench/rss-map.py "$pid" "${TOP_CRATES:-15}" | sed 's/^/  /'
fi

peak=$idle
wrk -t2 -c"$BURST" -d"${BURST_SECONDS}s" -H 'Accept-Encoding: br, gzip' "http://127.0.0.1:$port/" >"$work/wrk.txt" &
wrk_pid=$!
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(rss)
  [ "$now" -gt "$peak" ] && peak=$now
  sleep 0.5
done
wait "$wrk_pid"
echo "burst: $BURST connections, ${BURST_SECONDS}s on /: $(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt") req/s, $(grep -c 'Socket errors' "$work/wrk.txt" || true) socket-error lines"
echo "peak:  $(mib "$peak") MiB (VmHWM $(mib "$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")") MiB)"
settled=$(rss)
for t in 5 10 15 20 25 30; do
  sleep 5
  settled=$(rss)
  echo "  +${t}s: $(mib "$settled") MiB"
done
python3 - "$idle" "$settled" <<'PY'
import sys
idle, settled = int(sys.argv[1]), int(sys.argv[2])
print(f"settled (30 s after): {settled / 1024:.1f} MiB = {100 * settled / idle:.0f} % of idle")
print(f"goal idle <= 19 MiB: {'met' if idle <= 19 * 1024 else 'NOT met'}; "
      f"goal settled <= 110 % of idle: {'met' if settled <= 1.1 * idle else 'NOT met'}")
PY

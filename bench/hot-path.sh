#!/usr/bin/env bash
# The cached answers against the hello-world ceiling, before and after: one
# run, one machine, the same conditions for each build. wrk with 1 thread
# and 50 connections, DURATION seconds a route (default 10), 20 services
# probing a local target every second (so snapshots change under load):
#
#   /                      with a browser's Accept-Encoding (br, gzip)
#   /public/status         the same
#   /badge/{slug}.svg      no compression asked
#   /api/v2/summary.json   no compression asked
#
# Goals (ratios to the ceiling): / and /public/status ≥ 50 %, the badge
# ≥ 50 %, summary.json ≥ 40 %, p99 under 2 ms for all.
#
# BEFORE is the commit measured as "before" (default 067065d, the last one
# before the hot-path work); it is built once in a worktree under
# target/bench and kept there (BEFORE_BIN uses a binary instead). "After" is
# target/release/upbeat (built unless SKIP_BUILD=1). The ceiling is measured
# before and after both servers, and each share is of the mean of the two.
#
# Beside them, for each route, the hello-world sending exactly the bytes and
# headers "after" answered with ("same bytes"): what answering with those
# bytes costs on this machine at all, whatever the server does to pick
# them. Its p99 is the floor for the route's p99 here.
#
# SERVICES (default 20) sets the number of services, in groups of 5.
#
# PIN (default 1 on two or more cores) runs wrk on CPU 0 and every server
# (the ceiling, the probe target, both builds) on the other CPUs, as a load
# generator on another machine would leave them; each server sizes its
# runtime to the CPUs it is given (one worker on a 2-core machine). PIN=0
# lets them share every CPU, as the first runs of this script did: then
# wrk takes one core and the server's workers time-share the other, and
# their turns show in the p99 of the ceiling and the server alike.
#
#   SKIP_BUILD=1 bench/hot-path.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/env.sh
DURATION=${DURATION:-10}
INTERVAL=${INTERVAL:-1s}
SERVICES=${SERVICES:-20}
BEFORE=${BEFORE:-067065d}
source bench/common.sh
cpus=$(nproc)
load=() on=()
if [ "${PIN:-1}" = 1 ] && [ "$cpus" -ge 2 ]; then
  load=(taskset -c 0) on=(taskset -c "1-$((cpus - 1))")
fi

after_bin=target/release/upbeat
before_bin=${BEFORE_BIN:-}
if [ -z "$before_bin" ]; then
  rev=$(git rev-parse --short "$BEFORE")
  before_bin=target/bench/upbeat-$rev
  if [ ! -x "$before_bin" ]; then
    # The release build of that commit in a worktree, sharing target/ (the
    # dependencies are the same); target/release/upbeat is put back after.
    mkdir -p target/bench
    cp "$after_bin" target/bench/upbeat-after
    tree=target/bench/tree-$rev
    [ -d "$tree" ] || git worktree add --detach "$tree" "$rev" >/dev/null
    (cd "$tree" && CARGO_TARGET_DIR=$root/target cargo build --release -p upbeat-server --bin upbeat >/dev/null)
    cp "$after_bin" "$before_bin"
    cp target/bench/upbeat-after "$after_bin"
    git worktree remove --force "$tree"
  fi
fi

hello_port=$(free_port)
${on[@]+"${on[@]}"} target/release/examples/hello "127.0.0.1:$hello_port" &
pids+=($!)
wait_for "http://127.0.0.1:$hello_port/"
{
  printf '[page]\ntitle = "Hot path"\n\n'
  for i in $(seq "$SERVICES"); do
    printf '[[services]]\nslug = "service-%s"\nname = "Service %s"\ngroup = "Group %s"\ninterval = "%s"\n[services.check]\nkind = "http"\nurl = "http://127.0.0.1:%s/"\n\n' \
      "$i" "$i" $(((i - 1) / 5)) "$INTERVAL" "$hello_port"
  done
} >"$work/upbeat.toml"

# serve NAME BIN: starts BIN on its own database; sets $port and $server.
serve() {
  port=$(free_port)
  UPBEAT_SERVER__SITE_ROOT=target/site RUST_LOG=warn ${on[@]+"${on[@]}"} "$2" --config "$work/upbeat.toml" \
    --listen "127.0.0.1:$port" --database "sqlite://$work/$1.db" serve 2>"$work/$1.log" &
  server=$!
  pids+=("$server")
  wait_for "http://127.0.0.1:$port/health"
  sleep 3 # a few samples, so that uptime and status are real
}

# measure ID URL [HEADER]: one wrk run; writes "rps p99" to $work/ID.
measure() {
  local headers=()
  [ -n "${3:-}" ] && headers=(-H "$3")
  # The answer is kept ($work/ID.headers, $work/ID.body) for the same-bytes run.
  curl -fs "${headers[@]}" -D "$work/$1.headers" -o "$work/$1.body" "$2" || { echo "$2 does not answer 200" >&2; return 1; }
  ${load[@]+"${load[@]}"} wrk -t1 -c50 -d"${DURATION}s" --latency "${headers[@]}" "$2" >"$work/$1.txt"
  echo "$(awk '/^Requests\/sec/ {print $2}' "$work/$1.txt") $(awk '$1 == "99%" {print $2}' "$work/$1.txt")" >"$work/$1"
}

routes=("/" "/public/status" "/badge/service-1.svg" "/api/v2/summary.json")
encodings=("Accept-Encoding: br, gzip" "Accept-Encoding: br, gzip" "" "")

measure hello1 "http://127.0.0.1:$hello_port/"
for build in before after; do
  bin=$before_bin
  [ "$build" = after ] && bin=$after_bin
  serve "$build" "$bin"
  for i in "${!routes[@]}"; do
    measure "$build-$i" "http://127.0.0.1:$port${routes[$i]}" "${encodings[$i]}"
  done
  kill "$server"
  wait "$server" 2>/dev/null || true
done
for i in "${!routes[@]}"; do
  same_port=$(free_port)
  ${on[@]+"${on[@]}"} target/release/examples/hello "127.0.0.1:$same_port" "$work/after-$i.body" "$work/after-$i.headers" &
  same=$!
  pids+=("$same")
  wait_for "http://127.0.0.1:$same_port/"
  measure "same-$i" "http://127.0.0.1:$same_port${routes[$i]}" "${encodings[$i]}"
  kill "$same"
  wait "$same" 2>/dev/null || true
done
measure hello2 "http://127.0.0.1:$hello_port/"

pinning="shared CPUs"
[ ${#load[@]} -gt 0 ] && pinning="wrk on CPU 0, servers on CPUs 1-$((cpus - 1))"
python3 - "$work" "$pinning" "${routes[@]}" <<'PY'
import sys
work, pinning, routes = sys.argv[1], sys.argv[2], sys.argv[3:]
read = lambda name: open(f"{work}/{name}").read().split()
(h1, h1_p99), (h2, h2_p99) = read("hello1"), read("hello2")
h1, h2 = float(h1), float(h2)
ceiling = (h1 + h2) / 2
goals = {"/": 50, "/public/status": 50, "/badge/service-1.svg": 50, "/api/v2/summary.json": 40}
print(f"hello-world ceiling: {h1:,.0f} and {h2:,.0f} req/s (mean {ceiling:,.0f}), p99 {h1_p99} and {h2_p99}; wrk -t1 -c50; {pinning}")
print(f"{'route':<24} {'before req/s':>13} {'share':>6} {'p99':>8} {'after req/s':>12} {'share':>6} {'p99':>8} {'goal':>6}"
      f" {'same bytes':>11} {'p99':>8} {'after/same':>10}")
for i, route in enumerate(routes):
    b_rps, b_p99 = read(f"before-{i}")
    a_rps, a_p99 = read(f"after-{i}")
    s_rps, s_p99 = read(f"same-{i}")
    b, a, s = float(b_rps), float(a_rps), float(s_rps)
    print(f"{route:<24} {b:>13,.0f} {100 * b / ceiling:>5.0f}% {b_p99:>8} {a:>12,.0f} {100 * a / ceiling:>5.0f}% {a_p99:>8} {goals[route]:>5}%"
          f" {s:>11,.0f} {s_p99:>8} {100 * a / s:>9.0f}%")
PY

# Sourced by the HTTP benchmarks (http.sh, alerts.sh, profile.sh), from the
# repository root: wrk, the release build (unless SKIP_BUILD=1) with the
# hello-world ceiling, a scratch directory $work, and processes in $pids
# stopped on exit.
# shellcheck shell=bash
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
  cargo build --release -p upbeat-server --example hello >/dev/null
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

#!/usr/bin/env bash
# Measures the foundation's footprint from a release build:
#   - front-end bundle sizes (raw and gzip -9) of target/site/pkg
#   - RSS of the idle release server serving upbeat.toml, after IDLE_SECONDS
#     (default 70: one full 60-second probe round plus start-up)
# Builds the release first unless SKIP_BUILD=1. Needs 127.0.0.1:3000 free,
# because the example config probes that port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
IDLE_SECONDS=${IDLE_SECONDS:-70}

if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh >/dev/null
fi

echo "== front-end bundle (target/site/pkg)"
python3 - <<'PY'
import gzip, pathlib
total_raw = total_gz = 0
for f in sorted(pathlib.Path("target/site/pkg").iterdir()):
    if f.suffix not in (".wasm", ".js", ".css"):
        continue
    raw = f.read_bytes()
    gz = len(gzip.compress(raw, 9))
    total_raw += len(raw); total_gz += gz
    print(f"{f.name:<16} raw {len(raw)/1024:8.1f} KiB   gzip {gz/1024:7.1f} KiB")
print(f"{'total':<16} raw {total_raw/1024:8.1f} KiB   gzip {total_gz/1024:7.1f} KiB")
PY

echo "== idle server RSS"
db_dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$db_dir"' EXIT
target/release/upbeat --config upbeat.toml --database "sqlite://$db_dir/upbeat.db" serve 2>"$db_dir/log" &
pid=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:3000/health >/dev/null && break; sleep 0.2; done
html_bytes=$(curl -fs http://127.0.0.1:3000/ | wc -c)
sleep "$IDLE_SECONDS"
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
services=$(curl -fs http://127.0.0.1:3000/public/status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(s["slug"] + "=" + str(s["status"]) for s in d["services"]))')
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
pid=
echo "after ${IDLE_SECONDS}s idle: RSS $((rss_kib / 1024)) MiB (peak $((hwm_kib / 1024)) MiB)"
echo "page HTML: $html_bytes bytes; services: $services"
echo "exit status after SIGTERM: $status"

#!/usr/bin/env bash
# Regenerates server/link/hot-text.ld, the linker script that places the
# code the server runs when it starts and serves (the "hot text") together
# at the front of .text. Why: at idle most resident memory is the binary's
# code, and the kernel maps it in windows around each page it faults in, so
# a function run once at start-up drags in its neighbours; with the code
# that runs packed together, the neighbours are code that runs too
# (README → Operations → Memory; bench/memory.sh measures the effect).
#
#   bench/hot-text.sh          (SKIP_BUILD=1 to reuse the release builds)
#
# It runs the release server under valgrind's callgrind with the example
# config, asks for every public route a visitor, a badge, a feed reader or
# a scraper uses, waits for a round of probes, stops the server, and keeps
# the name of every function of the binary that ran. Each becomes a section
# pattern, without the symbol's build hash where the name alone is unique
# (`.text._ZN…17h*`), so most of the script survives dependency bumps; a
# pattern that no longer matches is ignored, and a function that is new is
# placed where it would have been anyway. scripts/check-hot-text.py (run by
# scripts/test.sh) fails when under 80 % of the patterns still match.
# Rerun it after a change to what start-up or the hot path calls.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v valgrind >/dev/null || {
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq valgrind >/dev/null; else sudo apt-get install -y -qq valgrind >/dev/null; fi
}
out=server/link/hot-text.ld
work=$(mktemp -d)
# valgrind reads the symbols of `.text` only, so the run is of a binary
# linked without the script (UPBEAT_HOT_TEXT=0, server/build.rs); the
# layout binary, linked with it, tells which functions are cold.
layout=${LAYOUT_BIN:-target/release/upbeat}
if [ "${SKIP_BUILD:-}" != 1 ]; then
  UPBEAT_HOT_TEXT=0 scripts/build.sh >/dev/null
  cp target/release/upbeat "$work/upbeat-plain"
  scripts/build.sh >/dev/null
fi
# With SKIP_BUILD=1, UPBEAT_BIN names a build linked without the script
# (required) and LAYOUT_BIN one linked with it.
bin=${UPBEAT_BIN:-$work/upbeat-plain}
[ -x "$bin" ] || { echo "error: no binary linked without the script: set UPBEAT_BIN, or drop SKIP_BUILD" >&2; exit 1; }
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#^listen = .*#listen = \"127.0.0.1:$port\"#" -e "s#^url = \"sqlite://upbeat.db\"#url = \"sqlite://$work/upbeat.db\"#" \
  upbeat.toml >"$work/upbeat.toml"

RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  --dump-instr=no --compress-strings=no --compress-pos=no --demangle=no \
  "$bin" --config "$work/upbeat.toml" --listen "127.0.0.1:$port" serve >"$work/upbeat.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 600); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done
curl -fs "$base/health" >/dev/null || { cat "$work/upbeat.log" >&2; exit 1; }

# Every public route, with and without compression, a few times each.
paths=(/ /public/status /api/v2/summary.json /api/v2/status.json /api/v2/components.json
  /api/v2/incidents.json /api/v2/scheduled-maintenances.json /badge.svg /badge/web.svg
  /services/web /history /embed /feed.atom /feed.rss /metrics /health /ready /no-such-page
  /static/no-such-file)
for round in 1 2 3; do
  for path in "${paths[@]}"; do
    curl -s -o /dev/null -H 'Accept-Encoding: br, gzip' "$base$path" || true
    curl -s -o /dev/null -H 'Accept-Encoding: gzip' "$base$path" || true
    curl -s -o /dev/null "$base$path" || true
  done
  [ "$round" = 3 ] || sleep "${ROUND_SECONDS:-40}"
done
kill -TERM "$pid"
wait "$pid" || true
pid=

python3 - "$work/callgrind.out" "$bin" "$out" "$layout" <<'PY'
import collections, os, re, subprocess, sys
profile, binary, out, layout = sys.argv[1:]
ran, obj = set(), None
for line in open(profile, encoding="utf-8", errors="replace"):
    if line.startswith("ob="):
        obj = line[3:].strip()
    elif line.startswith("fn=") and obj and os.path.realpath(obj) == os.path.realpath(binary):
        ran.add(line[3:].strip())
# A Rust symbol of the legacy mangling ends in a hash of its crate's build
# (and of its generic arguments); a new dependency or compiler changes it.
# Where the name without the hash is unique in the binary the pattern leaves
# the hash out, so it survives those changes; a generic function has one
# symbol per instance under one name, and only the instances that ran are
# wanted, so those keep it. std's symbols (v0 mangling) and C functions are
# named exactly.
hashed = re.compile(r"^(_ZN.*17h)[0-9a-f]{16}E$")
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
symbols = [l.split(" ", 2) for l in nm.splitlines() if l.count(" ") >= 2]
instances = collections.Counter(m[1] for m in (hashed.match(n) for _, _, n in symbols) if m)
# Functions the compiler marks cold sit in `.text.unlikely.NAME` sections,
# grouped at the end (`-z keep-text-section-prefix`); those of them that
# ran are named with that prefix, so the cold group is not touched at all.
# The layout binary's cold group lacks those the script already places, so
# the script being replaced tells about those.
previous = open(out).read() if os.path.exists(out) else ""
unlikely = set(re.findall(r"\*\(\.text\.unlikely\.(\S+)\)", previous))
sections = subprocess.run(["readelf", "-SW", layout], capture_output=True, text=True, check=True).stdout
group = re.search(r"\.text\.unlikely\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
if group:
    start, size = int(group[1], 16), int(group[2], 16)
    nm = subprocess.run(["nm", "--defined-only", layout], capture_output=True, text=True, check=True).stdout
    unlikely |= {l.split(" ", 2)[2] for l in nm.splitlines()
                 if l.count(" ") >= 2 and start <= int(l.split(" ", 1)[0], 16) < start + size}
patterns = set()
for name in ran:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", name):
        continue  # not a section name a linker script can spell
    m = hashed.match(name)
    if len(name) > 300:
        # Drops of deeply nested futures are named in thousands of
        # characters; their first 300 tell them apart well enough.
        pattern = f"{name[:300]}*"
    elif m and instances[m[1]] == 1:
        pattern = f"{m[1]}*"
    else:
        pattern = name
    patterns.add(f".text.{pattern}")
    if name in unlikely or pattern in unlikely:
        patterns.add(f".text.unlikely.{pattern}")
with open(out, "w") as f:
    f.write("/* Generated by bench/hot-text.sh from a callgrind run of the server with\n"
            "   the example config; do not edit. server/build.rs passes it to the linker. */\n"
            "SECTIONS\n{\n  .text.hot : {\n")
    for p in sorted(patterns):
        f.write(f"    *({p})\n")
    f.write("  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}: {len(patterns)} patterns from {len(ran)} functions that ran")
PY

#!/usr/bin/env bash
# Regenerates server/link/hot-text.ld, the linker script that places the
# code the server runs when it starts and serves (the "hot text") together
# at the front of .text. Why: at idle most resident memory is the binary's
# code, and the kernel maps it in windows around each page it faults in, so
# a function run once at start-up drags in its neighbours; with the code
# that runs packed together, the neighbours are code that runs too
# (README → Operations → Memory; bench/memory.sh measures the effect).
#
#   bench/hot-text.sh          (SKIP_BUILD=1 to reuse the release build)
#
# It runs the release server under valgrind's callgrind with the example
# config, asks for every public route a visitor, a badge, a feed reader or
# a scraper uses, waits for a round of probes, sends a burst of 1,000
# connections (as bench/memory.sh does), stops the server, and keeps
# the name of every function of the binary that ran. Each becomes a section
# pattern, without the symbol's build hash where the name alone is unique
# (`.text._ZN…17h*`), so most of the script survives dependency bumps; a
# pattern that no longer matches is ignored, and a function that is new is
# placed where it would have been anyway. scripts/check-hot-text.py (run by
# scripts/test.sh) fails when under 90 % of the patterns still match.
# Rerun it after a change to the code start-up or the hot path runs: a
# closure added or a type changed renames instances the script names, and
# each function left out maps its neighbours again (README → Memory).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
for tool in valgrind wrk; do
  command -v "$tool" >/dev/null || {
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$tool" >/dev/null; else sudo apt-get install -y -qq "$tool" >/dev/null; fi
  }
done
out=server/link/hot-text.ld
work=$(mktemp -d)
# The run is of the release binary as it ships, linked with the current
# script. valgrind names only the functions it finds in `.text`; the ones
# the script placed in `.text.hot` it lists by instruction address, so the
# names come from `nm` here.
[ "${SKIP_BUILD:-}" = 1 ] || scripts/build.sh >/dev/null
bin=${UPBEAT_BIN:-target/release/upbeat}
[ -x "$bin" ] || { echo "error: $bin is not built: drop SKIP_BUILD or set UPBEAT_BIN" >&2; exit 1; }
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
  --dump-instr=yes --compress-strings=no --compress-pos=no --demangle=no \
  "$bin" --config "$work/upbeat.toml" --listen "127.0.0.1:$port" serve >"$work/upbeat.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 600); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done
curl -fs "$base/health" >/dev/null || { cat "$work/upbeat.log" >&2; exit 1; }
# Where the binary is loaded in the run, to turn addresses into offsets.
load=$(awk -v bin="$(realpath "$bin")" '$6 == bin && $3 == "00000000" {split($1, a, "-"); print a[1]; exit}' "/proc/$pid/maps")
[ -n "$load" ] || { echo "error: cannot find $bin in the maps of process $pid" >&2; exit 1; }

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
# A burst like bench/memory.sh's: many connections at once run code a
# quiet server does not (accept under backlog, writes that would block).
# Left out, it maps its neighbours when a burst comes and stays mapped.
wrk -t1 -c1000 -d5s -H 'Accept-Encoding: br, gzip' "$base/" >/dev/null 2>&1 || true
sleep 2
kill -TERM "$pid"
wait "$pid" || true
pid=

python3 - "$work/callgrind.out" "$bin" "$out" "$load" <<'PY'
import bisect, collections, os, re, subprocess, sys
profile, binary, out, load = sys.argv[1:]
load = int(load, 16)
# Instruction addresses that ran, in the binary: valgrind gives those of
# functions it names relative to the binary, and the others (in
# `.text.hot`, under `ob=???`) as loaded.
ran_at, offset = set(), None
for line in open(profile, encoding="utf-8", errors="replace"):
    if line.startswith("ob="):
        obj = line[3:].strip()
        offset = load if obj == "???" else 0 if os.path.realpath(obj) == os.path.realpath(binary) else None
    elif line.startswith("0x") and offset is not None:
        ran_at.add(int(line.split(" ", 1)[0], 16) - offset)
nm = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
functions = collections.defaultdict(list)  # start -> (size, names); aliases share a start
for line in nm.splitlines():
    parts = line.split(" ")
    if len(parts) == 4 and parts[2] in "tTwW":
        start, size = int(parts[0], 16), int(parts[1], 16)
        functions[start].append((size, parts[3]))
starts = sorted(functions)
ran = set()
for address in ran_at:
    i = bisect.bisect_right(starts, address) - 1
    if i >= 0 and any(address < starts[i] + size for size, _ in functions[starts[i]]):
        ran.update(name for _, name in functions[starts[i]])
# ThinLTO renames a local function it shares between modules with a
# `.llvm.NUMBER` suffix that changes whenever its module does; the patterns
# leave it out.
suffix = re.compile(r"\.llvm\.\d+$")
names = {suffix.sub("", n) for starts_at in functions.values() for _, n in starts_at}
ran = {suffix.sub("", n) for n in ran}
# A Rust symbol of the legacy mangling ends in a hash of its crate's build
# (and of its generic arguments); a new dependency or compiler changes it.
# Where the name without the hash is unique in the binary the pattern leaves
# the hash out, so it survives those changes; a generic function has one
# symbol per instance under one name, and only the instances that ran are
# wanted, so those keep it. std's symbols (v0 mangling) are named whole, C
# functions exactly. Rust names end in `*` for the ThinLTO suffix.
hashed = re.compile(r"^(_ZN.*17h)[0-9a-f]{16}E$")
instances = collections.Counter(m[1] for m in (hashed.match(n) for n in names) if m)
# Functions the compiler marks cold sit in `.text.unlikely.NAME` sections,
# grouped at the end (`-z keep-text-section-prefix`); those of them that
# ran are named with that prefix, so the cold group is not touched at all.
# Those the script already places are in `.text.hot`, so the script being
# replaced tells about them; the others are in the binary's cold group.
previous = open(out).read() if os.path.exists(out) else ""
unlikely = set(re.findall(r"\*\(\.text\.unlikely\.(\S+)\)", previous))
sections = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
group = re.search(r"\.text\.unlikely\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
if group:
    first, size = int(group[1], 16), int(group[2], 16)
    unlikely |= {suffix.sub("", n) for start in starts if first <= start < first + size
                 for _, n in functions[start]}
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
    elif name.startswith(("_ZN", "_R")):
        pattern = f"{name}*"
    else:
        pattern = name
    patterns.add(f".text.{pattern}")
    if name in unlikely or pattern in unlikely:
        patterns.add(f".text.unlikely.{pattern}")
# Code the run cannot see: what the CPU valgrind emulates lacks (the SHA
# and AVX-512 paths), and what only two real cores contending reach (a
# lock's slow path, thread-locals of threads started then). Found with
# `perf record -e page-faults -d` on the idle server (README → Memory).
patterns |= {
    ".text._ZN4sha26sha2563x8613digest_blocks17h*",
    ".text._ZN9crc32fast11specialized9pclmulqdq*",
    ".text._rjem_je_malloc_mutex_lock_slow",
    ".text.unlikely._ZN3std3sys12thread_local6native4lazy20Storage$LT$T$C$D$GT$16get_or_init_slow17h*",
}
with open(out, "w") as f:
    f.write("/* Generated by bench/hot-text.sh from a callgrind run of the server with\n"
            "   the example config; do not edit. server/build.rs passes it to the linker. */\n"
            "SECTIONS\n{\n  .text.hot : {\n")
    for p in sorted(patterns):
        f.write(f"    *({p})\n")
    f.write("  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}: {len(patterns)} patterns from {len(ran)} functions that ran")
PY

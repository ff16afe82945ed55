#!/usr/bin/env python3
"""Whether server/link/hot-text.ld still fits the release binary.

    scripts/check-hot-text.py [BINARY] [SCRIPT]

The linker script (written by bench/hot-text.sh) names the functions the
server runs at start-up and when serving, so that they are placed together
at the front of `.text` (README → Operations → Memory). Its patterns carry
no build hash where a name is unique, but a generic function's instances are
named exactly, and a new dependency or compiler renames them: the script
then places less and idle memory creeps back up. This counts the patterns
that still name a function of BINARY (default target/release/upbeat) and
fails when fewer than MIN_SHARE (default 0.9) do, saying what to rerun.
scripts/test.sh runs it after the release build.
"""
import bisect
import os
import re
import subprocess
import sys

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/upbeat"
script = sys.argv[2] if len(sys.argv) > 2 else "server/link/hot-text.ld"
min_share = float(os.environ.get("MIN_SHARE", "0.9"))

patterns = re.findall(r"^\s*\*\((\S+)\)\s*$", open(script).read(), re.M)
nm = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
names = set()
for line in nm.splitlines():
    parts = line.split(" ")
    if len(parts) == 4 and parts[2] in "tTwW":
        names.add(parts[3])
# A pattern is `.text.NAME`, `.text.unlikely.NAME`, or either ending in `*`.
exact, prefixes = set(), []
for p in patterns:
    name = re.sub(r"^\.text\.(unlikely\.)?", "", p)
    if name.endswith("*"):
        prefixes.append(name[:-1])
    else:
        exact.add(name)
sorted_names = sorted(names)
matched = sum(1 for n in exact if n in names)
for prefix in prefixes:
    i = bisect.bisect_left(sorted_names, prefix)
    matched += i < len(sorted_names) and sorted_names[i].startswith(prefix)

sections = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
hot = re.search(r"\.text\.hot\s+PROGBITS\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
hot_mib = int(hot[1], 16) / 2**20 if hot else 0.0
share = matched / max(len(patterns), 1)
print(f"hot text: {matched} of {len(patterns)} patterns name a function of {binary} "
      f"({share:.0%}); .text.hot holds {hot_mib:.1f} MiB")
if share < min_share or not hot:
    print(f"error: {script} no longer fits the release build (under {min_share:.0%} of its patterns match"
          f"{'' if hot else ', and the binary has no .text.hot section'}); rerun bench/hot-text.sh "
          "and commit the new script", file=sys.stderr)
    sys.exit(1)

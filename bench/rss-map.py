#!/usr/bin/env python3
"""Where a running process's resident memory sits.

    bench/rss-map.py PID [TOP]

Prints the resident and anonymous KiB of every mapping (grouped by file and
permissions), then, for the process's own executable, which of its pages
are resident: by ELF section and by the crate of the symbols on them (from
`nm -C`, each page shared among the symbols it holds). bench/memory.sh
calls it for the idle server. Needs root for /proc/PID/pagemap of another
user's process.
"""
import bisect
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def mappings(pid):
    """(start, end, perms, offset, path, rss_kib, anon_kib) of each mapping."""
    out, current = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$", line)
            if head:
                current = [int(head[1], 16), int(head[2], 16), head[3], int(head[4], 16),
                           head[5].strip() or "[anonymous]", 0, 0]
                out.append(current)
            elif line.startswith("Rss:"):
                current[5] = int(line.split()[1])
            elif line.startswith("Anonymous:"):
                current[6] = int(line.split()[1])
    return out


def resident_pages(pid, start, end):
    """Addresses of the resident pages in [start, end)."""
    n = (end - start) // PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read(n * 8)
    return [start + i * PAGE for i, (entry,) in enumerate(struct.iter_unpack("<Q", data))
            if entry >> 63 & 1]


def elf_loads(binary):
    """(p_offset, p_vaddr, p_filesz) of each LOAD segment."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    loads = []
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD":
            loads.append((int(parts[1], 16), int(parts[2], 16), int(parts[4], 16)))
    return loads


def elf_sections(binary):
    """(addr, size, name) of each allocated section."""
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    sections = []
    for line in out.splitlines():
        m = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*A\S*)", line)
        if m and int(m[2], 16):
            sections.append((int(m[2], 16), int(m[3], 16), m[1]))
    return sorted(sections)


def crate_of(name):
    """The crate a demangled symbol belongs to (its first path segment)."""
    name = name.lstrip("<&*( ")
    name = re.sub(r"^(dyn |mut |const |impl )+", "", name)
    if "::" not in name:
        return "[" + name.split(".")[0][:20] + "]"
    return name.split("::", 1)[0].split("<", 1)[0] or "?"


def symbols(binary):
    """Sorted (addr, size, crate) of the defined symbols with a size."""
    out = subprocess.run(["nm", "-C", "-S", "--defined-only", binary],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2].lower() in "trdbv":
            syms.append((int(parts[0], 16), int(parts[1], 16), crate_of(parts[3])))
    syms.sort()
    return syms


def main():
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    maps = mappings(pid)
    exe = os.readlink(f"/proc/{pid}/exe")

    by_file = collections.defaultdict(lambda: [0, 0])
    for _, _, perms, _, path, rss, anon in maps:
        key = (os.path.basename(path) if path.startswith("/") else path, perms)
        by_file[key][0] += rss
        by_file[key][1] += anon
    print(f"{'mapping':<40} {'perms':<5} {'rss KiB':>9} {'anon KiB':>9}")
    for (path, perms), (rss, anon) in sorted(by_file.items(), key=lambda kv: -kv[1][0]):
        if rss:
            print(f"{path[:40]:<40} {perms:<5} {rss:>9} {anon:>9}")

    loads = elf_loads(exe)
    sections = elf_sections(exe)
    section_starts = [s[0] for s in sections]
    syms = symbols(exe)
    sym_starts = [s[0] for s in syms]
    per_section = collections.Counter()
    per_crate = collections.Counter()
    for start, end, perms, offset, path, rss, anon in maps:
        if path != exe or not rss:
            continue
        for addr in resident_pages(pid, start, end):
            file_off = addr - start + offset
            seg = next((l for l in loads if l[0] <= file_off < l[0] + max(l[2], 1)), None)
            if seg is None:
                continue
            vaddr = file_off - seg[0] + seg[1]
            i = bisect.bisect_right(section_starts, vaddr) - 1
            name = sections[i][2] if i >= 0 and vaddr < sections[i][0] + sections[i][1] + PAGE else "?"
            per_section[f"{name} ({perms})"] += PAGE
            if "x" not in perms:
                continue
            # Share the page among the symbols on it.
            j = max(bisect.bisect_right(sym_starts, vaddr) - 1, 0)
            covered = 0
            while j < len(syms) and syms[j][0] < vaddr + PAGE:
                s, size, crate = syms[j]
                overlap = min(s + size, vaddr + PAGE) - max(s, vaddr)
                if overlap > 0:
                    per_crate[crate] += overlap
                    covered += overlap
                j += 1
            if covered < PAGE:
                per_crate["[between symbols]"] += PAGE - covered
    print(f"\n{exe}: resident by section")
    for name, size in per_section.most_common():
        print(f"  {name:<34} {size / 1024:>9.0f} KiB")
    print(f"\nresident code by crate (top {top})")
    for crate, size in per_crate.most_common(top):
        print(f"  {crate:<34} {size / 1024:>9.0f} KiB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prints the `crate::` import graph between the server's top-level modules
and checks it against the layers of ARCHITECTURE.md: every arrow must point
to a lower layer, so there is no cycle. Exits 1 and names each arrow that
points up or sideways.

    scripts/layers.py            # graph and check
    scripts/layers.py --dot      # the graph in Graphviz dot
"""
import pathlib
import re
import sys
from collections import defaultdict

# Lowest first. A module may use modules of lower layers only.
LAYERS = [
    ["clock", "token", "metrics", "trace", "password"],
    ["domain"],
    ["config"],
    ["store"],
    ["probe"],
    ["engine"],
    ["api"],
    ["startup", "telemetry"],
    ["cli"],
]
LAYER_OF = {m: i for i, layer in enumerate(LAYERS) for m in layer}

SRC = pathlib.Path(__file__).resolve().parent.parent / "server" / "src"
# `crate::name` or the names of `crate::{a, b::c}`.
CRATE_PATH = re.compile(r"\bcrate::(\{[^}]*\}|[a-z_][a-z0-9_]*)")


def top_module(path):
    rel = path.relative_to(SRC)
    if len(rel.parts) > 1:
        return rel.parts[0]
    stem = rel.stem
    return None if stem in ("lib", "main") else stem


def used_modules(text: str):
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        for match in CRATE_PATH.finditer(code):
            target = match.group(1)
            if target.startswith("{"):
                for item in target[1:-1].split(","):
                    name = item.strip().split("::")[0]
                    if name:
                        yield name
            else:
                yield target


def graph():
    edges = defaultdict(int)
    for path in sorted(SRC.rglob("*.rs")):
        source = top_module(path)
        if source is None:
            continue
        for target in used_modules(path.read_text()):
            if target != source:
                edges[(source, target)] += 1
    return edges


def main() -> int:
    edges = graph()
    if "--dot" in sys.argv:
        print("digraph layers {")
        for (a, b), n in sorted(edges.items()):
            print(f'  "{a}" -> "{b}" [label={n}];')
        print("}")
        return 0
    problems = []
    modules = sorted({m for edge in edges for m in edge})
    for module in modules:
        if module not in LAYER_OF:
            problems.append(f"{module}: not in any layer (add it to scripts/layers.py and ARCHITECTURE.md)")
    print("crate:: imports between top-level modules (uses, by layer, lowest first):")
    for layer in LAYERS:
        for module in layer:
            targets = sorted(b for (a, b) in edges if a == module)
            shown = ", ".join(f"{t} ({edges[(module, t)]})" for t in targets) or "-"
            print(f"  L{LAYER_OF[module]} {module:<10} -> {shown}")
    for (a, b), n in sorted(edges.items()):
        if a in LAYER_OF and b in LAYER_OF and LAYER_OF[b] >= LAYER_OF[a]:
            problems.append(f"{a} -> {b} ({n} uses): points to layer {LAYER_OF[b]} from layer {LAYER_OF[a]}")
    if problems:
        print("\nlayering problems:")
        for p in problems:
            print(f"  {p}")
        return 1
    print("\nevery arrow points down: no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

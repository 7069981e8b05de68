"""The stage graph as text: a terminal listing, Graphviz dot, Mermaid, or JSON."""

from __future__ import annotations

import json

from mlvc.pipeline.graph import Graph


def levels(g: Graph, names: list[str]) -> dict[str, int]:
    """Longest-path depth of each stage (0 = no upstream among `names`)."""
    wanted = set(names)
    depth: dict[str, int] = {}
    for n in names:  # names are in topological order
        ups = [depth[u] for u in g.upstream[n] if u in wanted]
        depth[n] = 1 + max(ups) if ups else 0
    return depth


def text(g: Graph, names: list[str]) -> str:
    """One line per stage, grouped by depth, with the stages it reads from."""
    if not names:
        return "(no stages)"
    depth = levels(g, names)
    width = max(len(n) for n in names)
    lines = []
    for level in range(max(depth.values()) + 1):
        row = [n for n in names if depth[n] == level]
        for n in row:
            ups = sorted(u for u in g.upstream[n] if u in depth)
            arrow = f"  <- {', '.join(ups)}" if ups else ""
            lines.append(f"{'  ' * level}{'└─ ' if level else ''}{n.ljust(width)}{arrow}")
    return "\n".join(lines)


def dot(g: Graph, names: list[str]) -> str:
    wanted = set(names)
    lines = ["strict digraph {"]
    lines += [f"  {json.dumps(n)};" for n in names]
    lines += [f"  {json.dumps(u)} -> {json.dumps(n)};" for n in names for u in sorted(g.upstream[n]) if u in wanted]
    lines.append("}")
    return "\n".join(lines)


def mermaid(g: Graph, names: list[str]) -> str:
    wanted = set(names)
    ids = {n: f"s{i}" for i, n in enumerate(names)}
    lines = ["flowchart TD"]
    lines += [f'  {ids[n]}["{n}"]' for n in names]
    lines += [f"  {ids[u]} --> {ids[n]}" for n in names for u in sorted(g.upstream[n]) if u in wanted]
    return "\n".join(lines)


def as_json(g: Graph, names: list[str]) -> dict[str, object]:
    wanted = set(names)
    return {
        "nodes": [
            {
                "name": n,
                "cmd": g.stages[n].cmd,
                "deps": [d.path for d in g.stages[n].deps],
                "outs": [o.path for o in g.stages[n].outs],
            }
            for n in names
        ],
        "edges": [{"from": u, "to": n} for n in names for u in sorted(g.upstream[n]) if u in wanted],
    }

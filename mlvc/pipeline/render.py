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
    """One line per stage, indented by depth, with the stages it reads from."""
    if not names:
        return "(no stages)"
    depth = levels(g, names)
    rows = []
    for level in range(max(depth.values()) + 1):
        for n in (n for n in names if depth[n] == level):
            ups = sorted(u for u in g.upstream[n] if u in depth)
            rows.append((f"{'  ' * (level - 1)}└─ {n}" if level else n, ups))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  <- {', '.join(ups)}" if ups else label for label, ups in rows)


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

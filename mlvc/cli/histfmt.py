"""Rendering for the history commands: aligned text tables (stable when piped), Markdown, values."""

from __future__ import annotations

import math

from mlvc.cli import common


def value(v: object) -> str:
    """A metric value as people and scripts read it: full precision (repr), `-` when absent."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return repr(v)
    return str(v)


def signed(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{v:+.2f}%"
    text = repr(round(v, 10)) if isinstance(v, float) else str(v)
    return text if text.startswith("-") else "+" + text


def print_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> None:
    if markdown:
        common.out("| " + " | ".join(header) + " |")
        common.out("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            common.out("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = [header, *rows]
    for n, r in enumerate(lines):
        common.out("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
        if n == 0:
            common.out("  ".join("-" * w for w in widths))

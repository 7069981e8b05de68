"""Rendering for the history commands: aligned text tables (stable when piped), Markdown, values."""

from __future__ import annotations

from mlvc.cli import common
from mlvc.history.results import signed, value  # noqa: F401  (re-exported for the history commands)


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

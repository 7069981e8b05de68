"""Pictures of metrics over commits: a self-contained HTML page of inline SVG charts (no
scripts, no network), or a PNG through matplotlib (the optional `plot` extra).

Each series is drawn oldest commit on the left; a commit without a value leaves a gap.
Hovering a point shows its commit, message and value (SVG <title>).
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass

from mlvc.errors import MlvcError

W, H = 860, 260
PAD_L, PAD_R, PAD_T, PAD_B = 70, 20, 30, 46
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


@dataclass(frozen=True)
class Point:
    label: str  # short commit hash
    note: str  # commit message
    value: float | None


def write(path: str, title: str, series: dict[str, list[Point]]) -> None:
    """Write the chart(s) to `path` (.html/.htm or .png), atomically."""
    from mlvc.links import write_bytes_atomic

    ext = os.path.splitext(path)[1].lower()
    if ext in (".html", ".htm"):
        data = render_html(title, series).encode()
    elif ext == ".png":
        data = render_png(title, series)
    else:
        raise MlvcError(f"{path}: --plot writes .html or .png files")
    write_bytes_atomic(os.path.abspath(path), data)


def render_html(title: str, series: dict[str, list[Point]]) -> str:
    charts = "\n".join(_svg(name, pts, COLORS[i % len(COLORS)]) for i, (name, pts) in enumerate(series.items()))
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "h1{font-size:18px}h2{font-size:15px;margin:18px 0 4px}"
        "svg{background:#fff;border:1px solid #ddd}text{font-size:11px;fill:#444}"
        "circle:hover{r:6}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n{charts}\n</body></html>\n"
    )


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi == lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _svg(name: str, pts: list[Point], color: str) -> str:
    vals = [p.value for p in pts if p.value is not None]
    head = f"<h2>{html.escape(name)}</h2>"
    if not vals:
        return head + "<p>no recorded values</p>"
    lo, hi = min(vals), max(vals)
    if lo == hi:
        lo, hi = lo - (abs(lo) * 0.05 or 1), hi + (abs(hi) * 0.05 or 1)
    n = len(pts)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return PAD_T + ph * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">']
    for t in _ticks(lo, hi):
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<line x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{PAD_T + ph}" stroke="#999"/>')
    parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{PAD_T + ph}" y2="{PAD_T + ph}" stroke="#999"/>')
    every = max(1, math.ceil(n / 12))
    for i, p in enumerate(pts):
        if i % every == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{H - PAD_B + 16}" text-anchor="middle" '
                         f'font-family="monospace">{html.escape(p.label)}</text>')
    segment: list[str] = []
    paths = []
    for i, p in enumerate(pts):
        if p.value is None:
            if segment:
                paths.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(p.value):.1f}")
    if segment:
        paths.append(segment)
    for seg in paths:
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{" ".join(seg)}"/>')
    radius = 3 if n <= 200 else 1.5
    for i, p in enumerate(pts):
        if p.value is None:
            continue
        tip = html.escape(f"{p.label} {p.note}\n{name} = {p.value!r}")
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="{radius}" fill="{color}">'
                     f"<title>{tip}</title></circle>")
    parts.append(f'<text x="{PAD_L + pw / 2:.0f}" y="{H - 6}" text-anchor="middle">commit (oldest → newest)</text>')
    parts.append("</svg>")
    return head + "\n".join(parts)


def render_png(title: str, series: dict[str, list[Point]]) -> bytes:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MlvcError("--plot FILE.png needs matplotlib (pip install 'mlvc[plot]'); or write FILE.html") from None
    import io

    fig, axes = plt.subplots(len(series) or 1, 1, figsize=(10, 2.8 * max(1, len(series))), squeeze=False)
    for ax, (i, (name, pts)) in zip(axes[:, 0], enumerate(series.items()), strict=False):
        xs = list(range(len(pts)))
        ys = [p.value if p.value is not None else float("nan") for p in pts]
        ax.plot(xs, ys, marker="o", markersize=3 if len(pts) <= 200 else 1, color=COLORS[i % len(COLORS)])
        ax.set_title(name)
        every = max(1, math.ceil(len(pts) / 12))
        ticks = [j for j in xs if j % every == 0]
        ax.set_xticks(ticks, [pts[j].label for j in ticks], fontsize=7, family="monospace")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()

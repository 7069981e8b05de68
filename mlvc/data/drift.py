"""What changed between two versions of a dataset, from their statistics alone.

Schema: columns added or removed, type changes. Rows: the count before and after. Per column:
- numbers and dates: Jensen–Shannon divergence (base 2, in [0, 1]) over shared bins. Both
  histograms are brought onto one grid exactly (sketch.aligned), then the fine bins are grouped into
  JS_BINS bins of equal mass under the mixture of the two distributions — quantile bins of the
  pooled data, robust to outliers and to the column's scale;
- strings, booleans: L-infinity distance between the value shares (the largest change in any
  value's share), and the values not seen before with their share;
- every column: the change in null fraction.
A figure over its threshold is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mlvc.data.sketch import aligned
from mlvc.data.stats import CATEGORICAL, NUMERIC, TEMPORAL, ColumnStats, DatasetStats

JS_BINS = 20
MIN_BINS = 5
NEW_SHOWN = 10


@dataclass(frozen=True)
class Thresholds:
    max_js: float = 0.02  # a normal shifted by about a third of its std
    max_linf: float = 0.1
    max_new: float = 0.0  # combined share of values not seen before
    max_null: float = 0.05  # absolute change in null fraction

    def to_dict(self) -> dict:
        return {"max_js": self.max_js, "max_linf": self.max_linf, "max_new": self.max_new, "max_null": self.max_null}


@dataclass
class ColumnDiff:
    name: str
    status: str  # same | added | removed | type changed
    type_a: str | None
    type_b: str | None
    kind: str
    null_a: float | None = None
    null_b: float | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    measure: str | None = None  # "js" or "linf"
    drift: float | None = None
    new_values: list[list] = field(default_factory=list)  # [value, share in B], most frequent first
    new_share: float = 0.0
    flags: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name, "status": self.status, "type_a": self.type_a, "type_b": self.type_b,
            "kind": self.kind, "null_fraction_a": self.null_a, "null_fraction_b": self.null_b,
            "mean_a": self.mean_a, "mean_b": self.mean_b, "measure": self.measure, "drift": self.drift,
            "new_values": self.new_values, "new_share": self.new_share, "flags": self.flags, "note": self.note,
        }


@dataclass
class DiffReport:
    path: str
    a: str  # labels of the two versions
    b: str
    rows_a: int
    rows_b: int
    columns: list[ColumnDiff]
    thresholds: Thresholds
    same_data: bool = False  # both versions have the same content hash

    @property
    def flagged(self) -> list[ColumnDiff]:
        return [c for c in self.columns if c.flags]

    def to_dict(self) -> dict:
        return {
            "path": self.path, "a": self.a, "b": self.b, "rows_a": self.rows_a, "rows_b": self.rows_b,
            "same_data": self.same_data, "thresholds": self.thresholds.to_dict(),
            "flagged": [c.name for c in self.flagged], "columns": [c.to_dict() for c in self.columns],
        }


def diff(a: DatasetStats, b: DatasetStats, th: Thresholds, path: str = "", labels=("A", "B")) -> DiffReport:
    cols: list[ColumnDiff] = []
    names_a = {c.name for c in a.columns}
    for ca in a.columns:
        cb = b.column(ca.name)
        if cb is None:
            cols.append(ColumnDiff(ca.name, "removed", ca.type, None, ca.kind, ca.null_fraction, flags=["removed"]))
        else:
            cols.append(_column(ca, cb, th))
    for cb in b.columns:
        if cb.name not in names_a:
            cols.append(ColumnDiff(cb.name, "added", None, cb.type, cb.kind, None, cb.null_fraction, flags=["added"]))
    same = bool(a.key) and a.key == b.key
    return DiffReport(path, labels[0], labels[1], a.rows, b.rows, cols, th, same)


def _column(ca: ColumnStats, cb: ColumnStats, th: Thresholds) -> ColumnDiff:
    status = "same" if ca.type == cb.type else "type changed"
    d = ColumnDiff(ca.name, status, ca.type, cb.type, cb.kind, ca.null_fraction, cb.null_fraction)
    if status != "same":
        d.flags.append(f"type {ca.type} -> {cb.type}")
    if abs(cb.null_fraction - ca.null_fraction) > th.max_null:
        d.flags.append(f"null fraction {ca.null_fraction:.3f} -> {cb.null_fraction:.3f} (> {th.max_null} change)")
    numeric = (NUMERIC, TEMPORAL)
    if ca.kind in numeric and cb.kind in numeric:
        d.mean_a, d.mean_b = (ca.numeric or {}).get("mean"), (cb.numeric or {}).get("mean")
        js = js_divergence(ca, cb)
        if js is not None:
            d.measure, d.drift = "js", js
            if js > th.max_js:
                d.flags.append(f"js {js:.3f} > {th.max_js}")
    elif ca.kind == CATEGORICAL and cb.kind == CATEGORICAL:
        _categorical(ca, cb, d, th)
    return d


def js_divergence(ca: ColumnStats, cb: ColumnStats) -> float | None:
    """Jensen–Shannon divergence (base 2) of two numeric columns over shared equal-mass bins.

    Fewer bins for small samples (sqrt(n)/2, at least MIN_BINS), so that sampling noise alone stays
    well under the default threshold.
    """
    ha, hb = ca.histogram(), cb.histogram()
    if ha.exp is None or hb.exp is None or ha.total == 0 or hb.total == 0:
        return None
    bins = max(MIN_BINS, min(JS_BINS, int(math.sqrt(min(ha.total, hb.total)) / 2)))
    na, nb = aligned(ha, hb)
    pa, pb = na / na.sum(), nb / nb.sum()
    mix = (pa + pb) / 2
    start = np.concatenate([[0.0], np.cumsum(mix)[:-1]])
    group = np.minimum((start * bins + 1e-9).astype(np.int64), bins - 1)
    ga = np.bincount(group, pa, minlength=bins)
    gb = np.bincount(group, pb, minlength=bins)
    return _js(ga, gb)


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    total = 0.0
    for x in (p, q):
        nz = x > 0
        total += 0.5 * float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))
    return min(max(total, 0.0), 1.0)


def _categorical(ca: ColumnStats, cb: ColumnStats, d: ColumnDiff, th: Thresholds) -> None:
    sa, sb = ca.shares(), cb.shares()
    exact_a = (ca.categorical or {}).get("exact", True)
    exact_b = (cb.categorical or {}).get("exact", True)
    if not (sa and sb):
        return
    if not (exact_a and exact_b):
        d.note = "high cardinality: shares of the most frequent values only"
    linf = max(abs(sa.get(v, 0.0) - sb.get(v, 0.0)) for v in set(sa) | set(sb))
    d.measure, d.drift = "linf", linf
    if linf > th.max_linf:
        d.flags.append(f"linf {linf:.3f} > {th.max_linf}")
    if exact_a:  # a value is only known to be new when A's counts are complete
        new = sorted(((v, s) for v, s in sb.items() if v not in sa), key=lambda vs: (-vs[1], vs[0]))
        d.new_values = [[v, s] for v, s in new[:NEW_SHOWN]]
        d.new_share = math.fsum(s for _, s in new)
        if new and d.new_share > th.max_new:
            shown = ", ".join(repr(v) for v, _ in new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
            d.flags.append(f"new values {shown} ({d.new_share:.1%} of rows)")

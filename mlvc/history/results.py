"""Metrics and params recorded at one revision, and the differences between two.

A revision's metrics are the files its pipeline file names under `metrics:` (or the files the
user names), read from git (or from the cache when mlvc tracks them). A file that cannot be
parsed at some revision is reported in `errors` and skipped; it never stops a walk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlvc.errors import HistoryError, MetricsFileError
from mlvc.history import formats
from mlvc.history.formats import Flat, Scalar, is_number


@dataclass
class Results:
    label: str
    commit: str | None
    metrics: dict[str, Flat] = field(default_factory=dict)  # file -> {key: value}
    params: dict[str, Flat] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"rev": self.label, "commit": self.commit, "metrics": self.metrics, "params": self.params,
                "errors": self.errors}

    def lookup(self, name: str, kind: str = "metrics") -> tuple[str, Scalar] | None:
        """(file, value) of metric/param `name` (`key` or `file:key`), the first file that has it."""
        return lookup(self.metrics if kind == "metrics" else self.params, name)


def lookup(files: dict[str, Flat], name: str) -> tuple[str, Scalar] | None:
    if ":" in name:
        path, key = name.rsplit(":", 1)
        if path in files and key in files[path]:
            return path, files[path][key]
        return None
    for path, flat in files.items():
        if name in flat:
            return path, flat[name]
    return None


_PARSED: dict[tuple[str, bytes], Flat] = {}


def _parse_cached(data: bytes, path: str, where: str) -> Flat:
    key = (path, data)
    if key not in _PARSED:
        _PARSED[key] = formats.parse(data, path, where)
    return _PARSED[key]


def read_results(view, metrics_files: list[str] | None = None, want_params: bool = True,
                 want_metrics: bool = True) -> Results:
    """The metrics (and params) at `view`; `metrics_files` overrides what the pipeline declares."""
    declared = view.declared()
    res = Results(view.label, view.commit.decode() if view.commit else None)
    if want_metrics:
        for path in metrics_files if metrics_files is not None else declared.metrics:
            data = view.result_bytes(path)
            if data is None:
                continue
            try:
                res.metrics[path] = _parse_cached(data, path, view.label)
            except MetricsFileError as exc:
                res.errors.append(str(exc))
    if want_params:
        for path, keys in declared.params.items():
            data = view.read(path)
            if data is None:
                continue
            try:
                flat = _parse_cached(data, path, view.label)
            except MetricsFileError as exc:
                res.errors.append(str(exc))
                continue
            res.params[path] = flat if keys is None else _select(flat, keys)
    return res


def _select(flat: Flat, keys: set[str]) -> Flat:
    """The params a pipeline names: exact keys, and every leaf under a named subtree."""
    chosen: Flat = {}
    for k, v in flat.items():
        if k in keys or any(k.startswith(p + ".") for p in keys):
            chosen[k] = v
    return chosen


@dataclass(frozen=True)
class Change:
    path: str
    key: str
    old: Scalar
    new: Scalar
    old_present: bool = True
    new_present: bool = True

    @property
    def delta(self) -> float | None:
        if is_number(self.old) and is_number(self.new):
            return self.new - self.old  # type: ignore[operator]
        return None

    @property
    def pct(self) -> float | None:
        d = self.delta
        if d is None or self.old == 0:
            return None
        return 100.0 * d / abs(self.old)  # type: ignore[arg-type]

    @property
    def changed(self) -> bool:
        return self.old_present != self.new_present or self.old != self.new or type(self.old) is not type(self.new)

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "key": self.key, "old": self.old if self.old_present else None,
                "new": self.new if self.new_present else None, "delta": _round(self.delta),
                "pct": _round(self.pct), "added": not self.old_present, "deleted": not self.new_present}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 10)


def diff(old: dict[str, Flat], new: dict[str, Flat], show_all: bool = False) -> list[Change]:
    """Every key whose value differs (every key with `show_all`), sorted by file and key."""
    out: list[Change] = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path, {}), new.get(path, {})
        for key in sorted(a.keys() | b.keys()):
            c = Change(path, key, a.get(key), b.get(key), key in a, key in b)
            if show_all or c.changed:
                out.append(c)
    return out


def number(res: Results, name: str, kind: str = "metrics") -> float:
    """The numeric value of `name` at `res`, or a HistoryError that says what is missing where."""
    found = res.lookup(name, kind)
    if found is None:
        note = f" ({'; '.join(res.errors)})" if res.errors else ""
        raise HistoryError(f"{kind[:-1]} {name!r} not recorded at {res.label}{_short(res)}{note}")
    path, value = found
    if not is_number(value):
        raise HistoryError(f"{kind[:-1]} {name!r} in {path} at {res.label} is {value!r}, not a number")
    return float(value)  # type: ignore[arg-type]


def _short(res: Results) -> str:
    return f" ({res.commit[:7]})" if res.commit and not res.label.startswith(res.commit[:7]) else ""


# -- text forms, shared by the CLI tables and the CI gate report --------------------------
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

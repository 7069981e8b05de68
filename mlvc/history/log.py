"""`mlvc log`: one row per commit with the metrics and params it recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvc.history import results as results_mod
from mlvc.history.formats import Scalar
from mlvc.history.views import CommitInfo, History


@dataclass
class LogRow:
    info: CommitInfo
    metrics: dict[str, Scalar] = field(default_factory=dict)
    params: dict[str, Scalar] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {**self.info.to_dict(), "metrics": self.metrics, "params": self.params, "errors": self.errors}


def log(hist: History, rev: str = "HEAD", metrics: list[str] | None = None, params: list[str] | None = None,
        limit: int | None = None, first_parent: bool = True) -> list[LogRow]:
    """Rows newest first. With neither `metrics` nor `params` named, every metric and param is shown."""
    start = hist.resolve(rev)
    if first_parent:
        shas = list(hist.first_parent(start, limit))
    else:
        shas = sorted(hist.ancestors(start), key=lambda s: (-hist.info(s).time, s))[:limit]
    everything = not metrics and not params
    rows = []
    for sha in shas:
        view = hist.commit_view(sha)
        res = results_mod.read_results(view, want_metrics=everything or bool(metrics),
                                       want_params=everything or bool(params))
        row = LogRow(hist.info(sha), errors=res.errors)
        row.metrics = _pick(res.metrics, metrics) if metrics or everything else {}
        row.params = _pick(res.params, params) if params or everything else {}
        rows.append(row)
    return rows


def _pick(files: dict[str, dict[str, Scalar]], names: list[str] | None) -> dict[str, Scalar]:
    if names is None or not names:
        merged: dict[str, Scalar] = {}
        for path, flat in files.items():
            for key, value in flat.items():
                merged[f"{path}:{key}" if key in merged else key] = value
        return merged
    picked: dict[str, Scalar] = {}
    for name in names:
        found = results_mod.lookup(files, name)
        if found is not None:
            picked[name] = found[1]
    return picked

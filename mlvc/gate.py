"""`mlvc check` as a CI gate: is the pipeline up to date, is the data on the remote, are the metrics
within bounds and not worse than a base revision? Plus the Markdown report for a pull request.

Each kind of failure sets one bit of the exit code, so a CI log says which failed:
1 a metric is out of bounds or dropped more than allowed, 4 a pipeline stage is stale,
8 data that the revision references is not on the remote; 125 when nothing failed but a metric
could not be read (git bisect's "skip"). 0 when every check passed. (2 is a usage error and an
error that stops the check, such as an unknown revision or remote, exits 1 with `mlvc: error:`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlvc.errors import GateSpecError, MlvcError

METRIC_FAILED, STALE, NOT_PUSHED, UNREADABLE = 1, 4, 8, 125
MIN, MAX, MAX_DROP, MAX_RISE = "min", "max", "max-drop", "max-rise"
RELATIVE_KINDS = (MAX_DROP, MAX_RISE)


@dataclass(frozen=True)
class Bound:
    kind: str  # min, max, max-drop, max-rise
    metric: str  # `key` or `file:key`
    limit: float
    percent: bool = False  # max-drop/max-rise given as `acc=1%`: a share of the base value

    def describe(self) -> str:
        limit = f"{self.limit:g}{'%' if self.percent else ''}"
        return {MIN: f"{self.metric} >= {limit}", MAX: f"{self.metric} <= {limit}",
                MAX_DROP: f"{self.metric} drops at most {limit}",
                MAX_RISE: f"{self.metric} rises at most {limit}"}[self.kind]


def parse_bound(kind: str, text: str) -> Bound:
    """`acc=0.9` (and `acc=1%` for --max-drop/--max-rise) -> Bound; a GateSpecError says what is wrong."""
    name, eq, value = text.rpartition("=")
    if not eq or not name.strip():
        raise GateSpecError(f"--{kind} {text!r}: expected METRIC=VALUE, e.g. --{kind} acc=0.9")
    value = value.strip()
    percent = value.endswith("%")
    if percent and kind not in RELATIVE_KINDS:
        raise GateSpecError(f"--{kind} {text!r}: a percentage only makes sense for --max-drop and --max-rise")
    try:
        limit = float(value[:-1] if percent else value)
    except ValueError:
        raise GateSpecError(f"--{kind} {text!r}: {value!r} is not a number") from None
    if math.isnan(limit) or (kind in RELATIVE_KINDS and limit < 0):
        raise GateSpecError(f"--{kind} {text!r}: the limit must be a number >= 0")
    return Bound(kind, name.strip(), limit, percent)


@dataclass
class MetricResult:
    bound: Bound
    value: float | None
    base: float | None = None
    ok: bool = True
    readable: bool = True
    message: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"check": self.bound.kind, "metric": self.bound.metric, "limit": self.bound.limit,
                "percent": self.bound.percent, "value": self.value, "base": self.base, "ok": self.ok,
                "readable": self.readable, "message": self.message}


@dataclass
class GateResult:
    rev: str
    base: str | None = None
    metrics: list[MetricResult] = field(default_factory=list)
    stale: list[dict[str, object]] | None = None  # None: not checked
    remote: str | None = None
    unpushed: list[dict[str, object]] | None = None  # None: not checked
    data_rev: str | None = None  # the revision whose data --pushed checked
    metrics_diff: list = field(default_factory=list)  # history.results.Change (for the report)
    params_diff: list = field(default_factory=list)
    data_diff: list = field(default_factory=list)  # history.datadiff.DataChange
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = 0
        if any(not m.ok and m.readable for m in self.metrics):
            code |= METRIC_FAILED
        if self.stale:
            code |= STALE
        if self.unpushed:
            code |= NOT_PUSHED
        if not code and any(not m.readable for m in self.metrics):
            code = UNREADABLE
        return code

    def to_dict(self) -> dict[str, object]:
        return {
            "rev": self.rev, "base": self.base, "ok": self.exit_code == 0, "exit_code": self.exit_code,
            "metrics": [m.to_dict() for m in self.metrics], "stale": self.stale, "remote": self.remote,
            "unpushed": self.unpushed, "data_rev": self.data_rev,
            "metrics_diff": [c.to_dict() for c in self.metrics_diff],
            "params_diff": [c.to_dict() for c in self.params_diff],
            "data_diff": [c.to_dict() for c in self.data_diff], "notes": self.notes,
        }


# -- the checks ---------------------------------------------------------------------------------------
def stale_reasons(reasons: list[str]) -> list[str]:
    """What makes a stage stale, without the reasons that only say an out is not here (not pulled)
    or that the stage always reruns."""
    return [r for r in reasons if r != "always changed" and not (r.startswith("out ") and r.endswith(" missing"))]


def stale_stages(repo) -> list[dict[str, object]]:
    """Stages whose lock entry does not describe the workspace's pipeline, deps and params."""
    from mlvc.pipeline import spec

    if spec.find(repo.root) is None:
        return []
    from mlvc.pipeline.plan import RUN
    from mlvc.pipeline.repro import Reproducer

    out = []
    for d in Reproducer(repo).plan():
        reasons = stale_reasons(d.reasons) if d.action == RUN else []
        if reasons:
            out.append({"name": d.name, "reasons": reasons})
    return out


def unpushed(repo, store, rev: str) -> list[dict[str, object]]:
    """The data REV references (pointers and lock outs) that the remote does not hold in full."""
    from mlvc.remote.roots import commit_roots
    from mlvc.remote.transfer import remote_status

    roots = commit_roots(repo, [rev], False)
    return [s.to_dict() for s in remote_status(repo, store, roots) if s.state != "pushed"]


def _value(hist, view, name: str, cache: dict) -> tuple[float | None, str | None]:
    from mlvc.history import results as results_mod

    if view.label not in cache:
        cache[view.label] = results_mod.read_results(view, want_params=False)
    try:
        return results_mod.number(cache[view.label], name), None
    except MlvcError as exc:
        return None, str(exc)


def check_metrics(hist, rev: str, bounds: list[Bound], base: str | None) -> list[MetricResult]:
    view = hist.view(rev)
    base_view = hist.view(base) if base is not None else None
    cache: dict = {}
    out = []
    for b in bounds:
        value, why = _value(hist, view, b.metric, cache)
        if value is None:
            out.append(MetricResult(b, None, ok=False, readable=False, message=why or ""))
            continue
        at = f"{b.metric} = {value!r} at {view.label}"
        if b.kind in (MIN, MAX):
            bad = value < b.limit if b.kind == MIN else value > b.limit
            word = "below the minimum" if b.kind == MIN else "above the maximum"
            out.append(MetricResult(b, value, ok=not bad, message=f"{at}: {word} {b.limit:g}" if bad else f"{at}: ok"))
            continue
        assert base_view is not None
        old, why = _value(hist, base_view, b.metric, cache)
        if old is None:
            out.append(MetricResult(b, value, None, message=f"{at}: no value at {base_view.label} to compare ({why})"))
            continue
        change = (old - value) if b.kind == MAX_DROP else (value - old)
        allowed = b.limit * abs(old) / 100.0 if b.percent else b.limit
        verb = "dropped" if b.kind == MAX_DROP else "rose"
        shown = f"{at}, {old!r} at {base_view.label}"
        if change > allowed:
            msg = f"{shown}: {verb} by {change:g} (allowed {allowed:g})"
            out.append(MetricResult(b, value, old, ok=False, message=msg))
        else:
            out.append(MetricResult(b, value, old, message=f"{shown}: ok"))
    return out


def diffs(repo, hist, base: str, rev: str) -> tuple[list, list, list, list[str]]:
    """(metrics diff, params diff, data diff, notes) from BASE to REV, with the history engineer's code."""
    from mlvc.history import datadiff
    from mlvc.history import results as results_mod

    old_view, new_view = hist.view(base), hist.view(rev)
    targets = list(dict.fromkeys(old_view.declared().metrics + new_view.declared().metrics))
    old = results_mod.read_results(old_view, targets)
    new = results_mod.read_results(new_view, targets)
    metrics = results_mod.diff(old.metrics, new.metrics)
    params = results_mod.diff(old.params, new.params)
    data, errors = datadiff.diff(repo.objects, old_view, new_view)
    return metrics, params, data, old.errors + new.errors + errors


# -- the report ---------------------------------------------------------------------------------------
def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return lines


def markdown(result: GateResult) -> str:
    """A report to post as a pull-request comment."""
    from mlvc.history.results import signed, value

    ok = result.exit_code == 0
    base = result.base or "HEAD"
    lines = [f"## mlvc check: {'passed' if ok else 'failed'} (exit code {result.exit_code})", ""]
    checks: list[list[str]] = []
    for m in result.metrics:
        state = "pass" if m.ok else ("cannot read" if not m.readable else "**FAIL**")
        checks.append([m.bound.describe(), state, m.message])
    if result.stale is not None:
        checks.append(["pipeline up to date", "**FAIL**" if result.stale else "pass",
                       f"{len(result.stale)} stale stage(s)" if result.stale else "every stage matches mlvc.lock"])
    if result.unpushed is not None:
        checks.append([f"data on remote {result.remote}", "**FAIL**" if result.unpushed else "pass",
                       f"{len(result.unpushed)} path(s) of {result.data_rev} not pushed" if result.unpushed
                       else f"all the data of {result.data_rev}"])
    if checks:
        lines += _table(["Check", "Result", "Detail"], checks) + [""]
    lines += ["### Stale stages", ""]
    if result.stale is None:
        lines.append("Not checked (`--pipeline`).")
    elif result.stale:
        lines += [f"- `{s['name']}`: {'; '.join(s['reasons'])}" for s in result.stale]  # type: ignore[arg-type]
    else:
        lines.append("None: every stage matches `mlvc.lock`.")
    if result.unpushed:
        lines += ["", f"### Data not on remote `{result.remote}`", ""]
        lines += _table(["Path", "State", "Objects", "Bytes"],
                        [[str(u["path"]), str(u["state"]), str(u["objects"]), f"{u['bytes']:,}"]
                         for u in result.unpushed])
    lines += ["", f"### Metrics ({base} → {result.rev})", ""]
    if result.metrics_diff:
        lines += _table(["Path", "Metric", base, result.rev, "Change", "%"],
                        [[c.path, c.key, value(c.old) if c.old_present else "-",
                          value(c.new) if c.new_present else "-", signed(c.delta), signed(c.pct, pct=True)]
                         for c in result.metrics_diff])
    else:
        lines.append("No metric changed.")
    lines += ["", f"### Params ({base} → {result.rev})", ""]
    if result.params_diff:
        lines += _table(["Path", "Param", base, result.rev],
                        [[c.path, c.key, value(c.old) if c.old_present else "-",
                          value(c.new) if c.new_present else "-"] for c in result.params_diff])
    else:
        lines.append("No param changed.")
    lines += ["", f"### Data ({base} → {result.rev})", ""]
    if result.data_diff:
        lines += _table(["Path", "Change", "Old size", "New size"],
                        [[d.path, d.state, "-" if d.old_size is None else f"{d.old_size:,}",
                          "-" if d.new_size is None else f"{d.new_size:,}"] for d in result.data_diff])
    else:
        lines.append("No tracked data changed.")
    if result.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"

"""Rebuild a revision's result in a temporary worktree, and (with verify) compare it with the record.

`metric_runs` is what bisect uses for an unrecorded commit; `verify` is `mlvc reproduce --verify`:
every out's hash and every metric of REV's lock/metrics files against the reproduced ones,
metrics within their tolerances (`meta: {tolerance: ...}` in the pipeline file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvc.errors import HistoryError, MlvcError
from mlvc.history import results as results_mod
from mlvc.history.formats import is_number
from mlvc.history.views import History
from mlvc.history.worktree import Worktree


def metric_runs(repo, hist: History, sha: bytes, metric: str, runs: int) -> list[float]:
    """`metric` from `runs` reproductions of commit `sha` (the first may use the run cache; later ones rerun)."""
    values: list[float] = []
    with Worktree(repo, hist, sha) as wt:
        for _ in range(runs):
            wt.repro(force=runs > 1, run_cache=runs == 1)  # K runs measure noise: each one really runs
            view = wt.view()
            view.label = f"{sha.decode()[:7]} (reproduced)"
            res = results_mod.read_results(view, want_params=False)
            values.append(results_mod.number(res, metric))
    return values


@dataclass
class Mismatch:
    stage: str
    what: str  # "out PATH" or "metric FILE:KEY"
    recorded: object
    reproduced: object
    delta: float | None = None
    tolerance: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "what": self.what, "recorded": self.recorded, "reproduced": self.reproduced,
                "delta": self.delta, "tolerance": self.tolerance}


@dataclass
class VerifyResult:
    commit: str
    stages: list[str]
    outs_checked: int = 0
    metrics_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    metrics: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "stages": self.stages, "outs_checked": self.outs_checked,
                "metrics_checked": self.metrics_checked, "ok": self.ok,
                "mismatches": [m.to_dict() for m in self.mismatches], "metrics": self.metrics}


def reproduce(repo, hist: History, sha: bytes, verify: bool, force: bool = True) -> VerifyResult:
    """Rerun REV's pipeline in a temporary worktree (every stage with `force`, no run cache) and compare."""
    from mlvc.pipeline import lockfile

    recorded_view = hist.commit_view(sha)
    lock_bytes = recorded_view.read("mlvc.lock")
    if lock_bytes is None and verify:
        raise HistoryError(f"{sha.decode()[:7]} has no mlvc.lock: nothing recorded to verify against")
    lock = lockfile.parse(lock_bytes.decode("utf-8"), f"mlvc.lock at {sha.decode()[:7]}") if lock_bytes else None
    declared = recorded_view.declared()
    rec = results_mod.read_results(recorded_view, want_params=False)
    with Worktree(repo, hist, sha) as wt:
        wt.repro(force=force, run_cache=not force)
        new_lock = lockfile.read(wt.root)
        view = wt.view()
        view.label = f"{sha.decode()[:7]} (reproduced)"
        new = results_mod.read_results(view, list(rec.metrics) or None, want_params=False)
    result = VerifyResult(sha.decode(), list(lock.stages) if lock else list(new_lock.stages))
    result.metrics = {"recorded": rec.metrics, "reproduced": new.metrics}
    if not verify or lock is None:
        return result
    metric_paths = set(declared.metrics)
    for name, entry in lock.stages.items():
        again = new_lock.stages.get(name)
        for path, out in entry.outs.items():
            result.outs_checked += 1
            got = again.outs.get(path) if again else None
            if path in metric_paths:
                continue  # metrics are compared value by value, within tolerance, below
            if got is None or got.ref.hash != out.ref.hash:
                result.mismatches.append(Mismatch(name, f"out {path}", out.ref.hash, got.ref.hash if got else None))
    for path, flat in rec.metrics.items():
        stage = next((n for n, e in lock.stages.items() if path in e.outs), "-")
        newflat = new.metrics.get(path, {})
        for key, value in flat.items():
            result.metrics_checked += 1
            got = newflat.get(key)
            tol = declared.tolerance(path, key)
            if is_number(value) and is_number(got):
                delta = float(got) - float(value)  # type: ignore[arg-type]
                if abs(delta) > tol + 1e-12:
                    result.mismatches.append(Mismatch(stage, f"metric {path}:{key}", value, got, delta, tol))
            elif got != value:
                result.mismatches.append(Mismatch(stage, f"metric {path}:{key}", value, got, None, tol))
    return result


def safe_reproducer(repo, hist: History, metric: str):
    def run(sha: bytes, runs: int) -> list[float]:
        try:
            return metric_runs(repo, hist, sha, metric, runs)
        except HistoryError:
            raise
        except MlvcError as exc:
            raise HistoryError(str(exc)) from None

    return run

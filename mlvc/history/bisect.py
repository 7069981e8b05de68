"""`mlvc bisect`: the first commit between --good and --bad where a metric went bad.

The candidates are the commits after GOOD up to BAD along BAD's first parents (when GOOD is
on that line; otherwise every commit reachable from BAD and not from GOOD, oldest first).
Binary search: a commit whose result is recorded (metrics file present and lock matching
the commit, see `record`) is read from git; any other commit is reproduced in a temporary
worktree (`worktree`), `runs` times, and judged on the mean. So the search reads
log2(n) commits and reproduces only those of them that lack a recorded result. A commit
that can be neither read nor reproduced is skipped, as `git bisect skip` does.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from mlvc.errors import HistoryError, MlvcError
from mlvc.history import record
from mlvc.history import results as results_mod
from mlvc.history.views import CommitInfo, History


@dataclass
class Verdict:
    sha: str
    bad: bool
    values: list[float]
    source: str  # recorded | reproduced
    confidence: float | None = None  # for reproduced with runs >= 2: P(verdict right) under a t model
    note: str = ""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    def to_dict(self) -> dict[str, object]:
        return {"commit": self.sha, "bad": self.bad, "mean": self.mean, "values": self.values, "source": self.source,
                "confidence": self.confidence, "note": self.note}


@dataclass
class BisectResult:
    metric: str
    threshold: float
    higher_is_better: bool
    culprit: CommitInfo | None
    candidates: int
    steps: list[Verdict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reproductions: int = 0
    params_changed: list[results_mod.Change] = field(default_factory=list)
    deps_changed: list[str] = field(default_factory=list)
    good_value: float = 0.0
    bad_value: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric, "threshold": self.threshold, "higher_is_better": self.higher_is_better,
            "culprit": self.culprit.to_dict() if self.culprit else None, "candidates": self.candidates,
            "steps": [s.to_dict() for s in self.steps], "skipped": self.skipped,
            "reproductions": self.reproductions, "good_value": self.good_value, "bad_value": self.bad_value,
            "params_changed": [c.to_dict() for c in self.params_changed], "deps_changed": self.deps_changed,
        }


Reproducer = Callable[[bytes, int], list[float]]  # (commit, runs) -> metric values


def candidates(hist: History, good: bytes, bad: bytes) -> list[bytes]:
    """Commits after `good` up to and including `bad`, oldest first."""
    if good == bad:
        raise HistoryError("--good and --bad name the same commit")
    below_good = hist.ancestors(good)
    if bad in below_good:
        raise HistoryError(f"--bad {bad.decode()[:7]} is an ancestor of --good {good.decode()[:7]}; swap them?")
    below_bad = hist.ancestors(bad)
    if good not in below_bad:
        raise HistoryError(f"--good {good.decode()[:7]} is not an ancestor of --bad {bad.decode()[:7]}")
    line = []
    for sha in hist.first_parent(bad):
        if sha == good:
            return line[::-1]
        line.append(sha)
    rest = below_bad - below_good
    order: list[bytes] = []
    seen: set[bytes] = set()

    def visit(sha: bytes) -> None:  # parents before children, iteratively
        stack = [(sha, False)]
        while stack:
            s, done = stack.pop()
            if done:
                order.append(s)
                continue
            if s in seen or s not in rest:
                continue
            seen.add(s)
            stack.append((s, True))
            stack.extend((p, False) for p in reversed(hist.parents(s)))

    visit(bad)
    return order


class Bisector:
    def __init__(self, hist: History, metric: str, reproduce: Reproducer | None, runs: int = 1,
                 higher_is_better: bool = True, threshold: float | None = None, tolerance: float = 0.0) -> None:
        self.hist = hist
        self.metric = metric
        self.reproduce = reproduce
        self.runs = max(1, runs)
        self.higher = higher_is_better
        self.threshold = threshold
        self.tolerance = tolerance
        self.reproductions = 0
        self.warnings: list[str] = []

    def recorded(self, sha: bytes) -> float | None:
        view = self.hist.commit_view(sha)
        why = record.stale_reason(view)
        if why is not None:
            self.warnings.append(f"{sha.decode()[:7]}: result not recorded ({why}); reproducing")
            return None
        res = results_mod.read_results(view, want_params=False)
        self.warnings.extend(f"{e} (skipped)" for e in res.errors)
        found = res.lookup(self.metric)
        if found is None or not isinstance(found[1], (int, float)) or isinstance(found[1], bool):
            return None
        return float(found[1])

    def values(self, sha: bytes) -> tuple[list[float], str]:
        value = self.recorded(sha)
        if value is not None:
            return [value], "recorded"
        if self.reproduce is None:
            raise HistoryError(f"{self.metric!r} is not recorded at {sha.decode()[:7]} and reproduction is off")
        vals = self.reproduce(sha, self.runs)
        self.reproductions += len(vals)
        return vals, "reproduced"

    def is_bad(self, mean: float) -> bool:
        assert self.threshold is not None
        return mean < self.threshold if self.higher else mean > self.threshold

    def judge(self, sha: bytes) -> Verdict:
        vals, source = self.values(sha)
        mean = statistics.fmean(vals)
        v = Verdict(sha.decode(), self.is_bad(mean), vals, source)
        if len(vals) >= 2:
            v.confidence = confidence(vals, self.threshold or 0.0)
            sd = statistics.stdev(vals)
            v.note = f"mean {mean:.6g} ± {sd:.2g} (sd) over {len(vals)} runs"
            if abs(mean - (self.threshold or 0.0)) <= self.tolerance:
                v.note += f"; within the tolerance {self.tolerance:g} of the threshold"
        return v

    def run(self, good: bytes, bad: bytes) -> BisectResult:
        cands = candidates(self.hist, good, bad)
        good_v = self.judge_endpoint(good, "--good")
        bad_v = self.judge_endpoint(bad, "--bad")
        if self.threshold is None:
            self.threshold = (good_v.mean + bad_v.mean) / 2
            good_v.bad, bad_v.bad = self.is_bad(good_v.mean), self.is_bad(bad_v.mean)
        better = "higher" if self.higher else "lower"
        if good_v.bad:
            raise HistoryError(f"{self.metric} at --good {good.decode()[:7]} is {good_v.mean:g}, already worse than "
                               f"the threshold {self.threshold:g} ({better} is better)")
        if not bad_v.bad:
            raise HistoryError(f"{self.metric} at --bad {bad.decode()[:7]} is {bad_v.mean:g}, not worse than the "
                               f"threshold {self.threshold:g} ({better} is better); nothing to bisect")
        result = BisectResult(self.metric, self.threshold, self.higher, None, len(cands),
                              good_value=good_v.mean, bad_value=bad_v.mean)
        lo, hi = -1, len(cands) - 1  # cands[lo] is good (-1 = GOOD itself), cands[hi] is bad
        skipped: set[int] = set()
        while hi - lo > 1:
            mid = _pick(lo, hi, skipped)
            if mid is None:
                break
            try:
                v = self.judge(cands[mid])
            except MlvcError as exc:
                skipped.add(mid)
                result.skipped.append(cands[mid].decode())
                self.warnings.append(f"{cands[mid].decode()[:7]}: skipped ({exc})")
                continue
            result.steps.append(v)
            if v.bad:
                hi = mid
            else:
                lo = mid
        if hi - lo > 1:
            self.warnings.append(f"could not decide between {hi - lo} commits (skipped ones in between); "
                                 f"the first bad one is at or before {cands[hi].decode()[:7]}")
        culprit = cands[hi]
        result.culprit = self.hist.info(culprit)
        result.reproductions = self.reproductions
        result.params_changed, result.deps_changed = what_changed(self.hist, culprit)
        return result

    def judge_endpoint(self, sha: bytes, which: str) -> Verdict:
        try:
            v = self.judge(sha) if self.threshold is not None else self._unjudged(sha)
        except HistoryError as exc:
            raise HistoryError(f"{which} {sha.decode()[:7]}: {exc}") from None
        except MlvcError as exc:
            raise HistoryError(f"{which} {sha.decode()[:7]}: metric {self.metric!r} is not recorded there and "
                               f"could not be reproduced ({exc})") from None
        return v

    def _unjudged(self, sha: bytes) -> Verdict:
        vals, source = self.values(sha)
        return Verdict(sha.decode(), False, vals, source)


def _pick(lo: int, hi: int, skipped: set[int]) -> int | None:
    """The middle of (lo, hi), or the untried index nearest to it."""
    mid = (lo + hi) // 2
    for d in range(hi - lo):
        for i in (mid - d, mid + d):
            if lo < i < hi and i not in skipped:
                return i
    return None


def what_changed(hist: History, sha: bytes) -> tuple[list[results_mod.Change], list[str]]:
    """Params whose value changed in commit `sha`, and deps (files, tracked data) it changed."""
    parents = hist.parents(sha)
    new = hist.commit_view(sha)
    rn = results_mod.read_results(new, want_metrics=False)
    if not parents:
        return [], []
    old = hist.commit_view(parents[0])
    ro = results_mod.read_results(old, want_metrics=False)
    params = results_mod.diff(ro.params, rn.params)
    deps: list[str] = []
    for path in _dep_paths(new):
        if _blob_id(hist, parents[0], path) != _blob_id(hist, sha, path):
            deps.append(path)
    return params, deps


def _dep_paths(view) -> list[str]:
    paths: list[str] = []
    for stage in view.declared().stages.values():
        wdir = stage.get("wdir") if isinstance(stage.get("wdir"), str) else ""
        for dep in stage.get("deps") or []:
            if isinstance(dep, str) and "${" not in dep:
                import posixpath

                p = posixpath.normpath(posixpath.join(wdir, dep)) if wdir else posixpath.normpath(dep)
                if p not in paths:
                    paths.append(p)
    return paths


def _blob_id(hist: History, sha: bytes, path: str) -> bytes | None:
    """The git object id of `path` at `sha` (a file, a folder, or its `.mlvc` pointer), None if absent."""
    from dulwich.object_store import tree_lookup_path

    store = hist.git.object_store
    for candidate in (path, path + ".mlvc"):
        try:
            return tree_lookup_path(store.__getitem__, hist.commit(sha).tree, (hist.prefix + candidate).encode())[1]
        except (KeyError, NotADirectoryError, Exception):  # noqa: BLE001 - absent is absent
            continue
    return None


def confidence(values: list[float], threshold: float) -> float:
    """How sure the verdict on the mean of `values` vs `threshold` is: 1 - one-sided p of a t-test."""
    n = len(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values)
    if sd == 0:
        return 1.0 if mean != threshold else 0.5
    t = abs(mean - threshold) / (sd / math.sqrt(n))
    return t_cdf(t, n - 1)


def t_cdf(t: float, df: int) -> float:
    """Student's t CDF for t >= 0 (Simpson's rule on the density; accurate to ~1e-6 here)."""
    if t <= 0:
        return 0.5
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def pdf(x: float) -> float:
        return c * (1 + x * x / df) ** (-(df + 1) / 2)

    steps = 2000
    h = t / steps
    total = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return min(1.0, 0.5 + total * h / 3)

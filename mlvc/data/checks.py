"""Data checks for pipeline stages (`checks:` in mlvc.yaml): gate a stage on its input's schema and drift.

    stages:
      train:
        cmd: python train.py
        deps: [data/train.csv]
        checks:
          - path: data/train.csv
            ref: main                 # compare with this revision (default HEAD) ...
            # snapshot: stats/train.json   # ... or with a stats document (`mlvc data stats --json`)
            schema: true              # same columns and types as the reference
            drift: {max_js: 0.1, max_linf: 0.2, max_new: 0.0, max_null: 0.05, columns: [age, city]}
            rows: {min: 1000}

The pipeline calls `run_checks(repo, stage, spec)` before running the stage's command: it returns a
CheckResult per check (record `to_dict()` with the stage), or raises DataCheckError naming the
column and the figure of the first failure (`.results` holds them all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from mlvc.data.drift import Thresholds, diff
from mlvc.data.stats import DatasetStats
from mlvc.errors import DataCheckError, DataCheckSpecError, DataFormatError, PathError

_CHECK_KEYS = {"path", "ref", "snapshot", "schema", "drift", "rows"}
_DRIFT_KEYS = {f.name for f in fields(Thresholds)} | {"columns"}


@dataclass(frozen=True)
class CheckSpec:
    path: str
    ref: str = "HEAD"
    snapshot: str | None = None
    schema: bool = False
    drift: dict | None = None  # threshold overrides (may be empty: defaults), None: no drift check
    columns: tuple[str, ...] | None = None
    min_rows: int | None = None
    max_rows: int | None = None


@dataclass
class CheckResult:
    stage: str
    path: str
    against: str  # "main (3f2a1b9c0d)" or "snapshot stats/train.json"
    data_hash: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)  # column -> {"js"|"linf": value, ...}
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "path": self.path, "against": self.against, "data_hash": self.data_hash, "passed": self.passed,
            "failures": self.failures, "figures": self.figures, "note": self.note,
        }


def parse_checks(stage: str, raw: object) -> list[CheckSpec]:
    """Validate a stage's `checks:` value; DataCheckSpecError says which entry and key is wrong."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DataCheckSpecError(f"stage {stage}: checks must be a list of {{path: ..., schema/drift/rows: ...}}")
    specs = []
    for i, item in enumerate(raw):
        where = f"stage {stage}: checks[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise DataCheckSpecError(f"{where}: needs a `path:` naming the data to check")
        unknown = set(item) - _CHECK_KEYS
        if unknown:
            known = ", ".join(sorted(_CHECK_KEYS))
            raise DataCheckSpecError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
        if "ref" in item and "snapshot" in item:
            raise DataCheckSpecError(f"{where}: give `ref:` or `snapshot:`, not both")
        drift = item.get("drift")
        if drift is True:
            drift = {}
        elif drift in (None, False):
            drift = None
        elif not isinstance(drift, dict) or set(drift) - _DRIFT_KEYS:
            raise DataCheckSpecError(f"{where}: drift must be true or a mapping of {', '.join(sorted(_DRIFT_KEYS))}")
        columns = None
        if drift is not None:
            drift = dict(drift)
            columns = drift.pop("columns", None)
            if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
                raise DataCheckSpecError(f"{where}: drift.columns must be a list of column names")
            for k, v in drift.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise DataCheckSpecError(f"{where}: drift.{k} must be a non-negative number, not {v!r}")
        rows = item.get("rows") or {}
        if not isinstance(rows, dict) or set(rows) - {"min", "max"} or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in rows.values()
        ):
            raise DataCheckSpecError(f"{where}: rows must be a mapping with integer min and/or max")
        if not isinstance(item.get("schema", False), bool):
            raise DataCheckSpecError(f"{where}: schema must be true or false")
        specs.append(CheckSpec(
            item["path"].strip("/"), str(item.get("ref", "HEAD")), item.get("snapshot"), item.get("schema", False),
            drift, tuple(columns) if columns else None, rows.get("min"), rows.get("max"),
        ))
    return specs


def run_checks(repo, stage: str, checks: object, defaults: Thresholds | None = None) -> list[CheckResult]:
    """Run a stage's checks against the workspace data; raise DataCheckError if any fails."""
    specs = checks if isinstance(checks, list) and all(isinstance(c, CheckSpec) for c in checks) else None
    specs = specs if specs is not None else parse_checks(stage, checks)
    results = [_run_one(repo, stage, spec, defaults or Thresholds()) for spec in specs]
    failed = [r for r in results if not r.passed]
    if failed:
        first = failed[0]
        more = sum(len(r.failures) for r in failed) - 1
        extra = f" (and {more} more)" if more > 0 else ""
        raise DataCheckError(
            f"stage {stage}: data check failed: {first.path}: {first.failures[0]} against {first.against}{extra}",
            results,
        )
    return results


def _run_one(repo, stage: str, spec: CheckSpec, defaults: Thresholds) -> CheckResult:
    from mlvc.data.cache import stats_for

    _ds, current, _ = stats_for(repo, spec.path, None)
    result = CheckResult(stage, spec.path, "", current.key, True)
    rows = current.rows
    if spec.min_rows is not None and rows < spec.min_rows:
        result.failures.append(f"{rows} rows < rows.min {spec.min_rows}")
    if spec.max_rows is not None and rows > spec.max_rows:
        result.failures.append(f"{rows} rows > rows.max {spec.max_rows}")
    if spec.schema or spec.drift is not None:
        reference, result.against = _reference(repo, spec)
        if reference is None:
            result.note = f"no reference data {result.against}: schema and drift not checked"
        else:
            _compare(spec, reference, current, defaults, result)
    result.against = result.against or "workspace"
    result.passed = not result.failures
    return result


def _reference(repo, spec: CheckSpec) -> tuple[DatasetStats | None, str]:
    from mlvc.data.cache import stats_for

    if spec.snapshot:
        try:
            with open(repo.abs(spec.snapshot), encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None, f"snapshot {spec.snapshot}"
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{spec.snapshot}: not a readable stats snapshot ({exc})") from None
        try:
            return DatasetStats.from_dict(doc), f"snapshot {spec.snapshot}"
        except DataFormatError as exc:
            raise DataFormatError(f"{spec.snapshot}: {exc}") from None
    try:
        ds, stats, _ = stats_for(repo, spec.path, spec.ref)
    except PathError:  # the data did not exist at the reference revision (e.g. the first version)
        return None, f"at {spec.ref}"
    return stats, ds.label


def _compare(spec: CheckSpec, ref: DatasetStats, cur: DatasetStats, defaults: Thresholds, result) -> None:
    th = Thresholds(**{**defaults.to_dict(), **(spec.drift or {})})
    report = diff(ref, cur, th, spec.path)
    for col in report.columns:
        if col.drift is not None:
            result.figures[col.name] = {col.measure: round(col.drift, 6)}
            if col.new_values:
                result.figures[col.name]["new_share"] = round(col.new_share, 6)
        schema_change = col.status in ("added", "removed", "type changed")
        if spec.schema and schema_change:
            what = {"added": "added", "removed": "removed"}.get(col.status, f"type {col.type_a} -> {col.type_b}")
            result.failures.append(f"column {col.name!r} {what}")
        if spec.drift is None or (spec.columns and col.name not in spec.columns):
            continue
        for flag in col.flags:
            if not flag.startswith(("type ", "added", "removed")):
                result.failures.append(f"column {col.name!r}: {flag}")
    if spec.columns:
        missing = [c for c in spec.columns if cur.column(c) is None]
        result.failures.extend(f"column {c!r} (named in drift.columns) is missing" for c in missing)

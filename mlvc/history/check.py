"""`mlvc check`: is a metric within bounds? An exit code for CI and for `git bisect run`.

Exit codes: 0 within bounds, 1 out of bounds, 125 when the metric cannot be read (git bisect's
"skip this commit"). Later checks (a CI gate over several metrics and data checks) add rules here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.errors import MlvcError
from mlvc.history import results as results_mod

PASS, FAIL, SKIP = 0, 1, 125


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass
class CheckOutcome:
    check: MetricCheck
    rev: str
    value: float | None
    code: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.check.metric, "min": self.check.minimum, "max": self.check.maximum, "rev": self.rev,
                "value": self.value, "ok": self.code == PASS, "exit_code": self.code, "message": self.message}


def check_metric(view, check: MetricCheck) -> CheckOutcome:
    res = results_mod.read_results(view, want_params=False)
    try:
        value = results_mod.number(res, check.metric)
    except MlvcError as exc:
        return CheckOutcome(check, view.label, None, SKIP, str(exc))
    bounds = []
    if check.minimum is not None and value < check.minimum:
        bounds.append(f"below the minimum {check.minimum:g}")
    if check.maximum is not None and value > check.maximum:
        bounds.append(f"above the maximum {check.maximum:g}")
    if bounds:
        return CheckOutcome(check, view.label, value, FAIL, f"{check.metric} = {value!r} at {view.label}: "
                                                             + " and ".join(bounds))
    return CheckOutcome(check, view.label, value, PASS, f"{check.metric} = {value!r} at {view.label}: ok")

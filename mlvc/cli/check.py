"""`mlvc check`: exit codes for `git bisect run` (one metric) and for CI (the gate, mlvc/gate.py)."""

from __future__ import annotations

import typer

from mlvc.cli import common

CHECK_HELP = """Exit 0 when every check passes: the CI gate, and `git bisect run`'s test.

\b
Checks (any combination):
  --min acc=0.9  --max loss=0.3    a metric within bounds (at --rev)
  --base REV --max-drop acc=0.01   not worse than at REV by more than
                                   that (acc=1%: a share of it);
                                   --max-rise loss=0.02 where lower
                                   is better
  --pipeline                       no pipeline stage is stale
  --pushed                         the data of HEAD (or --rev) is all
                                   on the remote (-r NAME)
  --md FILE                        write a Markdown report: stale
                                   stages, metrics, params and data
                                   diff from --base (default HEAD)

\b
Exit codes (failure bits add up: 5 = metric and pipeline):
  0    every check passed
  1    a metric out of bounds or dropped too far (or an error)
  2    usage error
  4    a pipeline stage is stale: `mlvc repro`, commit mlvc.lock
  8    data of the revision not on the remote: `mlvc push`
  125  only: a metric could not be read (git bisect: skip)

\b
The one-metric form for `git bisect run`:
  mlvc check --metric acc --min 0.9  (0 good, 1 bad, 125 skip)"""


def register(app: typer.Typer) -> None:
    @app.command("check", help=CHECK_HELP)
    def check_cmd(
        metric: str = typer.Option(None, "--metric", "-m", help="One metric (`key` or `file:key`) for --min/--max X."),
        minimum: list[str] = typer.Option(None, "--min", help="METRIC=X: fail when below X (X with --metric)."),
        maximum: list[str] = typer.Option(None, "--max", help="METRIC=X: fail when above X (X with --metric)."),
        max_drop: list[str] = typer.Option(None, "--max-drop", help="METRIC=D or METRIC=P%: most it may fall "
                                                                      "since --base."),
        max_rise: list[str] = typer.Option(None, "--max-rise", help="METRIC=D or METRIC=P%: most it may rise "
                                                                      "since --base (lower is better)."),
        base: str = typer.Option(None, "--base", help="The revision to compare with (--max-drop, --md)."),
        rev: str = typer.Option("workspace", "--rev", help="Read metrics at this revision (default: the workspace)."),
        pipeline: bool = typer.Option(False, "--pipeline", help="Fail when a pipeline stage is stale."),
        pushed: bool = typer.Option(False, "--pushed", help="Fail when data the revision references is not on "
                                                            "the remote."),
        remote: str = typer.Option(None, "--remote", "-r", help="The remote for --pushed (default: the default)."),
        md: str = typer.Option(None, "--md", help="Write a Markdown report to this file."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        minimum, maximum = minimum or [], maximum or []
        gate_opts = max_drop or max_rise or base or pipeline or pushed or remote or md
        if metric is not None and not gate_opts and len(minimum) <= 1 and len(maximum) <= 1 \
                and all(_is_number(v) for v in minimum + maximum):
            raise typer.Exit(_one_metric(metric, minimum, maximum, rev, as_json))
        bounds = _bounds(metric, minimum, maximum, max_drop or [], max_rise or [])
        if any(b.kind in ("max-drop", "max-rise") for b in bounds) and base is None:
            raise typer.BadParameter("--max-drop/--max-rise compare with a base revision: give --base REV",
                                     param_hint="--base")
        if not (bounds or pipeline or pushed or md):
            raise typer.BadParameter("nothing to check: give --min, --max, --max-drop, --pipeline, --pushed "
                                     "or --md", param_hint="--min/--max")
        raise typer.Exit(_gate(bounds, base, rev, pipeline, pushed, remote, md, as_json))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bounds(metric: str | None, minimum: list[str], maximum: list[str], drops: list[str], rises: list[str]):
    from mlvc.errors import GateSpecError
    from mlvc.gate import parse_bound

    out = []
    for kind, values in (("min", minimum), ("max", maximum), ("max-drop", drops), ("max-rise", rises)):
        for v in values:
            if metric is not None and "=" not in v:
                v = f"{metric}={v}"
            try:
                out.append(parse_bound(kind, v))
            except GateSpecError as exc:
                raise typer.BadParameter(str(exc), param_hint=f"--{kind}") from None
    return out


def _one_metric(metric: str, minimum: list[str], maximum: list[str], rev: str, as_json: bool) -> int:
    """The `git bisect run` form: one metric, plain --min/--max numbers."""
    from mlvc.history import check as check_mod
    from mlvc.history.views import History

    lo = float(minimum[0]) if minimum else None
    hi = float(maximum[0]) if maximum else None
    if lo is None and hi is None:
        raise typer.BadParameter("give --min, --max or both", param_hint="--min/--max")
    with common.open_repo() as repo, History(repo) as hist:
        outcome = check_mod.check_metric(hist.view(rev), check_mod.MetricCheck(metric, lo, hi))
    if as_json:
        common.emit_json(outcome.to_dict())
    elif outcome.code == check_mod.PASS:
        common.out(outcome.message)
    else:
        common.err(f"mlvc: {'skip' if outcome.code == check_mod.SKIP else 'check failed'}: {outcome.message}")
    return outcome.code


def _gate(bounds, base: str | None, rev: str, pipeline: bool, pushed: bool, remote: str | None,
          md: str | None, as_json: bool) -> int:
    from mlvc import gate
    from mlvc.history.views import WORKSPACE, History

    result = gate.GateResult(rev=rev, base=base)
    with common.open_repo() as repo, History(repo) as hist:
        if bounds:
            result.metrics = gate.check_metrics(hist, rev, bounds, base)
        if pipeline:
            result.stale = gate.stale_stages(repo)
        if pushed:
            from mlvc.remote import config as rconfig
            from mlvc.remote.store import open_store

            store = open_store(rconfig.load(repo.config, remote), repo.root)
            result.remote = store.name
            result.data_rev = "HEAD" if rev == WORKSPACE else rev
            result.unpushed = gate.unpushed(repo, store, result.data_rev)
        if md:
            metrics, params, data, notes = gate.diffs(repo, hist, base or "HEAD", rev)
            result.metrics_diff, result.params_diff, result.data_diff = metrics, params, data
            result.notes += notes
    if md:
        from mlvc.links import write_bytes_atomic

        write_bytes_atomic(md, gate.markdown(result).encode("utf-8"))
    if as_json:
        common.emit_json(result.to_dict())
    else:
        _print(result)
    return result.exit_code


def _print(result) -> None:
    for m in result.metrics:
        if m.ok:
            common.out(f"ok: {m.message}")
        else:
            common.err(f"mlvc: {'cannot read' if not m.readable else 'check failed'}: {m.message}")
    if result.stale is not None:
        for s in result.stale:
            common.err(f"mlvc: check failed: stage {s['name']!r} is stale: {'; '.join(s['reasons'])} "
                       f"(run `mlvc repro`, then commit mlvc.lock)")
        if not result.stale:
            common.out("ok: every pipeline stage is up to date")
    if result.unpushed is not None:
        for u in result.unpushed:
            common.err(f"mlvc: check failed: {u['path']}: {u['state']} on remote {result.remote} "
                       f"(run `mlvc push`)")
        if not result.unpushed:
            common.out(f"ok: all the data of {result.data_rev} is on remote {result.remote}")
    for n in result.notes:
        common.err(f"mlvc: warning: {n}")

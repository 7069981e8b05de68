"""`mlvc bisect` and `mlvc reproduce`: find where a metric went bad; rebuild and verify a revision."""

from __future__ import annotations

import typer

from mlvc.cli import common, histfmt


def register(app: typer.Typer) -> None:
    @app.command("bisect")
    def bisect_cmd(
        metric: str = typer.Option(..., "--metric", "-m", help="The metric (`key` or `file:key`)."),
        good: str = typer.Option(..., "--good", help="A revision where the metric is good."),
        bad: str = typer.Option("HEAD", "--bad", help="A later revision where it is bad (default HEAD)."),
        threshold: float = typer.Option(None, "--threshold", help="Bad means worse than this (default: the "
                                        "midpoint of the values at --good and --bad)."),
        higher: bool = typer.Option(True, "--higher-is-better/--lower-is-better", help="Which way is better."),
        runs: int = typer.Option(1, "--runs", "-k", help="Reproduce each unrecorded commit K times; judge the mean."),
        tolerance: float = typer.Option(None, "--tolerance", help="Noise band around the threshold (default: "
                                        "the metric's tolerance in the pipeline file, else 0)."),
        no_reproduce: bool = typer.Option(False, "--no-reproduce", help="Use recorded results only."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Find the first commit between --good and --bad where METRIC went bad."""
        from mlvc.history import bisect as bisect_mod
        from mlvc.history import reproduce as repro_mod
        from mlvc.history.views import History

        if runs < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--runs")
        with common.open_repo() as repo, History(repo) as hist:
            g, b = hist.resolve(good), hist.resolve(bad)
            tol = tolerance
            if tol is None:
                found = hist.commit_view(b).declared()
                path = metric.rsplit(":", 1)[0] if ":" in metric else ""
                tol = found.tolerance(path, metric.rsplit(":", 1)[-1])
            reproducer = None if no_reproduce else repro_mod.safe_reproducer(repo, hist, metric)
            bis = bisect_mod.Bisector(hist, metric, reproducer, runs, higher, threshold, tol)
            try:
                result = bis.run(g, b)
            finally:
                for w in bis.warnings:
                    common.err(f"mlvc: {w}")
        if as_json:
            common.emit_json(result.to_dict())
            return
        _report(result)

    @app.command("reproduce")
    def reproduce_cmd(
        rev: str = typer.Argument("HEAD", help="The revision to rebuild."),
        verify: bool = typer.Option(False, "--verify", help="Compare every out and metric with what REV recorded."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Rebuild REV's result in a temporary worktree (your workspace is not touched); --verify compares."""
        from mlvc.history import reproduce as repro_mod
        from mlvc.history.views import History

        with common.open_repo() as repo, History(repo) as hist:
            sha = hist.resolve(rev)
            result = repro_mod.reproduce(repo, hist, sha, verify)
        if as_json:
            common.emit_json(result.to_dict())
        else:
            _report_verify(rev, result, verify)
        if verify and not result.ok:
            raise typer.Exit(1)


def _report(r) -> None:
    c = r.culprit
    direction = "higher" if r.higher_is_better else "lower"
    common.out(f"First bad commit: {c.sha}")
    common.out(f"    {c.message}")
    common.out(f"    by {c.author}")
    shown = [s for s in r.steps if s.sha == c.sha]
    value = f"{shown[-1].mean!r}" if shown else f"{r.bad_value!r} (at --bad)"
    common.out(f"{r.metric}: {value} vs threshold {r.threshold:g} ({direction} is better; "
               f"good {r.good_value!r}, bad {r.bad_value!r})")
    if r.params_changed:
        common.out("Params changed in it: " + ", ".join(
            f"{p.key} {histfmt.value(p.old)} -> {histfmt.value(p.new)}" for p in r.params_changed))
    if r.deps_changed:
        common.out("Deps changed in it: " + ", ".join(r.deps_changed))
    if not r.params_changed and not r.deps_changed:
        common.out("No declared param or dep changed in it (look at its code and environment).")
    recorded = sum(1 for s in r.steps if s.source == "recorded")
    common.out(f"Searched {r.candidates} commits: {len(r.steps)} tested ({recorded} recorded, "
               f"{len(r.steps) - recorded} reproduced), {r.reproductions} reproduction runs"
               + (f", {len(r.skipped)} skipped" if r.skipped else "") + ".")
    sure = [s for s in r.steps if s.confidence is not None]
    if sure:
        weakest = min(sure, key=lambda s: s.confidence)
        common.out(f"Confidence: each reproduced verdict is a one-sided t-test of the mean against the threshold; "
                   f"the weakest was {weakest.sha[:7]} ({'bad' if weakest.bad else 'good'}, "
                   f"{100 * weakest.confidence:.1f}%, {weakest.note}).")


def _report_verify(rev: str, r, verify: bool) -> None:
    common.out(f"Reproduced {rev} ({r.commit[:7]}) in a temporary worktree: stages {', '.join(r.stages) or '-'}")
    if not verify:
        for path, flat in r.metrics.get("reproduced", {}).items():
            common.out(f"  {path}: " + ", ".join(f"{k}={histfmt.value(v)}" for k, v in flat.items()))
        return
    if r.ok:
        common.out(f"Verified: {r.outs_checked} outs and {r.metrics_checked} metrics match what {rev} recorded.")
        return
    rows = [[m.stage, m.what, histfmt.value(m.recorded), histfmt.value(m.reproduced),
             histfmt.signed(m.delta), "-" if m.tolerance is None else f"{m.tolerance:g}"] for m in r.mismatches]
    histfmt.print_table(["Stage", "What", "Recorded", "Reproduced", "Change", "Tolerance"], rows)
    common.out(f"Does not reproduce: {len(r.mismatches)} of {r.outs_checked} outs / "
               f"{r.metrics_checked} metrics differ.")

"""`mlvc check --metric M [--min X] [--max Y] [--rev REV]`: exit 0 when within bounds (git bisect run)."""

from __future__ import annotations

import typer

from mlvc.cli import common


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        metric: str = typer.Option(..., "--metric", "-m", help="The metric (`key` or `file:key`)."),
        minimum: float = typer.Option(None, "--min", help="Fail when the metric is below this."),
        maximum: float = typer.Option(None, "--max", help="Fail when the metric is above this."),
        rev: str = typer.Option("workspace", "--rev", help="Read it at this revision (default: the workspace)."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Exit 0 when METRIC is within bounds, 1 when not, 125 when it cannot be read (`git bisect run`)."""
        from mlvc.history import check as check_mod
        from mlvc.history.views import History

        if minimum is None and maximum is None:
            raise typer.BadParameter("give --min, --max or both", param_hint="--min/--max")
        with common.open_repo() as repo, History(repo) as hist:
            outcome = check_mod.check_metric(hist.view(rev), check_mod.MetricCheck(metric, minimum, maximum))
        if as_json:
            common.emit_json(outcome.to_dict())
        elif outcome.code == check_mod.PASS:
            common.out(outcome.message)
        else:
            common.err(f"mlvc: {'skip' if outcome.code == check_mod.SKIP else 'check failed'}: {outcome.message}")
        raise typer.Exit(outcome.code)
